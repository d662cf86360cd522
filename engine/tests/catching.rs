//! Which handler catches an error or an escalation: the innermost scope that can catch decides,
//! and within one scope the handler for the exact code beats a catch-all, whatever the order of
//! the two in the file (Camunda 7, Camunda 8 and Activiti agree). Each case is run with the
//! catch-all written first and written last.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use serde_json::Value;
use sluice_engine::Status;
use sluice_engine::sim::{Sim, StubConnectors};

const HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs" targetNamespace="urn:t">"#;

#[derive(Clone, Copy, PartialEq)]
enum What {
    Error,
    Escalation,
}

impl What {
    fn def(self, code: Option<&str>) -> String {
        match (self, code) {
            (What::Error, Some(c)) => format!(r#"<errorEventDefinition errorRef="{c}"/>"#),
            (What::Error, None) => "<errorEventDefinition/>".into(),
            (What::Escalation, Some(c)) => format!(r#"<escalationEventDefinition escalationRef="{c}"/>"#),
            (What::Escalation, None) => "<escalationEventDefinition/>".into(),
        }
    }
}

/// A boundary event `id` on `host` catching `code` (none: every one), leading to end event
/// `{id}_end`.
fn boundary(what: What, id: &str, host: &str, code: Option<&str>) -> String {
    format!(
        r#"<boundaryEvent id="{id}" attachedToRef="{host}">{}</boundaryEvent>
        <sequenceFlow id="{id}_f" sourceRef="{id}" targetRef="{id}_end"/><endEvent id="{id}_end"/>"#,
        what.def(code)
    )
}

/// An interrupting event sub-process `id` catching `code`, whose end event is `{id}_end`.
fn event_sub(what: What, id: &str, code: Option<&str>) -> String {
    format!(
        r#"<subProcess id="{id}" triggeredByEvent="true"><startEvent id="{id}_start">{}</startEvent>
        <sequenceFlow id="{id}_f" sourceRef="{id}_start" targetRef="{id}_end"/><endEvent id="{id}_end"/></subProcess>"#,
        what.def(code)
    )
}

/// A process: start → `outer` sub-process (holding `outer_body`) → end. Inside `outer` an
/// `inner` sub-process (holding `inner_body`) whose end event throws `code`.
fn nested(what: What, code: &str, inner_body: &str, outer_body: &str, around: &str) -> String {
    format!(
        r#"{HEAD}<process id="p" isExecutable="true">
        <startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="outer"/>
        <subProcess id="outer">
          <startEvent id="os"/><sequenceFlow id="o1" sourceRef="os" targetRef="inner"/>
          <subProcess id="inner">
            <startEvent id="is"/><sequenceFlow id="i1" sourceRef="is" targetRef="throw"/>
            <endEvent id="throw">{}</endEvent>
            {inner_body}
          </subProcess>
          <sequenceFlow id="o2" sourceRef="inner" targetRef="oe"/><endEvent id="oe"/>
          {outer_body}
        </subProcess>
        <sequenceFlow id="f2" sourceRef="outer" targetRef="e"/><endEvent id="e"/>
        {around}
        </process></definitions>"#,
        what.def(Some(code))
    )
}

fn run(xml: &str) -> Sim {
    let mut sim = Sim::new(common::import_str(xml), common::t0());
    sim.start("p", Default::default()).unwrap();
    sim.settle(&mut StubConnectors);
    sim
}

/// The handlers that ran: each `…_end` event completed.
fn handlers(sim: &Sim) -> Vec<String> {
    sim.trace()
        .iter()
        .filter(|l| l["event"] == "element_completed")
        .filter_map(|l| l["element_id"].as_str())
        .filter_map(|id| id.strip_suffix("_end"))
        .map(str::to_owned)
        .collect()
}

/// Runs the model built from the handlers in both orders and checks that `want` caught it.
fn check_both_orders(build: impl Fn(&str) -> String, exact: &str, catch_all: &str, want: &str) {
    for handlers_xml in [format!("{catch_all}{exact}"), format!("{exact}{catch_all}")] {
        let sim = run(&build(&handlers_xml));
        assert_eq!(handlers(&sim), [want], "handlers written as:\n{handlers_xml}");
        assert_eq!(sim.instance(0).unwrap().status(), Status::Completed);
    }
}

#[test]
fn the_exact_boundary_beats_a_catch_all_on_the_same_activity() {
    for what in [What::Error, What::Escalation] {
        let exact = boundary(what, "exact", "inner", Some("E1"));
        let any = boundary(what, "any", "inner", None);
        check_both_orders(|h| nested(what, "E1", "", h, ""), &exact, &any, "exact");
        // Another code: only the catch-all catches it.
        check_both_orders(|h| nested(what, "E2", "", h, ""), &exact, &any, "any");
    }
}

#[test]
fn the_exact_event_sub_process_beats_a_catch_all_in_the_same_scope() {
    for what in [What::Error, What::Escalation] {
        let exact = event_sub(what, "exact", Some("E1"));
        let any = event_sub(what, "any", None);
        check_both_orders(|h| nested(what, "E1", h, "", ""), &exact, &any, "exact");
        check_both_orders(|h| nested(what, "E2", h, "", ""), &exact, &any, "any");
    }
}

#[test]
fn the_innermost_scope_that_can_catch_decides() {
    for what in [What::Error, What::Escalation] {
        // A catch-all event sub-process inside `inner` beats an exact boundary on `inner`.
        let sim = run(&nested(
            what,
            "E1",
            &event_sub(what, "inner_any", None),
            &boundary(what, "outer_exact", "inner", Some("E1")),
            "",
        ));
        assert_eq!(handlers(&sim), ["inner_any"]);
        // A catch-all boundary on `inner` beats an exact event sub-process of `outer`.
        let sim = run(&nested(
            what,
            "E1",
            "",
            &format!("{}{}", boundary(what, "inner_any", "inner", None), event_sub(what, "outer_exact", Some("E1"))),
            "",
        ));
        assert_eq!(handlers(&sim), ["inner_any"]);
        // An exact event sub-process of `outer` beats a catch-all boundary on `outer`, outside it.
        let sim = run(&nested(
            what,
            "E1",
            "",
            &event_sub(what, "outer_exact", Some("E1")),
            &boundary(what, "around_any", "outer", None),
        ));
        assert_eq!(handlers(&sim), ["outer_exact"]);
        // Nothing inside catches it: the boundary on `outer` does, exact before catch-all.
        check_both_orders(
            |h| nested(what, "E1", "", "", h),
            &boundary(what, "exact", "outer", Some("E1")),
            &boundary(what, "any", "outer", None),
            "exact",
        );
    }
}

#[test]
fn an_error_reported_by_a_task_is_caught_by_the_exact_boundary() {
    for (first, second) in [("any", "exact"), ("exact", "any")] {
        let b = |id: &str| boundary(What::Error, id, "work", (id == "exact").then_some("E1"));
        let xml = format!(
            r#"{HEAD}<process id="p" isExecutable="true">
            <startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="work"/><userTask id="work"/>
            <sequenceFlow id="f2" sourceRef="work" targetRef="e"/><endEvent id="e"/>{}{}</process></definitions>"#,
            b(first),
            b(second)
        );
        let mut sim = run(&xml);
        let (r, t) = sim.tasks()[0].clone();
        sim.step(r, sluice_engine::Input::ThrowError { token: t.token, code: "E1".into(), message: None }).unwrap();
        sim.settle(&mut StubConnectors);
        assert_eq!(handlers(&sim), ["exact"]);
    }
}

#[test]
fn a_child_escalation_goes_on_outwards_from_the_call_activity() {
    // The call activity has no boundary for it: the event sub-process around it catches it.
    let xml = format!(
        r#"{HEAD}<process id="p" isExecutable="true">
        <startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="call"/>
        <callActivity id="call" calledElement="child"/>
        <sequenceFlow id="f2" sourceRef="call" targetRef="e"/><endEvent id="e"/>
        {}{}
        </process>
        <process id="child" isExecutable="false">
          <startEvent id="cs"/><sequenceFlow id="c1" sourceRef="cs" targetRef="late"/>
          <intermediateThrowEvent id="late"><escalationEventDefinition escalationRef="E1"/></intermediateThrowEvent>
          <sequenceFlow id="c2" sourceRef="late" targetRef="wait"/><userTask id="wait"/>
        </process></definitions>"#,
        event_sub(What::Escalation, "any", None),
        event_sub(What::Escalation, "exact", Some("E1")),
    );
    let sim = run(&xml);
    assert_eq!(handlers(&sim), ["exact"]);
    assert_eq!(sim.instance(0).unwrap().status(), Status::Completed);
    assert_eq!(sim.instance(1).unwrap().status(), Status::Canceled, "the interrupted call cancelled the child");
}

#[test]
fn an_error_end_event_is_traced_once_as_completed() {
    let sim = run(&nested(What::Error, "E1", "", &boundary(What::Error, "caught", "inner", Some("E1")), ""));
    let lines: Vec<&Value> = sim.trace().iter().filter(|l| l["element_id"] == "throw").collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["event"], "element_completed");
    // The interrupted sub-process itself is traced as terminated.
    assert!(sim.trace().iter().any(|l| l["element_id"] == "inner" && l["event"] == "element_terminated"));
    // Likewise an escalation end event caught by an interrupting event sub-process of its scope.
    let sim = run(&nested(What::Escalation, "E1", &event_sub(What::Escalation, "caught", None), "", ""));
    let lines: Vec<&Value> = sim.trace().iter().filter(|l| l["element_id"] == "throw").collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["event"], "element_completed");
    assert_eq!(sim.instance(0).unwrap().status(), Status::Completed);
}
