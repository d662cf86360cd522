//! The execution core: tokens through gateways, events, activities, scopes and loops.
//!
//! Everything runs to quiescence inside one call: a FIFO queue of ready tokens is drained, then
//! waiting inclusive joins are re-checked (a token consumed elsewhere may have unblocked one), until
//! nothing moves. Tokens are kept in creation order, so runs are deterministic.

use std::collections::{BTreeSet, HashMap, VecDeque};

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

mod activities;
mod assign;
mod decide;
mod errors;
mod events;
mod inputs;
mod joins;
mod loops;
mod migrate;
mod modify;

/// Flows taken within one step before the Request is judged to loop forever.
const MOVE_LIMIT: u32 = 100_000;

struct Exec<'a> {
    p: &'a Process,
    /// The decisions business rule tasks may evaluate (found by the driver before the step).
    decisions: &'a dyn Decisions,
    i: &'a mut Instance,
    now: DateTime<Utc>,
    out: &'a mut Vec<Command>,
    queue: VecDeque<TokenId>,
    scratch: Vec<FlowIdx>,
    moved: u32,
    /// Tokens waiting at parallel joins, by scope and gateway (see `joins.rs`): the joins this
    /// step indexed, few, so a list.
    joins: Vec<((ScopeId, ElementIdx), JoinWait)>,
    /// [`limits::max_moves_per_window`], read once per step.
    window_limit: u32,
}

/// The tokens waiting at one parallel join of one scope, per incoming flow (by its position in
/// the gateway's `incoming`), lowest token id first. Built the first time a step looks at the
/// join and kept up as tokens arrive and the join fires, so an arrival costs the same however
/// many tokens wait elsewhere. An entry may be stale (its token left the join another way: an
/// interrupting event, a cancel); entries are checked before the join fires.
struct JoinWait {
    flow_pos: HashMap<FlowIdx, usize>,
    waiting: Vec<BTreeSet<TokenId>>,
    /// How many flows have at least one (maybe stale) entry.
    filled: usize,
}

/// The position of the item with id `id` in a list kept in ascending id order (tokens and
/// scopes are only ever appended with a new, higher id, and removed): a binary search, with a
/// scan as the fallback should the order ever not hold.
fn position_by_id<T, K: Ord + Copy>(items: &[T], id: K, key: impl Fn(&T) -> K) -> Option<usize> {
    match items.binary_search_by_key(&id, &key) {
        Ok(pos) => Some(pos),
        Err(_) => items.iter().position(|x| key(x) == id),
    }
}

/// Who starts a Request.
pub(super) enum Origin {
    /// A person or a client: `requester` is what assignment expressions call `requester`.
    Started { requester: Option<String> },
    /// A call activity: the new Request's depth in the chain of calls.
    Called { depth: u32 },
}

