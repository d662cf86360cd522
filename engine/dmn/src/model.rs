//! The compiled model: what `read` builds and `eval` runs. Every FEEL text is compiled here.

use std::collections::HashMap;

use sluice_feel::{Expression, TestsShape, UnaryTests};

use crate::{DecisionInfo, DecisionKind};

#[derive(Debug)]
pub(crate) struct Model {
    pub id: String,
    pub name: Option<String>,
    pub decisions: Vec<Decision>,
    /// Decision id → index.
    pub by_id: HashMap<String, usize>,
}

#[derive(Debug)]
pub(crate) struct Decision {
    pub id: String,
    pub name: Option<String>,
    pub version_tag: Option<String>,
    /// The name its result is visible by in decisions that require it (its variable's name,
    /// else its name, else its id).
    pub var_name: String,
    /// The declared type of its result, resolved to a FEEL type (`number`, `list<string>`).
    pub type_ref: Option<String>,
    /// Indexes of the decisions it requires, in document order.
    pub required: Vec<usize>,
    pub logic: Logic,
    /// Byte offset of the decision's element in the file.
    pub offset: usize,
}

#[derive(Debug)]
pub(crate) enum Logic {
    Table(Table),
    Literal(Expression),
    /// Logic Sluice does not evaluate; evaluating it is an error.
    Unsupported(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HitPolicy {
    Unique,
    First,
    Priority,
    Any,
    Collect(Option<Aggregation>),
    RuleOrder,
    OutputOrder,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Aggregation {
    Sum,
    Min,
    Max,
    Count,
}

#[derive(Debug)]
pub(crate) struct Table {
    pub hit: HitPolicy,
    pub inputs: Vec<Input>,
    pub outputs: Vec<Output>,
    pub rules: Vec<Rule>,
    /// For COLLECT with SUM, MIN or MAX: the FEEL call over `outputs` that aggregates.
    pub aggregator: Option<Expression>,
}

#[derive(Debug)]
pub(crate) struct Input {
    /// The input's label, else its expression's text: how errors name it.
    pub label: String,
    pub expr: Expression,
    /// The input expression's declared type, resolved to a FEEL type.
    pub type_ref: Option<String>,
    /// `inputValues`: an input outside them is an evaluation error.
    pub values: Option<UnaryTests>,
}

#[derive(Debug)]
pub(crate) struct Output {
    /// The output's name (the key in a multi-output result); may be empty for one output.
    pub name: String,
    /// The output's declared type, resolved to a FEEL type.
    pub type_ref: Option<String>,
    /// `outputValues`: PRIORITY and OUTPUT ORDER rank by them.
    pub values: Option<UnaryTests>,
    pub default: Option<Expression>,
}

#[derive(Debug)]
pub(crate) struct Rule {
    /// The rule's id, else `rule-N` (1-based).
    pub id: String,
    /// Byte offset of the rule's element in the file.
    pub offset: usize,
    pub entries: Vec<Entry>,
    pub outputs: Vec<Expression>,
}

/// An input entry.
#[derive(Debug)]
pub(crate) enum Entry {
    /// DMN unary tests (an empty entry, as Camunda's modeler writes an empty cell, is `-`).
    Tests(UnaryTests),
    /// A Camunda 7 JUEL condition `${...}` over `cellInput`, the input's value.
    Juel(Expression),
}

impl Entry {
    pub fn source(&self) -> &str {
        match self {
            Entry::Tests(t) => t.source(),
            Entry::Juel(e) => e.source(),
        }
    }

    pub fn shape(&self) -> TestsShape {
        match self {
            Entry::Tests(t) => t.shape(),
            Entry::Juel(_) => TestsShape::Opaque,
        }
    }
}

impl Decision {
    pub fn info(&self, model: &Model) -> DecisionInfo {
        DecisionInfo {
            id: self.id.clone(),
            name: self.name.clone(),
            version_tag: self.version_tag.clone(),
            kind: match self.logic {
                Logic::Table(_) => DecisionKind::Table,
                Logic::Literal(_) => DecisionKind::Literal,
                Logic::Unsupported(_) => DecisionKind::Other,
            },
            required: self.required.iter().filter_map(|&i| model.decisions.get(i)).map(|d| d.id.clone()).collect(),
        }
    }
}
