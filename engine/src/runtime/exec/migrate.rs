//! Moving a running Request to another version of its process ([`Instance::migrate`]).
//!
//! Every element where the Request has something (a token, a sub-process scope, an incident) is
//! mapped to an element of the new version: by the plan's mapping, else by its own id. The plan
//! is checked whole before anything changes, and refused with every element that does not fit
//! named: an element missing from the new version, one of another kind (a user task stays a user
//! task, a gateway the same gateway), one that moved out of its sub-process, the flow a token
//! waits on at a join, a running loop or multi-instance activity whose new element does not loop
//! the same way (its counts, items and outputs so far carry over as they are).
//!
//! Then the tokens, scopes and incidents take the new elements, and what waits on the model's
//! event definitions is re-created from the new version: every timer, message and signal
//! subscription is closed and opened again for the new elements (catch events, receive tasks,
//! event-based gateways, the boundary events of waiting activities, the start events of event
//! sub-processes), so a boundary event added in the new version is armed, one removed is gone,
//! and a timer counts from the migration.

use std::collections::HashMap;

use super::*;

/// What a migration changed, besides the instance: the elements whose id changed, old to new.
pub(crate) type Renamed = Vec<(String, String)>;

/// The checks of a migration plan: every problem, or the element map and flow map.
struct Plan {
    elements: HashMap<ElementIdx, ElementIdx>,
    flows: HashMap<FlowIdx, FlowIdx>,
}

pub(in crate::runtime) fn migrate(
    inst: &mut Instance,
    plan: &MigrationPlan<'_>,
    decisions: &dyn Decisions,
    now: DateTime<Utc>,
    out: &mut Vec<Command>,
) -> Result<Renamed, String> {
    let (old, new, mapping) = (plan.old, plan.new, plan.mapping);
    if inst.status != Status::Active {
        return Err("the Request is finished".into());
    }
    let versions = (plan.from_version, plan.to_version);
    let plan = check(inst, old, new, mapping)?;
    // ---- the state takes the new elements ----
    let map_e = |e: ElementIdx| plan.elements.get(&e).copied().unwrap_or(e);
    let map_f = |f: FlowIdx| plan.flows.get(&f).copied().unwrap_or(f);
    for t in &mut inst.tokens {
        t.element = map_e(t.element);
        match &mut t.state {
            TokenState::Ready { via } => *via = via.map(map_f),
            TokenState::Joining { via } => *via = map_f(*via),
            TokenState::Incident { retry: Retry::Enter { via }, .. } => *via = via.map(map_f),
            _ => {}
        }
    }
    for s in &mut inst.scopes {
        match &mut s.kind {
            ScopeKind::SubProcess { element } | ScopeKind::EventSub { element, .. } => *element = map_e(*element),
            ScopeKind::Root | ScopeKind::Instance { .. } => {}
        }
    }
    for i in &mut inst.incidents {
        i.element = map_e(i.element);
    }
    let mut renamed: Renamed = plan
        .elements
        .iter()
        .map(|(o, n)| (old.element(*o).id.clone(), new.element(*n).id.clone()))
        .filter(|(o, n)| o != n)
        .collect();
    renamed.sort();
    // ---- what waits on event definitions is re-created from the new version ----
    let armed: std::collections::HashSet<TokenId> = inst
        .subscriptions
        .iter()
        .filter_map(|s| match s.owner {
            Owner::Token(t) if matches!(old.element(s.element).kind, Kind::BoundaryEvent { .. }) => Some(t),
            _ => None,
        })
        .collect();
    let mut ex = Exec::new(new, decisions, inst, now, out);
    let subs: Vec<SubscriptionId> = ex.i.subscriptions.iter().map(|s| s.id).collect();
    for id in subs {
        ex.close_subscription(id);
    }
    // Tokens whose activity was running with boundary events armed, or waits now. A loop's
    // boundary events belong to its body token; the inner runs (the tokens directly in a loop
    // instance's scope) have none.
    let inner: std::collections::HashSet<ScopeId> =
        ex.i.scopes.iter().filter(|s| matches!(s.kind, ScopeKind::Instance { .. })).map(|s| s.id).collect();
    let waiting: Vec<(TokenId, ElementIdx, ScopeId, bool, bool)> =
        ex.i.tokens
            .iter()
            .map(|t| {
                let running = armed.contains(&t.id)
                    || (!inner.contains(&t.scope)
                        && matches!(
                            t.state,
                            TokenState::Task
                                | TokenState::Connector { .. }
                                | TokenState::SubProcess { .. }
                                | TokenState::Call
                                | TokenState::Body(_)
                        ));
                (t.id, t.element, t.scope, matches!(t.state, TokenState::Event), running)
            })
            .collect();
    for (t, e, scope, event, running) in waiting {
        let kind = &new.element(e).kind;
        if event {
            match kind {
                Kind::Gateway(GatewayKind::EventBased) => ex.arm_event_gateway(t, e, None),
                Kind::CatchEvent { trigger } => match ex.subscription_kind(scope, e, trigger) {
                    Ok(Some(k)) => {
                        ex.new_subscription(Owner::Token(t), e, k);
                    }
                    Ok(None) => ex.queue.push_back(t),
                    Err(msg) => ex.raise(t, "expression_failed", msg, Retry::Enter { via: None }),
                },
                Kind::Task(TaskKind::Receive(m)) => match ex.message_kind(scope, m) {
                    Ok(k) => {
                        ex.new_subscription(Owner::Token(t), e, k);
                    }
                    Err(msg) => ex.raise(t, "expression_failed", msg, Retry::Enter { via: None }),
                },
                _ => {}
            }
        } else if running
            && matches!(kind, Kind::Task(_) | Kind::SubProcess { .. } | Kind::CallActivity(_))
            && let Err(msg) = ex.arm_boundaries(t, e, scope)
        {
            ex.raise(t, "expression_failed", msg, Retry::Enter { via: None });
        }
    }
    let scopes: Vec<(ScopeId, Option<ScopeIdx>)> =
        ex.i.scopes
            .iter()
            .map(|s| {
                let model = match s.kind {
                    ScopeKind::Root => Some(ScopeIdx::from(0)),
                    ScopeKind::SubProcess { element } | ScopeKind::EventSub { element, .. } => {
                        new.element(element).inner_scope
                    }
                    ScopeKind::Instance { .. } => None,
                };
                (s.id, model)
            })
            .collect();
    for (sid, model) in scopes {
        if let Some(ms) = model {
            ex.arm_event_subprocesses(sid, ms);
        }
    }
    let mapped = renamed.clone();
    ex.out.push(Command::Migrated { from_version: versions.0, to_version: versions.1, renamed: mapped });
    // A catch event whose new definition waits on nothing goes on at once.
    ex.run();
    Ok(renamed)
}

