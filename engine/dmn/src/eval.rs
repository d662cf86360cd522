//! Evaluation: required decisions first (each once), then the decision's table or literal
//! expression. Nothing is parsed here; every FEEL text was compiled by `read`.

use serde_json::{Map, Value};
use sluice_feel::{FeelValue, Variables};

use crate::model::{Aggregation, Decision, Entry, HitPolicy, Logic, Model, Table};
use crate::{EvalError, Evaluation, Matched};

/// The caller's variables plus typed values: the results of required decisions (by name) and
/// the caller's own typed values.
struct Layer<'v> {
    outer: &'v dyn Variables,
    values: Vec<(String, FeelValue)>,
}

impl Variables for Layer<'_> {
    fn get(&self, name: &str) -> Option<&Value> {
        self.outer.get(name)
    }

    fn now(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.outer.now()
    }

    fn values(&self) -> &[(String, FeelValue)] {
        &self.values
    }
}

struct Run<'m, 'v> {
    model: &'m Model,
    vars: &'v dyn Variables,
    /// Results of decisions evaluated so far, by decision index.
    done: Vec<Option<FeelValue>>,
    /// On the way: guards against a cycle a malformed model might still hold.
    active: Vec<bool>,
    matched: Vec<Matched>,
}

fn fail(d: &Decision, rule: Option<&str>, message: impl Into<String>) -> EvalError {
    EvalError { decision_id: d.id.clone(), rule_id: rule.map(str::to_string), message: message.into() }
}

fn null() -> FeelValue {
    FeelValue::from_json(&Value::Null)
}

pub(crate) fn evaluate(model: &Model, decision_id: &str, vars: &dyn Variables) -> Result<Evaluation, EvalError> {
    let Some(&k) = model.by_id.get(decision_id) else {
        return Err(EvalError {
            decision_id: decision_id.to_string(),
            rule_id: None,
            message: format!("the model `{}` has no decision with this id", model.id),
        });
    };
    let mut run = Run { model, vars, done: Vec::new(), active: Vec::new(), matched: Vec::new() };
    let (value, rows) = run.decide(k)?;
    Ok(Evaluation { decision_id: decision_id.to_string(), value, rows, matched: run.matched })
}

impl Run<'_, '_> {
    /// The decision's value and the rows of its table, its required decisions evaluated first
    /// (in post-order, without recursion, so a long chain of requirements cannot exhaust the
    /// stack).
    fn decide(&mut self, top: usize) -> Result<(Value, Rows), EvalError> {
        let model = self.model;
        if model.decisions[top].required.is_empty() {
            // The common case: one table or expression, nothing to walk.
            return Ok(self.decide_one(top, true)?.unwrap_or_default());
        }
        let n = model.decisions.len();
        self.done = vec![None; n];
        self.active = vec![false; n];
        let mut stack = vec![(top, false)];
        let mut result = (Value::Null, Vec::new());
        while let Some((k, expanded)) = stack.pop() {
            if self.done[k].is_some() {
                continue;
            }
            if expanded {
                if let Some(r) = self.decide_one(k, k == top)? {
                    result = r;
                }
                continue;
            }
            if self.active[k] {
                // Parse refuses requirement cycles; this guards the walk all the same.
                return Err(fail(
                    &model.decisions[k],
                    None,
                    "the decision requires itself through its required decisions",
                ));
            }
            self.active[k] = true;
            stack.push((k, true));
            for &r in model.decisions[k].required.iter().rev() {
                if self.done[r].is_none() {
                    stack.push((r, false));
                }
            }
        }
        Ok(result)
    }

