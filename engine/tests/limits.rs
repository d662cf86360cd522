//! The limits every Request lives within (a binary of its own: the limits are process-wide, so
//! lowering them here does not touch other tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{TimeZone, Utc};
use sluice_bpmn::{Options, Source};
use sluice_engine::runtime::{SubscriptionKind, limits};
use sluice_engine::{Input, Instance, Start};

/// start → work → a zero-length timer → back to work, forever: every round waits (a timer), so
/// the per-step guard never trips.
const TIMER_LOOP: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="urn:t">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="s"/>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="work"/>
    <bpmn:task id="work"/>
    <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="wait"/>
    <bpmn:intermediateCatchEvent id="wait">
      <bpmn:timerEventDefinition><bpmn:timeDuration>PT0S</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f3" sourceRef="wait" targetRef="work"/>
  </bpmn:process>
</bpmn:definitions>"#;

#[test]
fn a_loop_through_a_timer_is_an_incident_once_it_takes_too_many_flows_in_the_window() {
    limits::set_moves_per_window(1_000, 60);
    let imported =
        sluice_bpmn::import(&[Source { name: "loop.bpmn", bytes: TIMER_LOOP.as_bytes() }], &Options::default());
    assert!(!imported.has_errors(), "{:?}", imported.diagnostics);
    let p = imported.definitions.process("p").unwrap().clone();
    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
    let mut out = Vec::new();
    let mut inst = Instance::start(&p, Default::default(), Start::Default, t0, &mut out).unwrap();
    let mut rounds = 0;
    while inst.incidents().is_empty() {
        rounds += 1;
        assert!(rounds < 10_000, "the loop was never stopped");
        let timer = inst
            .subscriptions()
            .iter()
            .find(|s| matches!(s.kind, SubscriptionKind::Timer { .. }))
            .map(|s| s.id)
            .expect("the loop waits on its timer");
        out.clear();
        // All within the same second: a loop that never waits for real.
        inst.step(&p, Input::TimerFired { subscription: timer }, t0, &mut out).unwrap();
    }
    let incident = &inst.incidents()[0];
    assert_eq!(incident.code, "activity_limit");
    assert!(incident.message.contains("1000 sequence flows within 60 s"), "{}", incident.message);
    assert_eq!(p.element(incident.element).id, "work");
    // About 1,000 flows at 2 a round, not a round more than it takes.
    assert!((450..=520).contains(&rounds), "{rounds} rounds");

    // A retry is a person's decision: a new window, so the loop runs on for another 1,000 flows.
    out.clear();
    inst.step(&p, Input::Retry { incident: incident.id }, t0, &mut out).unwrap();
    assert!(inst.incidents().is_empty());

    // A Request that takes its flows slowly never trips it: a new window after 60 s.
    limits::set_moves_per_window(limits::DEFAULT_MAX_MOVES_PER_WINDOW, limits::DEFAULT_WINDOW_SECS);
}

/// A process that calls itself: every Request starts a child of the same process, forever (also
/// run through `sluice run` by the end-to-end CLI tests).
const SELF_CALL: &str = include_str!("models/self_call.bpmn");

#[test]
fn a_process_that_calls_itself_stops_at_the_call_depth_limit() {
    use sluice_engine::sim::{Sim, StubConnectors};
    limits::set_calls(5, limits::DEFAULT_MAX_CHILDREN);
    let imported =
        sluice_bpmn::import(&[Source { name: "self.bpmn", bytes: SELF_CALL.as_bytes() }], &Options::default());
    assert!(!imported.has_errors(), "{:?}", imported.diagnostics);
    let mut sim = Sim::new(imported.definitions.processes.clone(), Utc::now());
    sim.start("again", Default::default()).unwrap();
    sim.settle(&mut StubConnectors);
    // The root and five children; the fifth child's call is refused with an incident.
    assert_eq!(sim.requests(), 6);
    let last = sim.instance(5).unwrap();
    assert_eq!(last.call_depth(), 5);
    let incident = &last.incidents()[0];
    assert_eq!(incident.code, "call_depth_limit");
    assert!(incident.message.contains("6 deep (limit SLUICE_MAX_CALL_DEPTH: 5)"), "{}", incident.message);
    for r in 0..5 {
        assert!(sim.instance(r).unwrap().incidents().is_empty(), "Request {r} waits on its child");
    }
    limits::set_calls(limits::DEFAULT_MAX_CALL_DEPTH, limits::DEFAULT_MAX_CHILDREN);
}

/// start → grow (appends 100 KB to a list) → a zero-length timer → grow again, forever: the data
/// grows by 100 KB a round.
const GROWING: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:sluice="urn:sluice:bpmn:1" id="d" targetNamespace="urn:t">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="s"/>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="grow"/>
    <bpmn:scriptTask id="grow" sluice:resultVariable="items"><bpmn:script>= append(items, substring(chunk, 1))</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="f2" sourceRef="grow" targetRef="wait"/>
    <bpmn:intermediateCatchEvent id="wait">
      <bpmn:timerEventDefinition><bpmn:timeDuration>PT0S</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f3" sourceRef="wait" targetRef="grow"/>
  </bpmn:process>
</bpmn:definitions>"#;

#[test]
fn a_request_whose_data_grows_past_the_limit_stops_with_an_incident_and_is_not_started_that_large() {
    limits::set_max_data_bytes(1024 * 1024);
    let imported = sluice_bpmn::import(&[Source { name: "grow.bpmn", bytes: GROWING.as_bytes() }], &Options::default());
    assert!(!imported.has_errors(), "{:?}", imported.diagnostics);
    let p = imported.definitions.process("p").unwrap().clone();
    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
    let mut out = Vec::new();

    // Started with more than the limit: refused, nothing created.
    let mut huge = sluice_engine::runtime::Data::new();
    huge.insert("blob".into(), serde_json::Value::String("x".repeat(2 * 1024 * 1024)));
    let refused = Instance::start(&p, huge, Start::Default, t0, &mut out);
    assert!(matches!(refused, Err(sluice_engine::StartError::DataTooLarge { limit: 1_048_576, .. })), "{refused:?}");

    let mut data = sluice_engine::runtime::Data::new();
    data.insert("items".into(), serde_json::json!([]));
    data.insert("chunk".into(), serde_json::Value::String("y".repeat(100 * 1024)));
    let mut inst = Instance::start(&p, data, Start::Default, t0, &mut out).unwrap();
    let mut rounds = 0;
    while inst.incidents().is_empty() {
        rounds += 1;
        assert!(rounds < 100, "the data grew without end");
        let timer = inst.subscriptions().iter().map(|s| s.id).next().expect("the loop waits on its timer");
        out.clear();
        inst.step(&p, Input::TimerFired { subscription: timer }, t0, &mut out).unwrap();
    }
    let incident = inst.incidents()[0].clone();
    assert_eq!(incident.code, "data_limit");
    assert!(incident.message.contains("over the limit of 1048576 bytes"), "{}", incident.message);
    // About 1 MiB in rounds of 100 KB (the chunk itself counts too): stopped right after it grew past.
    assert!((7..=10).contains(&rounds), "{rounds} rounds");
    let items = inst.data()["items"].as_array().unwrap().len();
    assert!((8..=10).contains(&items), "{items} items");

    // Made smaller, a retry goes on.
    inst.merge_data(serde_json::from_value(serde_json::json!({"items": []})).unwrap());
    out.clear();
    inst.step(&p, Input::Retry { incident: incident.id }, t0, &mut out).unwrap();
    assert!(inst.incidents().is_empty());
    limits::set_max_data_bytes(limits::DEFAULT_MAX_DATA_BYTES);
}
