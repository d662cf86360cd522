//! Decision tables and literal decisions: every hit policy, input and output values, unary
//! tests, required decisions, evaluation errors naming decision and rule, diagnostics with line
//! and column, and the static UNIQUE-overlap warning.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use sluice_dmn::{DecisionKind, Definitions, EvalError, Evaluation, Parsed, Source, is_dmn, parse};

const NS: &str = "https://www.omg.org/spec/DMN/20191111/MODEL/";

/// One input column: its expression and its input values.
struct In<'a>(&'a str, Option<&'a str>);
/// One output column: its name and its output values.
struct Out<'a>(&'a str, Option<&'a str>);

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A model with one decision `d` holding a table with attributes `attrs`.
fn table_xml(attrs: &str, inputs: &[In<'_>], outputs: &[Out<'_>], rules: &[(&[&str], &[&str])]) -> String {
    let mut x = format!(
        "<definitions xmlns=\"{NS}\" id=\"defs\" name=\"Test\">\n  <decision id=\"d\" name=\"D\">\n    <decisionTable id=\"t\" {attrs}>\n"
    );
    for (k, i) in inputs.iter().enumerate() {
        x += &format!(
            "      <input id=\"i{k}\" label=\"{}\"><inputExpression><text>{}</text></inputExpression>",
            esc(i.0),
            esc(i.0)
        );
        if let Some(v) = i.1 {
            x += &format!("<inputValues><text>{}</text></inputValues>", esc(v));
        }
        x += "</input>\n";
    }
    for (k, o) in outputs.iter().enumerate() {
        x += &format!("      <output id=\"o{k}\" name=\"{}\">", o.0);
        if let Some(v) = o.1 {
            x += &format!("<outputValues><text>{}</text></outputValues>", esc(v));
        }
        x += "</output>\n";
    }
    for (k, (ins, outs)) in rules.iter().enumerate() {
        x += &format!("      <rule id=\"r{}\">", k + 1);
        for i in *ins {
            x += &format!("<inputEntry><text>{}</text></inputEntry>", esc(i));
        }
        for o in *outs {
            x += &format!("<outputEntry><text>{}</text></outputEntry>", esc(o));
        }
        x += "</rule>\n";
    }
    x += "    </decisionTable>\n  </decision>\n</definitions>\n";
    x
}

fn parsed(xml: &str) -> Parsed {
    parse(Source { file: "t.dmn", text: xml })
}

fn defs(xml: &str) -> Definitions {
    let p = parsed(xml);
    let errors: Vec<String> = p.diagnostics.iter().filter(|d| d.is_error()).map(ToString::to_string).collect();
    assert!(errors.is_empty(), "unexpected errors: {errors:#?}");
    p.definitions.expect("definitions")
}

fn eval(xml: &str, data: Value) -> Result<Evaluation, EvalError> {
    defs(xml).evaluate("d", &data)
}

fn value(xml: &str, data: Value) -> Value {
    match eval(xml, data) {
        Ok(e) => e.value,
        Err(e) => panic!("evaluation failed: {e}"),
    }
}

/// A one-input, one-output table over `n` with rules `< 10 → "low"`, `>= 5 → "mid"`,
/// `>= 8 → "high"` (overlapping between 5 and 10).
fn overlapping(hit: &str) -> String {
    table_xml(
        hit,
        &[In("n", None)],
        &[Out("level", Some("\"high\", \"mid\", \"low\""))],
        &[(&["< 10"], &["\"low\""]), (&[">= 5"], &["\"mid\""]), (&[">= 8"], &["\"high\""])],
    )
}

