//! The execution core: tokens through gateways, events, activities, scopes and loops.
//!
//! Everything runs to quiescence inside one call: a FIFO queue of ready tokens is drained, then
//! waiting inclusive joins are re-checked (a token consumed elsewhere may have unblocked one), until
//! nothing moves. Tokens are kept in creation order, so runs are deterministic.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sluice_bpmn::{
    ElementIdx, FlowIdx, GatewayKind, Kind, Loop, MessageRef, Process, ScopeIdx, TaskKind, Throw, Timer, TimerKind,
    TimerSpec, Trigger,
};
use sluice_feel::Variables;
use sluice_feel::iso8601;

use super::vars::Overlay;
use super::*;

/// Flows taken within one step before the Request is judged to loop forever.
const MOVE_LIMIT: u32 = 100_000;

struct Exec<'a> {
    p: &'a Process,
    i: &'a mut Instance,
    now: DateTime<Utc>,
    out: &'a mut Vec<Command>,
    queue: VecDeque<TokenId>,
    scratch: Vec<FlowIdx>,
    moved: u32,
}

pub(super) fn start(
    p: &Process,
    data: Data,
    start: Start,
    called: bool,
    now: DateTime<Utc>,
    out: &mut Vec<Command>,
) -> Result<Instance, StartError> {
    if !p.executable && !called {
        return Err(StartError::NotExecutable(p.key.clone()));
    }
    let root = p.scope(ScopeIdx::ROOT);
    let entry: Vec<ElementIdx> = match start {
        Start::Default if !root.none_starts.is_empty() => root.none_starts.clone(),
        Start::Default if !root.implicit_starts.is_empty() => root.implicit_starts.clone(),
        Start::Default if !root.event_starts.is_empty() => {
            let how = root.event_starts.iter().map(|&e| describe_start(p, e)).collect::<Vec<_>>().join(" or ");
            return Err(StartError::NeedsEvent(p.key.clone(), how));
        }
        Start::Default => return Err(StartError::NoStart(p.key.clone())),
        Start::Event(e) => {
            if !root.event_starts.contains(&e) && !root.none_starts.contains(&e) {
                let id = p.elements.get(e.index()).map(|el| el.id.clone()).unwrap_or_default();
                return Err(StartError::NotAStartEvent(id, p.key.clone()));
            }
            vec![e]
        }
    };
    let mut inst = Instance {
        status: Status::Active,
        called,
        tokens: Vec::with_capacity(4),
        scopes: vec![ScopeInst {
            id: ScopeId(0),
            parent: None,
            owner: None,
            kind: ScopeKind::Root,
            vars: data,
            active: 0,
        }],
        subscriptions: Vec::new(),
        incidents: Vec::new(),
        next_token: 0,
        next_scope: 1,
        next_subscription: 0,
        next_incident: 0,
        moves: 0,
    };
    let mut ex = Exec::new(p, &mut inst, now, out);
    ex.arm_event_subprocesses(ScopeId(0), ScopeIdx::ROOT);
    for e in entry {
        ex.spawn(ScopeId(0), e, None, false);
    }
    ex.run();
    Ok(inst)
}

fn describe_start(p: &Process, e: ElementIdx) -> String {
    let el = p.element(e);
    match &el.kind {
        Kind::StartEvent { trigger: Trigger::Message(m), .. } => format!("message `{}`", m.name),
        Kind::StartEvent { trigger: Trigger::Signal(s), .. } => format!("signal `{s}`"),
        Kind::StartEvent { trigger: Trigger::Timer(_), .. } => format!("timer `{}`", el.id),
        _ => format!("`{}`", el.id),
    }
}

pub(super) fn step(
    inst: &mut Instance,
    p: &Process,
    input: Input,
    now: DateTime<Utc>,
    out: &mut Vec<Command>,
) -> Result<(), StepError> {
    if inst.status != Status::Active {
        return Err(StepError::Ended);
    }
    let mut ex = Exec::new(p, inst, now, out);
    ex.apply(input)?;
    ex.run();
    Ok(())
}

