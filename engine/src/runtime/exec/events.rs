//! Events: catching (timers, messages, signals), throwing, boundary events and event sub-processes.

use super::*;

impl Exec<'_> {
    pub(super) fn end(&mut self, t: TokenId, e: ElementIdx, result: &Throw) {
        match result {
            Throw::None | Throw::Link(_) => {
                self.completed(t, e);
                self.consume(t);
            }
            Throw::Terminate => {
                self.completed(t, e);
                let Some(scope) = self.tok(t).map(|x| x.scope) else { return };
                self.cancel_contents(scope, Some(t));
                self.consume(t);
            }
            Throw::Message(m) => {
                self.publish(t, e, m);
                self.completed(t, e);
                self.consume(t);
            }
            Throw::Signal(name) => {
                self.broadcast(t, e, name);
                self.completed(t, e);
                self.consume(t);
            }
            Throw::Error { code, message } => self.throw_error(t, code.clone(), message.clone(), false),
            Throw::Escalation(code) => self.throw_escalation(t, code.clone(), true),
        }
    }

    pub(super) fn intermediate_throw(&mut self, t: TokenId, e: ElementIdx, result: &Throw) {
        match result {
            Throw::None => self.leave(t),
            Throw::Message(m) => {
                self.publish(t, e, m);
                self.leave(t);
            }
            Throw::Signal(name) => {
                self.broadcast(t, e, name);
                self.leave(t);
            }
            Throw::Link(name) => {
                let p = self.p;
                let scope = p.element(e).scope;
                match p.scope(scope).link_targets.get(name) {
                    Some(&target) => {
                        self.completed(t, e);
                        if let Some(tok) = self.tok_mut(t) {
                            tok.element = target;
                            tok.state = TokenState::Ready { via: None };
                        }
                        self.queue.push_back(t);
                    }
                    None => {
                        let msg = format!("no link catch event named `{name}` in this scope");
                        self.raise(t, "unmatched_link", msg, Retry::Enter { via: None });
                    }
                }
            }
            Throw::Escalation(code) => self.throw_escalation(t, code.clone(), false),
            Throw::Terminate | Throw::Error { .. } => self.end(t, e, result),
        }
    }

    pub(super) fn catch(&mut self, t: TokenId, e: ElementIdx, trigger: &Trigger, via: Option<FlowIdx>) {
        match trigger {
            Trigger::None | Trigger::Link(_) | Trigger::Error(_) | Trigger::Escalation(_) => self.leave(t),
            _ => {
                let Some(scope) = self.tok(t).map(|x| x.scope) else { return };
                match self.subscription_kind(scope, e, trigger) {
                    Ok(Some(kind)) => {
                        if let Some(tok) = self.tok_mut(t) {
                            tok.state = TokenState::Event;
                        }
                        self.new_subscription(Owner::Token(t), e, kind);
                    }
                    Ok(None) => self.leave(t),
                    Err(msg) => self.raise(t, "expression_failed", msg, Retry::Enter { via }),
                }
            }
        }
    }

    /// What to subscribe to for a trigger, evaluated in `scope`; `None` for triggers that are not
    /// subscriptions (errors and escalations are matched when thrown).
    pub(super) fn subscription_kind(
        &self,
        scope: ScopeId,
        e: ElementIdx,
        trigger: &Trigger,
    ) -> Result<Option<SubscriptionKind>, String> {
        Ok(match trigger {
            Trigger::Timer(timer) => {
                let due = self.first_due(scope, e, timer)?;
                Some(SubscriptionKind::Timer { due, armed_at: self.now, fired: 0 })
            }
            Trigger::Message(m) => Some(self.message_kind(scope, m)?),
            Trigger::Signal(name) => Some(SubscriptionKind::Signal { name: name.clone() }),
            _ => None,
        })
    }

    pub(super) fn message_kind(&self, scope: ScopeId, m: &MessageRef) -> Result<SubscriptionKind, String> {
        let correlation_key = match &m.correlation_key {
            None => None,
            Some(expr) => {
                let v = expr.eval(&self.vars(scope)).map_err(|err| {
                    format!("the correlation key `{}` of message `{}` failed: {err}", expr.source(), m.name)
                })?;
                Some(key_string(&v).ok_or_else(|| {
                    format!(
                        "the correlation key `{}` of message `{}` is null: is the variable set?",
                        expr.source(),
                        m.name
                    )
                })?)
            }
        };
        Ok(SubscriptionKind::Message { name: m.name.clone(), correlation_key })
    }

    pub(super) fn timer_spec(&self, scope: ScopeId, e: ElementIdx, timer: &Timer) -> Result<TimerSpec, String> {
        match timer {
            Timer::Fixed(spec) => Ok(spec.clone()),
            Timer::Expr { kind, expr } => {
                let v = expr.eval(&self.vars(scope)).map_err(|err| {
                    format!("the timer `{}` of `{}` failed: {err}", expr.source(), self.p.element(e).id)
                })?;
                let Value::String(s) = v else {
                    return Err(format!(
                        "the timer `{}` of `{}` gave {v}, not an ISO 8601 text",
                        expr.source(),
                        self.p.element(e).id
                    ));
                };
                let parsed = match kind {
                    TimerKind::Duration => match iso8601::parse_duration(&s) {
                        // Not an instant fire: a duration that points back in time is a mistake.
                        Ok(d) if d.is_negative() => {
                            return Err(format!(
                                "the timer `{}` of `{}` gave the negative duration `{s}`: a timer waits forward in time",
                                expr.source(),
                                self.p.element(e).id
                            ));
                        }
                        other => other.map(TimerSpec::Duration),
                    },
                    TimerKind::Date => iso8601::parse_date_time(&s).map(TimerSpec::Date),
                    TimerKind::Cycle => iso8601::parse_cycle(&s).map(TimerSpec::Cycle),
                };
                parsed.map_err(|err| format!("the timer of `{}` gave `{s}`: {err}", self.p.element(e).id))
            }
        }
    }

    pub(super) fn first_due(&self, scope: ScopeId, e: ElementIdx, timer: &Timer) -> Result<DateTime<Utc>, String> {
        let spec = self.timer_spec(scope, e, timer)?;
        let due = match &spec {
            TimerSpec::Duration(d) => d.add_to(self.now),
            TimerSpec::Date(d) => Some(*d),
            TimerSpec::Cycle(c) => c.due(self.now, 0),
        };
        due.ok_or_else(|| format!("the timer of `{}` never comes due", self.p.element(e).id))
    }

    pub(super) fn publish(&mut self, t: TokenId, e: ElementIdx, m: &MessageRef) {
        let Some(scope) = self.tok(t).map(|x| x.scope) else { return };
        let data = self.vars(scope).flatten();
        let correlation_key = match self.message_kind(scope, m) {
            Ok(SubscriptionKind::Message { correlation_key, .. }) => correlation_key,
            _ => None,
        };
        self.out.push(Command::PublishMessage { element: e, name: m.name.clone(), correlation_key, data });
    }

    pub(super) fn broadcast(&mut self, t: TokenId, e: ElementIdx, name: &str) {
        let Some(scope) = self.tok(t).map(|x| x.scope) else { return };
        let data = self.vars(scope).flatten();
        self.out.push(Command::BroadcastSignal { element: e, name: name.to_string(), data });
    }

    pub(super) fn arm_event_gateway(&mut self, t: TokenId, g: ElementIdx, via: Option<FlowIdx>) {
        let p = self.p;
        let Some(scope) = self.tok(t).map(|x| x.scope) else { return };
        let mut kinds = Vec::new();
        for &f in &p.element(g).outgoing {
            let target = p.flow(f).target;
            let kind = match &p.element(target).kind {
                Kind::CatchEvent { trigger } => self.subscription_kind(scope, target, trigger),
                Kind::Task(TaskKind::Receive(m)) => self.message_kind(scope, m).map(Some),
                _ => Ok(None),
            };
            match kind {
                Ok(Some(k)) => kinds.push((target, k)),
                Ok(None) => {
                    let msg =
                        format!("`{}` follows an event-based gateway but is no catch event", p.element(target).id);
                    self.raise(t, "invalid_event_gateway", msg, Retry::Enter { via });
                    return;
                }
                Err(msg) => {
                    self.raise(t, "expression_failed", msg, Retry::Enter { via });
                    return;
                }
            }
        }
        if let Some(tok) = self.tok_mut(t) {
            tok.state = TokenState::Event;
        }
        for (target, k) in kinds {
            self.new_subscription(Owner::Token(t), target, k);
        }
    }

    /// Arms the start events of the event sub-processes directly in a scope.
    pub(super) fn arm_event_subprocesses(&mut self, sid: ScopeId, ms: ScopeIdx) {
        let p = self.p;
        for &esp in &p.scope(ms).event_subprocesses {
            let Some(inner) = p.element(esp).inner_scope else { continue };
            for &start in &p.scope(inner).event_starts {
                let Kind::StartEvent { trigger, .. } = &p.element(start).kind else { continue };
                // A failing expression here leaves that start unarmed; validation reports such
                // models at deploy time, and there is no token to hang an incident on.
                if let Ok(Some(kind)) = self.subscription_kind(sid, start, trigger) {
                    self.new_subscription(Owner::Scope(sid), start, kind);
                }
            }
        }
    }
}