#[test]
fn unique_gives_the_one_match_and_null_for_none() {
    let x = table_xml(
        "hitPolicy=\"UNIQUE\"",
        &[In("age", None)],
        &[Out("band", None)],
        &[(&["< 18"], &["\"minor\""]), (&["[18..65)"], &["\"adult\""]), (&[">= 65"], &["\"senior\""])],
    );
    assert_eq!(value(&x, json!({"age": 30})), json!("adult"));
    assert_eq!(value(&x, json!({"age": 65})), json!("senior"));
    // No rule matches null, and there is no default: null, which is DMN, not an error.
    assert_eq!(value(&x, json!({})), Value::Null);
    let e = eval(&x, json!({"age": 17})).unwrap();
    assert_eq!(e.matched[0].rule_ids, ["r1"]);
    assert_eq!(e.matched[0].rule_indexes, [1]);
    assert_eq!(e.rows, vec![json!({"band": "minor"}).as_object().unwrap().clone()]);
}

#[test]
fn unique_violation_names_decision_and_rule() {
    let x = overlapping("");
    let e = eval(&x, json!({"n": 6})).unwrap_err();
    assert_eq!(e.decision_id, "d");
    assert_eq!(e.rule_id.as_deref(), Some("r2"));
    assert!(e.to_string().contains("decision `d`, rule `r2`"), "{e}");
    assert!(e.message.contains("UNIQUE"), "{e}");
    assert!(e.message.contains("1 (`r1`), 2 (`r2`)"), "{e}");
    // One match is fine.
    assert_eq!(value(&x, json!({"n": 2})), json!("low"));
}

#[test]
fn first_takes_the_first_match_in_rule_order() {
    let x = overlapping("hitPolicy=\"FIRST\"");
    assert_eq!(value(&x, json!({"n": 9})), json!("low"));
    assert_eq!(value(&x, json!({"n": 12})), json!("mid"));
    assert_eq!(eval(&x, json!({"n": 9})).unwrap().matched[0].rule_indexes, [1]);
}

#[test]
fn priority_takes_the_output_first_in_the_output_values() {
    let x = overlapping("hitPolicy=\"PRIORITY\"");
    assert_eq!(value(&x, json!({"n": 9})), json!("high"));
    assert_eq!(value(&x, json!({"n": 6})), json!("mid"));
    assert_eq!(value(&x, json!({"n": 1})), json!("low"));
    assert_eq!(eval(&x, json!({"n": 9})).unwrap().matched[0].rule_ids, ["r3"]);
}

#[test]
fn any_accepts_equal_outputs_and_refuses_different_ones() {
    let x = table_xml(
        "hitPolicy=\"ANY\"",
        &[In("n", None)],
        &[Out("ok", None)],
        &[(&["> 0"], &["true"]), (&["> 5"], &["true"]), (&["> 8"], &["false"])],
    );
    assert_eq!(value(&x, json!({"n": 6})), json!(true));
    let e = eval(&x, json!({"n": 9})).unwrap_err();
    assert_eq!(e.rule_id.as_deref(), Some("r3"));
    assert!(e.message.contains("ANY"), "{e}");
}

#[test]
fn rule_order_and_collect_list_every_match_in_rule_order() {
    for hit in ["hitPolicy=\"RULE ORDER\"", "hitPolicy=\"COLLECT\""] {
        let x = overlapping(hit);
        assert_eq!(value(&x, json!({"n": 9})), json!(["low", "mid", "high"]), "{hit}");
        assert_eq!(value(&x, json!({"n": 20})), json!(["mid", "high"]), "{hit}");
        assert_eq!(value(&x, json!({"n": 2})), json!(["low"]), "{hit}");
        let e = eval(&x, json!({"n": 9})).unwrap();
        assert_eq!(e.rows.len(), 3);
        assert_eq!(e.matched[0].rule_indexes, [1, 2, 3]);
    }
}

#[test]
fn output_order_sorts_by_the_output_values() {
    let x = overlapping("hitPolicy=\"OUTPUT ORDER\"");
    assert_eq!(value(&x, json!({"n": 9})), json!(["high", "mid", "low"]));
    assert_eq!(eval(&x, json!({"n": 9})).unwrap().matched[0].rule_ids, ["r3", "r2", "r1"]);
}

