//! Standard loops and multi-instance activities: the body token, its instances and their outputs.

use super::*;

impl Exec<'_> {
    pub(super) fn start_loop(&mut self, t: TokenId, e: ElementIdx, via: Option<FlowIdx>) {
        let p = self.p;
        let el = p.element(e);
        let Some(scope) = self.tok(t).map(|x| x.scope) else { return };
        let Some(looping) = &el.looping else { return };
        let body = match looping {
            Loop::Multi(mi) => {
                let vars = self.vars(scope);
                let items = match (&mi.collection, &mi.cardinality) {
                    (Some(c), _) => match c.eval(&vars) {
                        Ok(Value::Array(items)) => Ok(Some(items)),
                        Ok(Value::Null) => {
                            Err(format!("the collection `{}` of `{}` is null: is it set?", c.source(), el.id))
                        }
                        Ok(other) => {
                            Err(format!("the collection `{}` of `{}` gave {other}, not a list", c.source(), el.id))
                        }
                        Err(err) => Err(format!("the collection `{}` of `{}` failed: {err}", c.source(), el.id)),
                    },
                    (None, Some(n)) => match n.eval(&vars) {
                        Ok(v) => match v.as_f64() {
                            Some(x) if x >= 0.0 && x.fract() == 0.0 && x <= 10_000.0 => {
                                Ok(Some(vec![Value::Null; x as usize]))
                            }
                            _ => Err(format!(
                                "the cardinality `{}` of `{}` gave {v}, not a whole number from 0 to 10000",
                                n.source(),
                                el.id
                            )),
                        },
                        Err(err) => Err(format!("the cardinality `{}` of `{}` failed: {err}", n.source(), el.id)),
                    },
                    (None, None) => Err(format!(
                        "the multi-instance activity `{}` has neither a collection nor a cardinality",
                        el.id
                    )),
                };
                let items = match items {
                    Ok(items) => items.unwrap_or_default(),
                    Err(msg) => {
                        self.raise(t, "expression_failed", msg, Retry::Enter { via });
                        return;
                    }
                };
                let total = items.len() as u32;
                LoopBody {
                    standard: false,
                    sequential: mi.sequential,
                    total,
                    next: 0,
                    active: 0,
                    completed: 0,
                    outputs: mi.output_collection.as_ref().map(|_| vec![Value::Null; items.len()]),
                    items: mi.collection.as_ref().map(|_| items),
                }
            }
            Loop::Standard { maximum, .. } => LoopBody {
                standard: true,
                sequential: true,
                total: maximum.unwrap_or(u32::MAX),
                next: 0,
                active: 0,
                completed: 0,
                items: None,
                outputs: None,
            },
        };
        if !el.boundaries.is_empty()
            && let Err(msg) = self.arm_boundaries(t, e, scope)
        {
            self.raise(t, "expression_failed", msg, Retry::Enter { via });
            return;
        }
        let (total, sequential) = (body.total, body.sequential);
        self.set_state(t, TokenState::Body(Box::new(body)));
        if let Loop::Standard { condition: Some(c), test_before: true, .. } = looping {
            match c.eval_bool(&self.vars(scope)) {
                Ok(true) => {}
                Ok(false) => return self.finish_loop(t, true),
                Err(err) => {
                    let msg = format!("the loop condition `{}` of `{}` failed: {err}", c.source(), el.id);
                    self.close_owned(Owner::Token(t));
                    self.raise(t, "expression_failed", msg, Retry::Enter { via });
                    return;
                }
            }
        }
        if total == 0 {
            self.finish_loop(t, true);
        } else if sequential {
            self.spawn_instance(t, e, scope);
        } else {
            for _ in 0..total {
                self.spawn_instance(t, e, scope);
            }
        }
    }

    pub(super) fn body_mut(&mut self, t: TokenId) -> Option<&mut LoopBody> {
        match &mut self.tok_mut(t)?.state {
            TokenState::Body(b) => Some(b),
            _ => None,
        }
    }

    /// Puts `value` in the output collection slot of the multi-instance instance `sid`.
    pub(super) fn set_instance_output(&mut self, sid: ScopeId, value: Value) {
        let Some(s) = self.scope(sid) else { return };
        let (ScopeKind::Instance { index, .. }, Some(owner)) = (&s.kind, s.owner) else { return };
        let index = *index as usize;
        if let Some(body) = self.body_mut(owner)
            && let Some(outputs) = &mut body.outputs
            && let Some(slot) = outputs.get_mut(index)
        {
            *slot = value;
        }
    }

    pub(super) fn spawn_instance(&mut self, t: TokenId, e: ElementIdx, scope: ScopeId) {
        let p = self.p;
        let Some(body) = self.body_mut(t) else { return };
        let index = body.next;
        body.next += 1;
        body.active += 1;
        let (total, active, completed) = (body.total, body.active, body.completed);
        let item = body.items.as_ref().and_then(|items| items.get(index as usize).cloned());
        let local = matches!(p.element(e).looping, Some(Loop::Multi(_)));
        // Iterations count as moves, so a loop that never ends trips the endless-loop guard.
        self.moved += 1;
        self.i.window_moves = self.i.window_moves.saturating_add(1);
        let sid = self.open_scope(scope, Some(t), ScopeKind::Instance { index, local });
        let mut vars = Data::new();
        vars.insert("loopCounter".into(), Value::from(index + 1));
        if let Some(Loop::Multi(mi)) = &p.element(e).looping {
            vars.insert("nrOfInstances".into(), Value::from(total));
            vars.insert("nrOfActiveInstances".into(), Value::from(active));
            vars.insert("nrOfCompletedInstances".into(), Value::from(completed));
            match (&mi.element_variable, item) {
                (Some(name), Some(item)) => {
                    vars.insert(name.clone(), item);
                }
                // ProcessMaker's convention: without an element variable, an object item's
                // fields are the instance's own variables.
                (None, Some(Value::Object(fields))) => vars.extend(fields),
                _ => {}
            }
        }
        self.i.data_bytes += super::vars::data_size(&vars);
        if let Some(s) = self.scope_mut(sid) {
            s.vars = vars;
        }
        self.spawn(sid, e, None, true);
    }

    pub(super) fn instance_done(&mut self, sid: ScopeId, index: u32) {
        let p = self.p;
        let Some(owner) = self.scope(sid).and_then(|s| s.owner) else { return };
        let Some(e) = self.tok(owner).map(|x| x.element) else { return };
        let el = p.element(e);
        let Some(body) = self.body_mut(owner) else { return };
        body.active = body.active.saturating_sub(1);
        body.completed += 1;
        let (total, active, completed) = (body.total, body.active, body.completed);

        // Evaluate in the instance's scope before it goes.
        let mut output = None;
        let mut verdict: Result<bool, String> = Ok(false);
        match &el.looping {
            Some(Loop::Multi(mi)) => {
                // An output element was evaluated as the instance's activity completed
                // (`complete_activity`); without one, the element variable is collected as it is now.
                if mi.output_collection.is_some() && mi.output_element.is_none() {
                    output = Some(
                        mi.element_variable
                            .as_ref()
                            .and_then(|n| self.vars(sid).get(n).cloned())
                            .unwrap_or(Value::Null),
                    );
                }
                if let Some(c) = &mi.completion {
                    let extra = [
                        ("nrOfInstances", Value::from(total)),
                        ("nrOfActiveInstances", Value::from(active)),
                        ("nrOfCompletedInstances", Value::from(completed)),
                        ("numberOfInstances", Value::from(total)),
                        ("numberOfActiveInstances", Value::from(active)),
                        ("numberOfCompletedInstances", Value::from(completed)),
                    ];
                    let base = self.vars(sid);
                    let vars = Overlay { extra: &extra, base: &base };
                    verdict = c.eval_bool(&vars).map_err(|err| {
                        format!("the completion condition `{}` of `{}` failed: {err}", c.source(), el.id)
                    });
                }
            }
            Some(Loop::Standard { condition, maximum, .. }) => {
                // Loop while the condition holds, never past the maximum.
                let more = match condition {
                    Some(c) => c
                        .eval_bool(&self.vars(sid))
                        .map_err(|err| format!("the loop condition `{}` of `{}` failed: {err}", c.source(), el.id)),
                    None => Ok(false),
                };
                verdict = more.map(|m| !m || maximum.is_some_and(|max| completed >= max));
            }
            None => {}
        }
        if let (Some(v), Some(body)) = (output, self.body_mut(owner))
            && let Some(outputs) = &mut body.outputs
            && let Some(slot) = outputs.get_mut(index as usize)
        {
            *slot = v;
        }
        if let Some(removed) = self.remove_scope(sid)
            && let Some(parent) = removed.parent
            && let Some(ps) = self.scope_mut(parent)
        {
            ps.active = ps.active.saturating_sub(1);
        }
        self.loop_decide(owner, verdict);
    }

    /// After an instance: stop (condition met), start the next sequential one, or finish when
    /// the last one is done.
    pub(super) fn loop_decide(&mut self, owner: TokenId, verdict: Result<bool, String>) {
        let Some((e, scope)) = self.tok(owner).map(|x| (x.element, x.scope)) else { return };
        match verdict {
            Err(msg) => {
                // Keep the body (its outputs and counters) in the incident, to carry on after a retry.
                let state = self.tok_mut(owner).map(|x| std::mem::replace(&mut x.state, TokenState::Event));
                let Some(TokenState::Body(body)) = state else { return };
                self.raise(owner, "expression_failed", msg, Retry::Loop { body });
            }
            Ok(true) => {
                let rest: Vec<ScopeId> =
                    self.i.scopes.iter().filter(|s| s.owner == Some(owner)).map(|s| s.id).collect();
                for s in rest {
                    self.cancel_scope(s);
                }
                self.finish_loop(owner, false);
            }
            Ok(false) => {
                let Some(body) = self.body_mut(owner) else { return };
                if body.sequential && body.next < body.total {
                    self.spawn_instance(owner, e, scope);
                } else if body.active == 0 {
                    self.finish_loop(owner, false);
                }
            }
        }
    }

    /// Re-checks a loop's completion (or loop) condition in the body's scope, for a retry.
    pub(super) fn completion_in_body_scope(&self, t: TokenId) -> Result<bool, String> {
        let p = self.p;
        let Some(tok) = self.tok(t) else { return Ok(false) };
        let TokenState::Body(body) = &tok.state else { return Ok(false) };
        let el = p.element(tok.element);
        let base = self.vars(tok.scope);
        match &el.looping {
            Some(Loop::Multi(mi)) => match &mi.completion {
                Some(c) => {
                    let extra = [
                        ("nrOfInstances", Value::from(body.total)),
                        ("nrOfActiveInstances", Value::from(body.active)),
                        ("nrOfCompletedInstances", Value::from(body.completed)),
                    ];
                    let vars = Overlay { extra: &extra, base: &base };
                    c.eval_bool(&vars).map_err(|err| {
                        format!("the completion condition `{}` of `{}` failed: {err}", c.source(), el.id)
                    })
                }
                None => Ok(false),
            },
            Some(Loop::Standard { condition: Some(c), maximum, .. }) => c
                .eval_bool(&base)
                .map(|more| !more || maximum.is_some_and(|max| body.completed >= max))
                .map_err(|err| format!("the loop condition `{}` of `{}` failed: {err}", c.source(), el.id)),
            _ => Ok(true),
        }
    }

    pub(super) fn finish_loop(&mut self, t: TokenId, empty: bool) {
        let p = self.p;
        let Some(tok) = self.tok(t) else { return };
        let (e, scope) = (tok.element, tok.scope);
        let outputs = match &tok.state {
            TokenState::Body(b) => b.outputs.clone(),
            _ => None,
        };
        if let (Some(Loop::Multi(mi)), Some(outputs)) = (&p.element(e).looping, outputs)
            && let Some(name) = &mi.output_collection
        {
            self.set_var(scope, name, Value::Array(outputs));
        }
        self.close_owned(Owner::Token(t));
        // Each instance reported its own completion; an empty loop reports the activity's.
        self.leave_with(t, empty);
    }
}
