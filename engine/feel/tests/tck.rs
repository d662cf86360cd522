//! The FEEL cases of the DMN TCK (`$SLUICE_FEEL_CORPUS/cases.jsonl`, by default `../shared/feel`
//! beside the workspace; see its README for the encoding): runs every case, prints the pass
//! count in total and per TCK folder, and fails when the pass rate drops below the floor.
//!
//! A case marked `error` passes when the evaluation is an error (Sluice reports errors where
//! DMN gives null) or null. Numbers compare within 1e-8; dates, times and durations by value
//! and type. The decision's `type_ref` is applied as DMN does (a singleton list given to a
//! non-list type is unwrapped, a value given to a list type is wrapped, a non-conforming value
//! becomes null). `cargo test -p sluice-feel --test tck -- --nocapture` shows the figures;
//! `SLUICE_TCK_FAILURES=1` also lists every failing case.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use sluice_feel::{Expression, FeelValue, NoVariables, Variables};

/// The pass rate this suite reached (in per mille): a lower one fails the test.
const FLOOR_PER_MILLE: usize = 986;

fn corpus() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("SLUICE_FEEL_CORPUS") {
        return Some(PathBuf::from(dir));
    }
    let guess = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/feel");
    if guess.is_dir() {
        return Some(guess);
    }
    println!("note: SLUICE_FEEL_CORPUS is not set and ../shared/feel is missing: the TCK cases are skipped");
    None
}

/// The case's names, as typed FEEL values.
struct Inputs {
    values: Vec<(String, FeelValue)>,
}

impl Variables for Inputs {
    fn get(&self, _name: &str) -> Option<&Value> {
        None
    }

    fn now(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        chrono::DateTime::from_timestamp(1_767_225_600, 0)
    }

    fn values(&self) -> &[(String, FeelValue)] {
        &self.values
    }
}

/// A value in the corpus's encoding.
fn decode(v: &Value) -> Result<FeelValue, String> {
    match v {
        Value::Object(o) if o.len() == 2 && o.contains_key("@type") && o.contains_key("@value") => {
            let ty = o["@type"].as_str().unwrap_or("");
            let text = o["@value"].as_str().unwrap_or("");
            typed(ty, text)
        }
        Value::Object(o) => {
            let mut entries = Vec::new();
            for (k, x) in o {
                entries.push((k.clone(), decode(x)?));
            }
            Ok(FeelValue::context(entries))
        }
        Value::Array(a) => Ok(FeelValue::list(a.iter().map(decode).collect::<Result<_, _>>()?)),
        other => Ok(FeelValue::from_json(other)),
    }
}

/// A scalar of a named type from its text.
fn typed(ty: &str, text: &str) -> Result<FeelValue, String> {
    let src = match ty {
        "number" => text.to_string(),
        "string" => serde_json::to_string(text).unwrap(),
        _ => format!("@{}", serde_json::to_string(text).unwrap()),
    };
    let e = Expression::parse(&src).map_err(|e| format!("{ty} `{text}`: {e}"))?;
    e.eval_value(&NoVariables).map_err(|e| format!("{ty} `{text}`: {e}"))
}

fn numbers_close(a: &FeelValue, b: &FeelValue) -> bool {
    match (a.number_text(), b.number_text()) {
        (Some(x), Some(y)) => {
            x == y || {
                let (p, q): (f64, f64) = (x.parse().unwrap_or(f64::NAN), y.parse().unwrap_or(f64::NAN));
                (p - q).abs() < 1e-8
            }
        }
        _ => false,
    }
}

fn same_type(expected: &str, got: &FeelValue) -> bool {
    let t = got.type_name();
    t == expected
        // A zero duration is of both duration types.
        || (expected.ends_with("duration") && t.ends_with("duration") && got.feel_eq(&typed(expected, "P0D").unwrap_or(got.clone())) == Some(true))
}

/// Whether `got` is the expected value.
fn matches(expected: &FeelValue, got: &FeelValue) -> bool {
    let et = expected.type_name();
    if et == "Null" {
        return got.type_name() == "Null";
    }
    match et {
        "number" => numbers_close(expected, got),
        "list" => match (expected.items(), got.items()) {
            (Some(e), Some(g)) => e.len() == g.len() && e.iter().zip(&g).all(|(x, y)| matches(x, y)),
            _ => false,
        },
        "context" => match (expected.entries(), got.entries()) {
            (Some(e), Some(g)) => {
                e.len() == g.len()
                    && e.iter().all(|(k, x)| g.iter().find(|(gk, _)| gk == k).is_some_and(|(_, y)| matches(x, y)))
            }
            _ => false,
        },
        _ => same_type(et, got) && expected.feel_eq(got) == Some(true),
    }
}

