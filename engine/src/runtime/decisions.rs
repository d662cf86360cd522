//! The decisions a step may evaluate: business rule tasks find theirs through [`Decisions`].
//!
//! The runtime does no IO, so a driver finds the decisions a process's business rule tasks name
//! before it steps a Request (as it finds a call activity's process by key), and hands them in:
//! the durable worker looks up the version each binding picks in the store at that moment,
//! `sluice run` uses the `.dmn` files given with `--with`.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sluice_bpmn::DecisionBinding;
use sluice_dmn::Definitions;

/// A decision found for a business rule task: the definitions (file) holding it, and the
/// version of it those are.
#[derive(Clone, Copy, Debug)]
pub struct FoundDecision<'a> {
    pub definitions: &'a Definitions,
    pub version: i64,
}

/// Where a step finds the decision a business rule task names.
pub trait Decisions {
    /// The version `binding` picks of `decision_id`; `None` when there is none.
    fn find(&self, decision_id: &str, binding: &DecisionBinding) -> Option<FoundDecision<'_>>;
}

/// No decisions at all: a business rule task raises a `decision_not_found` incident.
pub struct NoDecisions;

impl Decisions for NoDecisions {
    fn find(&self, _: &str, _: &DecisionBinding) -> Option<FoundDecision<'_>> {
        None
    }
}

/// Decisions found ahead of a step, by (decision id, binding).
#[derive(Clone, Debug, Default)]
pub struct DecisionSet {
    found: HashMap<(String, DecisionBinding), (i64, Arc<Definitions>)>,
}

impl DecisionSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records what `binding` picks of `decision_id`.
    pub fn insert(&mut self, decision_id: &str, binding: DecisionBinding, version: i64, definitions: Arc<Definitions>) {
        self.found.insert((decision_id.to_owned(), binding), (version, definitions));
    }

    pub fn is_empty(&self) -> bool {
        self.found.is_empty()
    }
}

impl Decisions for DecisionSet {
    fn find(&self, decision_id: &str, binding: &DecisionBinding) -> Option<FoundDecision<'_>> {
        // Keyed by owned strings: the lookup builds the key (a business rule task is rare next to
        // the rest of a step).
        let (version, definitions) = self.found.get(&(decision_id.to_owned(), binding.clone()))?;
        Some(FoundDecision { definitions, version: *version })
    }
}

/// What a business rule task's evaluation gave: the decision and version evaluated, every table's
/// matched rules, and `output`, what was stored in the result variable (after Camunda 7's
/// `mapDecisionResult`).
#[derive(Clone, Debug, PartialEq)]
pub struct DecisionOutcome {
    pub decision_id: String,
    pub version: i64,
    pub matched: Vec<DecisionMatch>,
    pub output: Value,
}

/// The rules one decision table matched, as recorded in the Request's history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecisionMatch {
    pub decision_id: String,
    /// The matched rules' ids in hit order.
    pub rule_ids: Vec<String>,
    /// Their 1-based positions in the table.
    pub rule_indexes: Vec<usize>,
    /// The table's result (after its hit policy).
    pub output: Value,
}

impl From<sluice_dmn::Matched> for DecisionMatch {
    fn from(m: sluice_dmn::Matched) -> Self {
        DecisionMatch {
            decision_id: m.decision_id,
            rule_ids: m.rule_ids,
            rule_indexes: m.rule_indexes,
            output: m.output,
        }
    }
}