#[test]
fn collect_aggregations() {
    let rules: &[(&[&str], &[&str])] = &[(&["> 0"], &["10"]), (&["> 5"], &["2.5"]), (&["> 8"], &["7"])];
    let t = |agg: &str| {
        table_xml(&format!("hitPolicy=\"COLLECT\" aggregation=\"{agg}\""), &[In("n", None)], &[Out("x", None)], rules)
    };
    assert_eq!(value(&t("SUM"), json!({"n": 9})), json!(19.5));
    assert_eq!(value(&t("MIN"), json!({"n": 9})), json!(2.5));
    assert_eq!(value(&t("MAX"), json!({"n": 9})), json!(10));
    assert_eq!(value(&t("COUNT"), json!({"n": 9})), json!(3));
    assert_eq!(value(&t("COUNT"), json!({"n": 6})), json!(2));
    // No match: COUNT is 0, the others null.
    assert_eq!(value(&t("COUNT"), json!({"n": -1})), json!(0));
    assert_eq!(value(&t("SUM"), json!({"n": -1})), Value::Null);
    // The rows keep every match before aggregation.
    assert_eq!(eval(&t("SUM"), json!({"n": 9})).unwrap().rows.len(), 3);
}

#[test]
fn several_outputs_give_a_context_and_defaults_apply_when_nothing_matches() {
    let mut x = table_xml(
        "hitPolicy=\"UNIQUE\"",
        &[In("amount", None), In("region", None)],
        &[Out("discount", None), Out("approver", None)],
        &[(&["> 1000", "\"EU\""], &["0.1", "\"manager\""]), (&["<= 1000", "-"], &["0", "\"none\""])],
    );
    assert_eq!(value(&x, json!({"amount": 5000, "region": "EU"})), json!({"discount": 0.1, "approver": "manager"}));
    assert_eq!(value(&x, json!({"amount": 5000, "region": "US"})), Value::Null);
    x = x.replace(
        "<output id=\"o1\" name=\"approver\">",
        "<output id=\"o1\" name=\"approver\"><defaultOutputEntry><text>\"director\"</text></defaultOutputEntry>",
    );
    assert_eq!(value(&x, json!({"amount": 5000, "region": "US"})), json!({"discount": null, "approver": "director"}));
}

#[test]
fn unary_tests_lists_not_ranges_and_question_mark() {
    let x = table_xml(
        "hitPolicy=\"RULE ORDER\"",
        &[In("s", None), In("n", None)],
        &[Out("r", None)],
        &[
            (&["\"a\", \"b\"", "-"], &["1"]),
            (&["not(\"a\", \"c\")", "-"], &["2"]),
            (&["-", "[1..5), > 100"], &["3"]),
            (&["-", "? > 2 and ? < 4"], &["4"]),
            (&["-", "not(< 3)"], &["5"]),
            (&["-", "limit"], &["6"]),
        ],
    );
    assert_eq!(value(&x, json!({"s": "a", "n": 3, "limit": 3})), json!([1, 3, 4, 5, 6]));
    assert_eq!(value(&x, json!({"s": "b", "n": 200, "limit": 3})), json!([1, 2, 3, 5]));
    assert_eq!(value(&x, json!({"s": "c", "n": 5, "limit": 3})), json!([5]));
    // A null input passes no test but `-`, and no `not(...)` either.
    assert_eq!(value(&x, json!({"s": "z", "limit": 3})), json!([2]));
}

#[test]
fn input_outside_its_input_values_is_an_error_naming_the_input() {
    let x = table_xml(
        "",
        &[In("category", Some("\"A\", \"B\""))],
        &[Out("r", None)],
        &[(&["\"A\""], &["1"]), (&["\"B\""], &["2"])],
    );
    assert_eq!(value(&x, json!({"category": "B"})), json!(2));
    let e = eval(&x, json!({"category": "Z"})).unwrap_err();
    assert_eq!(e.decision_id, "d");
    assert!(e.message.contains("input `category`"), "{e}");
    assert!(e.message.contains("\"Z\""), "{e}");
}

