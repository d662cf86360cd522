//! The static type check of input entries: a constant entry of another kind than the input's
//! declared type (`"high"` under an input declared `number`) never matches, and comparing the
//! two is an evaluation error (Sluice reports type mismatches), so it is a warning at parse time.

use sluice_bpmn::report::Report;
use sluice_feel::{ConstTest, TestsShape};

use crate::model::{Logic, Model};

/// The kind of a constant test's values, as a FEEL type name.
fn kind(t: &ConstTest) -> &'static str {
    match t {
        ConstTest::Numbers { .. } => "number",
        ConstTest::Equals(serde_json::Value::Bool(_)) => "boolean",
        ConstTest::Equals(serde_json::Value::String(_)) => "string",
        ConstTest::Equals(_) => "other",
    }
}

pub(crate) fn check(model: &Model, rep: &mut Report<'_>) {
    for d in &model.decisions {
        let Logic::Table(t) = &d.logic else { continue };
        for (ri, rule) in t.rules.iter().enumerate() {
            for (col, (entry, input)) in rule.entries.iter().zip(&t.inputs).enumerate() {
                let Some(declared) =
                    input.type_ref.as_deref().filter(|ty| matches!(*ty, "number" | "string" | "boolean"))
                else {
                    continue;
                };
                let TestsShape::Constant(tests) = entry.shape() else { continue };
                if let Some(bad) = tests.iter().map(kind).find(|k| *k != declared) {
                    rep.warn(
                        rule.offset,
                        "entry-type-mismatch",
                        format!(
                            "decision `{}`, rule {} (`{}`), input entry {}: `{}` tests a {bad} but input `{}` is declared `{declared}`; it never matches, and comparing a {declared} with it is an evaluation error",
                            d.id,
                            ri + 1,
                            rule.id,
                            col + 1,
                            entry.source(),
                            input.label
                        ),
                        Some(&rule.id),
                    );
                }
            }
        }
    }
}
