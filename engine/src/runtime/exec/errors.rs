//! Errors and escalations: finding the catcher outwards, interrupting what it ends.

use super::*;

impl Exec<'_> {
    /// Boundary events of `a` that catch `what`.
    pub(super) fn matching_boundary(&self, a: TokenId, escalation: bool, code: &str) -> Option<(ElementIdx, bool)> {
        let tok = self.tok(a)?;
        if tok.inner {
            return None;
        }
        self.p.element(tok.element).boundaries.iter().find_map(|&b| match &self.p.element(b).kind {
            Kind::BoundaryEvent { trigger: Trigger::Error(c), .. }
                if !escalation && c.as_deref().is_none_or(|c| c == code) =>
            {
                Some((b, true))
            }
            Kind::BoundaryEvent { trigger: Trigger::Escalation(c), interrupting, .. }
                if escalation && c.as_deref().is_none_or(|c| c == code) =>
            {
                Some((b, *interrupting))
            }
            _ => None,
        })
    }

    // Like `matching_boundary` above, but over event sub-processes' start events, whose pattern is
    // `Kind::StartEvent` rather than `Kind::BoundaryEvent`: the match arms name different variants.
    pub(super) fn matching_event_subprocess(
        &self,
        sid: ScopeId,
        escalation: bool,
        code: &str,
    ) -> Option<(ElementIdx, bool)> {
        let ms = self.model_scope(sid)?;
        let p = self.p;
        p.scope(ms).event_subprocesses.iter().find_map(|&esp| {
            let inner = p.element(esp).inner_scope?;
            p.scope(inner).event_starts.iter().find_map(|&s| match &p.element(s).kind {
                Kind::StartEvent { trigger: Trigger::Error(c), .. }
                    if !escalation && c.as_deref().is_none_or(|c| c == code) =>
                {
                    Some((s, true))
                }
                Kind::StartEvent { trigger: Trigger::Escalation(c), interrupting }
                    if escalation && c.as_deref().is_none_or(|c| c == code) =>
                {
                    Some((s, *interrupting))
                }
                _ => None,
            })
        })
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

    pub(super) fn throw_error(&mut self, t: TokenId, code: String, message: Option<String>, from_activity: bool) {
        let Some(e) = self.tok(t).map(|x| x.element) else { return };
        match self.find_catcher(t, from_activity, false, &code) {
            Some(catcher) => {
                if !from_activity {
                    self.out.push(Command::ElementCompleted { token: t, element: e });
                }
                self.catch_thrown(catcher);
            }
            None if self.i.called => {
                self.out.push(Command::ElementCompleted { token: t, element: e });
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
                self.out.push(Command::ElementCompleted { token: t, element: e });
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
            self.out.push(Command::ElementCompleted { token: t, element: e });
            self.consume(t);
        } else {
            self.leave(t);
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