/// Checks the whole plan before anything changes: every problem, with its element.
fn check(inst: &Instance, old: &Process, new: &Process, mapping: &HashMap<String, String>) -> Result<Plan, String> {
    let mut problems = Vec::new();
    for (from, to) in mapping {
        if old.element_by_id(from).is_none() {
            problems.push(format!("the mapping names `{from}`, which is not an element of the Request's version"));
        }
        if new.element_by_id(to).is_none() {
            problems.push(format!("the mapping maps `{from}` to `{to}`, which is not an element of the new version"));
        }
    }
    let mut elements = HashMap::new();
    let mut target = |e: ElementIdx, problems: &mut Vec<String>| -> Option<ElementIdx> {
        if let Some(n) = elements.get(&e) {
            return Some(*n);
        }
        let id = &old.element(e).id;
        let to = mapping.get(id).unwrap_or(id);
        let Some(n) = new.element_by_id(to) else {
            problems.push(format!("`{id}` has no element `{to}` in the new version: map it to one"));
            return None;
        };
        if !same_kind(&old.element(e).kind, &new.element(n).kind) {
            problems.push(format!("`{id}` cannot become `{to}`: it is another kind of element in the new version"));
            return None;
        }
        elements.insert(e, n);
        Some(n)
    };
    // Where something is: tokens (with the sub-process they are in), scopes, incidents.
    let mut used: Vec<ElementIdx> = inst.tokens.iter().map(|t| t.element).collect();
    for s in &inst.scopes {
        if let ScopeKind::SubProcess { element } | ScopeKind::EventSub { element, .. } = s.kind {
            used.push(element);
        }
    }
    used.extend(inst.incidents.iter().map(|i| i.element));
    used.sort_by_key(|e| e.index());
    used.dedup();
    for &e in &used {
        let Some(n) = target(e, &mut problems) else { continue };
        // Its sub-process must map to the new element's sub-process.
        let parent_old = old.element(e).parent;
        let parent_new = new.element(n).parent;
        let parent_mapped = parent_old.and_then(|p| target(p, &mut problems));
        if parent_old.is_some() && parent_mapped.is_none() {
            continue;
        }
        if parent_mapped != parent_new {
            problems.push(format!(
                "`{}` is in {} but `{}` is in {} in the new version: tokens cannot move between sub-processes",
                old.element(e).id,
                parent_old.map_or("the process".to_string(), |p| format!("`{}`", old.element(p).id)),
                new.element(n).id,
                parent_new.map_or("the process".to_string(), |p| format!("`{}`", new.element(p).id)),
            ));
        }
    }
    for t in &inst.tokens {
        let id = &old.element(t.element).id;
        match &t.state {
            // A running loop goes on at the new element, which must loop the same way: the
            // loop's own state (counts, items, outputs so far) stays as it is.
            TokenState::Body(body) => {
                if let Some(&n) = elements.get(&t.element)
                    && let Some(why) = loop_mismatch(body, new.element(n).looping.as_ref())
                {
                    problems.push(format!(
                        "`{id}` is a running {} but `{}` {why} in the new version",
                        loop_name(body),
                        new.element(n).id
                    ));
                }
            }
            TokenState::Incident { retry: Retry::Loop { .. }, .. } => {
                problems.push(format!("`{id}` has an incident inside a loop: retry or repair it before migrating"))
            }
            _ => {}
        }
    }
    // Flows tokens came along (a join counts them): by id, in the new version.
    let mut flows = HashMap::new();
    for t in &inst.tokens {
        let via = match &t.state {
            TokenState::Ready { via } => *via,
            TokenState::Joining { via } => Some(*via),
            TokenState::Incident { retry: Retry::Enter { via }, .. } => *via,
            _ => None,
        };
        let Some(f) = via else { continue };
        let flow = old.flow(f);
        let found = flow.id.as_deref().and_then(|id| new.flows.iter().position(|g| g.id.as_deref() == Some(id)));
        match found {
            Some(g) => {
                flows.insert(f, FlowIdx::from(g));
            }
            None => problems.push(format!(
                "a token at `{}` came along the sequence flow `{}`, which the new version does not have",
                old.element(t.element).id,
                flow.id.as_deref().unwrap_or("(without id)")
            )),
        }
    }
    if inst.parked.iter().any(|p| matches!(p.input, Input::Modify(_))) {
        problems.push("a repair waits on an incident (parked): retry it before migrating".into());
    }
    if problems.is_empty() {
        Ok(Plan { elements, flows })
    } else {
        problems.sort();
        problems.dedup();
        Err(problems.join("; "))
    }
}

