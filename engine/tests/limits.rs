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
