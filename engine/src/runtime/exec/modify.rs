//! An operator's repair of a Request ([`Input::Modify`]): cancel the tokens at elements, start
//! tokens before or after elements. Every check runs before the first change, so a refused
//! repair changes nothing; each change leaves one `Modified` command (one history entry).

use super::*;

impl Exec<'_> {
    pub(super) fn modify(&mut self, m: Modification) -> Result<(), StepError> {
        let p = self.p;
        let name = |e: ElementIdx| p.elements.get(e.index()).map(|x| x.id.clone());
        // ---- checks ----
        let mut cancels: Vec<(ElementIdx, Vec<TokenId>)> = Vec::with_capacity(m.cancel.len());
        for &e in &m.cancel {
            let Some(id) = name(e) else { return Err(StepError::Refused(format!("no element #{}", e.index()))) };
            let tokens: Vec<TokenId> = self.i.tokens.iter().filter(|t| t.element == e).map(|t| t.id).collect();
            if tokens.is_empty() {
                return Err(StepError::Refused(format!("no token is at `{id}`: nothing to cancel there")));
            }
            cancels.push((e, tokens));
        }
        let canceled: Vec<TokenId> = cancels.iter().flat_map(|(_, ts)| ts.iter().copied()).collect();
        let mut starts: Vec<(ModifyChange, ElementIdx, ScopeId, Data)> = Vec::new();
        let lists = [(ModifyChange::StartBefore, m.start_before), (ModifyChange::StartAfter, m.start_after)];
        for (change, list) in lists {
            for StartAt { element: e, data } in list {
                let Some(id) = name(e) else { return Err(StepError::Refused(format!("no element #{}", e.index()))) };
                let el = p.element(e);
                let joining = matches!(el.kind, Kind::Gateway(GatewayKind::Parallel | GatewayKind::Inclusive))
                    && el.incoming.len() > 1;
                if joining && change == ModifyChange::StartBefore && !m.allow_join {
                    return Err(StepError::Refused(format!(
                        "`{id}` is a joining gateway: a token started before it waits in the middle of its join \
                         (say \"allow_join\": true to do it anyway)"
                    )));
                }
                if change == ModifyChange::StartAfter && el.outgoing.is_empty() {
                    return Err(StepError::Refused(format!("`{id}` has no outgoing sequence flow to start after")));
                }
                if matches!(el.kind, Kind::StartEvent { .. }) && el.parent.is_some_and(|sp| is_event_sub(p, sp)) {
                    return Err(StepError::Refused(format!(
                        "`{id}` starts an event sub-process: it is triggered by its event, not started by hand"
                    )));
                }
                let scope = self.scope_to_start_in(e)?;
                if self.scope_goes_with(scope, &canceled) {
                    return Err(StepError::Refused(format!(
                        "`{id}` is inside a scope this repair cancels: start before the enclosing sub-process instead"
                    )));
                }
                starts.push((change, e, scope, data));
            }
        }
        // ---- changes: starts first, so canceling the last token does not end the Request ----
        for (change, e, scope, data) in starts {
            for (k, v) in data {
                self.set_local(scope, k, v);
            }
            let t = match change {
                ModifyChange::StartAfter => {
                    let t = self.new_token_id();
                    self.i.tokens.push(Token {
                        id: t,
                        scope,
                        element: e,
                        state: TokenState::Ready { via: None },
                        inner: false,
                        since: None,
                    });
                    if let Some(s) = self.scope_mut(scope) {
                        s.active += 1;
                    }
                    t
                }
                _ => self.spawn(scope, e, None, false),
            };
            self.out.push(Command::Modified { change, element: e, tokens: vec![t] });
            if change == ModifyChange::StartAfter {
                self.leave_with(t, false);
            }
        }
        for (e, tokens) in cancels {
            self.out.push(Command::Modified { change: ModifyChange::Cancel, element: e, tokens: tokens.clone() });
            for t in tokens {
                // Gone already when an earlier cancel took its enclosing sub-process.
                let Some(scope) = self.tok(t).map(|x| x.scope) else { continue };
                self.cancel_activity(t);
                if let Some(pos) = self.pos(t) {
                    self.i.tokens.remove(pos);
                    self.release(scope);
                }
            }
        }
        Ok(())
    }

    /// The scope instance a token started at `e` runs in: the Request's, or the one active
    /// instance of the sub-process `e` sits in.
    fn scope_to_start_in(&self, e: ElementIdx) -> Result<ScopeId, StepError> {
        let p = self.p;
        let Some(sp) = p.element(e).parent else { return Ok(ScopeId(0)) };
        let found: Vec<ScopeId> = self
            .i
            .scopes
            .iter()
            .filter(|s| match s.kind {
                ScopeKind::SubProcess { element } | ScopeKind::EventSub { element, .. } => element == sp,
                _ => false,
            })
            .map(|s| s.id)
            .collect();
        let (id, sp_id) = (&p.element(e).id, &p.element(sp).id);
        match found.as_slice() {
            [one] => Ok(*one),
            [] => Err(StepError::Refused(format!(
                "`{id}` is inside `{sp_id}`, which has no active instance: start before `{sp_id}` instead"
            ))),
            many => Err(StepError::Refused(format!(
                "`{id}` is inside `{sp_id}`, which has {} active instances: which one is ambiguous",
                many.len()
            ))),
        }
    }

    /// Whether scope `s` is canceled with one of `tokens` (it or an enclosing scope belongs to one).
    fn scope_goes_with(&self, s: ScopeId, tokens: &[TokenId]) -> bool {
        let mut cur = Some(s);
        while let Some(id) = cur {
            let Some(scope) = self.scope(id) else { return false };
            if scope.owner.is_some_and(|o| tokens.contains(&o)) {
                return true;
            }
            cur = scope.parent;
        }
        false
    }

    /// Sets a variable in exactly this scope (a repair's data for the token it starts).
    fn set_local(&mut self, scope: ScopeId, name: String, value: Value) {
        let added = vars::entry_size(&name, &value);
        let Some(s) = self.scope_mut(scope) else { return };
        let removed = s.vars.insert(name.clone(), value).map_or(0, |old| vars::entry_size(&name, &old));
        self.i.data_bytes = (self.i.data_bytes + added).saturating_sub(removed);
    }
}

