//! Property tests: whatever order tasks complete, timers fire and messages or signals arrive in,
//! no token is lost, no Request completes twice, and no join fires twice.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use proptest::prelude::*;
use serde_json::{Value, json};
use sluice_bpmn::{GatewayKind, Kind, Process};
use sluice_engine::Status;
use sluice_engine::runtime::SubscriptionKind;
use sluice_engine::sim::{Sim, StubConnectors};

/// A model with a bit of everything that joins: parallel and inclusive joins fed by user tasks,
/// timers (boundary and catch), a message catch, an event-based gateway and a sub-process that
/// may end in an error caught by its boundary.
const MIXED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:sluice="urn:sluice:bpmn:1" id="defs" targetNamespace="urn:t">
  <message id="m_go" name="go"/>
  <message id="m_pay" name="pay"/>
  <error id="err" errorCode="boom"/>
  <process id="mixed" isExecutable="true">
    <startEvent id="start"/>
    <sequenceFlow id="f1" sourceRef="start" targetRef="fork"/>
    <parallelGateway id="fork"/>
    <sequenceFlow id="f2" sourceRef="fork" targetRef="a"/>
    <sequenceFlow id="f3" sourceRef="fork" targetRef="b"/>
    <sequenceFlow id="f4" sourceRef="fork" targetRef="wait_go"/>
    <userTask id="a"/>
    <boundaryEvent id="a_late" attachedToRef="a" cancelActivity="false">
      <timerEventDefinition><timeDuration>PT1H</timeDuration></timerEventDefinition>
    </boundaryEvent>
    <sequenceFlow id="f5" sourceRef="a_late" targetRef="remind"/>
    <userTask id="remind"/>
    <sequenceFlow id="f5b" sourceRef="remind" targetRef="remind_end"/>
    <endEvent id="remind_end"/>
    <userTask id="b"/>
    <intermediateCatchEvent id="wait_go"><messageEventDefinition messageRef="m_go"/></intermediateCatchEvent>
    <sequenceFlow id="f6" sourceRef="a" targetRef="join"/>
    <sequenceFlow id="f7" sourceRef="b" targetRef="join"/>
    <sequenceFlow id="f8" sourceRef="wait_go" targetRef="join"/>
    <parallelGateway id="join"/>
    <sequenceFlow id="f9" sourceRef="join" targetRef="split"/>
    <inclusiveGateway id="split" default="f12"/>
    <sequenceFlow id="f10" sourceRef="split" targetRef="c"><conditionExpression>x &gt; 1</conditionExpression></sequenceFlow>
    <sequenceFlow id="f11" sourceRef="split" targetRef="sub"><conditionExpression>x &gt; 2</conditionExpression></sequenceFlow>
    <sequenceFlow id="f12" sourceRef="split" targetRef="d"/>
    <userTask id="c"/>
    <userTask id="d"/>
    <subProcess id="sub">
      <startEvent id="s_start"/>
      <sequenceFlow id="s1" sourceRef="s_start" targetRef="s_task"/>
      <userTask id="s_task"/>
      <sequenceFlow id="s2" sourceRef="s_task" targetRef="s_gw"/>
      <exclusiveGateway id="s_gw" default="s4"/>
      <sequenceFlow id="s3" sourceRef="s_gw" targetRef="s_err"><conditionExpression>fail = true</conditionExpression></sequenceFlow>
      <sequenceFlow id="s4" sourceRef="s_gw" targetRef="s_end"/>
      <endEvent id="s_err"><errorEventDefinition errorRef="err"/></endEvent>
      <endEvent id="s_end"/>
    </subProcess>
    <boundaryEvent id="sub_err" attachedToRef="sub"><errorEventDefinition errorRef="err"/></boundaryEvent>
    <sequenceFlow id="f13" sourceRef="sub_err" targetRef="ojoin"/>
    <sequenceFlow id="f14" sourceRef="c" targetRef="ojoin"/>
    <sequenceFlow id="f15" sourceRef="sub" targetRef="ojoin"/>
    <sequenceFlow id="f16" sourceRef="d" targetRef="ojoin"/>
    <inclusiveGateway id="ojoin"/>
    <sequenceFlow id="f17" sourceRef="ojoin" targetRef="race"/>
    <eventBasedGateway id="race"/>
    <sequenceFlow id="f18" sourceRef="race" targetRef="paid"/>
    <sequenceFlow id="f19" sourceRef="race" targetRef="timeout"/>
    <intermediateCatchEvent id="paid"><messageEventDefinition messageRef="m_pay"/></intermediateCatchEvent>
    <intermediateCatchEvent id="timeout"><timerEventDefinition><timeDuration>P1D</timeDuration></timerEventDefinition></intermediateCatchEvent>
    <sequenceFlow id="f20" sourceRef="paid" targetRef="end"/>
    <sequenceFlow id="f21" sourceRef="timeout" targetRef="end"/>
    <endEvent id="end"/>
  </process>