pub(super) fn start(
    p: &Process,
    decisions: &dyn Decisions,
    data: Data,
    start: Start,
    origin: Origin,
    now: DateTime<Utc>,
    out: &mut Vec<Command>,
) -> Result<Instance, StartError> {
    let (called, requester) = match origin {
        Origin::Started { requester } => (None, requester),
        Origin::Called { depth } => (Some(depth), None),
    };
    if !p.executable && called.is_none() {
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
        called: called.is_some(),
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
        window_start: now.timestamp_millis(),
        window_moves: 0,
        depth: called.unwrap_or(0),
        children_started: 0,
        parked: Vec::new(),
        data_bytes: 0,
        requester,
        suspended: false,
    };
    inst.data_bytes = inst.measure_data();
    let limit = limits::max_data_bytes();
    if inst.data_bytes > limit {
        return Err(StartError::DataTooLarge { size: inst.data_bytes, limit });
    }
    let mut ex = Exec::new(p, decisions, &mut inst, now, out);
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

pub(in crate::runtime) use migrate::migrate;

pub(super) fn step(
    inst: &mut Instance,
    p: &Process,
    decisions: &dyn Decisions,
    input: Input,
    now: DateTime<Utc>,
    out: &mut Vec<Command>,
) -> Result<(), StepError> {
    if inst.status != Status::Active {
        return Err(StepError::Ended);
    }
    if inst.suspended && !matches!(input, Input::Resume | Input::Suspend | Input::Cancel) {
        return Err(StepError::Suspended);
    }
    let mut ex = Exec::new(p, decisions, inst, now, out);
    ex.apply(input)?;
    ex.run();
    Ok(())
}

impl<'a> Exec<'a> {
    fn new(
        p: &'a Process,
        decisions: &'a dyn Decisions,
        i: &'a mut Instance,
        now: DateTime<Utc>,
        out: &'a mut Vec<Command>,
    ) -> Self {
        // A new activity window once the last one is over (see `limits`).
        let window_ms = i64::try_from(limits::window_secs().saturating_mul(1000)).unwrap_or(i64::MAX);
        if now.timestamp_millis().saturating_sub(i.window_start) >= window_ms {
            i.window_start = now.timestamp_millis();
            i.window_moves = 0;
        }
        let window_limit = limits::max_moves_per_window();
        if i.data_bytes == 0 {
            // A state stored before the size was kept (or one without data).
            i.data_bytes = i.measure_data();
        }
        Self {
            p,
            decisions,
            i,
            now,
            out,
            queue: VecDeque::new(),
            scratch: Vec::new(),
            moved: 0,
            joins: Vec::new(),
            window_limit,
        }
    }

    // ---- lookups ----

    fn pos(&self, t: TokenId) -> Option<usize> {
        position_by_id(&self.i.tokens, t, |x| x.id)
    }

    fn tok(&self, t: TokenId) -> Option<&Token> {
        self.pos(t).map(|p| &self.i.tokens[p])
    }

    fn tok_mut(&mut self, t: TokenId) -> Option<&mut Token> {
        self.pos(t).map(|p| &mut self.i.tokens[p])
    }

    // The scope lookups repeat the token lookups above for the other list of the instance
    // (`scopes` by `ScopeId`, not `tokens` by `TokenId`); both already share `position_by_id`.
    fn scope_pos(&self, s: ScopeId) -> Option<usize> {
        position_by_id(&self.i.scopes, s, |x| x.id)
    }

    fn scope(&self, s: ScopeId) -> Option<&ScopeInst> {
        self.scope_pos(s).map(|p| &self.i.scopes[p])
    }

    fn scope_mut(&mut self, s: ScopeId) -> Option<&mut ScopeInst> {
        self.scope_pos(s).map(|p| &mut self.i.scopes[p])
    }

    /// The variables a scope sees, with FEEL's `now()` at the step's time.
    fn vars(&self, s: ScopeId) -> ScopeVariables<'_> {
        ScopeVariables::new(self.i, s).at(self.now)
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
        self.i.tokens.push(Token { id, scope, element, state: TokenState::Ready { via }, inner, since: None });
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

    /// Removes many finished tokens in one pass over the list (a join of many flows), then
    /// releases their scopes in the tokens' order.
    fn consume_all(&mut self, ts: &[TokenId]) {
        if ts.len() < 8 {
            for &t in ts {
                self.consume(t);
            }
            return;
        }
        let gone: std::collections::HashSet<TokenId> = ts.iter().copied().collect();
        let mut scopes = Vec::with_capacity(ts.len());
        self.i.tokens.retain(|x| {
            let keep = !gone.contains(&x.id);
            if !keep {
                scopes.push(x.scope);
            }
            keep
        });
        for scope in scopes {
            self.release(scope);
        }
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
            if !self.i.parked.is_empty() {
                self.unpark_subscription(id);
            }
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

    /// Writes a variable (a script's, connector's or decision's result, a task's completion data,
    /// a message's or a child's data) as Camunda 7 and 8 do: into the innermost scope, from
    /// `scope` outwards to the Request, that already defines it (so an instance of a
    /// multi-instance activity updates a variable of the Request or of an enclosing sub-process,
    /// and the next instance sees it); a variable defined nowhere stays in the innermost
    /// multi-instance instance (like its item and `loopCounter`), else goes into the Request's
    /// data. The rule of ARCHITECTURE.md ("Variables are read from the innermost scope
    /// outwards"), which lives here alone.
    fn set_var(&mut self, scope: ScopeId, name: &str, value: Value) {
        let mut cur = Some(scope);
        let (mut defined, mut instance, mut root) = (None, None, None);
        while let Some(id) = cur {
            let Some(s) = self.scope(id) else { break };
            if s.vars.contains_key(name) {
                defined = Some(id);
                break;
            }
            if instance.is_none() && matches!(s.kind, ScopeKind::Instance { local: true, .. }) {
                instance = Some(id);
            }
            if s.parent.is_none() {
                root = Some(id);
            }
            cur = s.parent;
        }
        let Some(target) = defined.or(instance).or(root) else { return };
        let Some(s) = self.scope_mut(target) else { return };
        let added = vars::entry_size(name, &value);
        let removed = s.vars.insert(name.to_string(), value).map_or(0, |old| vars::entry_size(name, &old));
        self.i.data_bytes = (self.i.data_bytes + added).saturating_sub(removed);
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
                if self.i.window_moves > self.window_limit {
                    self.window_limit(t);
                    continue;
                }
                if self.i.data_bytes > limits::max_data_bytes() {
                    self.data_limit(t);
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

    fn window_limit(&mut self, t: TokenId) {
        let via = match self.tok(t).map(|x| &x.state) {
            Some(TokenState::Ready { via }) => *via,
            _ => return,
        };
        let msg = format!(
            "the Request took more than {} sequence flows within {} s (limit SLUICE_MAX_MOVES_PER_WINDOW): \
             is there a loop through a timer or a message that never ends? Retry to let it go on",
            limits::max_moves_per_window(),
            limits::window_secs()
        );
        self.raise(t, "activity_limit", msg, Retry::Enter { via });
    }

    fn data_limit(&mut self, t: TokenId) {
        let via = match self.tok(t).map(|x| &x.state) {
            Some(TokenState::Ready { via }) => *via,
            _ => return,
        };
        let msg = format!(
            "the Request's data grew to {} bytes, over the limit of {} bytes (SLUICE_MAX_DATA_BYTES): \
             the token stops before this element; make the data smaller, then retry",
            self.i.data_bytes,
            limits::max_data_bytes()
        );
        self.raise(t, "data_limit", msg, Retry::Enter { via });
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
        let now = self.now.timestamp_micros();
        if let Some(tok) = self.tok_mut(t) {
            tok.since = Some(now);
        }
        self.out.push(Command::ElementActivated { token: t, element: e });
    }

    /// Records that token `t` completed element `e`, with how long it waited there when it was
    /// activated by an earlier step.
    fn completed(&mut self, t: TokenId, e: ElementIdx) {
        let now = self.now.timestamp_micros();
        let waited_us = self
            .tok(t)
            .and_then(|tok| tok.since)
            .filter(|since| *since != now)
            .map(|since| now.saturating_sub(since).max(0) as u64);
        self.out.push(Command::ElementCompleted { token: t, element: e, waited_us });
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
            self.completed(t, e);
        }
        if flows.is_empty() {
            self.scratch = flows;
            self.consume(t);
            return;
        }
        for (n, &f) in flows.iter().enumerate() {
            let target = self.p.flow(f).target;
            self.i.moves += 1;
            self.i.window_moves = self.i.window_moves.saturating_add(1);
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