impl Exec<'_> {
    /// An operator's JSON merge patch (RFC 7396) on the Request's own variables (the root
    /// scope): `null` removes a key, an object merged into an object merges key by key, any
    /// other value replaces. Leaves one `DataChanged` command naming the keys that changed (none when nothing did).
    pub(super) fn patch_data(&mut self, patch: Data, by: Option<String>) {
        let mut changed = Vec::new();
        for (name, value) in &patch {
            let Some(root) = self.scope_mut(ScopeId(0)) else { return };
            let old = root.vars.get(name).cloned();
            let new = match (&old, value) {
                (_, Value::Null) => None,
                (Some(Value::Object(_)), Value::Object(_)) => {
                    let mut merged = old.clone().unwrap_or(Value::Null);
                    merge_patch(&mut merged, value);
                    Some(merged)
                }
                (_, v) => {
                    let mut fresh = Value::Null;
                    merge_patch(&mut fresh, v);
                    Some(fresh)
                }
            };
            if old == new {
                continue;
            }
            let removed = old.as_ref().map_or(0, |v| vars::entry_size(name, v));
            let added = new.as_ref().map_or(0, |v| vars::entry_size(name, v));
            match new {
                Some(v) => root.vars.insert(name.clone(), v),
                None => root.vars.remove(name),
            };
            self.i.data_bytes = (self.i.data_bytes + added).saturating_sub(removed);
            changed.push(name.clone());
        }
        // A patch that changes nothing leaves no history entry.
        if !changed.is_empty() {
            self.out.push(Command::DataChanged { patch, changed, by });
        }
    }
}

/// RFC 7396 applied to `target` in place: an object patch merges key by key (`null` removes),
/// anything else replaces the target (with the `null`s inside objects of the patch dropped).
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Data::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

fn is_event_sub(p: &Process, sp: ElementIdx) -> bool {
    matches!(p.element(sp).kind, Kind::SubProcess { triggered_by_event: true, .. })
}