    /// Evaluates one decision whose required decisions are done; for the top one, its value as
    /// JSON and its table's rows.
    fn decide_one(&mut self, k: usize, top: bool) -> Result<Option<(Value, Rows)>, EvalError> {
        let model = self.model;
        let d = &model.decisions[k];
        let mut layer = Layer { outer: self.vars, values: Vec::new() };
        for &r in &d.required {
            let v = self.done.get(r).cloned().flatten().unwrap_or_else(null);
            layer.values.push((model.decisions[r].var_name.clone(), v));
        }
        layer.values.extend(self.vars.values().iter().cloned());
        let (value, rows, matched) = match &d.logic {
            Logic::Literal(e) => {
                let v = e.eval_value(&layer).map_err(|e| fail(d, None, e.message))?;
                (v, Vec::new(), None)
            }
            Logic::Table(t) => {
                let (v, rows, m) = table(d, t, &layer, top)?;
                (v, rows, Some(m))
            }
            Logic::Unsupported(what) => {
                return Err(fail(d, None, format!("the decision cannot be evaluated: its logic is {what}")));
            }
        };
        let value = match &d.type_ref {
            Some(ty) => conform(value, ty).map_err(|m| fail(d, None, m))?,
            None => value,
        };
        let json = (top || matched.is_some()).then(|| value.to_json());
        if let Some(mut m) = matched {
            m.output = json.clone().unwrap_or(Value::Null);
            self.matched.push(m);
        }
        if let Some(slot) = self.done.get_mut(k) {
            *slot = Some(value);
        }
        Ok(if top { json.map(|j| (j, rows)) } else { None })
    }
}

/// DMN's type conversion of a value given to a declared type (DMN 1.5, 10.3.2.9.4): a list of
/// one given to a non-list type is its item, a non-list given to a list type is a list of it.
/// A value that still does not conform is an error (where DMN would give null).
pub(crate) fn conform(v: FeelValue, ty: &str) -> Result<FeelValue, String> {
    if ty == "Any" || v.type_name() == "Null" {
        return Ok(v);
    }
    let is_list_type = ty.starts_with("list<") || ty == "list";
    let v = match v.items() {
        Some(items) if !is_list_type && items.len() == 1 => items.into_iter().next().unwrap_or_else(null),
        None if is_list_type => FeelValue::list(vec![v]),
        _ => v,
    };
    match v.is_instance_of(ty) {
        Ok(true) | Err(_) => Ok(v),
        Ok(false) => Err(format!("the result {} is a {}, not of the declared type `{ty}`", shown(&v), v.type_name())),
    }
}

/// A value as an error message shows it, shortened.
fn shown(v: &FeelValue) -> String {
    let mut s = v.to_json().to_string();
    if s.chars().count() > 60 {
        s = s.chars().take(57).collect::<String>() + "...";
    }
    s
}

/// The matched rules' outputs by output name, in hit order.
type Rows = Vec<Map<String, Value>>;

/// One matched rule's outputs.
struct Hit {
    /// 0-based rule index.
    rule: usize,
    values: Vec<FeelValue>,
}

