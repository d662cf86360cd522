//! Business rule tasks: evaluating a decision and shaping its result for the result variable.

use serde_json::Map;
use sluice_bpmn::{DecisionCall, DecisionResult};
use sluice_dmn::Evaluation;

use super::*;

impl Exec<'_> {
    /// Evaluates the task's decision with the variables `scope` sees (`now()` at the step's time),
    /// records it and stores the result. Err: the incident's code and message, naming the
    /// decision (and the rule, when one is to blame). Kept out of line: the token loop stays small.
    #[inline(never)]
    pub(super) fn decide(
        &mut self,
        t: TokenId,
        e: ElementIdx,
        scope: ScopeId,
        call: &DecisionCall,
    ) -> Result<(), (&'static str, String)> {
        let el_id = &self.p.element(e).id;
        let Some(found) = self.decisions.find(&call.decision_id, &call.binding) else {
            let msg = format!(
                "business rule task `{el_id}`: decision `{}` ({}) is not deployed",
                call.decision_id, call.binding
            );
            return Err(("decision_not_found", msg));
        };
        let version = found.version;
        let evaluation = found
            .definitions
            .evaluate(&call.decision_id, &self.vars(scope))
            .map_err(|err| ("decision_failed", format!("business rule task `{el_id}`: {err} (version {version})")))?;
        let output = shape(call.result, &evaluation).map_err(|msg| {
            let msg =
                format!("business rule task `{el_id}`: decision `{}` (version {version}): {msg}", call.decision_id);
            ("decision_failed", msg)
        })?;
        let matched = evaluation.matched.into_iter().map(DecisionMatch::from).collect();
        let outcome =
            DecisionOutcome { decision_id: call.decision_id.clone(), version, matched, output: output.clone() };
        self.out.push(Command::DecisionEvaluated { token: t, element: e, outcome: Box::new(outcome) });
        if let Some(name) = &call.result_variable {
            self.set_var(scope, name, output);
        }
        Ok(())
    }
}

/// The result variable's value: the decision's value, or Camunda 7's `mapDecisionResult` of its
/// result list (one object of outputs per matched rule).
pub(crate) fn shape(how: DecisionResult, ev: &Evaluation) -> Result<Value, String> {
    if how == DecisionResult::Value {
        return Ok(ev.value.clone());
    }
    let list = result_list(ev);
    let single = |list: Vec<Map<String, Value>>| match list.len() {
        0 => Ok(None),
        1 => Ok(list.into_iter().next()),
        n => Err(format!("{n} rules matched, but `mapDecisionResult` asks for a single result")),
    };
    let entry = |row: Map<String, Value>| match row.len() {
        1 => Ok(row.into_iter().next().map(|(_, v)| v).unwrap_or(Value::Null)),
        n => Err(format!(
            "a matched rule has {n} outputs ({}), but `mapDecisionResult` asks for a single entry",
            row.keys().map(String::as_str).collect::<Vec<_>>().join(", ")
        )),
    };
    Ok(match how {
        DecisionResult::Value | DecisionResult::ResultList => {
            Value::Array(list.into_iter().map(Value::Object).collect())
        }
        DecisionResult::SingleResult => single(list)?.map_or(Value::Null, Value::Object),
        DecisionResult::SingleEntry => match single(list)? {
            Some(row) => entry(row)?,
            None => Value::Null,
        },
        DecisionResult::CollectEntries => Value::Array(list.into_iter().map(entry).collect::<Result<_, _>>()?),
    })
}

/// Camunda 7's decision result: one object of outputs per matched rule. A table's are its rows,
/// except an aggregating `COLLECT` (SUM, MIN, MAX, COUNT), whose one result is the aggregate under
/// the table's output name; a literal expression's is its value under the decision's id.
fn result_list(ev: &Evaluation) -> Vec<Map<String, Value>> {
    let aggregated = ev.rows.len() > 1 && !ev.value.is_array();
    if aggregated {
        let name = match ev.rows.first() {
            Some(row) if row.len() == 1 => row.keys().next().cloned().unwrap_or_else(|| ev.decision_id.clone()),
            _ => ev.decision_id.clone(),
        };
        return vec![Map::from_iter([(name, ev.value.clone())])];
    }
    if ev.rows.is_empty() && ev.matched.iter().all(|m| m.decision_id != ev.decision_id) && !ev.value.is_null() {
        return vec![Map::from_iter([(ev.decision_id.clone(), ev.value.clone())])];
    }
    ev.rows.clone()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ev(value: Value, rows: Value, table: bool) -> Evaluation {
        let rows: Vec<Map<String, Value>> = serde_json::from_value(rows).unwrap_or_default();
        let matched = if table {
            vec![sluice_dmn::Matched {
                decision_id: "d".into(),
                rule_ids: Vec::new(),
                rule_indexes: Vec::new(),
                output: value.clone(),
            }]
        } else {
            Vec::new()
        };
        Evaluation { decision_id: "d".into(), value, rows, matched }
    }

    #[test]
    fn camunda_7_result_mappings() {
        let one = ev(json!(0.1), json!([{"discount": 0.1}]), true);
        assert_eq!(shape(DecisionResult::Value, &one), Ok(json!(0.1)));
        assert_eq!(shape(DecisionResult::ResultList, &one), Ok(json!([{"discount": 0.1}])));
        assert_eq!(shape(DecisionResult::SingleResult, &one), Ok(json!({"discount": 0.1})));
        assert_eq!(shape(DecisionResult::SingleEntry, &one), Ok(json!(0.1)));
        assert_eq!(shape(DecisionResult::CollectEntries, &one), Ok(json!([0.1])));

        let none = ev(Value::Null, json!([]), true);
        assert_eq!(shape(DecisionResult::SingleEntry, &none), Ok(Value::Null));
        assert_eq!(shape(DecisionResult::SingleResult, &none), Ok(Value::Null));
        assert_eq!(shape(DecisionResult::ResultList, &none), Ok(json!([])));

        let many = ev(json!(["a", "b"]), json!([{"x": "a"}, {"x": "b"}]), true);
        assert_eq!(shape(DecisionResult::CollectEntries, &many), Ok(json!(["a", "b"])));
        let err = shape(DecisionResult::SingleEntry, &many).unwrap_err();
        assert!(err.contains("2 rules matched"), "{err}");

        let two_outputs = ev(json!({"a": 1, "b": 2}), json!([{"a": 1, "b": 2}]), true);
        assert_eq!(shape(DecisionResult::SingleResult, &two_outputs), Ok(json!({"a": 1, "b": 2})));
        let err = shape(DecisionResult::SingleEntry, &two_outputs).unwrap_err();
        assert!(err.contains("2 outputs (a, b)"), "{err}");

        // COLLECT SUM: one result, the aggregate, under the output's name.
        let sum = ev(json!(30), json!([{"points": 10}, {"points": 20}]), true);
        assert_eq!(shape(DecisionResult::SingleEntry, &sum), Ok(json!(30)));
        assert_eq!(shape(DecisionResult::ResultList, &sum), Ok(json!([{"points": 30}])));

        // A literal expression: its value under the decision's id.
        let literal = ev(json!("gold"), json!([]), false);
        assert_eq!(shape(DecisionResult::SingleEntry, &literal), Ok(json!("gold")));
        assert_eq!(shape(DecisionResult::ResultList, &literal), Ok(json!([{"d": "gold"}])));
    }
}
