//! Errors and escalations: finding the catcher outwards, interrupting what it ends.

use super::*;

impl Exec<'_> {
    /// The boundary event of `a` that catches the error (or escalation) `code`, and whether it
    /// interrupts (an error catcher always does): one for the exact code beats a catch-all,
    /// whatever their order in the file (validation refuses two for one code).
    pub(super) fn matching_boundary(&self, a: TokenId, escalation: bool, code: &str) -> Option<(ElementIdx, bool)> {
        let tok = self.tok(a)?;
        if tok.inner {
            return None;
        }
        let p = self.p;
        most_specific(p.element(tok.element).boundaries.iter().filter_map(|&b| match &p.element(b).kind {
            Kind::BoundaryEvent { trigger, interrupting, .. } => {
                catches(trigger, escalation, code).map(|exact| (exact, b, !escalation || *interrupting))
            }
            _ => None,
        }))
    }

    /// The event sub-process start event of scope `sid` that catches `what`, by the same rule as
    /// [`Self::matching_boundary`]: exact code first, then a catch-all.
    pub(super) fn matching_event_subprocess(
        &self,
        sid: ScopeId,
        escalation: bool,
        code: &str,
    ) -> Option<(ElementIdx, bool)> {
        let ms = self.model_scope(sid)?;
        let p = self.p;
        let starts = p
            .scope(ms)
            .event_subprocesses
            .iter()
            .filter_map(|&esp| p.element(esp).inner_scope)
            .flat_map(|inner| p.scope(inner).event_starts.iter().copied());
        most_specific(starts.filter_map(|s| match &p.element(s).kind {
            Kind::StartEvent { trigger, interrupting } => {
                catches(trigger, escalation, code).map(|exact| (exact, s, !escalation || *interrupting))
            }
            _ => None,
        }))
    }

    /// Finds the nearest catcher, from the thrower outwards: its own boundary events (when the
    /// thrower is an activity), then each enclosing scope's event sub-processes and its owner's
    /// boundary events.
    pub(super) fn find_catcher(
        &self,
        thrower: TokenId,
        from_activity: bool,
        escalation: bool,
        code: &str,
    ) -> Option<Catcher> {
        let tok = self.tok(thrower)?;
        let mut activity = from_activity.then_some(thrower);
        let mut scope = tok.scope;
        loop {
            if let Some(a) = activity
                && let Some((b, interrupting)) = self.matching_boundary(a, escalation, code)
            {
                return Some(Catcher::Boundary { host: a, boundary: b, interrupting });
            }
            if let Some((start, interrupting)) = self.matching_event_subprocess(scope, escalation, code) {
                return Some(Catcher::EventSub { scope, start, interrupting });
            }
            let s = self.scope(scope)?;
            match (s.owner, s.parent) {
                (Some(owner), _) => {
                    activity = Some(owner);
                    scope = self.tok(owner)?.scope;
                }
                (None, Some(parent)) => {
                    activity = None;
                    scope = parent;
                }
                (None, None) => return None,
            }
        }
    }

    /// Throws error `code` at token `t`: an activity reporting it (`from_activity`) or an error
    /// end event, which ends there and is traced once, as completed.
    pub(super) fn throw_error(&mut self, t: TokenId, code: String, message: Option<String>, from_activity: bool) {
        let Some(e) = self.tok(t).map(|x| x.element) else { return };
        match self.find_catcher(t, from_activity, false, &code) {
            Some(catcher) => {
                if !from_activity {
                    self.completed(t, e);
                    self.detach(t);
                }
                self.catch_thrown(catcher);
            }
            None if self.i.called => {
                self.completed(t, e);
                self.detach(t);
                self.out.push(Command::ErrorToParent { code, message });
                self.cancel_contents(ScopeId(0), None);
                self.i.status = Status::Canceled;
                self.out.push(Command::RequestCanceled);
            }
            None => {
                let what = message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default();
                let msg =
                    format!("error `{code}`{what} was thrown at `{}` and nothing caught it", self.p.element(e).id);
                self.raise(t, "uncaught_error", msg, Retry::Throw { code, message });
            }
        }
    }

    /// Throws escalation `code` at token `t`, an escalation end event (`from_end`) or
    /// intermediate throw event. An interrupting catcher ends the thrower's scope (the end event
    /// is traced once, as completed); otherwise the thrower carries on.
    pub(super) fn throw_escalation(&mut self, t: TokenId, code: String, from_end: bool) {
        let Some(e) = self.tok(t).map(|x| x.element) else { return };
        let catcher = self.find_catcher(t, false, true, &code);
        let interrupting = match &catcher {
            Some(Catcher::Boundary { interrupting, .. } | Catcher::EventSub { interrupting, .. }) => *interrupting,
            None => false,
        };
        if catcher.is_none() && self.i.called {
            self.out.push(Command::EscalationToParent { code });
        }
        if interrupting {
            if from_end {
                self.completed(t, e);
                self.detach(t);
            }
            if let Some(c) = catcher {
                self.catch_thrown(c);
            }
            return;
        }
        if let Some(c) = catcher {
            self.catch_thrown(c);
        }
        // Not interrupted: the thrower carries on.
        if from_end {
            self.completed(t, e);
            self.consume(t);
        } else {
            self.leave(t);
        }
    }

    /// An escalation a called Request did not catch, thrown at its call activity `t`: caught
    /// like one the call activity threw itself (its boundary events, then outwards); uncaught,
    /// it goes on to this Request's own parent, and the call activity carries on.
    pub(super) fn child_escalation(&mut self, t: TokenId, code: String) {
        match self.find_catcher(t, true, true, &code) {
            Some(catcher) => self.catch_thrown(catcher),
            None if self.i.called => self.out.push(Command::EscalationToParent { code }),
            None => {}
        }
    }

    /// Removes an end event's token that threw, without completing its scope: every catcher of
    /// an error (or interrupting escalation) cancels that scope or takes it over, so the token
    /// must not complete it first, nor be traced again as terminated.
    fn detach(&mut self, t: TokenId) {
        let Some(pos) = self.pos(t) else { return };
        let tok = self.i.tokens.remove(pos);
        if let Some(s) = self.scope_mut(tok.scope) {
            s.active = s.active.saturating_sub(1);
        }
    }

    pub(super) fn catch_thrown(&mut self, catcher: Catcher) {
        match catcher {
            Catcher::Boundary { host, boundary, interrupting } => {
                if interrupting {
                    self.interrupt_into(host, boundary);
                } else if let Some(scope) = self.tok(host).map(|x| x.scope) {
                    self.spawn(scope, boundary, None, false);
                }
            }
            Catcher::EventSub { scope, start, interrupting } => {
                self.trigger_event_subprocess(scope, start, interrupting, Data::new());
            }
        }
    }

    /// Cancels the activity of `host` and sends its token on from the boundary event.
    pub(super) fn interrupt_into(&mut self, host: TokenId, boundary: ElementIdx) {
        self.cancel_activity(host);
        if let Some(tok) = self.tok_mut(host) {
            tok.element = boundary;
            tok.state = TokenState::Ready { via: None };
            tok.inner = false;
        }
        self.queue.push_back(host);
    }

    pub(super) fn trigger_event_subprocess(&mut self, sid: ScopeId, start: ElementIdx, interrupting: bool, data: Data) {
        let p = self.p;
        let Some(esp) = p.element(start).parent else { return };
        let Some(ms) = p.element(esp).inner_scope else { return };
        // The event sub-process itself holds no token; this id names its activation in history.
        let virtual_token = self.new_token_id();
        let child = self.open_scope(sid, None, ScopeKind::EventSub { element: esp, token: virtual_token });
        self.out.push(Command::ElementActivated { token: virtual_token, element: esp });
        if interrupting {
            // Everything else in the scope stops; the event sub-process takes over.
            self.cancel_tokens(sid, None);
            let siblings: Vec<ScopeId> =
                self.i.scopes.iter().filter(|s| s.parent == Some(sid) && s.id != child).map(|s| s.id).collect();
            for s in siblings {
                self.cancel_scope(s);
            }
            let esp_subs: Vec<SubscriptionId> =
                self.i.subscriptions.iter().filter(|s| s.owner == Owner::Scope(sid)).map(|s| s.id).collect();
            for s in esp_subs {
                self.close_subscription(s);
            }
        }
        self.merge(child, data);
        self.arm_event_subprocesses(child, ms);
        self.spawn(child, start, None, false);
    }
}

/// Whether a catching trigger catches an error (or escalation) with `code`: `Some(true)` for the
/// exact code, `Some(false)` as a catch-all, `None` not at all.
fn catches(trigger: &Trigger, escalation: bool, code: &str) -> Option<bool> {
    let wanted = match (trigger, escalation) {
        (Trigger::Error(c), false) | (Trigger::Escalation(c), true) => c,
        _ => return None,
    };
    match wanted.as_deref() {
        None => Some(false),
        Some(c) => (c == code).then_some(true),
    }
}

/// The handler of one scope that wins: the first one for the exact code, else the first
/// catch-all.
fn most_specific(candidates: impl Iterator<Item = (bool, ElementIdx, bool)>) -> Option<(ElementIdx, bool)> {
    let mut catch_all = None;
    for (exact, e, interrupting) in candidates {
        if exact {
            return Some((e, interrupting));
        }
        catch_all = catch_all.or(Some((e, interrupting)));
    }
    catch_all
}
