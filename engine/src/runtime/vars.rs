//! Variable lookup through a token's scopes, innermost first, as FEEL sees it.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sluice_feel::Variables;

use super::{Data, Instance, ScopeId};

/// The variables visible from one scope of an [`Instance`].
#[derive(Clone, Copy)]
pub struct ScopeVariables<'a> {
    inst: &'a Instance,
    scope: ScopeId,
    /// What FEEL's `now()` gives: the time of the step (None outside a step).
    now: Option<DateTime<Utc>>,
}

impl<'a> ScopeVariables<'a> {
    pub(super) fn new(inst: &'a Instance, scope: ScopeId) -> Self {
        Self { inst, scope, now: None }
    }

    /// The same variables, with `now()` giving `now` (the step's time, never a clock read).
    pub(super) fn at(self, now: DateTime<Utc>) -> Self {
        Self { now: Some(now), ..self }
    }

    /// Every visible variable, inner scopes shadowing outer ones.
    pub fn flatten(&self) -> Data {
        let mut chain = Vec::new();
        let mut cur = Some(self.scope);
        while let Some(id) = cur {
            let Some(s) = self.inst.scopes.iter().find(|s| s.id == id) else { break };
            chain.push(&s.vars);
            cur = s.parent;
        }
        let mut out = Data::new();
        for vars in chain.into_iter().rev() {
            for (k, v) in vars {
                out.insert(k.clone(), v.clone());
            }
        }
        out
    }
}

impl Variables for ScopeVariables<'_> {
    fn get(&self, name: &str) -> Option<&Value> {
        let mut cur = Some(self.scope);
        while let Some(id) = cur {
            let s = self.inst.scopes.iter().find(|s| s.id == id)?;
            if let Some(v) = s.vars.get(name) {
                return Some(v);
            }
            cur = s.parent;
        }
        None
    }

    fn now(&self) -> Option<DateTime<Utc>> {
        self.now
    }
}

/// A few extra names (loop counters, say) in front of other variables.
pub(super) struct Overlay<'a> {
    pub extra: &'a [(&'a str, Value)],
    pub base: &'a dyn Variables,
}

impl Variables for Overlay<'_> {
    fn get(&self, name: &str) -> Option<&Value> {
        self.extra.iter().find(|(k, _)| *k == name).map(|(_, v)| v).or_else(|| self.base.get(name))
    }

    fn now(&self) -> Option<DateTime<Utc>> {
        self.base.now()
    }
}

/// About the size of `value` as JSON text (strings without their escapes, numbers at most 20
/// bytes): what a Request's data is measured in against [`super::limits::max_data_bytes`].
pub(super) fn value_size(value: &Value) -> u64 {
    match value {
        Value::Null | Value::Bool(_) => 5,
        Value::Number(_) => 20,
        Value::String(s) => s.len() as u64 + 2,
        Value::Array(items) => 2 + items.iter().map(|v| value_size(v) + 1).sum::<u64>(),
        Value::Object(fields) => 2 + data_size(fields),
    }
}

/// The size of a set of variables as JSON text (see [`value_size`]).
pub(super) fn data_size(vars: &Data) -> u64 {
    vars.iter().map(|(k, v)| entry_size(k, v)).sum()
}

/// One variable: `"name":value,`.
pub(super) fn entry_size(name: &str, value: &Value) -> u64 {
    name.len() as u64 + 4 + value_size(value)
}