#[test]
fn output_outside_its_output_values_is_an_error_naming_the_rule() {
    let x = table_xml(
        "",
        &[In("n", None)],
        &[Out("r", Some("\"yes\", \"no\""))],
        &[(&["> 0"], &["\"yes\""]), (&["<= 0"], &["\"maybe\""])],
    );
    assert_eq!(value(&x, json!({"n": 1})), json!("yes"));
    let e = eval(&x, json!({"n": 0})).unwrap_err();
    assert_eq!(e.rule_id.as_deref(), Some("r2"));
    assert!(e.message.contains("output values"), "{e}");
}

#[test]
fn feel_errors_name_the_rule() {
    let x = table_xml("", &[In("n", None)], &[Out("r", None)], &[(&["> 0"], &["n + \"x\""]), (&["<= 0"], &["0"])]);
    let e = eval(&x, json!({"n": 1})).unwrap_err();
    assert_eq!(e.rule_id.as_deref(), Some("r1"));
    assert!(e.message.contains("rule 1"), "{e}");
    // An input entry that cannot be compared with the input is an error too, not a miss.
    let x = table_xml("", &[In("n", None)], &[Out("r", None)], &[(&["> \"a\""], &["1"])]);
    let e = eval(&x, json!({"n": 1})).unwrap_err();
    assert_eq!(e.rule_id.as_deref(), Some("r1"));
}

#[test]
fn missing_decision_is_an_error() {
    let x = overlapping("hitPolicy=\"FIRST\"");
    let e = defs(&x).evaluate("nope", &json!({})).unwrap_err();
    assert_eq!(e.decision_id, "nope");
    assert!(e.message.contains("no decision"), "{e}");
}

const DRG: &str = r##"<definitions xmlns="https://www.omg.org/spec/DMN/20230324/MODEL/" id="drg" name="Loan">
  <inputData id="in_amount" name="Loan Amount"/>
  <decision id="risk" name="Risk Level">
    <variable name="Risk Level" typeRef="string"/>
    <informationRequirement><requiredInput href="#in_amount"/></informationRequirement>
    <decisionTable id="rt" hitPolicy="UNIQUE">
      <input id="ri" label="Loan Amount"><inputExpression typeRef="number"><text>Loan Amount</text></inputExpression></input>
      <output id="ro" name="risk"/>
      <rule id="low"><inputEntry><text>&lt; 10000</text></inputEntry><outputEntry><text>"low"</text></outputEntry></rule>
      <rule id="high"><inputEntry><text>&gt;= 10000</text></inputEntry><outputEntry><text>"high"</text></outputEntry></rule>
    </decisionTable>
  </decision>
  <decision id="approval" name="Approval" camunda:versionTag="v2" xmlns:camunda="http://camunda.org/schema/1.0/dmn">
    <informationRequirement><requiredDecision href="#risk"/></informationRequirement>
    <literalExpression><text>if Risk Level = "low" then "auto" else "manual " + string(now().year)</text></literalExpression>
  </decision>
</definitions>
"##;

struct Now(serde_json::Map<String, Value>);

impl sluice_feel::Variables for Now {
    fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    fn now(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        chrono::DateTime::from_timestamp(1_767_225_600, 0)
    }
}

#[test]
fn literal_decisions_see_required_decisions_by_name() {
    let d = defs(DRG);
    assert_eq!(d.id(), "drg");
    assert_eq!(d.name(), Some("Loan"));
    let infos = d.decisions();
    assert_eq!(infos.len(), 2);
    assert_eq!(infos[0].kind, DecisionKind::Table);
    assert_eq!(infos[1].kind, DecisionKind::Literal);
    assert_eq!(infos[1].required, ["risk"]);
    assert_eq!(infos[1].version_tag.as_deref(), Some("v2"));

    let vars = Now(json!({"Loan Amount": 500}).as_object().unwrap().clone());
    let e = d.evaluate("approval", &vars).unwrap();
    assert_eq!(e.value, json!("auto"));
    assert!(e.rows.is_empty());
    assert_eq!(e.matched.len(), 1);
    assert_eq!(e.matched[0].decision_id, "risk");
    assert_eq!(e.matched[0].rule_ids, ["low"]);
    // now() is the caller's time (2026-01-01), not a clock of the engine's.
    let vars = Now(json!({"Loan Amount": 50000}).as_object().unwrap().clone());
    assert_eq!(d.evaluate("approval", &vars).unwrap().value, json!("manual 2026"));
    // Without a time, now() is an error naming the decision.
    let e = d.evaluate("approval", &json!({"Loan Amount": 50000})).unwrap_err();
    assert_eq!(e.decision_id, "approval");
}