/// What kind of loop a running loop body is, for people.
fn loop_name(body: &LoopBody) -> &'static str {
    match (body.standard, body.sequential) {
        (true, _) => "standard loop",
        (false, true) => "sequential multi-instance activity",
        (false, false) => "parallel multi-instance activity",
    }
}

/// Why the new element cannot carry on a running loop body, if it cannot: it must loop the same
/// way (a standard loop, or multi-instance in the same order), and a multi-instance activity
/// must keep what its body holds: items when it goes over a collection, outputs when it collects
/// them.
fn loop_mismatch(body: &LoopBody, looping: Option<&Loop>) -> Option<&'static str> {
    match looping {
        None => Some("does not loop"),
        Some(Loop::Standard { .. }) if body.standard => None,
        Some(Loop::Standard { .. }) => Some("is a standard loop"),
        Some(Loop::Multi(_)) if body.standard => Some("is a multi-instance activity"),
        Some(Loop::Multi(mi)) if mi.sequential != body.sequential => {
            Some(if mi.sequential { "is sequential" } else { "is parallel" })
        }
        Some(Loop::Multi(mi)) if mi.collection.is_some() != body.items.is_some() => {
            Some(if body.items.is_some() { "has no collection" } else { "goes over a collection" })
        }
        Some(Loop::Multi(mi)) if mi.output_collection.is_some() != body.outputs.is_some() => {
            Some(if body.outputs.is_some() { "collects no outputs" } else { "collects outputs" })
        }
        Some(Loop::Multi(_)) => None,
    }
}

/// Whether an element may take the place of another: the same kind of element (the same kind of
/// task, gateway and event; an event's trigger may change).
fn same_kind(a: &Kind, b: &Kind) -> bool {
    use std::mem::discriminant as d;
    match (a, b) {
        (Kind::Task(x), Kind::Task(y)) => d(x) == d(y),
        (Kind::Gateway(x), Kind::Gateway(y)) => x == y,
        (Kind::SubProcess { triggered_by_event: x }, Kind::SubProcess { triggered_by_event: y }) => x == y,
        (Kind::BoundaryEvent { interrupting: x, .. }, Kind::BoundaryEvent { interrupting: y, .. }) => x == y,
        _ => d(a) == d(b),
    }
}
