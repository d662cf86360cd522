//! An operator's repair of a Request (`Input::Modify`) through the simulator: cancel, start
//! before, start after, move, and the repairs the model's rules refuse (changing nothing).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use serde_json::{Value, json};
use sluice_engine::sim::{Sim, SimError, StubConnectors};
use sluice_engine::{Input, Modification, StartAt, Status, StepError};

const XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs" targetNamespace="urn:t">
<process id="p" isExecutable="true">
  <startEvent id="s"/>
  <sequenceFlow id="f1" sourceRef="s" targetRef="a"/>
  <userTask id="a"/>
  <sequenceFlow id="f2" sourceRef="a" targetRef="fork"/>
  <parallelGateway id="fork"/>
  <sequenceFlow id="f3" sourceRef="fork" targetRef="b"/>
  <sequenceFlow id="f4" sourceRef="fork" targetRef="sub"/>
  <userTask id="b"/>
  <subProcess id="sub">
    <startEvent id="ss"/>
    <sequenceFlow id="g1" sourceRef="ss" targetRef="inner"/>
    <userTask id="inner"/>
    <sequenceFlow id="g2" sourceRef="inner" targetRef="se"/>
    <endEvent id="se"/>
  </subProcess>
  <sequenceFlow id="f5" sourceRef="b" targetRef="join"/>
  <sequenceFlow id="f6" sourceRef="sub" targetRef="join"/>
  <parallelGateway id="join"/>
  <sequenceFlow id="f7" sourceRef="join" targetRef="c"/>
  <userTask id="c"/>
  <sequenceFlow id="f8" sourceRef="c" targetRef="e"/>
  <endEvent id="e"/>
</process>
</definitions>"#;

fn sim() -> Sim {
    let mut sim = Sim::new(common::import_str(XML), common::t0());
    sim.start("p", Default::default()).unwrap();
    sim.settle(&mut StubConnectors);
    sim
}

fn idx(sim: &Sim, id: &str) -> sluice_bpmn::ElementIdx {
    sim.process_of(0).unwrap().element_by_id(id).unwrap()
}

fn at(sim: &Sim, id: &str, data: Value) -> StartAt {
    StartAt { element: idx(sim, id), data: data.as_object().cloned().unwrap_or_default() }
}

fn tasks(sim: &Sim) -> Vec<String> {
    let mut t: Vec<String> = sim.tasks().iter().map(|(r, t)| sim.element_id(*r, t)).collect();
    t.sort();
    t
}

fn modify(sim: &mut Sim, m: Modification) -> Result<(), SimError> {
    let r = sim.step(0, Input::Modify(Box::new(m)));
    sim.settle(&mut StubConnectors);
    r
}

fn complete(sim: &mut Sim, id: &str) {
    let (r, t) = sim.tasks().into_iter().find(|(r, t)| sim.element_id(*r, t) == id).unwrap();
    sim.complete_task(r, t.token, Default::default()).unwrap();
    sim.settle(&mut StubConnectors);
}