/// The line and column of the first diagnostic with `code`.
fn at(p: &Parsed, code: &str) -> (u32, u32, Option<String>) {
    let d =
        p.diagnostics.iter().find(|d| d.code == code).unwrap_or_else(|| panic!("no {code} in {:#?}", p.diagnostics));
    (d.pos.line, d.pos.column, d.element.clone())
}

#[test]
fn invalid_feel_in_an_entry_is_an_error_with_line_and_column() {
    let x = table_xml("", &[In("n", None)], &[Out("r", None)], &[(&["> 0"], &["1"]), (&["[1.."], &["2"])]);
    let p = parsed(&x);
    assert!(p.definitions.is_none());
    let (line, col, el) = at(&p, "invalid-feel");
    assert_eq!(line, 7);
    let rule_line = x.lines().nth(6).unwrap();
    assert!(col as usize > rule_line.find("[1..").unwrap(), "column {col} in {rule_line}");
    assert_eq!(el.as_deref(), Some("r2"));
    let shown = p.diagnostics[0].to_string();
    assert!(shown.starts_with("t.dmn:7:"), "{shown}");
    assert!(shown.contains("error[invalid-feel]"), "{shown}");
}

#[test]
fn structural_errors_are_diagnostics() {
    let wrong_count = table_xml("", &[In("a", None), In("b", None)], &[Out("r", None)], &[(&["1"], &["1"])]);
    let p = parsed(&wrong_count);
    assert_eq!(at(&p, "wrong-entry-count"), (7, 7, Some("r1".into())));

    let unknown = table_xml("hitPolicy=\"SOMETIMES\"", &[In("a", None)], &[Out("r", None)], &[(&["1"], &["1"])]);
    let p = parsed(&unknown);
    let (line, _, el) = at(&p, "unknown-hit-policy");
    assert_eq!((line, el.as_deref()), (3, Some("d")));
    assert!(p.definitions.is_none());

    let missing = DRG.replace("href=\"#risk\"", "href=\"#riskk\"");
    let p = parsed(&missing);
    let (line, _, el) = at(&p, "unknown-required-decision");
    assert_eq!((line, el.as_deref()), (14, Some("approval")));

    let cycle = DRG.replace(
        "<informationRequirement><requiredInput href=\"#in_amount\"/></informationRequirement>",
        "<informationRequirement><requiredDecision href=\"#approval\"/></informationRequirement>",
    );
    let p = parsed(&cycle);
    let d = p.diagnostics.iter().find(|d| d.code == "requirement-cycle").expect("a cycle");
    assert!(d.message.contains("risk → approval → risk") || d.message.contains("approval → risk → approval"), "{d}");
    assert!(p.definitions.is_none());

    let p = parsed("<definitions xmlns=\"http://www.omg.org/spec/BPMN/20100524/MODEL\"/>");
    assert_eq!(at(&p, "not-dmn").0, 1);
    let p = parsed("<definitions xmlns=\"https://www.omg.org/spec/DMN/20191111/MODEL/\"><decision");
    assert!(p.diagnostics.iter().any(|d| d.code == "xml-syntax"));
}

