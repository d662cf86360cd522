//! The inputs a step applies: task completion, connector results, timers, messages, signals, children, retries, cancel.

use super::*;

impl Exec<'_> {
    pub(super) fn apply(&mut self, input: Input) -> Result<(), StepError> {
        match input {
            Input::CompleteTask { token, data } => {
                let tok = self.tok(token).ok_or(StepError::UnknownToken)?;
                if !matches!(tok.state, TokenState::Task) {
                    return Err(StepError::NotWaiting("task completion"));
                }
                let scope = tok.scope;
                self.merge(scope, data);
                self.complete_activity(token);
            }
            Input::ThrowError { token, code, message } => {
                let tok = self.tok(token).ok_or(StepError::UnknownToken)?;
                if !matches!(tok.state, TokenState::Task | TokenState::Connector { .. }) {
                    return Err(StepError::NotWaiting("a task or connector error"));
                }
                self.throw_error(token, code, message, true);
            }
            Input::ConnectorCompleted { token, output } => {
                let tok = self.tok(token).ok_or(StepError::UnknownToken)?;
                let TokenState::Connector { attempt } = tok.state else {
                    return Err(StepError::NotWaiting("a connector result"));
                };
                let (scope, e) = (tok.scope, tok.element);
                self.out.push(Command::ConnectorCompleted { token, element: e, output: output.clone() });
                self.write_result(token, scope, e, attempt, output, None);
            }
            Input::JobCompleted { token, data } => {
                let tok = self.tok(token).ok_or(StepError::UnknownToken)?;
                let TokenState::Connector { attempt } = tok.state else {
                    return Err(StepError::NotWaiting("a job's completion"));
                };
                let (scope, e) = (tok.scope, tok.element);
                let output = Value::Object(data.clone());
                self.out.push(Command::ConnectorCompleted { token, element: e, output: output.clone() });
                // A worker's variables are its result: mapped by the task's outputs as a
                // connector's are, else merged like a task's completion data (Camunda 8's job
                // completion), with the result variable and result expression as for a connector.
                self.write_result(token, scope, e, attempt, output, Some(data));
            }
            Input::ConnectorFailed { token, message } => {
                let tok = self.tok(token).ok_or(StepError::UnknownToken)?;
                let TokenState::Connector { attempt } = tok.state else {
                    return Err(StepError::NotWaiting("a connector result"));
                };
                self.raise(token, "connector_failed", message, Retry::Connector { attempt: attempt + 1 });
            }
            Input::TimerFired { subscription } => self.fire(subscription, Data::new(), 'T')?,
            Input::MessageReceived { subscription, data } => self.fire(subscription, data, 'M')?,
            Input::SignalReceived { subscription, data } => self.fire(subscription, data, 'S')?,
            // Like `CompleteTask` above, but for a different wait state (`Call`, not `Task`) and message:
            // each input checks the state it answers before completing the activity.
            Input::ChildCompleted { token, data } => {
                let tok = self.tok(token).ok_or(StepError::UnknownToken)?;
                if !matches!(tok.state, TokenState::Call) {
                    return Err(StepError::NotWaiting("a child Request"));
                }
                let scope = tok.scope;
                self.merge(scope, data);
                self.complete_activity(token);
            }
            Input::ChildError { token, code, message } => {
                let tok = self.tok(token).ok_or(StepError::UnknownToken)?;
                if !matches!(tok.state, TokenState::Call) {
                    return Err(StepError::NotWaiting("a child Request"));
                }
                self.throw_error(token, code, message, true);
            }
            Input::ChildEscalation { token, code } => {
                let tok = self.tok(token).ok_or(StepError::UnknownToken)?;
                if !matches!(tok.state, TokenState::Call) {
                    return Err(StepError::NotWaiting("a child Request"));
                }
                self.child_escalation(token, code);
            }
            Input::Cancel => {
                if self.i.suspended {
                    self.i.suspended = false;
                    self.out.push(Command::Resumed);
                }
                self.cancel_contents(ScopeId(0), None);
                self.close_owned(Owner::Scope(ScopeId(0)));
                self.i.status = Status::Canceled;
                self.out.push(Command::RequestCanceled);
            }
            Input::Park { input, message } => self.park(*input, message)?,
            Input::Modify(m) => self.modify(*m)?,
            Input::PatchData { patch, by } => self.patch_data(patch, by),
            // Suspending a suspended Request (or resuming a running one) changes nothing.
            Input::Suspend if !self.i.suspended => {
                self.i.suspended = true;
                self.out.push(Command::Suspended);
            }
            Input::Resume if self.i.suspended => {
                self.i.suspended = false;
                self.out.push(Command::Resumed);
            }
            Input::Suspend | Input::Resume => {}
            Input::Retry { incident } => {
                if let Some(pos) = self.i.parked.iter().position(|x| x.incident == incident) {
                    // A parked input: applied now. If what it was for is gone (the call activity
                    // was left), the incident is resolved all the same, as a job carrying the
                    // input would have been dropped.
                    let parked = self.i.parked.remove(pos);
                    self.resolve_incident(incident);
                    self.i.window_start = self.now.timestamp_millis();
                    self.i.window_moves = 0;
                    let _refused = self.apply(parked.input);
                    return Ok(());
                }
                let inc = self.i.incidents.iter().find(|x| x.id == incident).ok_or(StepError::UnknownIncident)?;
                let t = inc.token;
                let retry = match self.tok(t).map(|x| &x.state) {
                    Some(TokenState::Incident { retry, .. }) => retry.clone(),
                    _ => return Err(StepError::UnknownIncident),
                };
                self.resolve_incident(incident);
                // A person let it go on: a new activity window from now.
                self.i.window_start = self.now.timestamp_millis();
                self.i.window_moves = 0;
                match retry {
                    Retry::Enter { via } => {
                        self.set_state(t, TokenState::Ready { via });
                        self.queue.push_back(t);
                    }
                    Retry::Leave => {
                        self.set_state(t, TokenState::Ready { via: None });
                        self.leave(t);
                    }
                    Retry::Loop { body } => {
                        self.set_state(t, TokenState::Body(body));
                        let verdict = self.completion_in_body_scope(t);
                        self.loop_decide(t, verdict);
                    }
                    Retry::Connector { attempt } => {
                        let Some(e) = self.tok(t).map(|x| x.element) else { return Ok(()) };
                        self.set_state(t, TokenState::Connector { attempt });
                        self.out.push(Command::InvokeConnector { token: t, element: e, attempt });
                    }
                    Retry::Complete => {
                        self.set_state(t, TokenState::Ready { via: None });
                        self.complete_activity(t);
                    }
                    Retry::Throw { code, message } => {
                        let Some(e) = self.tok(t).map(|x| x.element) else { return Ok(()) };
                        let from_activity = self.p.element(e).is_activity();
                        self.throw_error(t, code, message, from_activity);
                    }
                }
            }
        }
        Ok(())
    }

    /// Parks `input` behind a `job_crashed` incident at the element it is for (see
    /// [`Input::Park`]); the token it is for is left as it is.
    fn park(&mut self, input: Input, message: String) -> Result<(), StepError> {
        let (token, element) = match &input {
            Input::TimerFired { subscription }
            | Input::MessageReceived { subscription, .. }
            | Input::SignalReceived { subscription, .. } => {
                let sub = self
                    .i
                    .subscriptions
                    .iter()
                    .find(|s| s.id == *subscription)
                    .ok_or(StepError::UnknownSubscription)?;
                let token = match sub.owner {
                    Owner::Token(t) => t,
                    Owner::Scope(s) => self.scope(s).and_then(|s| s.owner).unwrap_or(TokenId::NONE),
                };
                (token, sub.element)
            }
            Input::ChildCompleted { token, .. }
            | Input::ChildError { token, .. }
            | Input::ChildEscalation { token, .. } => {
                let tok = self.tok(*token).ok_or(StepError::UnknownToken)?;
                if !matches!(tok.state, TokenState::Call) {
                    return Err(StepError::NotWaiting("a child Request"));
                }
                (*token, tok.element)
            }
            _ => return Err(StepError::NotWaiting("a parked input")),
        };
        let id = IncidentId(self.i.next_incident);
        self.i.next_incident += 1;
        let incident = Incident { id, element, token, code: "job_crashed".to_string(), message };
        self.i.incidents.push(incident.clone());
        self.i.parked.push(ParkedInput { incident: id, input });
        self.out.push(Command::IncidentRaised(incident));
        Ok(())
    }

    /// Resolves the incidents of inputs parked for subscription `id` (it closed: the input would
    /// be refused now).
    pub(super) fn unpark_subscription(&mut self, id: SubscriptionId) {
        let gone: Vec<IncidentId> = self
            .i
            .parked
            .iter()
            .filter(|p| {
                matches!(p.input,
                    Input::TimerFired { subscription }
                    | Input::MessageReceived { subscription, .. }
                    | Input::SignalReceived { subscription, .. } if subscription == id)
            })
            .map(|p| p.incident)
            .collect();
        for incident in gone {
            self.i.parked.retain(|p| p.incident != incident);
            self.resolve_incident(incident);
        }
    }

    pub(super) fn fire(&mut self, id: SubscriptionId, data: Data, what: char) -> Result<(), StepError> {
        let sub = self.i.subscriptions.iter().find(|s| s.id == id).cloned().ok_or(StepError::UnknownSubscription)?;
        let matches_kind = matches!(
            (&sub.kind, what),
            (SubscriptionKind::Timer { .. }, 'T')
                | (SubscriptionKind::Message { .. }, 'M')
                | (SubscriptionKind::Signal { .. }, 'S')
        );
        if !matches_kind {
            return Err(StepError::UnknownSubscription);
        }
        let p = self.p;
        let e = sub.element;
        if let (SubscriptionKind::Timer { due, .. }, Owner::Token(t)) = (&sub.kind, sub.owner)
            && matches!(p.element(e).kind, Kind::Task(TaskKind::User | TaskKind::Manual))
            && self.tok(t).is_some_and(|x| x.element == e && matches!(x.state, TokenState::Task))
        {
            // A task's due date: it stays open, and is overdue once.
            let due = *due;
            self.close_subscription(id);
            self.out.push(Command::TaskOverdue { token: t, element: e, due });
            return Ok(());
        }
        self.out.push(match &sub.kind {
            SubscriptionKind::Timer { .. } => Command::TimerFired { subscription: id, element: e },
            SubscriptionKind::Message { name, .. } => {
                Command::MessageReceived { subscription: id, element: e, name: name.clone() }
            }
            SubscriptionKind::Signal { name } => {
                Command::SignalReceived { subscription: id, element: e, name: name.clone() }
            }
        });
        match (&p.element(e).kind, sub.owner) {
            (Kind::StartEvent { interrupting, .. }, Owner::Scope(sid)) => {
                if !interrupting {
                    self.rearm_or_close(&sub);
                } else {
                    self.close_subscription(id);
                }
                self.trigger_event_subprocess(sid, e, *interrupting, data);
            }
            (Kind::BoundaryEvent { interrupting, .. }, Owner::Token(host)) => {
                let Some(scope) = self.tok(host).map(|x| x.scope) else { return Ok(()) };
                self.merge(scope, data);
                if *interrupting {
                    self.interrupt_into(host, e);
                } else {
                    self.rearm_or_close(&sub);
                    self.spawn(scope, e, None, false);
                }
            }
            (_, Owner::Token(t)) => {
                let Some(tok) = self.tok(t) else { return Ok(()) };
                let (at, scope) = (tok.element, tok.scope);
                self.merge(scope, data);
                if at == e {
                    // A catch event or receive task got what it waited for.
                    self.close_subscription(id);
                    if p.element(e).is_activity() {
                        self.complete_activity(t);
                    } else {
                        self.leave(t);
                    }
                } else {
                    // An event-based gateway: the first event wins, the others are withdrawn.
                    self.close_owned(Owner::Token(t));
                    self.completed(t, at);
                    self.i.moves += 1;
                    if let Some(tok) = self.tok_mut(t) {
                        tok.element = e;
                    }
                    self.activated(t, e);
                    self.leave(t);
                }
            }
            (_, Owner::Scope(_)) => self.close_subscription(id),
        }
        Ok(())
    }

    /// Cycles fire again until their repetitions run out; everything else fires once.
    pub(super) fn rearm_or_close(&mut self, sub: &Subscription) {
        let SubscriptionKind::Timer { armed_at, fired, .. } = sub.kind else { return };
        let p = self.p;
        let timer = match &p.element(sub.element).kind {
            Kind::BoundaryEvent { trigger: Trigger::Timer(t), .. }
            | Kind::StartEvent { trigger: Trigger::Timer(t), .. } => t,
            _ => {
                self.close_subscription(sub.id);
                return;
            }
        };
        let scope = match sub.owner {
            Owner::Token(t) => self.tok(t).map(|x| x.scope),
            Owner::Scope(s) => Some(s),
        };
        let next = scope.and_then(|s| self.timer_spec(s, sub.element, timer).ok()).and_then(|spec| match spec {
            TimerSpec::Cycle(c) => c.due(armed_at, fired + 1),
            _ => None,
        });
        match next {
            Some(due) => {
                if let Some(s) = self.i.subscriptions.iter_mut().find(|s| s.id == sub.id) {
                    s.kind = SubscriptionKind::Timer { due, armed_at, fired: fired + 1 };
                }
                self.out.push(Command::ScheduleTimer { subscription: sub.id, element: sub.element, due });
            }
            None => self.close_subscription(sub.id),
        }
    }
}