/// DMN's type check of a decision's result (10.3.2.9.4).
fn apply_type(v: FeelValue, ty: &str) -> FeelValue {
    if ty == "Any" || v.type_name() == "Null" {
        return v;
    }
    let is_list_type = ty.starts_with("list<") || ty == "list";
    let v = if !is_list_type && let Some(items) = v.items().filter(|i| i.len() == 1) {
        items.into_iter().next().unwrap()
    } else if is_list_type && v.type_name() != "list" {
        FeelValue::list(vec![v])
    } else {
        v
    };
    match v.is_instance_of(ty) {
        Ok(true) | Err(_) => v,
        Ok(false) => FeelValue::from_json(&Value::Null),
    }
}

struct Outcome {
    pass: bool,
    detail: String,
}

fn run_case(case: &Map<String, Value>) -> Outcome {
    let src = case["expression"].as_str().unwrap_or("");
    let ctx = case["context"].as_object().cloned().unwrap_or_default();
    let mut values = Vec::new();
    for (k, v) in &ctx {
        match decode(v) {
            Ok(fv) => values.push((k.clone(), fv)),
            Err(e) => return Outcome { pass: false, detail: format!("context: {e}") },
        }
    }
    let names: Vec<&str> = ctx.keys().map(String::as_str).collect();
    let inputs = Inputs { values };
    let result = Expression::parse_with_names(src, &names)
        .map_err(|e| format!("parse: {e}"))
        .and_then(|e| e.eval_value(&inputs).map_err(|e| format!("eval: {e}")));
    let result = match (result, case.get("type_ref").and_then(Value::as_str)) {
        (Ok(v), Some(ty)) => Ok(apply_type(v, ty)),
        (r, _) => r,
    };
    if case.get("error").and_then(Value::as_bool) == Some(true) {
        return match result {
            Err(e) => Outcome { pass: true, detail: e },
            Ok(v) if v.type_name() == "Null" => Outcome { pass: true, detail: "null".into() },
            Ok(v) => Outcome { pass: false, detail: format!("expected an error, got {v} ({})", v.type_name()) },
        };
    }
    let expected_type = case["expected_type"].as_str().unwrap_or("");
    let expected = match (&case["expected"], expected_type) {
        (Value::String(s), t) if t != "string" => typed(t, s),
        (v, _) => decode(v),
    };
    let expected = match expected {
        Ok(e) => e,
        Err(e) => return Outcome { pass: false, detail: format!("expected value: {e}") },
    };
    match result {
        Ok(v) if matches(&expected, &v) => Outcome { pass: true, detail: String::new() },
        Ok(v) => Outcome {
            pass: false,
            detail: format!("expected {} ({}), got {} ({})", expected, expected.type_name(), v, v.type_name()),
        },
        Err(e) => Outcome { pass: false, detail: format!("expected {expected}, got {e}") },
    }
}

#[test]
fn dmn_tck_feel_cases() {
    let Some(dir) = corpus() else { return };
    let text = std::fs::read_to_string(dir.join("cases.jsonl")).expect("cases.jsonl");
    let show_failures = std::env::var_os("SLUICE_TCK_FAILURES").is_some();
    let mut per_folder: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let (mut pass, mut total) = (0, 0);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let case: Map<String, Value> = serde_json::from_str(line).expect("a JSON case");
        let id = case["id"].as_str().unwrap_or("").to_string();
        let folder = id.split('/').next().unwrap_or("").to_string();
        let out = run_case(&case);
        let slot = per_folder.entry(folder).or_default();
        slot.1 += 1;
        total += 1;
        if out.pass {
            slot.0 += 1;
            pass += 1;
        } else if show_failures {
            println!("FAIL {id}: {}  =>  {}", case["expression"].as_str().unwrap_or(""), out.detail);
        }
    }
    println!("DMN TCK FEEL cases: {pass} of {total} pass ({:.1} %)", pass as f64 * 100.0 / total.max(1) as f64);
    for (folder, (p, t)) in &per_folder {
        let mark = if p == t { "" } else { "  <" };
        println!("  {folder:<45} {p:>4} / {t:<4}{mark}");
    }
    let per_mille = pass * 1000 / total.max(1);
    assert!(
        per_mille >= FLOOR_PER_MILLE,
        "the TCK pass rate fell to {per_mille} per mille, below the floor of {FLOOR_PER_MILLE}"
    );
}
