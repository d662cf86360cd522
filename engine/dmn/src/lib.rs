//! DMN decisions for Sluice: decision tables and literal-expression decisions, with their
//! required decisions, read from DMN 1.1–1.5 XML and evaluated purely.
//!
//! [`parse`] reads one `.dmn` file into [`Definitions`] and reports every problem with file,
//! line, column and element id (as [`sluice_bpmn::Diagnostic`]). Every FEEL text of the model
//! (input expressions, unary tests, output entries, literal expressions) is compiled there, so
//! [`Definitions::evaluate`] does no parsing. Evaluation reads the caller's variables and the
//! time the caller gives (`Variables::now`); no IO, no clock, no randomness. See README.md for
//! what is supported and the diagnostic codes.

mod entry_types;
mod eval;
mod model;
mod overlap;
mod read;

use serde::{Deserialize, Serialize};

pub use sluice_bpmn::{Diagnostic, Pos, Severity};

/// One file to read: its name (for diagnostics) and its text.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub file: &'a str,
    pub text: &'a str,
}

/// Cheap sniff: is the root element a DMN `definitions` (DMN 1.1–1.5 namespaces, by URI)?
/// Reads only up to the root element's start tag.
pub fn is_dmn(text: &str) -> bool {
    read::is_dmn(text)
}

/// Reads one DMN file. Never panics; errors and warnings come with FILE:LINE:COL. When any
/// diagnostic is an error, `definitions` is None: an invalid model is never half-deployed.
pub fn parse(src: Source<'_>) -> Parsed {
    read::parse(src)
}

/// What [`parse`] found.
#[derive(Debug)]
pub struct Parsed {
    pub definitions: Option<Definitions>,
    /// Sorted by line and column.
    pub diagnostics: Vec<Diagnostic>,
}

impl Parsed {
    /// True when any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// A validated DMN model: its decisions, compiled. Cheap to share (`Send + Sync`).
#[derive(Debug, Clone)]
pub struct Definitions {
    pub(crate) model: std::sync::Arc<model::Model>,
}

/// What kind of logic a decision has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecisionKind {
    /// A decision table.
    Table,
    /// A FEEL literal expression.
    Literal,
    /// Logic Sluice does not evaluate (boxed contexts, invocations, …) or none at all.
    Other,
}

/// A decision of the model, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionInfo {
    pub id: String,
    pub name: Option<String>,
    /// The decision's `versionTag` attribute (Camunda's `camunda:versionTag`, or one in any
    /// other namespace or none: DMN itself has no such attribute).
    pub version_tag: Option<String>,
    pub kind: DecisionKind,
    /// The ids of the decisions it requires, in document order.
    pub required: Vec<String>,
}

/// The result of evaluating a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub decision_id: String,
    /// The decision's result as JSON (FEEL values as `sluice-feel` writes them).
    pub value: serde_json::Value,
    /// The top table's matched rules' outputs (output name → value) in hit order, before
    /// aggregation (what Camunda 7's `mapDecisionResult` reads); empty for a literal decision.
    pub rows: Vec<serde_json::Map<String, serde_json::Value>>,
    /// Every table evaluated, required decisions first.
    pub matched: Vec<Matched>,
}

/// The rules one table matched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Matched {
    pub decision_id: String,
    /// Ids of the matched rules in hit order (a rule without an id is `rule-N`).
    pub rule_ids: Vec<String>,
    /// 1-based positions of the same rules.
    pub rule_indexes: Vec<usize>,
    /// The decision's result (after the hit policy, any aggregation and its type conversion).
    pub output: serde_json::Value,
}

/// A decision that could not be evaluated: names the decision and, where one is to blame, the
/// rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub struct EvalError {
    pub decision_id: String,
    pub rule_id: Option<String>,
    pub message: String,
}

impl std::fmt::Display for EvalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "decision `{}`", self.decision_id)?;
        if let Some(r) = &self.rule_id {
            write!(f, ", rule `{r}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl Definitions {
    /// The `definitions` element's id.
    pub fn id(&self) -> &str {
        &self.model.id
    }

    /// The `definitions` element's name.
    pub fn name(&self) -> Option<&str> {
        self.model.name.as_deref()
    }

    /// The decisions, in document order.
    pub fn decisions(&self) -> Vec<DecisionInfo> {
        self.model.decisions.iter().map(|d| d.info(&self.model)).collect()
    }

    /// Evaluates the decision `decision_id` (its required decisions first) against `vars`.
    pub fn evaluate(&self, decision_id: &str, vars: &dyn sluice_feel::Variables) -> Result<Evaluation, EvalError> {
        eval::evaluate(&self.model, decision_id, vars)
    }
}

#[cfg(test)]
mod send_sync {
    fn is_send_sync<T: Send + Sync>() {}

    #[test]
    fn definitions_are_send_and_sync() {
        is_send_sync::<super::Definitions>();
    }
}