</definitions>"#;

#[derive(Debug, Clone)]
enum Action {
    Task(usize, bool),
    Timer(usize),
    Message(usize),
}

fn actions() -> impl Strategy<Value = Vec<Action>> {
    let one = prop_oneof![
        4 => (any::<usize>(), any::<bool>()).prop_map(|(i, b)| Action::Task(i, b)),
        1 => any::<usize>().prop_map(Action::Timer),
        1 => any::<usize>().prop_map(Action::Message),
    ];
    proptest::collection::vec(one, 1..40)
}

/// Converging gateways that, in acyclic models, may complete at most once per scope activation.
fn joins(p: &Process) -> Vec<String> {
    p.elements
        .iter()
        .filter(|e| {
            matches!(e.kind, Kind::Gateway(GatewayKind::Parallel | GatewayKind::Inclusive)) && e.incoming.len() > 1
        })
        .map(|e| e.id.clone())
        .collect()
}

fn check_invariants(sim: &Sim, joins_once: &[String], ctx: &str) {
    let mut completed: HashMap<usize, usize> = HashMap::new();
    let mut join_fired: HashMap<(usize, String), usize> = HashMap::new();
    for line in sim.trace() {
        let r = line.get("request").and_then(Value::as_u64).unwrap_or(0) as usize;
        match line["event"].as_str() {
            Some("request_completed") => *completed.entry(r).or_default() += 1,
            Some("element_completed") => {
                let id = line["element_id"].as_str().unwrap_or_default().to_string();
                if joins_once.contains(&id) {
                    *join_fired.entry((r, id)).or_default() += 1;
                }
            }
            _ => {}
        }
    }
    for (r, n) in &completed {
        assert!(*n <= 1, "{ctx}: Request {r} completed {n} times");
    }
    for ((r, id), n) in &join_fired {
        assert!(*n <= 1, "{ctx}: join {id} of Request {r} fired {n} times");
    }
    for r in 0..sim.requests() {
        let inst = sim.instance(r).unwrap();
        let tokens = inst.tokens();
        match inst.status() {
            Status::Completed | Status::Canceled => {
                assert!(tokens.is_empty(), "{ctx}: ended Request {r} holds tokens {tokens:?}")
            }
            Status::Active => {
                assert!(!tokens.is_empty(), "{ctx}: active Request {r} has no token left: lost");
                assert!(
                    tokens.iter().all(|t| t.state != "ready"),
                    "{ctx}: Request {r} stopped with ready tokens {tokens:?}"
                );
            }
        }
    }
}

