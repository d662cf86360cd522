//! Variable lookup through a token's scopes, innermost first, as FEEL sees it.

use serde_json::Value;
use sluice_feel::Variables;

use super::{Data, Instance, ScopeId};

/// The variables visible from one scope of an [`Instance`].
#[derive(Clone, Copy)]
pub struct ScopeVariables<'a> {
    inst: &'a Instance,
    scope: ScopeId,
}

impl<'a> ScopeVariables<'a> {
    pub(super) fn new(inst: &'a Instance, scope: ScopeId) -> Self {
        Self { inst, scope }
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
}