#[test]
fn overlapping_unique_rules_are_a_warning() {
    let p = parsed(&overlapping(""));
    let warns: Vec<_> = p.diagnostics.iter().filter(|d| d.code == "unique-overlap").collect();
    assert_eq!(warns.len(), 2, "{warns:#?}");
    assert_eq!(warns[0].element.as_deref(), Some("r2"));
    assert!(warns[0].message.contains("rules 1 (`r1`) and 2 (`r2`)"), "{}", warns[0]);
    assert!(warns[0].message.contains("n = 5"), "{}", warns[0]);
    // A warning, not an error: the model still deploys.
    assert!(p.definitions.is_some());

    // Identical literals, and entries that are all `-`.
    let x = table_xml(
        "",
        &[In("a", None), In("b", None)],
        &[Out("r", None)],
        &[(&["\"x\"", "-"], &["1"]), (&["\"y\"", "-"], &["2"]), (&["\"x\", \"z\"", "true"], &["3"])],
    );
    let p = parsed(&x);
    let warns: Vec<_> = p.diagnostics.iter().filter(|d| d.code == "unique-overlap").collect();
    assert_eq!(warns.len(), 1, "{warns:#?}");
    assert!(warns[0].message.contains("rules 1 (`r1`) and 3 (`r3`)"), "{}", warns[0]);
    assert!(warns[0].message.contains("a = \"x\", b = true"), "{}", warns[0]);

    let x = table_xml("", &[In("a", None)], &[Out("r", None)], &[(&["-"], &["1"]), (&["-"], &["2"])]);
    assert!(parsed(&x).diagnostics.iter().any(|d| d.code == "unique-overlap" && d.message.contains("for any input")));
}

#[test]
fn exclusive_unique_rules_get_no_warning() {
    let ok = [
        table_xml(
            "",
            &[In("age", None)],
            &[Out("band", None)],
            &[(&["< 18"], &["1"]), (&["[18..65)"], &["2"]), (&[">= 65"], &["3"])],
        ),
        // Another column keeps them apart.
        table_xml(
            "",
            &[In("a", None), In("b", None)],
            &[Out("r", None)],
            &[(&["-", "\"x\""], &["1"]), (&["-", "\"y\""], &["2"])],
        ),
        // Touching open ends do not overlap.
        table_xml("", &[In("n", None)], &[Out("r", None)], &[(&["< 5"], &["1"]), (&[">= 5"], &["2"])]),
        table_xml("", &[In("n", None)], &[Out("r", None)], &[(&["(1..5)"], &["1"]), (&["[5..9]"], &["2"])]),
        // The only common values are outside the input values.
        table_xml(
            "",
            &[In("s", Some("\"a\", \"b\""))],
            &[Out("r", None)],
            &[(&["\"a\", \"z\""], &["1"]), (&["\"b\", \"z\""], &["2"])],
        ),
        // Not analysable: names, `not(...)`, `?` are never reported.
        table_xml("", &[In("n", None)], &[Out("r", None)], &[(&["limit"], &["1"]), (&["limit"], &["2"])]),
        table_xml("", &[In("n", None)], &[Out("r", None)], &[(&["not(1)"], &["1"]), (&["not(2)"], &["2"])]),
        table_xml("", &[In("n", None)], &[Out("r", None)], &[(&["? > 1"], &["1"]), (&["? > 2"], &["2"])]),
    ];
    for x in &ok {
        let p = parsed(x);
        assert!(!p.diagnostics.iter().any(|d| d.code == "unique-overlap"), "{x}\n{:#?}", p.diagnostics);
    }
    // Other hit policies may overlap.
    assert!(parsed(&overlapping("hitPolicy=\"FIRST\"")).diagnostics.is_empty());
}

#[test]
fn sniffs_dmn_by_namespace() {
    assert!(is_dmn(DRG));
    assert!(is_dmn(
        "<?xml version=\"1.0\"?>\n<!-- a model -->\n<dmn:definitions xmlns:dmn=\"http://www.omg.org/spec/DMN/20151101/dmn.xsd\"/>"
    ));
    assert!(is_dmn(&overlapping("")));
    assert!(!is_dmn("<definitions xmlns=\"http://www.omg.org/spec/BPMN/20100524/MODEL\"/>"));
    assert!(!is_dmn("<definitions/>"));
    assert!(!is_dmn("not xml at all"));
    assert!(!is_dmn(""));
}