/// Runs a script of actions, checking the invariants after each; `strict_joins` adds the
/// once-per-join check, which holds for acyclic models only.
fn drive(processes: Vec<Arc<Process>>, key: &str, data: Value, script: &[Action], ctx: &str, strict_joins: bool) {
    let joins_once: Vec<String> =
        if strict_joins { processes.iter().flat_map(|p| joins(p)).collect() } else { Vec::new() };
    let mut sim = Sim::new(processes, common::t0());
    let root = sim.start(key, data.as_object().cloned().unwrap_or_default()).unwrap();
    sim.settle(&mut StubConnectors);
    check_invariants(&sim, &joins_once, ctx);
    for a in script {
        match *a {
            Action::Task(i, flag) => {
                let tasks = sim.tasks();
                if tasks.is_empty() {
                    continue;
                }
                let (r, t) = tasks[i % tasks.len()].clone();
                let d = json!({"approved": flag, "fail": flag, "valid": flag, "fraud": false})
                    .as_object()
                    .cloned()
                    .unwrap();
                sim.complete_task(r, t.token, d).unwrap();
            }
            Action::Timer(i) => {
                let mut dues: Vec<_> = (0..sim.requests())
                    .flat_map(|r| sim.instance(r).unwrap().subscriptions())
                    .filter_map(|s| match s.kind {
                        SubscriptionKind::Timer { due, .. } => Some(due),
                        _ => None,
                    })
                    .collect();
                dues.sort();
                if let Some(due) = dues.get(i % dues.len().max(1)) {
                    sim.advance_to(*due, &mut StubConnectors);
                }
            }
            Action::Message(i) => {
                let msgs: Vec<(String, Option<String>)> = (0..sim.requests())
                    .filter(|&r| sim.instance(r).unwrap().status() == Status::Active)
                    .flat_map(|r| sim.instance(r).unwrap().subscriptions())
                    .filter_map(|s| match s.kind {
                        SubscriptionKind::Message { name, correlation_key } => Some((name, correlation_key)),
                        _ => None,
                    })
                    .collect();
                if !msgs.is_empty() {
                    let (name, key) = msgs[i % msgs.len()].clone();
                    sim.publish_message(&name, key.as_deref(), Default::default());
                }
            }
        }
        sim.settle(&mut StubConnectors);
        check_invariants(&sim, &joins_once, ctx);
    }
    // Whatever happened so far, finishing every task and firing every timer ends the Request
    // unless it waits on a message or an incident.
    for _ in 0..500 {
        if let Some((r, t)) = sim.tasks().into_iter().next() {
            sim.complete_task(r, t.token, json!({"approved": true}).as_object().cloned().unwrap()).unwrap();
        } else if let Some(due) = sim.next_timer() {
            sim.advance_to(due, &mut StubConnectors);
        } else {
            break;
        }
        sim.settle(&mut StubConnectors);
        check_invariants(&sim, &joins_once, ctx);
    }
    let inst = sim.instance(root).unwrap();
    if inst.status() == Status::Active {
        let waits_on_something = !inst.incidents().is_empty()
            || inst
                .subscriptions()
                .iter()
                .any(|s| matches!(s.kind, SubscriptionKind::Message { .. } | SubscriptionKind::Signal { .. }));
        assert!(waits_on_something, "{ctx}: Request stuck with tokens {:?}", inst.tokens());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mixed_model_keeps_its_tokens(x in 0i64..5, script in actions()) {
        let processes = common::import_str(MIXED);
        drive(processes, "mixed", json!({"x": x}), &script, "mixed", true);
    }

    #[test]
    fn example_processes_keep_their_tokens(pick in any::<usize>(), script in actions()) {
        let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../processes");
        let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "bpmn")).collect();
        files.sort();
        prop_assume!(!files.is_empty());
        let file = &files[pick % files.len()];
        let processes = common::import(&[(file.display().to_string(), std::fs::read(file).unwrap())]);
        let called: Vec<String> = processes.iter().flat_map(|p| p.elements.iter()).filter_map(|e| match &e.kind {
            Kind::CallActivity(c) => Some(c.called_element.clone()),
            _ => None,
        }).collect();
        let key = processes.iter().find(|p| p.executable && !called.contains(&p.key)).unwrap().key.clone();
        let data = json!({"amount": 700, "order_id": "A-1", "invoice_id": "I-1", "ticket_id": "T-1", "priority": "high",
            "customer": {"name": "Ada", "tier": "gold"}, "lines": [{"price": 10, "quantity": 3}],
            "team_members": ["ana", "ben"], "approvers": ["ana", "ben", "cy"], "items": [1, 2]});
        // Example models may loop back through joins, so only the token invariants apply to them.
        drive(processes, &key, data, &script, &file.display().to_string(), false);
    }
}