/// The variables a result expression gives: it sees the connector's output as `response` and,
/// when the output is an object, each of its fields by name (Camunda 8's connectors offer both
/// readings); it must give a context (its entries become variables) or null (nothing).
impl Exec<'_> {
    /// The values of a connector task's output mappings (see [`sluice_bpmn::OutputSource`]).
    /// Writes the result of the connector call or worker job of task `e` and completes it: with
    /// output mappings (Camunda's) only what they map is written; else `merged` (a worker's
    /// variables) is merged into the data, the result variable gets the whole result and the
    /// result expression's entries are set. The result expression and the mappings are computed
    /// before anything is written: a failure is an incident whose retry calls again.
    fn write_result(
        &mut self,
        token: TokenId,
        scope: ScopeId,
        e: ElementIdx,
        attempt: u32,
        output: Value,
        merged: Option<Data>,
    ) {
        let p = self.p;
        let Kind::Task(TaskKind::Connector(call)) = &p.element(e).kind else {
            if let Some(data) = merged {
                self.merge(scope, data);
            }
            self.complete_activity(token);
            return;
        };
        // Camunda 8's result expression.
        let entries = match &call.result_expression {
            Some(expr) => match result_entries(expr, &output, self.now) {
                Ok(entries) => entries,
                Err(msg) => {
                    let msg = format!("the result expression of `{}` failed: {msg}", p.element(e).id);
                    self.raise(token, "expression_failed", msg, Retry::Connector { attempt: attempt + 1 });
                    return;
                }
            },
            None => Vec::new(),
        };
        if !call.outputs.is_empty() {
            let mapped = match self.mapped_outputs(scope, call, &output, entries) {
                Ok(mapped) => mapped,
                Err(msg) => {
                    let msg = format!("an output mapping of `{}` failed: {msg}", p.element(e).id);
                    self.raise(token, "expression_failed", msg, Retry::Connector { attempt: attempt + 1 });
                    return;
                }
            };
            for (target, value) in mapped {
                self.set_path(scope, &target, value);
            }
            self.complete_activity(token);
            return;
        }
        if let Some(data) = merged {
            self.merge(scope, data);
        }
        if let Some(name) = &call.result_variable {
            self.set_var(scope, name, output);
        }
        for (name, value) in entries {
            self.set_var(scope, &name, value);
        }
        self.complete_activity(token);
    }

    fn mapped_outputs(
        &self,
        scope: ScopeId,
        call: &sluice_bpmn::ConnectorCall,
        output: &serde_json::Value,
        entries: Vec<(String, serde_json::Value)>,
    ) -> Result<Vec<(Vec<String>, serde_json::Value)>, String> {
        let mut locals = serde_json::Map::new();
        if let serde_json::Value::Object(m) = output {
            locals.extend(m.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        locals.insert("response".into(), output.clone());
        if let Some(status) = output.get("status") {
            locals.insert("statusCode".into(), status.clone());
        }
        if let Some(name) = &call.result_variable {
            locals.insert(name.clone(), output.clone());
        }
        locals.extend(entries);
        let base = self.vars(scope);
        let mut mapped = Vec::with_capacity(call.outputs.len());
        for m in &call.outputs {
            let value = match &m.source {
                sluice_bpmn::OutputSource::Literal(v) => v.clone(),
                sluice_bpmn::OutputSource::Expr(expr) => {
                    let mut extra: Vec<(&str, serde_json::Value)> =
                        locals.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
                    if m.camunda7
                        && let Some(body) = output.get("body")
                    {
                        extra.insert(0, ("response", body.clone()));
                    }
                    let vars = Overlay { extra: &extra, base: &base };
                    expr.eval(&vars).map_err(|err| format!("`{}` → `{}`: {err}", expr.source(), m.target.join(".")))?
                }
            };
            if let [name] = m.target.as_slice() {
                locals.insert(name.clone(), value.clone());
            }
            mapped.push((m.target.clone(), value));
        }
        Ok(mapped)
    }

    /// Sets a variable, or a field inside one (`a.b`: the object `a` gets `b`, made when absent).
    fn set_path(&mut self, scope: ScopeId, target: &[String], value: serde_json::Value) {
        let Some((first, rest)) = target.split_first() else { return };
        if rest.is_empty() {
            self.set_var(scope, first, value);
            return;
        }
        let mut root = match self.vars(scope).get(first) {
            Some(v @ serde_json::Value::Object(_)) => v.clone(),
            _ => serde_json::Value::Object(serde_json::Map::new()),
        };
        let mut cur = &mut root;
        for seg in &rest[..rest.len() - 1] {
            let serde_json::Value::Object(m) = cur else { return };
            let slot = m.entry(seg.clone()).or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
            if !slot.is_object() {
                *slot = serde_json::Value::Object(serde_json::Map::new());
            }
            cur = slot;
        }
        if let serde_json::Value::Object(m) = cur {
            m.insert(rest[rest.len() - 1].clone(), value);
        }
        self.set_var(scope, first, root);
    }
}

fn result_entries(
    expr: &sluice_feel::Expression,
    output: &serde_json::Value,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<(String, serde_json::Value)>, String> {
    let mut ctx = match output {
        serde_json::Value::Object(m) => m.clone(),
        _ => serde_json::Map::new(),
    };
    ctx.insert("response".into(), output.clone());
    let vars = sluice_feel::WithNow { vars: &ctx, now };
    match expr.eval(&vars).map_err(|e| e.to_string())? {
        serde_json::Value::Object(m) => Ok(m.into_iter().collect()),
        serde_json::Value::Null => Ok(Vec::new()),
        other => Err(format!("`{}` gave {other}, not a context such as `{{ts: response.ts}}`", expr.source())),
    }
}