#[test]
fn bad_input_never_panics() {
    let x = DRG.to_string();
    for cut in (0..x.len()).step_by(7) {
        let Some(prefix) = x.get(..cut) else { continue };
        let p = parsed(prefix);
        if p.definitions.is_none() {
            assert!(p.diagnostics.iter().any(|d| d.is_error()), "no error for a cut at {cut}");
        }
    }
}

/// A Camunda 7 model as its modeler writes it: DMN 1.1, an empty cell, a JUEL input entry over
/// `cellInput`, a JUEL output entry, `camunda:versionTag`.
const CAMUNDA7: &str = r##"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/DMN/20151101/dmn.xsd" xmlns:camunda="http://camunda.org/schema/1.0/dmn" id="dish" name="Dish" namespace="http://camunda.org/schema/1.0/dmn">
  <decision id="decision" name="Dish" camunda:versionTag="3">
    <decisionTable id="t" hitPolicy="FIRST">
      <input id="i1" label="Season"><inputExpression id="e1" typeRef="string"><text>season</text></inputExpression></input>
      <input id="i2" label="Guests"><inputExpression id="e2" typeRef="integer"><text>guestCount</text></inputExpression></input>
      <output id="o1" label="Dish" name="desiredDish" typeRef="string"/>
      <rule id="r1"><inputEntry><text>"Fall"</text></inputEntry><inputEntry><text>${cellInput &lt;= 8}</text></inputEntry><outputEntry><text>"Spareribs"</text></outputEntry></rule>
      <rule id="r2"><inputEntry><text>"Winter"</text></inputEntry><inputEntry><text></text></inputEntry><outputEntry><text>${"Roastbeef"}</text></outputEntry></rule>
      <rule id="r3"><inputEntry><text></text></inputEntry><inputEntry><text></text></inputEntry><outputEntry><text></text></outputEntry></rule>
    </decisionTable>
  </decision>
</definitions>
"##;

#[test]
fn camunda_7_models_run() {
    let p = parsed(CAMUNDA7);
    assert!(p.diagnostics.is_empty(), "{:#?}", p.diagnostics);
    let d = p.definitions.unwrap();
    assert_eq!(d.decisions()[0].version_tag.as_deref(), Some("3"));
    let run = |data: Value| d.evaluate("decision", &data).unwrap();
    assert_eq!(run(json!({"season": "Fall", "guestCount": 4})).value, json!("Spareribs"));
    assert_eq!(run(json!({"season": "Fall", "guestCount": 12})).value, Value::Null);
    assert_eq!(run(json!({"season": "Fall", "guestCount": 12})).matched[0].rule_ids, ["r3"]);
    let e = run(json!({"season": "Winter", "guestCount": 12}));
    assert_eq!(e.value, json!("Roastbeef"));
    assert_eq!(e.rows[0].get("desiredDish"), Some(&json!("Roastbeef")));
    // A JUEL entry that does not give a boolean is an error naming the rule.
    let err = d.evaluate("decision", &json!({"season": "Fall"})).unwrap_err();
    assert_eq!(err.rule_id.as_deref(), Some("r1"));
}

#[test]
fn a_long_chain_of_requirements_evaluates_without_recursion() {
    // 5,000 literal decisions, each adding one to the one it requires.
    let mut x = format!("<definitions xmlns=\"{NS}\" id=\"chain\">\n");
    x += "<decision id=\"d0\" name=\"v0\"><literalExpression><text>0</text></literalExpression></decision>\n";
    for i in 1..5000 {
        x += &format!(
            "<decision id=\"d{i}\" name=\"v{i}\"><informationRequirement><requiredDecision href=\"#d{}\"/></informationRequirement><literalExpression><text>v{} + 1</text></literalExpression></decision>\n",
            i - 1,
            i - 1
        );
    }
    x += "</definitions>\n";
    let d = defs(&x);
    assert_eq!(d.evaluate("d4999", &json!({})).unwrap().value, json!(4999));
}

