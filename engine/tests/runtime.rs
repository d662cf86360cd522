//! Runtime features one small model at a time: each test drives a model through the simulator
//! and checks what completed, what waits and what the data became.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use serde_json::{Value, json};
use sluice_engine::runtime::SubscriptionKind;
use sluice_engine::sim::{ConnectorHost, ConnectorInvocation, ConnectorOutcome, Sim, StubConnectors};
use sluice_engine::{Input, Status, StepError};

const HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:sluice="urn:sluice:bpmn:1" id="defs" targetNamespace="urn:t">"#;

/// A file with extra definitions-level elements and one executable process `p` holding `body`.
fn model(defs: &str, body: &str) -> String {
    format!(r#"{HEAD}{defs}<process id="p" isExecutable="true">{body}</process></definitions>"#)
}

fn start(xml: &str, data: Value) -> Sim {
    let processes = common::import_str(xml);
    let mut sim = Sim::new(processes, common::t0());
    sim.start("p", data.as_object().cloned().unwrap_or_default()).unwrap();
    sim.settle(&mut StubConnectors);
    sim
}

/// Element ids completed in Request `r`, in order.
fn completed(sim: &Sim, r: usize) -> Vec<String> {
    sim.trace()
        .iter()
        .filter(|l| {
            l["event"] == "element_completed" && l.get("request").and_then(Value::as_u64).unwrap_or(0) as usize == r
        })
        .map(|l| l["element_id"].as_str().unwrap().to_string())
        .collect()
}

fn tasks(sim: &Sim) -> Vec<String> {
    let mut t: Vec<String> = sim.tasks().iter().map(|(r, t)| sim.element_id(*r, t)).collect();
    t.sort();
    t
}

fn complete(sim: &mut Sim, id: &str, data: Value) {
    let (r, t) =
        sim.tasks().into_iter().find(|(r, t)| sim.element_id(*r, t) == id).unwrap_or_else(|| panic!("no task {id}"));
    sim.complete_task(r, t.token, data.as_object().cloned().unwrap_or_default()).unwrap();
    sim.settle(&mut StubConnectors);
}

fn status(sim: &Sim) -> Status {
    sim.instance(0).unwrap().status()
}

fn data(sim: &Sim) -> Value {
    Value::Object(sim.instance(0).unwrap().data().clone())
}

fn next_timer(sim: &mut Sim) {
    let due = sim.next_timer().expect("a timer");
    sim.advance_to(due, &mut StubConnectors);
}

#[test]
fn non_interrupting_escalation_lets_the_thrower_carry_on() {
    let xml = model(
        r#"<escalation id="esc" escalationCode="late"/>"#,
        r#"<startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="sub"/>
        <subProcess id="sub">
          <startEvent id="ss"/><sequenceFlow id="g1" sourceRef="ss" targetRef="raise"/>
          <intermediateThrowEvent id="raise"><escalationEventDefinition escalationRef="esc"/></intermediateThrowEvent>
          <sequenceFlow id="g2" sourceRef="raise" targetRef="work"/><userTask id="work"/>
          <sequenceFlow id="g3" sourceRef="work" targetRef="se"/><endEvent id="se"/>
        </subProcess>
        <boundaryEvent id="heard" attachedToRef="sub" cancelActivity="false"><escalationEventDefinition escalationRef="esc"/></boundaryEvent>
        <sequenceFlow id="f2" sourceRef="heard" targetRef="tell"/><userTask id="tell"/>
        <sequenceFlow id="f3" sourceRef="tell" targetRef="e1"/><endEvent id="e1"/>
        <sequenceFlow id="f4" sourceRef="sub" targetRef="e2"/><endEvent id="e2"/>"#,
    );
    let mut sim = start(&xml, json!({}));
    assert_eq!(tasks(&sim), ["tell", "work"]);
    complete(&mut sim, "work", json!({}));
    complete(&mut sim, "tell", json!({}));
    assert_eq!(status(&sim), Status::Completed);
}

#[test]
fn interrupting_escalation_cancels_the_sub_process_and_uncaught_ones_are_ignored() {
    let body = |cancel: &str| {
        format!(
            r#"<startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="sub"/>
        <subProcess id="sub">
          <startEvent id="ss"/><sequenceFlow id="g0" sourceRef="ss" targetRef="fork"/><parallelGateway id="fork"/>
          <sequenceFlow id="g1" sourceRef="fork" targetRef="raise"/><sequenceFlow id="g1b" sourceRef="fork" targetRef="other"/>
          <userTask id="other"/><sequenceFlow id="g4" sourceRef="other" targetRef="se2"/><endEvent id="se2"/>
          <endEvent id="raise"><escalationEventDefinition escalationRef="esc"/></endEvent>
        </subProcess>
        {cancel}
        <sequenceFlow id="f4" sourceRef="sub" targetRef="e2"/><endEvent id="e2"/>"#
        )
    };
    let caught = body(
        r#"<boundaryEvent id="heard" attachedToRef="sub"><escalationEventDefinition/></boundaryEvent>
        <sequenceFlow id="f2" sourceRef="heard" targetRef="e1"/><endEvent id="e1"/>"#,
    );
    let sim = start(&model(r#"<escalation id="esc" escalationCode="late"/>"#, &caught), json!({}));
    assert_eq!(status(&sim), Status::Completed, "the interrupting catch-all boundary cancelled `other`");
    assert!(completed(&sim, 0).contains(&"heard".to_string()));
    assert!(!completed(&sim, 0).contains(&"other".to_string()));

    let uncaught = body("");
    let mut sim = start(&model(r#"<escalation id="esc" escalationCode="late"/>"#, &uncaught), json!({}));
    assert_eq!(tasks(&sim), ["other"], "an uncaught escalation is ignored");
    complete(&mut sim, "other", json!({}));
    assert_eq!(status(&sim), Status::Completed);
}

#[test]
fn error_event_sub_process_takes_over_its_scope() {
    let xml = model(
        r#"<error id="err" errorCode="no_stock"/>"#,
        r#"<startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="fork"/><parallelGateway id="fork"/>
        <sequenceFlow id="f2" sourceRef="fork" targetRef="wait"/><userTask id="wait"/>
        <sequenceFlow id="f3" sourceRef="fork" targetRef="check"/><userTask id="check"/>
        <sequenceFlow id="f4" sourceRef="check" targetRef="fail"/><endEvent id="fail"><errorEventDefinition errorRef="err"/></endEvent>
        <sequenceFlow id="f5" sourceRef="wait" targetRef="ok"/><endEvent id="ok"/>
        <subProcess id="on_error" triggeredByEvent="true">
          <startEvent id="es"><errorEventDefinition errorRef="err"/></startEvent>
          <sequenceFlow id="h1" sourceRef="es" targetRef="apologise"/><userTask id="apologise"/>
          <sequenceFlow id="h2" sourceRef="apologise" targetRef="ee"/><endEvent id="ee"/>
        </subProcess>"#,
    );
    let mut sim = start(&xml, json!({}));
    complete(&mut sim, "check", json!({}));
    assert_eq!(tasks(&sim), ["apologise"], "the interrupting event sub-process cancelled `wait`");
    complete(&mut sim, "apologise", json!({}));
    assert_eq!(status(&sim), Status::Completed);
    assert!(completed(&sim, 0).ends_with(&["apologise".to_string(), "ee".to_string(), "on_error".to_string()]));
}

#[test]
fn non_interrupting_message_event_sub_process_runs_beside_the_work() {
    let xml = model(
        r#"<message id="m" name="ping" sluice:correlationKey="= order_id"/>"#,
        r#"<startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="work"/><userTask id="work"/>
        <sequenceFlow id="f2" sourceRef="work" targetRef="e"/><endEvent id="e"/>
        <subProcess id="on_ping" triggeredByEvent="true">
          <startEvent id="es" isInterrupting="false"><messageEventDefinition messageRef="m"/></startEvent>
          <sequenceFlow id="h1" sourceRef="es" targetRef="answer"/><userTask id="answer"/>
          <sequenceFlow id="h2" sourceRef="answer" targetRef="ee"/><endEvent id="ee"/>
        </subProcess>"#,
    );
    let mut sim = start(&xml, json!({"order_id": "A-1"}));
    assert!(sim.publish_message("ping", Some("B-2"), Default::default()).is_empty(), "other key: no match");
    assert_eq!(sim.publish_message("ping", Some("A-1"), json!({"note": "hi"}).as_object().cloned().unwrap()), [0]);
    sim.settle(&mut StubConnectors);
    sim.publish_message("ping", Some("A-1"), Default::default());
    sim.settle(&mut StubConnectors);
    assert_eq!(tasks(&sim), ["answer", "answer", "work"], "runs once per message, beside the work");
    complete(&mut sim, "work", json!({}));
    assert_eq!(status(&sim), Status::Active, "the scope waits for its event sub-processes");
    complete(&mut sim, "answer", json!({}));
    complete(&mut sim, "answer", json!({}));
    assert_eq!(status(&sim), Status::Completed);
}

#[test]
fn interrupting_timer_event_sub_process_cancels_the_work() {
    let xml = model(
        "",
        r#"<startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="work"/><userTask id="work"/>
        <sequenceFlow id="f2" sourceRef="work" targetRef="e"/><endEvent id="e"/>
        <subProcess id="too_late" triggeredByEvent="true">
          <startEvent id="es"><timerEventDefinition><timeDuration>P2D</timeDuration></timerEventDefinition></startEvent>
          <sequenceFlow id="h1" sourceRef="es" targetRef="ee"/><endEvent id="ee"/>
        </subProcess>"#,
    );
    let mut sim = start(&xml, json!({}));
    next_timer(&mut sim);
    assert_eq!(status(&sim), Status::Completed);
    assert!(tasks(&sim).is_empty());
    assert_eq!(sim.now(), common::t0() + chrono::Duration::days(2));
}

#[test]
fn terminate_in_a_sub_process_ends_only_the_sub_process() {
    let xml = model(
        "",
        r#"<startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="sub"/>
        <subProcess id="sub">
          <startEvent id="ss"/><sequenceFlow id="g0" sourceRef="ss" targetRef="fork"/><parallelGateway id="fork"/>
          <sequenceFlow id="g1" sourceRef="fork" targetRef="slow"/><userTask id="slow"/>
          <sequenceFlow id="g2" sourceRef="fork" targetRef="fast"/><userTask id="fast"/>
          <sequenceFlow id="g3" sourceRef="fast" targetRef="stop"/><endEvent id="stop"><terminateEventDefinition/></endEvent>
          <sequenceFlow id="g4" sourceRef="slow" targetRef="se"/><endEvent id="se"/>
        </subProcess>
        <sequenceFlow id="f2" sourceRef="sub" targetRef="after"/><userTask id="after"/>
        <sequenceFlow id="f3" sourceRef="after" targetRef="e"/><endEvent id="e"/>"#,
    );
    let mut sim = start(&xml, json!({}));
    complete(&mut sim, "fast", json!({}));
    assert_eq!(tasks(&sim), ["after"]);
    assert!(completed(&sim, 0).contains(&"sub".to_string()), "the sub-process completed normally");
}

#[test]
fn link_events_jump_within_the_scope() {
    let xml = model(
        "",
        r#"<startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="go"/>
        <intermediateThrowEvent id="go"><linkEventDefinition name="page2"/></intermediateThrowEvent>
        <intermediateCatchEvent id="land"><linkEventDefinition name="page2"/></intermediateCatchEvent>
        <sequenceFlow id="f2" sourceRef="land" targetRef="e"/><endEvent id="e"/>"#,
    );
    let sim = start(&xml, json!({}));
    assert_eq!(completed(&sim, 0), ["s", "go", "land", "e"]);
    assert_eq!(status(&sim), Status::Completed);
}

#[test]
fn signals_reach_every_waiting_catch_and_start_processes() {
    let xml = format!(
        r#"{HEAD}<signal id="sig" name="alarm"/>
        <process id="p" isExecutable="true">
          <startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="fork"/><parallelGateway id="fork"/>
          <sequenceFlow id="f2" sourceRef="fork" targetRef="listen"/><sequenceFlow id="f3" sourceRef="fork" targetRef="work"/>
          <intermediateCatchEvent id="listen"><signalEventDefinition signalRef="sig"/></intermediateCatchEvent>
          <sequenceFlow id="f4" sourceRef="listen" targetRef="e1"/><endEvent id="e1"/>
          <userTask id="work"/><sequenceFlow id="f5" sourceRef="work" targetRef="shout"/>
          <endEvent id="shout"><signalEventDefinition signalRef="sig"/></endEvent>
        </process>
        <process id="q" isExecutable="true">
          <startEvent id="qs"><signalEventDefinition signalRef="sig"/></startEvent>
          <sequenceFlow id="q1" sourceRef="qs" targetRef="qe"/><endEvent id="qe"/>
        </process></definitions>"#
    );
    let mut sim = start(&xml, json!({}));
    complete(&mut sim, "work", json!({}));
    assert_eq!(status(&sim), Status::Completed, "the throw reached the catch in the same Request");
    assert_eq!(sim.requests(), 2, "the signal started a Request of `q`");
    assert_eq!(sim.instance(1).unwrap().status(), Status::Completed);
}

#[test]
fn message_start_event_starts_a_request() {
    let xml = format!(
        r#"{HEAD}<message id="m" name="order_placed"/>
        <process id="p" isExecutable="true">
          <startEvent id="s"><messageEventDefinition messageRef="m"/></startEvent>
          <sequenceFlow id="f1" sourceRef="s" targetRef="t"/><userTask id="t"/>
        </process></definitions>"#
    );
    let processes = common::import_str(&xml);
    let mut sim = Sim::new(processes, common::t0());
    let err = sim.start("p", Default::default()).unwrap_err().to_string();
    assert!(err.contains("message `order_placed`"), "{err}");
    assert_eq!(sim.publish_message("order_placed", None, json!({"n": 1}).as_object().cloned().unwrap()), [0]);
    sim.settle(&mut StubConnectors);
    assert_eq!(tasks(&sim), ["t"]);
    assert_eq!(data(&sim)["n"], 1);
}

#[test]
fn standard_loop_repeats_while_its_condition_holds_up_to_the_maximum() {
    let body = |max: &str| {
        format!(
            r#"<startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="count"/>
        <scriptTask id="count" sluice:resultVariable="n"><script>= n + 1</script>
          <standardLoopCharacteristics testBefore="false" {max}><loopCondition>n &lt; 5</loopCondition></standardLoopCharacteristics>
        </scriptTask>
        <sequenceFlow id="f2" sourceRef="count" targetRef="e"/><endEvent id="e"/>"#
        )
    };
    let sim = start(&model("", &body("")), json!({"n": 0}));
    assert_eq!(data(&sim)["n"], 5);
    let sim = start(&model("", &body(r#"loopMaximum="2""#)), json!({"n": 0}));
    assert_eq!(data(&sim)["n"], 2);
    assert_eq!(status(&sim), Status::Completed);
}

#[test]
fn multi_instance_collects_outputs_by_index_not_completion_order() {
    let xml = model(
        "",
        r#"<startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="vote"/>
        <userTask id="vote">
          <multiInstanceLoopCharacteristics sluice:collection="= voters" sluice:elementVariable="voter"
              sluice:outputCollection="votes" sluice:outputElement="= voter + &quot;:&quot; + choice"/>
        </userTask>
        <sequenceFlow id="f2" sourceRef="vote" targetRef="e"/><endEvent id="e"/>"#,
    );
    let mut sim = start(&xml, json!({"voters": ["ana", "ben", "cy"]}));
    let open = sim.tasks();
    assert_eq!(open.len(), 3);
    for (i, (r, t)) in open.into_iter().enumerate().rev() {
        let choice = ["yes", "no", "maybe"][i];
        sim.complete_task(r, t.token, json!({"choice": choice}).as_object().cloned().unwrap()).unwrap();
        sim.settle(&mut StubConnectors);
    }
    assert_eq!(status(&sim), Status::Completed);
    assert_eq!(data(&sim)["votes"], json!(["ana:yes", "ben:no", "cy:maybe"]));
    assert!(data(&sim).get("choice").is_none(), "instance data stays in the instance");
}

#[test]
fn multi_instance_over_nothing_passes_through_and_bad_collections_raise_incidents() {
    let xml = model(
        "",
        r#"<startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="each"/>
        <userTask id="each"><multiInstanceLoopCharacteristics isSequential="true" sluice:collection="= items"/></userTask>
        <sequenceFlow id="f2" sourceRef="each" targetRef="e"/><endEvent id="e"/>"#,
    );
    let sim = start(&xml, json!({"items": []}));
    assert_eq!(status(&sim), Status::Completed);
    let sim = start(&xml, json!({"items": "oops"}));
    let inc = &sim.instance(0).unwrap().incidents()[0];
    assert_eq!(inc.code, "expression_failed");
    assert!(inc.message.contains("not a list"), "{}", inc.message);
}

#[test]
fn call_activity_passes_data_in_and_out_and_child_errors_reach_its_boundary() {
    let xml = format!(
        r#"{HEAD}<error id="e_bad" errorCode="bad_input"/>
        <process id="p" isExecutable="true">
          <startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="call"/>
          <callActivity id="call" calledElement="child"/>
          <boundaryEvent id="caught" attachedToRef="call"><errorEventDefinition errorRef="e_bad"/></boundaryEvent>
          <sequenceFlow id="f2" sourceRef="call" targetRef="ok"/><endEvent id="ok"/>
          <sequenceFlow id="f3" sourceRef="caught" targetRef="fixit"/><userTask id="fixit"/>
        </process>
        <process id="child" isExecutable="false">
          <startEvent id="cs"/><sequenceFlow id="c1" sourceRef="cs" targetRef="double"/>
          <scriptTask id="double" sluice:resultVariable="y"><script>= x * 2</script></scriptTask>
          <sequenceFlow id="c2" sourceRef="double" targetRef="gw"/><exclusiveGateway id="gw" default="c4"/>
          <sequenceFlow id="c3" sourceRef="gw" targetRef="boom"><conditionExpression>y &gt; 10</conditionExpression></sequenceFlow>
          <sequenceFlow id="c4" sourceRef="gw" targetRef="ce"/><endEvent id="ce"/>
          <endEvent id="boom"><errorEventDefinition errorRef="e_bad"/></endEvent>
        </process></definitions>"#
    );
    let sim = start(&xml, json!({"x": 3}));
    assert_eq!(status(&sim), Status::Completed);
    assert_eq!(data(&sim)["y"], 6, "the child's variables come back out");
    let sim = start(&xml, json!({"x": 30}));
    assert_eq!(tasks(&sim), ["fixit"], "the child's uncaught error was caught at the call activity");
    assert_eq!(sim.instance(1).unwrap().status(), Status::Canceled);
}

/// A connector host that fails the first call of each element, then answers `{"ok": true}`.
struct Flaky(Vec<String>);

impl ConnectorHost for Flaky {
    fn invoke(&mut self, call: ConnectorInvocation<'_>) -> ConnectorOutcome {
        if self.0.iter().any(|e| e == call.element_id) {
            ConnectorOutcome::Completed(json!({"ok": true, "attempt": call.attempt}))
        } else {
            self.0.push(call.element_id.to_string());
            ConnectorOutcome::Failed("the service said 503".into())
        }
    }
}

#[test]
fn incidents_wait_for_a_retry() {
    let xml = model(
        "",
        r#"<startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="call"/>
        <serviceTask id="call" implementation="http">
          <extensionElements><sluice:input name="url" value="http://x"/><sluice:input name="result_variable" value="answer"/></extensionElements>
        </serviceTask>
        <sequenceFlow id="f2" sourceRef="call" targetRef="gw"/><exclusiveGateway id="gw"/>
        <sequenceFlow id="f3" sourceRef="gw" targetRef="e"><conditionExpression>limit &gt; 3</conditionExpression></sequenceFlow>
        <endEvent id="e"/>"#,
    );
    let processes = common::import_str(&xml);
    let mut sim = Sim::new(processes, common::t0());
    let mut host = Flaky(Vec::new());
    sim.start("p", Default::default()).unwrap();
    sim.settle(&mut host);
    let inc = sim.instance(0).unwrap().incidents()[0].clone();
    assert_eq!((inc.code.as_str(), inc.message.as_str()), ("connector_failed", "the service said 503"));
    sim.step(0, Input::Retry { incident: inc.id }).unwrap();
    sim.settle(&mut host);
    assert_eq!(data(&sim)["answer"], json!({"ok": true, "attempt": 2}));
    // Now the condition lacks `limit`: an incident, not a silent `false`.
    let inc = sim.instance(0).unwrap().incidents()[0].clone();
    assert_eq!(inc.code, "expression_failed");
    assert!(inc.message.contains("limit > 3"), "{}", inc.message);
    assert_eq!(sim.step(0, Input::Retry { incident: inc.id }).map_err(|e| e.to_string()), Ok(()));
    sim.settle(&mut host);
    assert_eq!(sim.instance(0).unwrap().incidents().len(), 1, "still failing without data");
    let inc = sim.instance(0).unwrap().incidents()[0].clone();
    sim.merge_data(0, json!({"limit": 5}).as_object().cloned().unwrap());
    sim.step(0, Input::Retry { incident: inc.id }).unwrap();
    sim.settle(&mut host);
    assert_eq!(status(&sim), Status::Completed);
    assert!(matches!(
        sim.step(0, Input::Retry { incident: inc.id }),
        Err(sluice_engine::sim::SimError::Step(StepError::Ended))
    ));
}

#[test]
fn uncaught_errors_and_dead_end_gateways_are_incidents() {
    let xml = model(
        r#"<error id="err" errorCode="nope"/>"#,
        r#"<startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="boom"/>
        <endEvent id="boom"><errorEventDefinition errorRef="err"/></endEvent>"#,
    );
    let sim = start(&xml, json!({}));
    let inc = &sim.instance(0).unwrap().incidents()[0];
    assert_eq!(inc.code, "uncaught_error");
    assert!(inc.message.contains("`nope`"), "{}", inc.message);
    assert_eq!(status(&sim), Status::Active);
}

#[test]
fn an_endless_loop_becomes_an_incident() {
    let xml = model(
        "",
        r#"<startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="a"/>
        <exclusiveGateway id="a"/><sequenceFlow id="f2" sourceRef="a" targetRef="b"/>
        <task id="b"/><sequenceFlow id="f3" sourceRef="b" targetRef="a"/>"#,
    );
    let sim = start(&xml, json!({}));
    let inc = &sim.instance(0).unwrap().incidents()[0];
    assert_eq!(inc.code, "endless_loop");
}

#[test]
fn cancel_withdraws_everything_and_bad_inputs_change_nothing() {
    let xml = model(
        "",
        r#"<startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="t"/><userTask id="t"/>
        <boundaryEvent id="late" attachedToRef="t"><timerEventDefinition><timeDuration>PT1H</timeDuration></timerEventDefinition></boundaryEvent>
        <sequenceFlow id="f2" sourceRef="t" targetRef="e"/><endEvent id="e"/>
        <sequenceFlow id="f3" sourceRef="late" targetRef="e"/>"#,
    );
    let mut sim = start(&xml, json!({}));
    let before = sim.instance(0).unwrap().clone();
    let t = sim.tasks()[0].1.token;
    let bogus = sluice_engine::runtime::TokenId(t.0 + 100);
    assert!(sim.step(0, Input::CompleteTask { token: bogus, data: Default::default() }).is_err());
    assert!(
        sim.step(0, Input::ConnectorCompleted { token: t, output: json!(1) }).is_err(),
        "a task is not a connector"
    );
    assert_eq!(format!("{:?}", sim.instance(0).unwrap()), format!("{before:?}"), "refused inputs change nothing");
    sim.step(0, Input::Cancel).unwrap();
    assert_eq!(status(&sim), Status::Canceled);
    assert!(sim.instance(0).unwrap().tokens().is_empty() && sim.instance(0).unwrap().subscriptions().is_empty());
}

#[test]
fn timer_cycles_dates_and_expressions() {
    let xml = model(
        "",
        r#"<startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="t"/><userTask id="t"/>
        <boundaryEvent id="nag" attachedToRef="t" cancelActivity="false"><timerEventDefinition><timeCycle>R3/PT1H</timeCycle></timerEventDefinition></boundaryEvent>
        <sequenceFlow id="f2" sourceRef="nag" targetRef="ne"/><endEvent id="ne"/>
        <sequenceFlow id="f3" sourceRef="t" targetRef="until"/>
        <intermediateCatchEvent id="until"><timerEventDefinition><timeDate>2026-03-01T09:00:00Z</timeDate></timerEventDefinition></intermediateCatchEvent>
        <sequenceFlow id="f4" sourceRef="until" targetRef="pause"/>
        <intermediateCatchEvent id="pause"><timerEventDefinition><timeDuration>= delay</timeDuration></timerEventDefinition></intermediateCatchEvent>
        <sequenceFlow id="f5" sourceRef="pause" targetRef="e"/><endEvent id="e"/>"#,
    );
    let mut sim = start(&xml, json!({"delay": "PT5M"}));
    for _ in 0..5 {
        if sim.next_timer().is_some_and(|d| d <= common::t0() + chrono::Duration::hours(10)) {
            next_timer(&mut sim);
        }
    }
    let nags = completed(&sim, 0).iter().filter(|e| *e == "nag").count();
    assert_eq!(nags, 3, "R3 fires three times");
    complete(&mut sim, "t", json!({}));
    next_timer(&mut sim);
    assert_eq!(sim.now().to_rfc3339(), "2026-03-01T09:00:00+00:00");
    next_timer(&mut sim);
    assert_eq!(sim.now().to_rfc3339(), "2026-03-01T09:05:00+00:00");
    assert_eq!(status(&sim), Status::Completed);
}

#[test]
fn receive_tasks_and_event_gateways_correlate_by_key() {
    let xml = model(
        r#"<message id="paid" name="paid" sluice:correlationKey="= invoice"/><message id="cancel" name="cancel" sluice:correlationKey="= invoice"/>"#,
        r#"<startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="race"/><eventBasedGateway id="race"/>
        <sequenceFlow id="f2" sourceRef="race" targetRef="got_paid"/><sequenceFlow id="f3" sourceRef="race" targetRef="got_cancel"/>
        <receiveTask id="got_paid" messageRef="paid"/>
        <intermediateCatchEvent id="got_cancel"><messageEventDefinition messageRef="cancel"/></intermediateCatchEvent>
        <sequenceFlow id="f4" sourceRef="got_paid" targetRef="e1"/><endEvent id="e1"/>
        <sequenceFlow id="f5" sourceRef="got_cancel" targetRef="e2"/><endEvent id="e2"/>"#,
    );
    let mut sim = start(&xml, json!({"invoice": 42}));
    let keys: Vec<Option<String>> = sim
        .instance(0)
        .unwrap()
        .subscriptions()
        .into_iter()
        .filter_map(|s| match s.kind {
            SubscriptionKind::Message { correlation_key, .. } => Some(correlation_key),
            _ => None,
        })
        .collect();
    assert_eq!(keys, [Some("42".to_string()), Some("42".to_string())]);
    sim.publish_message("paid", Some("42"), json!({"amount": 10}).as_object().cloned().unwrap());
    sim.settle(&mut StubConnectors);
    assert_eq!(status(&sim), Status::Completed);
    assert_eq!(completed(&sim, 0), ["s", "race", "got_paid", "e1"]);
    assert!(sim.instance(0).unwrap().subscriptions().is_empty(), "the losing branch was withdrawn");
    assert_eq!(data(&sim)["amount"], 10);
}

#[test]
fn stored_state_leaves_defaults_out_and_reads_them_back() {
    let xml = model(
        "",
        r#"<startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="t"/><userTask id="t"/>
        <sequenceFlow id="f2" sourceRef="t" targetRef="e"/><endEvent id="e"/>"#,
    );
    let sim = start(&xml, json!({"a": 1}));
    let compact = serde_json::to_value(sim.instance(0).unwrap()).unwrap();
    for absent in ["called", "subscriptions", "incidents", "next_subscription", "next_incident"] {
        assert!(compact.get(absent).is_none(), "{absent} is written: {compact}");
    }
    assert_eq!(compact["tokens"].as_array().map(Vec::len), Some(1), "{compact}");
    assert!(compact["scopes"][0].get("parent").is_none() && compact["tokens"][0].get("inner").is_none(), "{compact}");

    // A state stored by an earlier version, every field written out, reads as the same state.
    let mut verbose = compact.clone();
    for (field, value) in [
        ("called", json!(false)),
        ("subscriptions", json!([])),
        ("incidents", json!([])),
        ("next_subscription", json!(0)),
        ("next_incident", json!(0)),
    ] {
        verbose[field] = value;
    }
    for scope in verbose["scopes"].as_array_mut().unwrap() {
        scope["parent"] = Value::Null;
        scope["owner"] = Value::Null;
    }
    verbose["tokens"][0]["inner"] = json!(false);
    let back: sluice_engine::Instance = serde_json::from_value(verbose).unwrap();
    assert_eq!(serde_json::to_value(&back).unwrap(), compact);
    assert_eq!(back.data(), sim.instance(0).unwrap().data());
}

/// An input whose handling kept killing the process is parked behind a `job_crashed` incident:
/// nothing moves until a person retries it, and then it is applied as it would have been.
#[test]
fn a_parked_timer_waits_for_a_retry_and_then_fires() {
    use sluice_engine::Instance;
    let xml = model(
        "",
        r#"<startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="wait"/>
           <intermediateCatchEvent id="wait"><timerEventDefinition><timeDuration>PT1H</timeDuration></timerEventDefinition></intermediateCatchEvent>
           <sequenceFlow id="f2" sourceRef="wait" targetRef="review"/>
           <userTask id="review"/>
           <boundaryEvent id="late" attachedToRef="review"><timerEventDefinition><timeDuration>PT2H</timeDuration></timerEventDefinition></boundaryEvent>
           <sequenceFlow id="f3" sourceRef="review" targetRef="e"/><endEvent id="e"/>
           <sequenceFlow id="f4" sourceRef="late" targetRef="e2"/><endEvent id="e2"/>"#,
    );
    let p = common::import_str(&xml).remove(0);
    let t0 = common::t0();
    let mut out = Vec::new();
    let mut inst = Instance::start(&p, Default::default(), sluice_engine::Start::Default, t0, &mut out).unwrap();
    let timer = |inst: &Instance| inst.subscriptions().iter().map(|s| s.id).next().expect("a timer waits");
    let park = |input: Input| Input::Park { input: Box::new(input), message: "started 2 times".into() };

    let sub = timer(&inst);
    inst.step(&p, park(Input::TimerFired { subscription: sub }), t0, &mut out).unwrap();
    let incident = inst.incidents()[0].clone();
    assert_eq!((incident.code.as_str(), incident.message.as_str()), ("job_crashed", "started 2 times"));
    assert_eq!(p.element(incident.element).id, "wait");
    // The token still waits on its timer; the Request state survives a round trip.
    assert_eq!(inst.subscriptions().len(), 1);
    let mut inst: Instance = serde_json::from_value(serde_json::to_value(&inst).unwrap()).unwrap();
    assert_eq!(inst.incidents().len(), 1);

    inst.step(&p, Input::Retry { incident: incident.id }, t0, &mut out).unwrap();
    assert!(inst.incidents().is_empty());
    let at: Vec<String> = inst.tokens().iter().map(|t| p.element(t.element).id.clone()).collect();
    assert_eq!(at, ["review"], "the parked timer fired on retry");

    // A parked boundary timer whose host completes: the incident goes with the subscription.
    let late = timer(&inst);
    inst.step(&p, park(Input::TimerFired { subscription: late }), t0, &mut out).unwrap();
    assert_eq!(inst.incidents().len(), 1);
    let review = inst.tokens()[0].id;
    inst.step(&p, Input::CompleteTask { token: review, data: Default::default() }, t0, &mut out).unwrap();
    assert!(inst.incidents().is_empty(), "{:?}", inst.incidents());
    assert_eq!(inst.status(), Status::Completed);

    // Only inputs a job carries can be parked, and only for what still waits.
    let mut inst = Instance::start(&p, Default::default(), sluice_engine::Start::Default, t0, &mut out).unwrap();
    assert!(inst.step(&p, park(Input::Cancel), t0, &mut out).is_err());
    let gone = sluice_engine::runtime::SubscriptionId(99);
    assert_eq!(
        inst.step(&p, park(Input::TimerFired { subscription: gone }), t0, &mut out),
        Err(StepError::UnknownSubscription)
    );
    assert!(inst.incidents().is_empty());
}

#[test]
fn feel_now_is_the_time_of_the_step_on_the_virtual_clock() {
    let xml = model(
        "",
        r#"<startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="first"/>
        <scriptTask id="first" sluice:resultVariable="started"><script>= now()</script></scriptTask>
        <sequenceFlow id="f2" sourceRef="first" targetRef="wait"/>
        <intermediateCatchEvent id="wait"><timerEventDefinition><timeDuration>P2D</timeDuration></timerEventDefinition></intermediateCatchEvent>
        <sequenceFlow id="f3" sourceRef="wait" targetRef="gw"/><exclusiveGateway id="gw"/>
        <sequenceFlow id="late" sourceRef="gw" targetRef="e1"><conditionExpression>= today() &gt; date(started)</conditionExpression></sequenceFlow>
        <sequenceFlow id="early" sourceRef="gw" targetRef="e2"><conditionExpression>= today() = date(started)</conditionExpression></sequenceFlow>
        <endEvent id="e1"/><endEvent id="e2"/>"#,
    );
    let mut sim = start(&xml, json!({}));
    assert_eq!(data(&sim)["started"], json!("2026-01-01T00:00:00Z"));
    next_timer(&mut sim);
    assert_eq!(status(&sim), Status::Completed);
    assert!(completed(&sim, 0).contains(&"e1".to_string()), "{:?}", completed(&sim, 0));
}

/// A multi-instance script task or sub-process over `items` (or a cardinality of 3), sequential or
/// parallel, each instance adding its item (or its counter) to the Request's `total` and setting
/// `tmp`, with an output collection.
fn summing(sub_process: bool, sequential: bool, cardinality: bool) -> String {
    let looping = format!(
        r#"<multiInstanceLoopCharacteristics isSequential="{sequential}" {}
              sluice:outputCollection="outs" sluice:outputElement="= loopCounter * 10">{}</multiInstanceLoopCharacteristics>"#,
        if cardinality { "" } else { r#"sluice:collection="= items" sluice:elementVariable="x""# },
        if cardinality { "<loopCardinality>3</loopCardinality>" } else { "" },
    );
    let add = if cardinality { "loopCounter" } else { "x" };
    let scripts = format!(
        r#"<scriptTask id="add" sluice:resultVariable="total"><script>= total + {add}</script></scriptTask>
           <sequenceFlow id="a1" sourceRef="add" targetRef="tmp"/>
           <scriptTask id="tmp" sluice:resultVariable="tmp"><script>= {add}</script></scriptTask>"#
    );
    let body = if sub_process {
        format!(
            r#"<subProcess id="each">{looping}
                 <startEvent id="ss"/><sequenceFlow id="s1" sourceRef="ss" targetRef="add"/>{scripts}
                 <sequenceFlow id="s2" sourceRef="tmp" targetRef="se"/><endEvent id="se"/>
               </subProcess>"#
        )
    } else {
        // One script task: the sum only (a task has one result variable).
        format!(
            r#"<scriptTask id="each" sluice:resultVariable="total"><script>= total + {add}</script>{looping}</scriptTask>"#
        )
    };
    model(
        "",
        &format!(
            r#"<startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="each"/>{body}
               <sequenceFlow id="f2" sourceRef="each" targetRef="e"/><endEvent id="e"/>"#
        ),
    )
}

#[test]
fn multi_instance_writes_reach_variables_defined_outside_and_outputs_fill_with_a_cardinality() {
    for sub_process in [false, true] {
        for sequential in [true, false] {
            for cardinality in [false, true] {
                let case = format!("sub-process {sub_process}, sequential {sequential}, cardinality {cardinality}");
                let sim =
                    start(&summing(sub_process, sequential, cardinality), json!({"items": [1, 2, 4], "total": 100}));
                assert_eq!(status(&sim), Status::Completed, "{case}");
                let d = data(&sim);
                // 1 + 2 + 4 from the items, or 1 + 2 + 3 from the counters: every instance's
                // write reached the Request's `total`.
                let sum = if cardinality { 106 } else { 107 };
                assert_eq!(d["total"], json!(sum), "{case}: {d}");
                // The output collection, by instance, with a collection or a cardinality.
                assert_eq!(d["outs"], json!([10, 20, 30]), "{case}: {d}");
                // A variable defined nowhere outside stayed in each instance.
                assert!(d.get("tmp").is_none(), "{case}: {d}");
            }
        }
    }
}

#[test]
fn the_standard_output_collection_is_filled_with_a_cardinality_too() {
    let xml = model(
        "",
        r#"<startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="each"/>
        <scriptTask id="each" sluice:resultVariable="r"><script>= loopCounter * 2</script>
          <multiInstanceLoopCharacteristics>
            <loopCardinality>3</loopCardinality>
            <loopDataOutputRef>doubled</loopDataOutputRef>
            <outputDataItem name="r"/>
          </multiInstanceLoopCharacteristics>
        </scriptTask>
        <sequenceFlow id="f2" sourceRef="each" targetRef="e"/><endEvent id="e"/>"#,
    );
    let sim = start(&xml, json!({}));
    assert_eq!(status(&sim), Status::Completed);
    assert_eq!(data(&sim)["doubled"], json!([2, 4, 6]));
}

#[test]
fn a_multi_instance_user_tasks_completion_data_updates_the_requests_variable_and_keeps_its_own() {
    let xml = model(
        "",
        r#"<startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="vote"/>
        <userTask id="vote">
          <multiInstanceLoopCharacteristics sluice:collection="= voters" sluice:elementVariable="voter"
              sluice:outputCollection="notes" sluice:outputElement="= note + &quot;@&quot; + string(count)"/>
        </userTask>
        <sequenceFlow id="f2" sourceRef="vote" targetRef="e"/><endEvent id="e"/>"#,
    );
    let mut sim = start(&xml, json!({"voters": ["ana", "ben", "cy"], "count": 0}));
    for (i, voter) in ["ana", "ben", "cy"].into_iter().enumerate() {
        let (r, t) = sim.tasks().into_iter().next().unwrap();
        let done = json!({"count": i + 1, "note": voter});
        sim.complete_task(r, t.token, done.as_object().cloned().unwrap()).unwrap();
        sim.settle(&mut StubConnectors);
        // The Request's `count` was updated at once, for the instances still open to see.
        assert_eq!(data(&sim)["count"], json!(i + 1));
    }
    assert_eq!(status(&sim), Status::Completed);
    let d = data(&sim);
    assert_eq!(d["notes"], json!(["ana@1", "ben@2", "cy@3"]), "{d}");
    assert!(d.get("note").is_none(), "`note`, defined nowhere outside, stayed in each instance: {d}");
}

/// A connector host that answers with the Request's `total` plus the instance's item `x`, and
/// with the item as `seen`.
struct Adder;

impl ConnectorHost for Adder {
    fn invoke(&mut self, call: ConnectorInvocation<'_>) -> ConnectorOutcome {
        let n = |k: &str| call.variables.get(k).and_then(Value::as_i64).unwrap_or(0);
        match call.element_id {
            "add" => ConnectorOutcome::Completed(json!(n("total") + n("x"))),
            _ => ConnectorOutcome::Completed(json!(n("x"))),
        }
    }
}

#[test]
fn a_multi_instance_connectors_result_updates_the_requests_variable_and_keeps_its_own() {
    let task = |id: &str, result: &str, outputs: &str| {
        format!(
            r#"<serviceTask id="{id}" implementation="http">
              <extensionElements><sluice:input name="url" value="http://x"/><sluice:input name="result_variable" value="{result}"/></extensionElements>
              <multiInstanceLoopCharacteristics isSequential="true" sluice:collection="= items" sluice:elementVariable="x" {outputs}/>
            </serviceTask>"#
        )
    };
    let xml = model(
        "",
        &format!(
            r#"<startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="add"/>{}
            <sequenceFlow id="f2" sourceRef="add" targetRef="see"/>{}
            <sequenceFlow id="f3" sourceRef="see" targetRef="e"/><endEvent id="e"/>"#,
            task("add", "total", ""),
            task("see", "seen", r#"sluice:outputCollection="seens" sluice:outputElement="= seen * 10""#),
        ),
    );
    let processes = common::import_str(&xml);
    let mut sim = Sim::new(processes, common::t0());
    sim.start("p", json!({"items": [1, 2, 4], "total": 100}).as_object().cloned().unwrap()).unwrap();
    sim.settle(&mut Adder);
    assert_eq!(status(&sim), Status::Completed);
    let d = data(&sim);
    assert_eq!(d["total"], json!(107), "each result reached the Request's `total`: {d}");
    assert_eq!(d["seens"], json!([10, 20, 40]), "{d}");
    assert!(d.get("seen").is_none(), "`seen`, defined nowhere outside, stayed in each instance: {d}");
}

#[test]
fn camunda_8_loop_characteristics_fill_their_output_collection() {
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:sluice="urn:sluice:bpmn:1" xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="defs" targetNamespace="urn:t">
<process id="p" isExecutable="true">
  <startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="each"/>
  <scriptTask id="each" sluice:resultVariable="doubled"><script>= x * 2</script>
    <multiInstanceLoopCharacteristics>
      <extensionElements><zeebe:loopCharacteristics inputCollection="= items" inputElement="x" outputCollection="results" outputElement="= {item: x, doubled: doubled}"/></extensionElements>
    </multiInstanceLoopCharacteristics>
  </scriptTask>
  <sequenceFlow id="f2" sourceRef="each" targetRef="e"/><endEvent id="e"/>
</process></definitions>"#;
    let sim = start(xml, json!({"items": [1, 2, 3]}));
    assert_eq!(status(&sim), Status::Completed);
    let d = data(&sim);
    assert_eq!(
        d["results"],
        json!([{"item": 1, "doubled": 2}, {"item": 2, "doubled": 4}, {"item": 3, "doubled": 6}]),
        "{d}"
    );
    assert!(d.get("doubled").is_none(), "{d}");
}

#[test]
fn an_output_element_that_fails_is_an_incident_a_retry_evaluates_again() {
    let xml = model(
        "",
        r#"<startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="each"/>
        <scriptTask id="each" sluice:resultVariable="r"><script>= x</script>
          <multiInstanceLoopCharacteristics isSequential="true" sluice:collection="= items" sluice:elementVariable="x"
              sluice:outputCollection="outs" sluice:outputElement="= r * factor"/>
        </scriptTask>
        <sequenceFlow id="f2" sourceRef="each" targetRef="e"/><endEvent id="e"/>"#,
    );
    let mut sim = start(&xml, json!({"items": [1, 2], "factor": "ten"}));
    assert_eq!(status(&sim), Status::Active, "not a silent null");
    let inc = sim.instance(0).unwrap().incidents()[0].clone();
    assert_eq!(inc.code, "expression_failed");
    assert!(inc.message.contains("output element `= r * factor` of `each`"), "{}", inc.message);
    sim.merge_data(0, json!({"factor": 10}).as_object().cloned().unwrap());
    sim.step(0, Input::Retry { incident: inc.id }).unwrap();
    sim.settle(&mut StubConnectors);
    assert_eq!(status(&sim), Status::Completed);
    assert_eq!(data(&sim)["outs"], json!([10, 20]));
}

#[test]
fn a_timer_expression_that_gives_a_negative_duration_is_an_incident_naming_it() {
    let xml = model(
        "",
        r#"<startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="wait"/>
        <intermediateCatchEvent id="wait"><timerEventDefinition><timeDuration>= delay</timeDuration></timerEventDefinition></intermediateCatchEvent>
        <sequenceFlow id="f2" sourceRef="wait" targetRef="e"/><endEvent id="e"/>"#,
    );
    let sim = start(&xml, json!({"delay": "-PT5M"}));
    assert_eq!(status(&sim), Status::Active, "not an instant fire");
    let inc = &sim.instance(0).unwrap().incidents()[0];
    assert_eq!(inc.code, "expression_failed");
    assert!(inc.message.contains("`= delay`") || inc.message.contains("`delay`"), "{}", inc.message);
    assert!(inc.message.contains("negative duration `-PT5M`"), "{}", inc.message);
}

/// An element that waits across steps reports how long it waited when it completes (the element
/// duration metric reads it); elements passed within one step report nothing. The entry time
/// survives the state's round trip through storage.
#[test]
fn a_waiting_element_reports_how_long_it_waited() {
    use sluice_engine::{Command, Instance};
    let xml = model(
        "",
        r#"<startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="review"/>
           <userTask id="review"/><sequenceFlow id="f2" sourceRef="review" targetRef="e"/><endEvent id="e"/>"#,
    );
    let p = common::import_str(&xml).remove(0);
    let t0 = common::t0();
    let mut out = Vec::new();
    let inst = Instance::start(&p, Default::default(), sluice_engine::Start::Default, t0, &mut out).unwrap();
    let waited = |out: &[Command]| -> Vec<(String, Option<u64>)> {
        out.iter()
            .filter_map(|c| match c {
                Command::ElementCompleted { element, waited_us, .. } => {
                    Some((p.element(*element).id.clone(), *waited_us))
                }
                _ => None,
            })
            .collect()
    };
    assert_eq!(waited(&out), [("s".to_string(), None)]);
    let mut inst: Instance = serde_json::from_value(serde_json::to_value(&inst).unwrap()).unwrap();
    let token = inst.tokens()[0].id;
    let mut out = Vec::new();
    let later = t0 + chrono::Duration::milliseconds(90_500);
    inst.step(&p, Input::CompleteTask { token, data: Default::default() }, later, &mut out).unwrap();
    assert_eq!(waited(&out), [("review".to_string(), Some(90_500_000)), ("e".to_string(), None)]);
}

/// A job worker host: every task's job completes with the same variables.
struct Worker(Value);

impl ConnectorHost for Worker {
    fn invoke(&mut self, _call: ConnectorInvocation<'_>) -> ConnectorOutcome {
        ConnectorOutcome::JobCompleted(self.0.as_object().cloned().unwrap_or_default())
    }
}

#[test]
fn a_job_workers_variables_go_through_the_tasks_output_mappings() {
    let head = r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:sluice="urn:sluice:bpmn:1"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="d" targetNamespace="urn:t">"#;
    let run = |task: &str| {
        let xml = format!(
            r#"{head}<process id="p" isExecutable="true"><startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="ship"/>
            {task}<sequenceFlow id="f2" sourceRef="ship" targetRef="e"/><endEvent id="e"/></process></definitions>"#
        );
        let processes = common::import_str(&xml);
        let mut sim = Sim::new(processes, common::t0());
        sim.start("p", json!({"order": "A-1"}).as_object().cloned().unwrap()).unwrap();
        sim.settle(&mut Worker(json!({"tracking": "T-9", "internal": {"cost": 4}})));
        assert_eq!(status(&sim), Status::Completed, "{task}");
        data(&sim)
    };
    // Camunda 8: only what `zeebe:output` maps is written (with the worker's variables in scope).
    let c8 = run(r#"<serviceTask id="ship"><extensionElements><zeebe:taskDefinition type="ship"/>
        <zeebe:ioMapping><zeebe:output source="=tracking" target="shipment.tracking"/>
        <zeebe:output source="=internal.cost * 2" target="cost"/></zeebe:ioMapping></extensionElements></serviceTask>"#);
    assert_eq!(c8, json!({"order": "A-1", "shipment": {"tracking": "T-9"}, "cost": 8}));
    // Camunda 7 external task: its output parameters.
    let c7 = run(r#"<serviceTask id="ship" camunda:type="external" camunda:topic="ship"><extensionElements>
        <camunda:inputOutput><camunda:outputParameter name="trackingNo">${tracking}</camunda:outputParameter>
        </camunda:inputOutput></extensionElements></serviceTask>"#);
    assert_eq!(c7, json!({"order": "A-1", "trackingNo": "T-9"}));
    // A result expression (Camunda 8's header) and a result variable: added to the merged variables.
    let headers = run(r#"<serviceTask id="ship"><extensionElements><zeebe:taskDefinition type="ship"/>
        <zeebe:taskHeaders><zeebe:header key="resultVariable" value="job"/>
        <zeebe:header key="resultExpression" value="={code: tracking}"/></zeebe:taskHeaders></extensionElements></serviceTask>"#);
    assert_eq!(headers["code"], "T-9");
    assert_eq!(headers["job"], json!({"tracking": "T-9", "internal": {"cost": 4}}));
    assert_eq!(headers["tracking"], "T-9", "without output mappings the variables are merged");
    // No mappings: merged, as before.
    let plain = run(r#"<serviceTask id="ship" implementation="ship"/>"#);
    assert_eq!(plain, json!({"order": "A-1", "tracking": "T-9", "internal": {"cost": 4}}));
}

#[test]
fn a_failing_output_mapping_of_a_job_is_an_incident() {
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="d" targetNamespace="urn:t">
<process id="p" isExecutable="true"><startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="ship"/>
<serviceTask id="ship"><extensionElements><zeebe:taskDefinition type="ship"/>
<zeebe:ioMapping><zeebe:output source="=tracking + 1" target="n"/></zeebe:ioMapping></extensionElements></serviceTask>
<sequenceFlow id="f2" sourceRef="ship" targetRef="e"/><endEvent id="e"/></process></definitions>"#;
    let processes = common::import_str(xml);
    let mut sim = Sim::new(processes, common::t0());
    sim.start("p", Default::default()).unwrap();
    sim.settle(&mut Worker(json!({"tracking": "T-9"})));
    let inc = &sim.instance(0).unwrap().incidents()[0];
    assert_eq!(inc.code, "expression_failed");
    assert!(inc.message.starts_with("an output mapping of `ship` failed"), "{}", inc.message);
    assert_eq!(data(&sim), json!({}), "nothing is written");
}
