//! What the in-memory driver's trace says when the Request refuses an input it produced itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use sluice_engine::Status;
use sluice_engine::sim::{Sim, StubConnectors};

#[test]
fn a_refused_input_names_its_element_and_what_it_was() {
    // The child completes at once, but before its result arrives a signal thrown beside the call
    // activity has interrupted it: the result is refused, and the trace says for which element.
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs" targetNamespace="urn:t">
  <signal id="stop" name="stop"/>
  <process id="p" isExecutable="true">
    <startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="fork"/><parallelGateway id="fork"/>
    <sequenceFlow id="f2" sourceRef="fork" targetRef="call"/><sequenceFlow id="f3" sourceRef="fork" targetRef="throw"/>
    <callActivity id="call" calledElement="child"/>
    <boundaryEvent id="stopped" attachedToRef="call"><signalEventDefinition signalRef="stop"/></boundaryEvent>
    <intermediateThrowEvent id="throw"><signalEventDefinition signalRef="stop"/></intermediateThrowEvent>
    <sequenceFlow id="f4" sourceRef="call" targetRef="e1"/><endEvent id="e1"/>
    <sequenceFlow id="f5" sourceRef="stopped" targetRef="handle"/><userTask id="handle"/>
    <sequenceFlow id="f6" sourceRef="throw" targetRef="e3"/><endEvent id="e3"/>
  </process>
  <process id="child" isExecutable="false"><startEvent id="cs"/><sequenceFlow id="c1" sourceRef="cs" targetRef="ce"/><endEvent id="ce"/></process>
</definitions>"#;
    let mut sim = Sim::new(common::import_str(xml), common::t0());
    sim.start("p", Default::default()).unwrap();
    sim.settle(&mut StubConnectors);
    assert_eq!(sim.instance(0).unwrap().status(), Status::Active);
    let refused: Vec<_> = sim.trace().iter().filter(|l| l["event"] == "input_refused").collect();
    assert_eq!(refused.len(), 1, "{:#?}", sim.trace());
    assert_eq!(refused[0]["element_id"], "call");
    assert_eq!(refused[0]["input"], "child_completed");
    assert_eq!(refused[0]["message"], "the token is not waiting for this (a child Request)");
}