fn modified_lines(sim: &Sim) -> Vec<(String, String)> {
    sim.trace()
        .iter()
        .filter(|l| l["event"] == "request_modified")
        .map(|l| (l["change"].as_str().unwrap().to_string(), l["element_id"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn a_move_cancels_the_task_and_starts_the_token_before_the_target_with_its_data() {
    let mut sim = sim();
    assert_eq!(tasks(&sim), ["a"]);
    let m = Modification {
        cancel: vec![idx(&sim, "a")],
        start_before: vec![at(&sim, "c", json!({"fixed": true}))],
        ..Default::default()
    };
    modify(&mut sim, m).unwrap();
    assert_eq!(tasks(&sim), ["c"]);
    assert_eq!(sim.instance(0).unwrap().data().get("fixed"), Some(&json!(true)));
    assert_eq!(modified_lines(&sim), [("start_before".into(), "c".into()), ("cancel".into(), "a".into())]);
    complete(&mut sim, "c");
    assert_eq!(sim.instance(0).unwrap().status(), Status::Completed);
}

#[test]
fn start_after_takes_the_elements_outgoing_flows() {
    let mut sim = sim();
    let m = Modification {
        cancel: vec![idx(&sim, "a")],
        start_after: vec![at(&sim, "a", json!({}))],
        ..Default::default()
    };
    modify(&mut sim, m).unwrap();
    // After `a` comes the fork: `b` and the sub-process's `inner`.
    assert_eq!(tasks(&sim), ["b", "inner"]);
}

#[test]
fn a_token_starts_inside_the_active_sub_process_and_the_join_still_works() {
    let mut sim = sim();
    complete(&mut sim, "a");
    assert_eq!(tasks(&sim), ["b", "inner"]);
    // Restart `inner`: cancel it and start a new one before it, in the sub-process's instance.
    let m = Modification {
        cancel: vec![idx(&sim, "inner")],
        start_before: vec![at(&sim, "inner", json!({}))],
        ..Default::default()
    };
    modify(&mut sim, m).unwrap();
    assert_eq!(tasks(&sim), ["b", "inner"]);
    complete(&mut sim, "inner");
    complete(&mut sim, "b");
    assert_eq!(tasks(&sim), ["c"]);
}

#[test]
fn canceling_the_last_token_in_a_sub_process_completes_it() {
    let mut sim = sim();
    complete(&mut sim, "a");
    let m = Modification { cancel: vec![idx(&sim, "inner")], ..Default::default() };
    modify(&mut sim, m).unwrap();
    assert_eq!(tasks(&sim), ["b"]);
    complete(&mut sim, "b");
    assert_eq!(tasks(&sim), ["c"]);
}

#[test]
fn refused_repairs_change_nothing() {
    let mut sim = sim();
    let before = format!("{:?}", sim.instance(0).unwrap().tokens());
    let refused = |r: Result<(), SimError>, needle: &str| match r {
        Err(SimError::Step(StepError::Refused(msg))) => assert!(msg.contains(needle), "{msg}"),
        other => panic!("expected a refusal naming {needle}, got {other:?}"),
    };
    // Into the middle of a join, without saying so.
    let m = Modification {
        cancel: vec![idx(&sim, "a")],
        start_before: vec![at(&sim, "join", json!({}))],
        ..Default::default()
    };
    refused(modify(&mut sim, m), "`join`");
    // Nothing waits at `b`.
    let m = Modification {
        cancel: vec![idx(&sim, "b")],
        start_before: vec![at(&sim, "c", json!({}))],
        ..Default::default()
    };
    refused(modify(&mut sim, m), "`b`");
    // `inner` needs an active instance of `sub`.
    let m = Modification { start_before: vec![at(&sim, "inner", json!({}))], ..Default::default() };
    refused(modify(&mut sim, m), "`sub`");
    // No outgoing flow after the end event.
    let m = Modification { start_after: vec![at(&sim, "e", json!({}))], ..Default::default() };
    refused(modify(&mut sim, m), "`e`");
    assert_eq!(format!("{:?}", sim.instance(0).unwrap().tokens()), before);
    assert!(modified_lines(&sim).is_empty());
    // Said explicitly, the join lets the started token through at once (it arrived by no flow).
    let m = Modification { start_before: vec![at(&sim, "join", json!({}))], allow_join: true, ..Default::default() };
    modify(&mut sim, m).unwrap();
    assert_eq!(tasks(&sim), ["a", "c"]);
}

#[test]
fn a_finished_request_is_not_modified() {
    let mut sim = sim();
    sim.step(0, Input::Cancel).unwrap();
    let m = Modification { start_before: vec![at(&sim, "c", json!({}))], ..Default::default() };
    assert!(matches!(modify(&mut sim, m), Err(SimError::Step(StepError::Ended))));
}
