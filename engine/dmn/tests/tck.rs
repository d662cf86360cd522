//! The decision-table folders of the DMN TCK (`$SLUICE_FEEL_CORPUS/tables`, by default
//! `../shared/feel` beside the workspace; see its README): parses every folder's model, runs
//! every test case of its `-test-01.xml`, prints the pass count in total and per folder, and
//! fails unless every result passes.
//!
//! Input values are given typed (dates stay dates); a result is compared as JSON, numbers within
//! 1e-8 as the TCK's own runners do. A result marked `errorResult="true"` passes on an error or
//! null. `cargo test -p sluice-dmn --test tck -- --nocapture` shows the figures;
//! `SLUICE_TCK_FAILURES=1` lists each failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use sluice_bpmn::report::Report;
use sluice_bpmn::xml::{self, Doc, Ns};
use sluice_dmn::{Source, parse};
use sluice_feel::{Expression, FeelValue, NoVariables, Variables};

fn corpus() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("SLUICE_FEEL_CORPUS") {
        return Some(PathBuf::from(dir));
    }
    let guess = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/feel");
    if guess.is_dir() {
        return Some(guess);
    }
    println!("note: SLUICE_FEEL_CORPUS is not set and ../shared/feel is missing: the TCK tables are skipped");
    None
}

/// A test case's input nodes, typed.
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

/// A typed scalar from its `xsi:type` and text.
fn typed(ty: &str, text: &str) -> Result<FeelValue, String> {
    let src = match ty.rsplit(':').next().unwrap_or(ty) {
        "decimal" | "double" | "integer" | "int" | "long" | "float" => text.trim().to_string(),
        "boolean" => text.trim().to_string(),
        "date" | "time" | "dateTime" | "duration" => format!("@{}", serde_json::to_string(text.trim()).unwrap()),
        _ => return Ok(FeelValue::from_json(&Value::String(text.to_string()))),
    };
    let e = Expression::parse(&src).map_err(|e| format!("{ty} `{text}`: {e}"))?;
    e.eval_value(&NoVariables).map_err(|e| format!("{ty} `{text}`: {e}"))
}

/// The value held by a node with `value`, `list` or `component` children.
fn value_of(doc: &Doc<'_>, i: usize) -> Result<FeelValue, String> {
    let kids: Vec<(usize, &str)> = doc.children(i).map(|(c, n)| (c, n.local)).collect();
    if let Some(&(v, _)) = kids.iter().find(|(_, l)| *l == "value") {
        let n = doc.node(v);
        if n.ext(Ns::Xsi, "nil") == Some("true") {
            return Ok(FeelValue::from_json(&Value::Null));
        }
        return typed(n.ext(Ns::Xsi, "type").unwrap_or("xsd:string"), &n.text);
    }
    if let Some(&(l, _)) = kids.iter().find(|(_, l)| *l == "list") {
        let mut items = Vec::new();
        for (it, _) in doc.children(l).filter(|(_, n)| n.local == "item") {
            items.push(value_of(doc, it)?);
        }
        return Ok(FeelValue::list(items));
    }
    let comps: Vec<usize> = kids.iter().filter(|(_, l)| *l == "component").map(|&(c, _)| c).collect();
    if !comps.is_empty() {
        let mut entries = Vec::new();
        for c in comps {
            let name = doc.node(c).get("name").unwrap_or("").to_string();
            entries.push((name, value_of(doc, c)?));
        }
        return Ok(FeelValue::context(entries));
    }
    if doc.node(i).ext(Ns::Xsi, "nil") == Some("true") {
        return Ok(FeelValue::from_json(&Value::Null));
    }
    Err(format!("no value in `{}`", doc.node(i).local))
}

/// Whether `got` is `expected`: numbers within 1e-8, lists and contexts item by item.
fn same(expected: &Value, got: &Value) -> bool {
    match (expected, got) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.as_f64().unwrap_or(f64::NAN), b.as_f64().unwrap_or(f64::NAN));
            (a - b).abs() < 1e-8
        }
        (Value::Array(a), Value::Array(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y)),
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(k, x)| b.get(k).is_some_and(|y| same(x, y)))
        }
        (a, b) => a == b,
    }
}