#[test]
fn mutated_models_never_panic() {
    // Every position of a valid model overwritten with characters that break XML or FEEL.
    let base = DRG.to_string();
    for (i, _) in base.char_indices().step_by(3) {
        for c in ['<', '"', '&', 'x', '-', ']'] {
            let mut m = base.clone();
            m.replace_range(i..i + base[i..].chars().next().map_or(0, char::len_utf8), &c.to_string());
            let p = parsed(&m);
            if let Some(d) = p.definitions {
                for info in d.decisions() {
                    let _ = d.evaluate(&info.id, &json!({"Loan Amount": 20000}));
                }
            } else {
                assert!(p.diagnostics.iter().any(|d| d.is_error()), "refused without an error: {m}");
            }
        }
    }
}

#[test]
fn item_definitions_nesting_each_other_cost_linear_work() {
    // t0 has 50 components of type t1, t1 of t2, … t15: written out, t0's type would be 50^15
    // entries long. The types too long to check are given up on, quickly.
    let mut x = format!("<definitions xmlns=\"{NS}\" id=\"types\">\n");
    for level in 0..16 {
        x += &format!("<itemDefinition name=\"t{level}\">");
        for c in 0..50 {
            if level == 15 {
                x += &format!("<itemComponent name=\"c{c}\"><typeRef>number</typeRef></itemComponent>");
            } else {
                x += &format!("<itemComponent name=\"c{c}\"><typeRef>t{}</typeRef></itemComponent>", level + 1);
            }
        }
        x += "</itemDefinition>\n";
    }
    x += "<decision id=\"d\" name=\"d\"><variable name=\"d\" typeRef=\"t0\"/><literalExpression><text>null</text></literalExpression></decision>\n";
    x += "<decision id=\"e\" name=\"e\"><variable name=\"e\" typeRef=\"t15\"/><literalExpression><text>{c0: \"x\"}</text></literalExpression></decision>\n";
    x += "</definitions>\n";
    let start = std::time::Instant::now();
    let d = defs(&x);
    assert!(start.elapsed() < std::time::Duration::from_secs(5), "took {:?}", start.elapsed());
    assert_eq!(d.evaluate("d", &json!({})).unwrap().value, Value::Null);
    // A type small enough is checked: `{c0: "x"}` is not a t15 (whose `c0` is a number).
    let e = d.evaluate("e", &json!({})).unwrap_err();
    assert!(e.message.contains("declared type"), "{e}");
}

#[test]
fn entries_of_another_kind_than_the_declared_input_are_a_warning() {
    let x = table_xml(
        "hitPolicy=\"FIRST\"",
        &[In("n", None)],
        &[Out("r", None)],
        &[(&["> 5"], &["1"]), (&["\"high\""], &["2"])],
    )
    .replace("<inputExpression>", "<inputExpression typeRef=\"number\">");
    let p = parsed(&x);
    let w: Vec<_> = p.diagnostics.iter().filter(|d| d.code == "entry-type-mismatch").collect();
    assert_eq!(w.len(), 1, "{:#?}", p.diagnostics);
    assert_eq!(w[0].element.as_deref(), Some("r2"));
    assert!(w[0].message.contains("tests a string but input `n` is declared `number`"), "{}", w[0]);
    // The warning is right: evaluating it on a number is an error.
    assert!(p.definitions.unwrap().evaluate("d", &json!({"n": 1})).is_err());
    // Undeclared inputs, or entries of the declared kind, get none.
    let x = table_xml("hitPolicy=\"FIRST\"", &[In("n", None)], &[Out("r", None)], &[(&["\"high\""], &["2"])]);
    assert!(parsed(&x).diagnostics.is_empty());
}

#[test]
fn two_decisions_of_one_name_are_a_warning() {
    let x = DRG.replace("name=\"Approval\"", "name=\"Risk Level\"");
    let p = parsed(&x);
    let d = p.diagnostics.iter().find(|d| d.code == "duplicate-name").expect("a duplicate-name warning");
    assert_eq!(d.element.as_deref(), Some("approval"));
}