/// The table's value, its rows (when `want_rows`) and the rules it matched (`output` left for
/// the caller, after the decision's type conversion).
fn table(d: &Decision, t: &Table, vars: &Layer<'_>, want_rows: bool) -> Result<(FeelValue, Rows, Matched), EvalError> {
    let mut inputs = Vec::with_capacity(t.inputs.len());
    for inp in &t.inputs {
        let v =
            inp.expr.eval_value(vars).map_err(|e| fail(d, None, format!("input `{}`: {}", inp.label, e.message)))?;
        if let Some(allowed) = &inp.values
            && !allowed.test(&v, vars).map_err(|e| fail(d, None, format!("input `{}`: {}", inp.label, e.message)))?
        {
            return Err(fail(
                d,
                None,
                format!(
                    "input `{}` is {}, which is not one of its input values ({})",
                    inp.label,
                    shown(&v),
                    allowed.source()
                ),
            ));
        }
        inputs.push(v);
    }

    let mut hits: Vec<Hit> = Vec::new();
    for (ri, rule) in t.rules.iter().enumerate() {
        let mut all = true;
        for (entry, input) in rule.entries.iter().zip(&inputs) {
            let ok = entry_passes(entry, input, vars).map_err(|e| {
                fail(d, Some(&rule.id), format!("rule {}: input entry `{}`: {}", ri + 1, entry.source(), e.message))
            })?;
            if !ok {
                all = false;
                break;
            }
        }
        if !all {
            continue;
        }
        let mut values = Vec::with_capacity(rule.outputs.len());
        for (oi, (x, out)) in rule.outputs.iter().zip(&t.outputs).enumerate() {
            // Built only for an error message.
            let what = || {
                if out.name.is_empty() { format!("output entry {}", oi + 1) } else { format!("output `{}`", out.name) }
            };
            let v = x
                .eval_value(vars)
                .map_err(|e| fail(d, Some(&rule.id), format!("rule {}: {}: {}", ri + 1, what(), e.message)))?;
            let v = match &out.type_ref {
                Some(ty) => {
                    conform(v, ty).map_err(|m| fail(d, Some(&rule.id), format!("rule {}: {}: {m}", ri + 1, what())))?
                }
                None => v,
            };
            if let Some(allowed) = &out.values
                && !allowed.test(&v, vars).map_err(|e| fail(d, Some(&rule.id), e.message))?
            {
                return Err(fail(
                    d,
                    Some(&rule.id),
                    format!(
                        "rule {}: {} gives {}, which is not one of its output values ({})",
                        ri + 1,
                        what(),
                        shown(&v),
                        allowed.source()
                    ),
                ));
            }
            values.push(v);
        }
        hits.push(Hit { rule: ri, values });
        if t.hit == HitPolicy::First {
            break;
        }
    }

    let rule_id = |h: &Hit| t.rules[h.rule].id.as_str();
    match t.hit {
        HitPolicy::Unique if hits.len() > 1 => {
            let list: Vec<String> = hits.iter().map(|h| format!("{} (`{}`)", h.rule + 1, rule_id(h))).collect();
            return Err(fail(
                d,
                Some(rule_id(&hits[1])),
                format!("the UNIQUE hit policy is violated: rules {} all match", list.join(", ")),
            ));
        }
        HitPolicy::Any => {
            if let Some(first) = hits.first() {
                for h in &hits[1..] {
                    let same = h.values.iter().zip(&first.values).all(|(a, b)| a.feel_eq(b) == Some(true));
                    if !same {
                        return Err(fail(
                            d,
                            Some(rule_id(h)),
                            format!(
                                "the ANY hit policy is violated: rules {} (`{}`) and {} (`{}`) match with different outputs",
                                first.rule + 1,
                                rule_id(first),
                                h.rule + 1,
                                rule_id(h)
                            ),
                        ));
                    }
                }
                hits.truncate(1);
            }
        }
        HitPolicy::Priority | HitPolicy::OutputOrder => {
            let mut ranked = Vec::with_capacity(hits.len());
            for h in hits {
                let mut rank = Vec::with_capacity(h.values.len());
                for (v, out) in h.values.iter().zip(&t.outputs) {
                    let pos = match &out.values {
                        Some(allowed) => {
                            allowed.position(v, vars).map_err(|e| fail(d, Some(&t.rules[h.rule].id), e.message))?
                        }
                        None => Some(0),
                    };
                    rank.push(pos.unwrap_or(usize::MAX));
                }
                ranked.push((rank, h));
            }
            // Stable: equal ranks keep rule order.
            ranked.sort_by(|a, b| a.0.cmp(&b.0));
            hits = ranked.into_iter().map(|(_, h)| h).collect();
            if t.hit == HitPolicy::Priority {
                hits.truncate(1);
            }
        }
        _ => {}
    }

    let single_output = t.outputs.len() == 1;
    let row_value = |values: &[FeelValue]| -> FeelValue {
        if single_output {
            values.first().cloned().unwrap_or_else(null)
        } else {
            FeelValue::context(t.outputs.iter().map(|o| o.name.clone()).zip(values.iter().cloned()).collect())
        }
    };
    let rows: Vec<Map<String, Value>> = hits
        .iter()
        .filter(|_| want_rows)
        .map(|h| {
            t.outputs
                .iter()
                .zip(&h.values)
                .map(|(o, v)| (if o.name.is_empty() { d.var_name.clone() } else { o.name.clone() }, v.to_json()))
                .collect()
        })
        .collect();

    let multi = matches!(t.hit, HitPolicy::Collect(None) | HitPolicy::RuleOrder | HitPolicy::OutputOrder);
    let value = if hits.is_empty() {
        match defaults(d, t, vars, &row_value)? {
            Some(v) if multi => FeelValue::list(vec![v]),
            Some(v) => v,
            None if t.hit == HitPolicy::Collect(Some(Aggregation::Count)) => FeelValue::from_json(&Value::from(0)),
            None => null(),
        }
    } else if let HitPolicy::Collect(Some(agg)) = t.hit {
        aggregate(d, t, agg, hits.iter().map(|h| row_value(&h.values)).collect())?
    } else if multi {
        FeelValue::list(hits.iter().map(|h| row_value(&h.values)).collect())
    } else {
        row_value(&hits[0].values)
    };
    let matched = Matched {
        decision_id: d.id.clone(),
        rule_ids: hits.iter().map(|h| rule_id(h).to_string()).collect(),
        rule_indexes: hits.iter().map(|h| h.rule + 1).collect(),
        output: Value::Null,
    };
    Ok((value, rows, matched))
}