#[test]
fn dmn_tck_decision_tables() {
    let Some(dir) = corpus() else { return };
    let show_failures = std::env::var_os("SLUICE_TCK_FAILURES").is_some();
    let mut folders: Vec<PathBuf> =
        std::fs::read_dir(dir.join("tables")).expect("tables/").map(|e| e.expect("an entry").path()).collect();
    folders.sort();
    let mut per_folder: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let (mut pass, mut total) = (0, 0);
    for folder in &folders {
        let fname = folder.file_name().unwrap().to_string_lossy().to_string();
        let model_path = folder.join(format!("{fname}.dmn"));
        let test_path = folder.join(format!("{fname}-test-01.xml"));
        let model_text = std::fs::read_to_string(&model_path).expect("the model");
        let test_text = std::fs::read_to_string(&test_path).expect("the test file");
        let parsed = parse(Source { file: &model_path.to_string_lossy(), text: &model_text });
        for d in &parsed.diagnostics {
            println!("  {d}");
        }
        // The TCK's UNIQUE tables are valid: the static overlap check, being sound, finds nothing.
        assert!(
            !parsed.diagnostics.iter().any(|d| d.code == "unique-overlap"),
            "a false unique-overlap warning in {fname}"
        );
        let slot = per_folder.entry(fname.clone()).or_default();
        let mut rep = Report::new(Arc::from("tests"), &test_text);
        let doc = xml::parse(&test_text, &mut rep).expect("a test file that is XML");
        let root = doc.root.expect("a root");
        for (tc, tn) in doc.children(root).filter(|(_, n)| n.local == "testCase") {
            let case_id = tn.get("id").unwrap_or("?").to_string();
            let mut values = Vec::new();
            let mut input_error = None;
            for (inode, n) in doc.children(tc).filter(|(_, n)| n.local == "inputNode") {
                match value_of(&doc, inode) {
                    Ok(v) => values.push((n.get("name").unwrap_or("").to_string(), v)),
                    Err(e) => input_error = Some(e),
                }
            }
            let inputs = Inputs { values };
            for (rnode, rn) in doc.children(tc).filter(|(_, n)| n.local == "resultNode") {
                total += 1;
                slot.1 += 1;
                let name = rn.get("name").unwrap_or("");
                let expect_error = rn.get("errorResult") == Some("true");
                let expected = doc
                    .child(rnode, Ns::Other, "expected")
                    .or_else(|| doc.children(rnode).find(|(_, n)| n.local == "expected"))
                    .map(|(e, _)| value_of(&doc, e));
                let outcome: Result<(), String> = (|| {
                    if let Some(e) = &input_error {
                        return Err(format!("input: {e}"));
                    }
                    let Some(defs) = &parsed.definitions else {
                        let diags: Vec<String> = parsed.diagnostics.iter().map(ToString::to_string).collect();
                        return Err(format!("the model did not parse: {}", diags.join("; ")));
                    };
                    let Some(d) = defs.decisions().into_iter().find(|d| d.name.as_deref() == Some(name)) else {
                        return Err(format!("no decision named `{name}`"));
                    };
                    let got = defs.evaluate(&d.id, &inputs);
                    if expect_error {
                        return match got {
                            Err(_) => Ok(()),
                            Ok(ev) if ev.value.is_null() => Ok(()),
                            Ok(ev) => Err(format!("expected an error, got {}", ev.value)),
                        };
                    }
                    let expected = expected.ok_or("no expected value")??.to_json();
                    match got {
                        Ok(ev) if same(&expected, &ev.value) => Ok(()),
                        Ok(ev) => Err(format!("expected {expected}, got {}", ev.value)),
                        Err(e) => Err(format!("expected {expected}, got the error {e}")),
                    }
                })();
                match outcome {
                    Ok(()) => {
                        pass += 1;
                        slot.0 += 1;
                    }
                    Err(e) if show_failures => println!("FAIL {fname}/{case_id}/{name}: {e}"),
                    Err(_) => {}
                }
            }
        }
    }
    println!("DMN TCK decision tables: {pass} of {total} results pass in {} folders", folders.len());
    for (folder, (p, t)) in &per_folder {
        let mark = if p == t { "" } else { "  <" };
        println!("  {folder:<45} {p:>3} / {t:<3}{mark}");
    }
    assert!(total > 0, "no test case was found under {}", dir.join("tables").display());
    assert_eq!(pass, total, "some TCK decision-table results fail (SLUICE_TCK_FAILURES=1 lists them)");
}
