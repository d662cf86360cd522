//! Activities: tasks, connector calls, call activities, sub-processes, and the scopes they open and complete.

use sluice_bpmn::{DataMapping, DataSource};

use super::*;

impl Exec<'_> {
    pub(super) fn activity(&mut self, t: TokenId, e: ElementIdx, via: Option<FlowIdx>) {
        let p = self.p;
        let el = p.element(e);
        let Some(tok) = self.tok(t) else { return };
        let (inner, scope) = (tok.inner, tok.scope);
        if !inner && el.looping.is_some() {
            self.start_loop(t, e, via);
            return;
        }
        if !el.inputs.is_empty()
            && let Err((code, msg)) = self.write_mappings(scope, e, &el.inputs)
        {
            self.raise(t, code, msg, Retry::Enter { via });
            return;
        }
        let instant = matches!(
            el.kind,
            Kind::Task(TaskKind::Plain | TaskKind::Script { .. } | TaskKind::SendMessage(_) | TaskKind::Decision(_))
        );
        if !inner
            && !instant
            && !el.boundaries.is_empty()
            && let Err(msg) = self.arm_boundaries(t, e, scope)
        {
            self.raise(t, "expression_failed", msg, Retry::Enter { via });
            return;
        }
        match &el.kind {
            Kind::Task(TaskKind::Plain) => self.complete_activity(t),
            Kind::Task(TaskKind::User | TaskKind::Manual) => match self.assignment(scope, el) {
                Ok(assignment) => {
                    self.set_state(t, TokenState::Task);
                    let due = assignment.due;
                    self.out.push(Command::TaskCreated { token: t, element: e, assignment: Box::new(assignment) });
                    if let Some(due) = due {
                        // The due date is a timer of the task's own token: it closes with the
                        // task and fires once (`task_overdue`, see `inputs.rs`).
                        let kind = SubscriptionKind::Timer { due, armed_at: self.now, fired: 0 };
                        self.new_subscription(Owner::Token(t), e, kind);
                    }
                }
                Err(msg) => {
                    self.close_owned(Owner::Token(t));
                    self.raise(t, "expression_failed", msg, Retry::Enter { via });
                }
            },
            Kind::Task(TaskKind::Connector(_)) => {
                self.set_state(t, TokenState::Connector { attempt: 1 });
                self.out.push(Command::InvokeConnector { token: t, element: e, attempt: 1 });
            }
            Kind::Task(TaskKind::SendMessage(m)) => {
                self.publish(t, e, m);
                self.complete_activity(t);
            }
            Kind::Task(TaskKind::Receive(m)) => match self.message_kind(scope, m) {
                Ok(kind) => {
                    self.set_state(t, TokenState::Event);
                    self.new_subscription(Owner::Token(t), e, kind);
                }
                Err(msg) => {
                    self.close_owned(Owner::Token(t));
                    self.raise(t, "expression_failed", msg, Retry::Enter { via });
                }
            },
            Kind::Task(TaskKind::Script { script, result_variable }) => match script.eval(&self.vars(scope)) {
                Ok(v) => {
                    if let Some(name) = result_variable {
                        self.set_var(scope, name, v);
                    }
                    self.complete_activity(t);
                }
                Err(err) => {
                    let msg = format!("the script `{}` of `{}` failed: {err}", script.source(), el.id);
                    self.raise(t, "expression_failed", msg, Retry::Enter { via });
                }
            },
            Kind::Task(TaskKind::Decision(call)) => match self.decide(t, e, scope, call) {
                Ok(()) => self.complete_activity(t),
                Err((code, msg)) => self.raise(t, code, msg, Retry::Enter { via }),
            },
            Kind::SubProcess { .. } => {
                let Some(ms) = el.inner_scope else { return };
                let child = self.open_scope(scope, Some(t), ScopeKind::SubProcess { element: e });
                self.set_state(t, TokenState::SubProcess { scope: child });
                self.start_scope(child, ms);
            }
            Kind::CallActivity(call) => {
                if self.i.depth >= limits::max_call_depth() {
                    let msg = format!(
                        "calling `{}` would nest Requests {} deep (limit SLUICE_MAX_CALL_DEPTH: {}): does a \
                         process call itself without end?",
                        call.called_element,
                        self.i.depth.saturating_add(1),
                        limits::max_call_depth()
                    );
                    self.raise(t, "call_depth_limit", msg, Retry::Enter { via });
                    return;
                }
                if self.i.children_started >= limits::max_children() {
                    let msg = format!(
                        "this Request has started {} child Requests (limit SLUICE_MAX_CHILDREN): is a call \
                         activity in a loop that never ends?",
                        self.i.children_started
                    );
                    self.raise(t, "child_limit", msg, Retry::Enter { via });
                    return;
                }
                self.i.children_started += 1;
                let data = self.vars(scope).flatten();
                self.set_state(t, TokenState::Call);
                self.out.push(Command::StartChild {
                    token: t,
                    element: e,
                    process_key: call.called_element.clone(),
                    data,
                });
            }
            _ => self.complete_activity(t),
        }
    }

    pub(super) fn set_state(&mut self, t: TokenId, state: TokenState) {
        if let Some(tok) = self.tok_mut(t) {
            tok.state = state;
        }
    }

    pub(super) fn arm_boundaries(&mut self, t: TokenId, e: ElementIdx, scope: ScopeId) -> Result<(), String> {
        let p = self.p;
        let mut kinds = Vec::new();
        for &b in &p.element(e).boundaries {
            if let Kind::BoundaryEvent { trigger, .. } = &p.element(b).kind
                && let Some(kind) = self.subscription_kind(scope, b, trigger)?
            {
                kinds.push((b, kind));
            }
        }
        for (b, kind) in kinds {
            self.new_subscription(Owner::Token(t), b, kind);
        }
        Ok(())
    }

    /// The activity is done: write its data outputs, disarm its boundary events and move on (or,
    /// for a loop's inner instance, finish the instance). Outputs that fail leave the activity
    /// waiting on an incident, its boundary events still armed; a retry completes it again.
    pub(super) fn complete_activity(&mut self, t: TokenId) {
        let Some(tok) = self.tok(t) else { return };
        let (e, scope, inner) = (tok.element, tok.scope, tok.inner);
        let el = self.p.element(e);
        // A loop writes its outputs per instance (the inner token), not again for the whole.
        if (inner || el.looping.is_none())
            && !el.outputs.is_empty()
            && let Err((code, msg)) = self.write_mappings(scope, e, &el.outputs)
        {
            self.raise(t, code, msg, Retry::Complete);
            return;
        }
        // A multi-instance instance's output element, evaluated as it completes (as Zeebe does):
        // one that fails waits on an incident here, and a retry evaluates it again.
        if inner
            && let Some(Loop::Multi(mi)) = &el.looping
            && mi.output_collection.is_some()
            && let Some(x) = &mi.output_element
        {
            match x.eval(&self.vars(scope)) {
                Ok(v) => self.set_instance_output(scope, v),
                Err(err) => {
                    let msg = format!("the output element `{}` of `{}` failed: {err}", x.source(), el.id);
                    self.raise(t, "expression_failed", msg, Retry::Complete);
                    return;
                }
            }
        }
        self.close_owned(Owner::Token(t));
        let Some(tok) = self.tok(t) else { return };
        if tok.inner {
            let e = tok.element;
            self.completed(t, e);
            self.consume(t);
        } else {
            self.leave(t);
        }
    }

    /// Evaluates the data association mappings of activity `e` over the variables of `scope`,
    /// then writes them all there (as any write: where the variable is defined, else the
    /// innermost multi-instance instance, else the Request). When one fails nothing is written,
    /// so a retry starts over; the error is the incident's code and message.
    pub(super) fn write_mappings(
        &mut self,
        scope: ScopeId,
        e: ElementIdx,
        mappings: &[DataMapping],
    ) -> Result<(), (&'static str, String)> {
        let id = &self.p.element(e).id;
        let values = {
            let vars = self.vars(scope);
            let mut values = Vec::with_capacity(mappings.len());
            for m in mappings {
                let value = match &m.source {
                    DataSource::Variable(name) => vars.get(name).cloned().ok_or_else(|| {
                        let msg = format!(
                            "data association `{}` of `{id}` copies `{name}` into `{}`, but `{name}` is not set",
                            m.association, m.target
                        );
                        ("data_missing", msg)
                    })?,
                    DataSource::Expr(expr) => expr.eval(&vars).map_err(|err| {
                        let msg = format!(
                            "data association `{}` of `{id}`: `{}` (for `{}`) failed: {err}",
                            m.association,
                            expr.source(),
                            m.target
                        );
                        ("expression_failed", msg)
                    })?,
                };
                values.push(value);
            }
            values
        };
        for (m, value) in mappings.iter().zip(values) {
            self.set_var(scope, &m.target, value);
        }
        Ok(())
    }

    // ---- scopes ----

    pub(super) fn open_scope(&mut self, parent: ScopeId, owner: Option<TokenId>, kind: ScopeKind) -> ScopeId {
        let id = ScopeId(self.i.next_scope);
        self.i.next_scope += 1;
        self.i.scopes.push(ScopeInst { id, parent: Some(parent), owner, kind, vars: Data::new(), active: 0 });
        if let Some(s) = self.scope_mut(parent) {
            s.active += 1;
        }
        id
    }

    /// Starts the tokens of a freshly opened sub-process or event sub-process scope.
    pub(super) fn start_scope(&mut self, sid: ScopeId, ms: ScopeIdx) {
        let p = self.p;
        self.arm_event_subprocesses(sid, ms);
        let s = p.scope(ms);
        let entry = if s.none_starts.is_empty() { &s.implicit_starts } else { &s.none_starts };
        if entry.is_empty() {
            self.scope_done(sid);
            return;
        }
        for &e in entry {
            self.spawn(sid, e, None, false);
        }
    }

    pub(super) fn remove_scope(&mut self, sid: ScopeId) -> Option<ScopeInst> {
        self.close_owned(Owner::Scope(sid));
        let pos = self.scope_pos(sid)?;
        let removed = self.i.scopes.remove(pos);
        self.i.data_bytes = self.i.data_bytes.saturating_sub(super::vars::data_size(&removed.vars));
        Some(removed)
    }

    pub(super) fn scope_done(&mut self, sid: ScopeId) {
        let Some(s) = self.scope(sid) else { return };
        match s.kind.clone() {
            ScopeKind::Root => {
                if self.i.status == Status::Active {
                    self.close_owned(Owner::Scope(sid));
                    self.i.status = Status::Completed;
                    self.out.push(Command::RequestCompleted);
                }
            }
            ScopeKind::SubProcess { .. } => {
                let Some(removed) = self.remove_scope(sid) else { return };
                if let Some(parent) = removed.parent {
                    // The owner token still counts, so this never completes the parent.
                    self.release(parent);
                }
                if let Some(owner) = removed.owner {
                    self.complete_activity(owner);
                }
            }
            ScopeKind::Instance { index, .. } => self.instance_done(sid, index),
            ScopeKind::EventSub { element, token } => {
                let Some(removed) = self.remove_scope(sid) else { return };
                self.completed(token, element);
                if let Some(parent) = removed.parent {
                    self.release(parent);
                }
            }
        }
    }

    /// Cancels every token and child scope in `sid` (but `except`), without completing anything.
    pub(super) fn cancel_contents(&mut self, sid: ScopeId, except: Option<TokenId>) {
        self.cancel_tokens(sid, except);
        let children: Vec<ScopeId> = self.i.scopes.iter().filter(|s| s.parent == Some(sid)).map(|s| s.id).collect();
        for c in children {
            self.cancel_scope(c);
        }
    }

    /// Cancels and removes every token in `sid` (but `except`), each one taken off the scope's
    /// active count; child scopes are left to the caller.
    pub(super) fn cancel_tokens(&mut self, sid: ScopeId, except: Option<TokenId>) {
        let tokens: Vec<TokenId> =
            self.i.tokens.iter().filter(|x| x.scope == sid && Some(x.id) != except).map(|x| x.id).collect();
        for t in tokens {
            self.cancel_activity(t);
            if let Some(pos) = self.pos(t) {
                self.i.tokens.remove(pos);
                if let Some(s) = self.scope_mut(sid) {
                    s.active = s.active.saturating_sub(1);
                }
            }
        }
    }

    /// Cancels a child scope and everything in it; its parent loses one active count.
    pub(super) fn cancel_scope(&mut self, sid: ScopeId) {
        self.cancel_contents(sid, None);
        if let Some(removed) = self.remove_scope(sid)
            && let Some(parent) = removed.parent
            && let Some(p) = self.scope_mut(parent)
        {
            p.active = p.active.saturating_sub(1);
        }
    }

    /// Stops whatever the token's element is doing; the token itself stays for the caller.
    pub(super) fn cancel_activity(&mut self, t: TokenId) {
        self.close_owned(Owner::Token(t));
        let Some(tok) = self.tok(t) else { return };
        let e = tok.element;
        match tok.state.clone() {
            TokenState::Task => self.out.push(Command::TaskCanceled { token: t, element: e }),
            TokenState::Connector { .. } => self.out.push(Command::CancelConnector { token: t, element: e }),
            TokenState::SubProcess { scope } => self.cancel_scope(scope),
            TokenState::Body(_) => {
                let instances: Vec<ScopeId> =
                    self.i.scopes.iter().filter(|s| s.owner == Some(t)).map(|s| s.id).collect();
                for s in instances {
                    self.cancel_scope(s);
                }
            }
            TokenState::Call => self.out.push(Command::CancelChild { token: t, element: e }),
            TokenState::Incident { id, .. } => self.resolve_incident(id),
            TokenState::Ready { .. } | TokenState::Joining { .. } | TokenState::Event => {}
        }
        self.out.push(Command::ElementTerminated { token: t, element: e });
    }
}