impl<'a> Exec<'a> {
    fn new(p: &'a Process, i: &'a mut Instance, now: DateTime<Utc>, out: &'a mut Vec<Command>) -> Self {
        Self { p, i, now, out, queue: VecDeque::new(), scratch: Vec::new(), moved: 0 }
    }

    // ---- lookups ----

    fn pos(&self, t: TokenId) -> Option<usize> {
        self.i.tokens.iter().position(|x| x.id == t)
    }

    fn tok(&self, t: TokenId) -> Option<&Token> {
        self.i.tokens.iter().find(|x| x.id == t)
    }

    fn tok_mut(&mut self, t: TokenId) -> Option<&mut Token> {
        self.i.tokens.iter_mut().find(|x| x.id == t)
    }

    fn scope(&self, s: ScopeId) -> Option<&ScopeInst> {
        self.i.scopes.iter().find(|x| x.id == s)
    }

    fn scope_mut(&mut self, s: ScopeId) -> Option<&mut ScopeInst> {
        self.i.scopes.iter_mut().find(|x| x.id == s)
    }

    fn vars(&self, s: ScopeId) -> ScopeVariables<'_> {
        ScopeVariables::new(self.i, s)
    }

    /// The model scope whose children a scope instance runs.
    fn model_scope(&self, s: ScopeId) -> Option<ScopeIdx> {
        match self.scope(s)?.kind {
            ScopeKind::Root => Some(ScopeIdx::ROOT),
            ScopeKind::SubProcess { element } | ScopeKind::EventSub { element, .. } => {
                self.p.element(element).inner_scope
            }
            ScopeKind::Instance { .. } => None,
        }
    }

    // ---- token bookkeeping ----

    fn new_token_id(&mut self) -> TokenId {
        let id = TokenId(self.i.next_token);
        self.i.next_token += 1;
        id
    }

    fn spawn(&mut self, scope: ScopeId, element: ElementIdx, via: Option<FlowIdx>, inner: bool) -> TokenId {
        let id = self.new_token_id();
        self.i.tokens.push(Token { id, scope, element, state: TokenState::Ready { via }, inner });
        if let Some(s) = self.scope_mut(scope) {
            s.active += 1;
        }
        self.queue.push_back(id);
        id
    }

    /// Removes a token that finished; its scope completes when nothing is left in it.
    fn consume(&mut self, t: TokenId) {
        let Some(pos) = self.pos(t) else { return };
        let tok = self.i.tokens.remove(pos);
        self.release(tok.scope);
    }

    /// One token or child scope fewer in `scope`.
    fn release(&mut self, scope: ScopeId) {
        let done = match self.scope_mut(scope) {
            Some(s) => {
                s.active = s.active.saturating_sub(1);
                s.active == 0
            }
            None => false,
        };
        if done {
            self.scope_done(scope);
        }
    }

    fn new_subscription(&mut self, owner: Owner, element: ElementIdx, kind: SubscriptionKind) -> SubscriptionId {
        let id = SubscriptionId(self.i.next_subscription);
        self.i.next_subscription += 1;
        let cmd = match &kind {
            SubscriptionKind::Timer { due, .. } => Command::ScheduleTimer { subscription: id, element, due: *due },
            SubscriptionKind::Message { name, correlation_key } => Command::OpenMessageSubscription {
                subscription: id,
                element,
                name: name.clone(),
                correlation_key: correlation_key.clone(),
            },
            SubscriptionKind::Signal { name } => {
                Command::OpenSignalSubscription { subscription: id, element, name: name.clone() }
            }
        };
        self.out.push(cmd);
        self.i.subscriptions.push(Subscription { id, owner, element, kind });
        id
    }

    fn close_subscription(&mut self, id: SubscriptionId) {
        if let Some(pos) = self.i.subscriptions.iter().position(|s| s.id == id) {
            self.i.subscriptions.remove(pos);
            self.out.push(Command::CloseSubscription { subscription: id });
        }
    }

    fn close_owned(&mut self, owner: Owner) {
        let ids: Vec<_> = self.i.subscriptions.iter().filter(|s| s.owner == owner).map(|s| s.id).collect();
        for id in ids {
            self.close_subscription(id);
        }
    }

    fn raise(&mut self, t: TokenId, code: &str, message: String, retry: Retry) {
        let id = IncidentId(self.i.next_incident);
        self.i.next_incident += 1;
        let Some(tok) = self.tok_mut(t) else { return };
        tok.state = TokenState::Incident { id, retry };
        let incident = Incident { id, element: tok.element, token: t, code: code.to_string(), message };
        self.i.incidents.push(incident.clone());
        self.out.push(Command::IncidentRaised(incident));
    }

    fn resolve_incident(&mut self, id: IncidentId) {
        if let Some(pos) = self.i.incidents.iter().position(|x| x.id == id) {
            self.i.incidents.remove(pos);
            self.out.push(Command::IncidentResolved { incident: id });
        }
    }

    /// Writes a variable where it is defined, else in the innermost multi-instance instance (so
    /// parallel instances don't overwrite each other), else in the Request's data.
    fn set_var(&mut self, scope: ScopeId, name: &str, value: Value) {
        let mut cur = scope;
        loop {
            let Some(s) = self.scope_mut(cur) else { return };
            if s.parent.is_none()
                || matches!(s.kind, ScopeKind::Instance { local: true, .. })
                || s.vars.contains_key(name)
            {
                s.vars.insert(name.to_string(), value);
                return;
            }
            let Some(parent) = s.parent else { return };
            cur = parent;
        }
    }

    fn merge(&mut self, scope: ScopeId, data: Data) {
        for (k, v) in data {
            self.set_var(scope, &k, v);
        }
    }

    // ---- the loop ----

    fn run(&mut self) {
        loop {
            while let Some(t) = self.queue.pop_front() {
                if self.moved > MOVE_LIMIT {
                    self.loop_limit(t);
                    continue;
                }
                self.enter(t);
            }
            if !self.check_or_joins() {
                break;
            }
        }
    }

    fn loop_limit(&mut self, t: TokenId) {
        let via = match self.tok(t).map(|x| &x.state) {
            Some(TokenState::Ready { via }) => *via,
            _ => return,
        };
        let msg = format!("the Request took {MOVE_LIMIT} sequence flows without waiting: is there an endless loop?");
        self.raise(t, "endless_loop", msg, Retry::Enter { via });
    }

    fn enter(&mut self, t: TokenId) {
        let Some(tok) = self.tok(t) else { return };
        let TokenState::Ready { via } = tok.state else { return };
        let e = tok.element;
        let p = self.p;
        let el = p.element(e);
        match &el.kind {
            Kind::Gateway(GatewayKind::Parallel) if el.incoming.len() > 1 => self.arrive_at_join(t, e, via, false),
            Kind::Gateway(GatewayKind::Inclusive) if el.incoming.len() > 1 => self.arrive_at_join(t, e, via, true),
            Kind::Gateway(GatewayKind::EventBased) => {
                self.activated(t, e);
                self.arm_event_gateway(t, e, via);
            }
            Kind::Gateway(_) | Kind::StartEvent { .. } | Kind::BoundaryEvent { .. } => {
                self.activated(t, e);
                self.leave(t);
            }
            Kind::EndEvent { result } => {
                self.activated(t, e);
                self.end(t, e, result);
            }
            Kind::ThrowEvent { result } => {
                self.activated(t, e);
                self.intermediate_throw(t, e, result);
            }
            Kind::CatchEvent { trigger } => {
                self.activated(t, e);
                self.catch(t, e, trigger, via);
            }
            Kind::Task(_) | Kind::SubProcess { .. } | Kind::CallActivity(_) => {
                self.activated(t, e);
                self.activity(t, e, via);
            }
            Kind::Unsupported { what } => {
                self.activated(t, e);
                let msg = format!("`{}` is a {what}, which Sluice cannot execute", el.id);
                self.raise(t, "unsupported_element", msg, Retry::Enter { via });
            }
        }
    }

    fn activated(&mut self, t: TokenId, e: ElementIdx) {
        self.out.push(Command::ElementActivated { token: t, element: e });
    }

    // ---- leaving: sequence flow selection ----

    /// Completes the token's element and sends it down the chosen outgoing flows.
    fn leave(&mut self, t: TokenId) {
        self.leave_with(t, true);
    }

    fn leave_with(&mut self, t: TokenId, emit_completed: bool) {
        let Some(tok) = self.tok(t) else { return };
        let (e, scope) = (tok.element, tok.scope);
        let mut flows = std::mem::take(&mut self.scratch);
        flows.clear();
        if let Err((code, msg)) = self.select_flows(e, scope, &mut flows) {
            self.scratch = flows;
            self.raise(t, code, msg, Retry::Leave);
            return;
        }
        if emit_completed {
            self.out.push(Command::ElementCompleted { token: t, element: e });
        }
        if flows.is_empty() {
            self.scratch = flows;
            self.consume(t);
            return;
        }
        for (n, &f) in flows.iter().enumerate() {
            let target = self.p.flow(f).target;
            self.i.moves += 1;
            self.moved += 1;
            if n == 0 {
                if let Some(tok) = self.tok_mut(t) {
                    tok.element = target;
                    tok.state = TokenState::Ready { via: Some(f) };
                    tok.inner = false;
                }
                self.queue.push_back(t);
            } else {
                self.spawn(scope, target, Some(f), false);
            }
        }
        self.scratch = flows;
    }

    fn select_flows(
        &self,
        e: ElementIdx,
        scope: ScopeId,
        out: &mut Vec<FlowIdx>,
    ) -> Result<(), (&'static str, String)> {
        let el = self.p.element(e);
        let vars = self.vars(scope);
        let test = |f: FlowIdx| -> Result<bool, (&'static str, String)> {
            match &self.p.flow(f).condition {
                None => Ok(true),
                Some(c) => c.eval_bool(&vars).map_err(|err| {
                    let flow = self.p.flow(f);
                    let name = flow.id.clone().unwrap_or_else(|| {
                        format!("{}->{}", self.p.element(flow.source).id, self.p.element(flow.target).id)
                    });
                    (
                        "expression_failed",
                        format!("the condition `{}` of sequence flow `{name}` failed: {err}", c.source()),
                    )
                }),
            }
        };
        match el.kind {
            Kind::Gateway(GatewayKind::Parallel) => out.extend_from_slice(&el.outgoing),
            Kind::Gateway(GatewayKind::Exclusive) => {
                for &f in &el.outgoing {
                    if Some(f) != el.default_flow && test(f)? {
                        out.push(f);
                        return Ok(());
                    }
                }
                match el.default_flow {
                    Some(d) => out.push(d),
                    None => return Err(no_flow(el)),
                }
            }
            _ => {
                if el.outgoing.is_empty() {
                    return Ok(());
                }
                let mut conditional = false;
                for &f in &el.outgoing {
                    if Some(f) == el.default_flow {
                        continue;
                    }
                    conditional |= self.p.flow(f).condition.is_some();
                    if test(f)? {
                        out.push(f);
                    }
                }
                if out.is_empty() {
                    match el.default_flow {
                        Some(d) => out.push(d),
                        None if conditional || matches!(el.kind, Kind::Gateway(_)) => return Err(no_flow(el)),
                        None => {}
                    }
                }
            }
        }
        Ok(())
    }

    // ---- joins ----

    fn arrive_at_join(&mut self, t: TokenId, g: ElementIdx, via: Option<FlowIdx>, inclusive: bool) {
        let Some(via) = via else {
            // Started implicitly (no incoming token): nothing to join with.
            self.activated(t, g);
            self.leave(t);
            return;
        };
        if let Some(tok) = self.tok_mut(t) {
            tok.state = TokenState::Joining { via };
        }
        let Some(scope) = self.tok(t).map(|x| x.scope) else { return };
        if inclusive {
            self.try_or_join(scope, g);
        } else {
            self.try_and_join(scope, g);
        }
    }

    /// The first joining token at `g` in `scope` that came along `f`.
    fn joining(&self, scope: ScopeId, g: ElementIdx, f: FlowIdx) -> Option<TokenId> {
        self.i
            .tokens
            .iter()
            .find(|x| x.scope == scope && x.element == g && matches!(x.state, TokenState::Joining { via } if via == f))
            .map(|x| x.id)
    }

    fn try_and_join(&mut self, scope: ScopeId, g: ElementIdx) -> bool {
        let p = self.p;
        let incoming = &p.element(g).incoming;
        let mut chosen = Vec::with_capacity(incoming.len());
        for &f in incoming {
            match self.joining(scope, g, f) {
                Some(t) => chosen.push(t),
                None => return false,
            }
        }
        self.fire_join(g, chosen);
        true
    }

    /// BPMN 2.0.2 §13.3.4: fires when some incoming flow has a token and no flow without one can
    /// still get one from a token elsewhere in the scope.
    fn try_or_join(&mut self, scope: ScopeId, g: ElementIdx) -> bool {
        let p = self.p;
        let incoming = &p.element(g).incoming;
        // A token queued to arrive here is as good as on its incoming flow: wait for it.
        if self
            .i
            .tokens
            .iter()
            .any(|x| x.scope == scope && x.element == g && matches!(x.state, TokenState::Ready { .. }))
        {
            return false;
        }
        let mut chosen = Vec::with_capacity(incoming.len());
        for (k, &f) in incoming.iter().enumerate() {
            match self.joining(scope, g, f) {
                Some(t) => chosen.push(t),
                None => {
                    let Some(reach) = p.or_join_reach(g, k) else { continue };
                    let blocked = self.i.tokens.iter().any(|x| {
                        x.scope == scope
                            && reach.contains(x.element.index())
                            && !(x.element == g && matches!(x.state, TokenState::Joining { .. }))
                    });
                    if blocked {
                        return false;
                    }
                }
            }
        }
        if chosen.is_empty() {
            return false;
        }
        self.fire_join(g, chosen);
        true
    }

    fn fire_join(&mut self, g: ElementIdx, chosen: Vec<TokenId>) {
        let Some((&survivor, rest)) = chosen.split_first() else { return };
        for &t in rest {
            // The survivor keeps the scope alive, so this never completes it.
            self.consume(t);
        }
        self.activated(survivor, g);
        self.leave(survivor);
    }

    fn check_or_joins(&mut self) -> bool {
        let waiting: Vec<(ScopeId, ElementIdx)> = self
            .i
            .tokens
            .iter()
            .filter(|x| {
                matches!(x.state, TokenState::Joining { .. })
                    && matches!(self.p.element(x.element).kind, Kind::Gateway(GatewayKind::Inclusive))
            })
            .map(|x| (x.scope, x.element))
            .collect();
        let mut fired = false;
        for (scope, g) in waiting {
            // An earlier firing this round may have consumed these tokens already.
            if self
                .i
                .tokens
                .iter()
                .any(|x| x.scope == scope && x.element == g && matches!(x.state, TokenState::Joining { .. }))
            {
                fired |= self.try_or_join(scope, g);
            }
        }
        fired
    }

    // ---- events ----

    fn end(&mut self, t: TokenId, e: ElementIdx, result: &Throw) {
        match result {
            Throw::None | Throw::Link(_) => {
                self.out.push(Command::ElementCompleted { token: t, element: e });
                self.consume(t);
            }
            Throw::Terminate => {
                self.out.push(Command::ElementCompleted { token: t, element: e });
                let Some(scope) = self.tok(t).map(|x| x.scope) else { return };
                self.cancel_contents(scope, Some(t));
                self.consume(t);
            }
            Throw::Message(m) => {
                self.publish(t, e, m);
                self.out.push(Command::ElementCompleted { token: t, element: e });
                self.consume(t);
            }
            Throw::Signal(name) => {
                self.broadcast(t, e, name);
                self.out.push(Command::ElementCompleted { token: t, element: e });
                self.consume(t);
            }
            Throw::Error { code, message } => self.throw_error(t, code.clone(), message.clone(), false),
            Throw::Escalation(code) => self.throw_escalation(t, code.clone(), true),
        }
    }

    fn intermediate_throw(&mut self, t: TokenId, e: ElementIdx, result: &Throw) {
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
                        self.out.push(Command::ElementCompleted { token: t, element: e });
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

    fn catch(&mut self, t: TokenId, e: ElementIdx, trigger: &Trigger, via: Option<FlowIdx>) {
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
    fn subscription_kind(
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

    fn message_kind(&self, scope: ScopeId, m: &MessageRef) -> Result<SubscriptionKind, String> {
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

    fn timer_spec(&self, scope: ScopeId, e: ElementIdx, timer: &Timer) -> Result<TimerSpec, String> {
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
                    TimerKind::Duration => iso8601::parse_duration(&s).map(TimerSpec::Duration),
                    TimerKind::Date => iso8601::parse_date_time(&s).map(TimerSpec::Date),
                    TimerKind::Cycle => iso8601::parse_cycle(&s).map(TimerSpec::Cycle),
                };
                parsed.map_err(|err| format!("the timer of `{}` gave `{s}`: {err}", self.p.element(e).id))
            }
        }
    }

    fn first_due(&self, scope: ScopeId, e: ElementIdx, timer: &Timer) -> Result<DateTime<Utc>, String> {
        let spec = self.timer_spec(scope, e, timer)?;
        let due = match &spec {
            TimerSpec::Duration(d) => d.add_to(self.now),
            TimerSpec::Date(d) => Some(*d),
            TimerSpec::Cycle(c) => c.due(self.now, 0),
        };
        due.ok_or_else(|| format!("the timer of `{}` never comes due", self.p.element(e).id))
    }

    fn publish(&mut self, t: TokenId, e: ElementIdx, m: &MessageRef) {
        let Some(scope) = self.tok(t).map(|x| x.scope) else { return };
        let data = self.vars(scope).flatten();
        let correlation_key = match self.message_kind(scope, m) {
            Ok(SubscriptionKind::Message { correlation_key, .. }) => correlation_key,
            _ => None,
        };
        self.out.push(Command::PublishMessage { element: e, name: m.name.clone(), correlation_key, data });
    }

    fn broadcast(&mut self, t: TokenId, e: ElementIdx, name: &str) {
        let Some(scope) = self.tok(t).map(|x| x.scope) else { return };
        let data = self.vars(scope).flatten();
        self.out.push(Command::BroadcastSignal { element: e, name: name.to_string(), data });
    }

    fn arm_event_gateway(&mut self, t: TokenId, g: ElementIdx, via: Option<FlowIdx>) {
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
    fn arm_event_subprocesses(&mut self, sid: ScopeId, ms: ScopeIdx) {
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

    // ---- activities ----

    fn activity(&mut self, t: TokenId, e: ElementIdx, via: Option<FlowIdx>) {
        let p = self.p;
        let el = p.element(e);
        let Some(tok) = self.tok(t) else { return };
        let (inner, scope) = (tok.inner, tok.scope);
        if !inner && el.looping.is_some() {
            self.start_loop(t, e, via);
            return;
        }
        let instant =
            matches!(el.kind, Kind::Task(TaskKind::Plain | TaskKind::Script { .. } | TaskKind::SendMessage(_)));
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
            Kind::Task(TaskKind::User | TaskKind::Manual) => {
                self.set_state(t, TokenState::Task);
                self.out.push(Command::TaskCreated { token: t, element: e });
            }
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
            Kind::SubProcess { .. } => {
                let Some(ms) = el.inner_scope else { return };
                let child = self.open_scope(scope, Some(t), ScopeKind::SubProcess { element: e });
                self.set_state(t, TokenState::SubProcess { scope: child });
                self.start_scope(child, ms);
            }
            Kind::CallActivity(call) => {
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

    fn set_state(&mut self, t: TokenId, state: TokenState) {
        if let Some(tok) = self.tok_mut(t) {
            tok.state = state;
        }
    }

    fn arm_boundaries(&mut self, t: TokenId, e: ElementIdx, scope: ScopeId) -> Result<(), String> {
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

    /// The activity is done: disarm its boundary events and move on (or, for a loop's inner
    /// instance, finish the instance).
    fn complete_activity(&mut self, t: TokenId) {
        self.close_owned(Owner::Token(t));
        let Some(tok) = self.tok(t) else { return };
        if tok.inner {
            let e = tok.element;
            self.out.push(Command::ElementCompleted { token: t, element: e });
            self.consume(t);
        } else {
            self.leave(t);
        }
    }

    // ---- scopes ----

    fn open_scope(&mut self, parent: ScopeId, owner: Option<TokenId>, kind: ScopeKind) -> ScopeId {
        let id = ScopeId(self.i.next_scope);
        self.i.next_scope += 1;
        self.i.scopes.push(ScopeInst { id, parent: Some(parent), owner, kind, vars: Data::new(), active: 0 });
        if let Some(s) = self.scope_mut(parent) {
            s.active += 1;
        }
        id
    }

    /// Starts the tokens of a freshly opened sub-process or event sub-process scope.
    fn start_scope(&mut self, sid: ScopeId, ms: ScopeIdx) {
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

    fn remove_scope(&mut self, sid: ScopeId) -> Option<ScopeInst> {
        self.close_owned(Owner::Scope(sid));
        let pos = self.i.scopes.iter().position(|s| s.id == sid)?;
        Some(self.i.scopes.remove(pos))
    }

    fn scope_done(&mut self, sid: ScopeId) {
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
                self.out.push(Command::ElementCompleted { token, element });
                if let Some(parent) = removed.parent {
                    self.release(parent);
                }
            }
        }
    }

    /// Cancels every token and child scope in `sid` (but `except`), without completing anything.
    fn cancel_contents(&mut self, sid: ScopeId, except: Option<TokenId>) {
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
        let children: Vec<ScopeId> = self.i.scopes.iter().filter(|s| s.parent == Some(sid)).map(|s| s.id).collect();
        for c in children {
            self.cancel_scope(c);
        }
    }

    /// Cancels a child scope and everything in it; its parent loses one active count.
    fn cancel_scope(&mut self, sid: ScopeId) {
        self.cancel_contents(sid, None);
        if let Some(removed) = self.remove_scope(sid)
            && let Some(parent) = removed.parent
            && let Some(p) = self.scope_mut(parent)
        {
            p.active = p.active.saturating_sub(1);
        }
    }

    /// Stops whatever the token's element is doing; the token itself stays for the caller.
    fn cancel_activity(&mut self, t: TokenId) {
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

    // ---- loops ----

    fn start_loop(&mut self, t: TokenId, e: ElementIdx, via: Option<FlowIdx>) {
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

    fn body_mut(&mut self, t: TokenId) -> Option<&mut LoopBody> {
        match &mut self.tok_mut(t)?.state {
            TokenState::Body(b) => Some(b),
            _ => None,
        }
    }

    fn spawn_instance(&mut self, t: TokenId, e: ElementIdx, scope: ScopeId) {
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
        if let Some(s) = self.scope_mut(sid) {
            s.vars = vars;
        }
        self.spawn(sid, e, None, true);
    }

    fn instance_done(&mut self, sid: ScopeId, index: u32) {
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
                if mi.output_collection.is_some() {
                    output = Some(match &mi.output_element {
                        Some(x) => x.eval(&self.vars(sid)).unwrap_or(Value::Null),
                        None => mi
                            .element_variable
                            .as_ref()
                            .and_then(|n| self.vars(sid).get(n).cloned())
                            .unwrap_or(Value::Null),
                    });
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
    fn loop_decide(&mut self, owner: TokenId, verdict: Result<bool, String>) {
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
    fn completion_in_body_scope(&self, t: TokenId) -> Result<bool, String> {
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

    fn finish_loop(&mut self, t: TokenId, empty: bool) {
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

    // ---- errors and escalations ----

    /// Boundary events of `a` that catch `what`.
    fn matching_boundary(&self, a: TokenId, escalation: bool, code: &str) -> Option<(ElementIdx, bool)> {
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

    fn matching_event_subprocess(&self, sid: ScopeId, escalation: bool, code: &str) -> Option<(ElementIdx, bool)> {
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
    fn find_catcher(&self, thrower: TokenId, from_activity: bool, escalation: bool, code: &str) -> Option<Catcher> {
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

    fn throw_error(&mut self, t: TokenId, code: String, message: Option<String>, from_activity: bool) {
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

    fn throw_escalation(&mut self, t: TokenId, code: String, from_end: bool) {
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

    fn catch_thrown(&mut self, catcher: Catcher) {
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
    fn interrupt_into(&mut self, host: TokenId, boundary: ElementIdx) {
        self.cancel_activity(host);
        if let Some(tok) = self.tok_mut(host) {
            tok.element = boundary;
            tok.state = TokenState::Ready { via: None };
            tok.inner = false;
        }
        self.queue.push_back(host);
    }

    fn trigger_event_subprocess(&mut self, sid: ScopeId, start: ElementIdx, interrupting: bool, data: Data) {
        let p = self.p;
        let Some(esp) = p.element(start).parent else { return };
        let Some(ms) = p.element(esp).inner_scope else { return };
        // The event sub-process itself holds no token; this id names its activation in history.
        let virtual_token = self.new_token_id();
        let child = self.open_scope(sid, None, ScopeKind::EventSub { element: esp, token: virtual_token });
        self.out.push(Command::ElementActivated { token: virtual_token, element: esp });
        if interrupting {
            // Everything else in the scope stops; the event sub-process takes over.
            let others: Vec<TokenId> = self.i.tokens.iter().filter(|x| x.scope == sid).map(|x| x.id).collect();
            for t in others {
                self.cancel_activity(t);
                if let Some(pos) = self.pos(t) {
                    self.i.tokens.remove(pos);
                    if let Some(s) = self.scope_mut(sid) {
                        s.active = s.active.saturating_sub(1);
                    }
                }
            }
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

    // ---- inputs ----

    fn apply(&mut self, input: Input) -> Result<(), StepError> {
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
                if !matches!(tok.state, TokenState::Connector { .. }) {
                    return Err(StepError::NotWaiting("a connector result"));
                }
                let (scope, e) = (tok.scope, tok.element);
                self.out.push(Command::ConnectorCompleted { token, element: e, output: output.clone() });
                if let Kind::Task(TaskKind::Connector(call)) = &self.p.element(e).kind
                    && let Some(name) = &call.result_variable
                {
                    self.set_var(scope, name, output);
                }
                self.complete_activity(token);
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
                if let Some((b, interrupting)) = self.matching_boundary(token, true, &code) {
                    self.catch_thrown(Catcher::Boundary { host: token, boundary: b, interrupting });
                }
            }
            Input::Cancel => {
                self.cancel_contents(ScopeId(0), None);
                self.close_owned(Owner::Scope(ScopeId(0)));
                self.i.status = Status::Canceled;
                self.out.push(Command::RequestCanceled);
            }
            Input::Retry { incident } => {
                let inc = self.i.incidents.iter().find(|x| x.id == incident).ok_or(StepError::UnknownIncident)?;
                let t = inc.token;
                let retry = match self.tok(t).map(|x| &x.state) {
                    Some(TokenState::Incident { retry, .. }) => retry.clone(),
                    _ => return Err(StepError::UnknownIncident),
                };
                self.resolve_incident(incident);
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

    fn fire(&mut self, id: SubscriptionId, data: Data, what: char) -> Result<(), StepError> {
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
                    self.out.push(Command::ElementCompleted { token: t, element: at });
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
    fn rearm_or_close(&mut self, sub: &Subscription) {
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

enum Catcher {
    Boundary { host: TokenId, boundary: ElementIdx, interrupting: bool },
    EventSub { scope: ScopeId, start: ElementIdx, interrupting: bool },
}

fn no_flow(el: &sluice_bpmn::Element) -> (&'static str, String) {
    if el.outgoing.is_empty() {
        return ("no_outgoing_flow", format!("`{}` has no outgoing sequence flow", el.id));
    }
    (
        "no_outgoing_flow",
        format!("no condition of an outgoing sequence flow of `{}` is true, and it has no default flow", el.id),
    )
}

/// A correlation key as text: strings as they are, numbers and the rest as JSON; null is none.
fn key_string(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}