/// Whether the input passes an input entry.
fn entry_passes(entry: &Entry, input: &FeelValue, vars: &Layer<'_>) -> Result<bool, sluice_feel::EvalError> {
    match entry {
        Entry::Tests(t) => t.test(input, vars),
        Entry::Juel(e) => {
            let mut values = Vec::with_capacity(vars.values.len() + 1);
            values.push(("cellInput".to_string(), input.clone()));
            values.extend(vars.values.iter().cloned());
            e.eval_bool(&Layer { outer: vars.outer, values })
        }
    }
}

/// The default output entries when no rule matches: None when no output has one.
fn defaults(
    d: &Decision,
    t: &Table,
    vars: &Layer<'_>,
    row_value: &dyn Fn(&[FeelValue]) -> FeelValue,
) -> Result<Option<FeelValue>, EvalError> {
    if t.outputs.iter().all(|o| o.default.is_none()) {
        return Ok(None);
    }
    let mut values = Vec::with_capacity(t.outputs.len());
    for o in &t.outputs {
        let v = match &o.default {
            Some(x) => x.eval_value(vars).map_err(|e| fail(d, None, format!("default output: {}", e.message)))?,
            None => null(),
        };
        values.push(v);
    }
    Ok(Some(row_value(&values)))
}

/// COLLECT with SUM, MIN, MAX or COUNT over the outputs of every matched rule.
fn aggregate(d: &Decision, t: &Table, agg: Aggregation, values: Vec<FeelValue>) -> Result<FeelValue, EvalError> {
    let name = match agg {
        Aggregation::Count => return Ok(FeelValue::from_json(&Value::from(values.len()))),
        Aggregation::Sum => "sum",
        Aggregation::Min => "min",
        Aggregation::Max => "max",
    };
    let Some(call) = &t.aggregator else {
        return Err(fail(d, None, format!("COLLECT {name}: the aggregation was not compiled")));
    };
    let list = FeelValue::list(values);
    let layer = NoLayer { values: vec![("outputs".to_string(), list)] };
    call.eval_value(&layer).map_err(|e| fail(d, None, format!("COLLECT {name}: {}", e.message)))
}

struct NoLayer {
    values: Vec<(String, FeelValue)>,
}

impl Variables for NoLayer {
    fn get(&self, _name: &str) -> Option<&Value> {
        None
    }

    fn values(&self) -> &[(String, FeelValue)] {
        &self.values
    }
}
