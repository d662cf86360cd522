//! Data associations on activities: `sourceRef`/`targetRef` copies between data objects and
//! data inputs and outputs, `assignment` `from`/`to`, and FEEL `transformation`s, mapped in
//! before the activity runs and out when it completes (as Camunda 7 and SpiffWorkflow map them,
//! over the Request's variables).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use serde_json::{Value, json};
use sluice_engine::sim::{Sim, StubConnectors};
use sluice_engine::{Input, Status};

const HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:sluice="urn:sluice:bpmn:1" id="defs" targetNamespace="urn:t">"#;

/// An executable process `p`: start → `body` (whose first element is `work`, last `work`) → end.
fn model(body: &str) -> String {
    format!(
        r#"{HEAD}<process id="p" isExecutable="true">
        <startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="work"/>
        {body}
        <sequenceFlow id="f2" sourceRef="work" targetRef="e"/><endEvent id="e"/>
        </process></definitions>"#
    )
}

fn run(xml: &str, data: Value) -> Sim {
    let mut sim = Sim::new(common::import_str(xml), common::t0());
    sim.start("p", data.as_object().cloned().unwrap_or_default()).unwrap();
    sim.settle(&mut StubConnectors);
    sim
}

fn data(sim: &Sim) -> Value {
    Value::Object(sim.instance(0).unwrap().data().clone())
}

fn complete_task(sim: &mut Sim, data: Value) {
    let (r, t) = sim.tasks()[0].clone();
    sim.complete_task(r, t.token, data.as_object().cloned().unwrap()).unwrap();
    sim.settle(&mut StubConnectors);
}

fn retry_only_incident(sim: &mut Sim) {
    let inc = sim.instance(0).unwrap().incidents()[0].id;
    sim.step(0, Input::Retry { incident: inc }).unwrap();
    sim.settle(&mut StubConnectors);
}

#[test]
fn data_objects_flow_into_data_inputs_and_out_of_data_outputs() {
    // A data object reference without a name stands for its data object's name; one with a name
    // for that name.
    let xml = model(
        r#"<dataObject id="DO_order" name="order"/><dataObjectReference id="ref_order" dataObjectRef="DO_order"/>
        <dataObject id="DO_sum"/><dataObjectReference id="ref_sum" name="sum" dataObjectRef="DO_sum"/>
        <scriptTask id="work" sluice:resultVariable="total">
          <ioSpecification>
            <dataInput id="work_in" name="o"/><dataOutput id="work_out" name="total"/>
            <inputSet><dataInputRefs>work_in</dataInputRefs></inputSet><outputSet><dataOutputRefs>work_out</dataOutputRefs></outputSet>
          </ioSpecification>
          <dataInputAssociation id="in1"><sourceRef>ref_order</sourceRef><targetRef>work_in</targetRef></dataInputAssociation>
          <dataOutputAssociation id="out1"><sourceRef>work_out</sourceRef><targetRef>ref_sum</targetRef></dataOutputAssociation>
          <script>= o.amount * 2</script>
        </scriptTask>"#,
    );
    let sim = run(&xml, json!({"order": {"amount": 21}}));
    assert_eq!(sim.instance(0).unwrap().status(), Status::Completed);
    assert_eq!(data(&sim), json!({"order": {"amount": 21}, "o": {"amount": 21}, "total": 42, "sum": 42}));
}

#[test]
fn assignments_and_transformations_are_evaluated() {
    let xml = model(
        r#"<userTask id="work">
          <ioSpecification><dataInput id="work_in" name="greeting"/><dataOutput id="work_out" name="answer"/></ioSpecification>
          <dataInputAssociation id="in1">
            <targetRef>work_in</targetRef>
            <transformation>= "Hello " + name</transformation>
          </dataInputAssociation>
          <dataInputAssociation id="in2">
            <assignment><from>= amount + 1</from><to>work_in_limit</to></assignment>
            <assignment><from language="javascript">${amount * 3}</from><to>${tripled}</to></assignment>
          </dataInputAssociation>
          <dataOutputAssociation id="out1">
            <sourceRef>work_out</sourceRef>
            <assignment><from>= upper case(answer)</from><to>shout</to></assignment>
          </dataOutputAssociation>
        </userTask>"#,
    );
    let mut sim = run(&xml, json!({"name": "Ada", "amount": 4}));
    assert_eq!(data(&sim)["greeting"], "Hello Ada");
    assert_eq!(data(&sim)["work_in_limit"], 5);
    assert_eq!(data(&sim)["tripled"], 12);
    complete_task(&mut sim, json!({"answer": "yes"}));
    assert_eq!(sim.instance(0).unwrap().status(), Status::Completed);
    assert_eq!(data(&sim)["shout"], "YES");
}

#[test]
fn a_missing_source_or_a_failing_expression_is_an_incident_and_a_retry_starts_over() {
    let xml = model(
        r#"<dataObject id="DO_in" name="order"/>
        <userTask id="work">
          <ioSpecification><dataInput id="work_in" name="o"/></ioSpecification>
          <dataInputAssociation id="in1"><sourceRef>DO_in</sourceRef><targetRef>work_in</targetRef></dataInputAssociation>
          <dataOutputAssociation id="out1"><assignment><from>= answer * 2</from><to>doubled</to></assignment></dataOutputAssociation>
        </userTask>"#,
    );
    let mut sim = run(&xml, json!({}));
    let inc = sim.instance(0).unwrap().incidents()[0].clone();
    assert_eq!(inc.code, "data_missing");
    assert_eq!(inc.message, "data association `in1` of `work` copies `order` into `o`, but `order` is not set");
    assert!(sim.tasks().is_empty(), "the task did not start");
    sim.merge_data(0, json!({"order": 7}).as_object().cloned().unwrap());
    retry_only_incident(&mut sim);
    assert_eq!(data(&sim)["o"], 7);
    // The output fails on a text: the task has completed, the token waits at it.
    complete_task(&mut sim, json!({"answer": "many"}));
    let inc = sim.instance(0).unwrap().incidents()[0].clone();
    assert_eq!(inc.code, "expression_failed");
    assert!(
        inc.message.starts_with("data association `out1` of `work`: `= answer * 2` (for `doubled`) failed"),
        "{}",
        inc.message
    );
    assert_eq!(sim.instance(0).unwrap().status(), Status::Active);
    sim.merge_data(0, json!({"answer": 21}).as_object().cloned().unwrap());
    retry_only_incident(&mut sim);
    assert_eq!(sim.instance(0).unwrap().status(), Status::Completed);
    assert_eq!(data(&sim)["doubled"], 42);
}

#[test]
fn each_multi_instance_instance_maps_its_own_data() {
    let xml = model(
        r#"<scriptTask id="work" sluice:resultVariable="square">
          <multiInstanceLoopCharacteristics sluice:collection="= items" sluice:elementVariable="item" sluice:outputCollection="results" sluice:outputElement="= result"/>
          <dataInputAssociation id="in1"><assignment><from>= item + 1</from><to>x</to></assignment></dataInputAssociation>
          <dataOutputAssociation id="out1"><assignment><from>= square * 10</from><to>result</to></assignment></dataOutputAssociation>
          <script>= x * x</script>
        </scriptTask>"#,
    );
    let sim = run(&xml, json!({"items": [1, 2, 3]}));
    assert_eq!(sim.instance(0).unwrap().status(), Status::Completed);
    assert_eq!(data(&sim)["results"], json!([40, 90, 160]));
    assert!(data(&sim).get("result").is_none(), "each instance kept its output to itself");
}

#[test]
fn lines_drawn_by_bpmn_js_move_nothing() {
    // bpmn-js draws a data input association to a `__targetRef_placeholder` property, and a
    // data output association without a source: the task reads and writes variables itself.
    let xml = model(
        r#"<dataObjectReference id="ref" name="order" dataObjectRef="DO"/><dataObject id="DO"/>
        <task id="work">
          <property id="Property_1" name="__targetRef_placeholder"/>
          <dataInputAssociation id="in1"><sourceRef>ref</sourceRef><targetRef>Property_1</targetRef></dataInputAssociation>
          <dataOutputAssociation id="out1"><targetRef>ref</targetRef></dataOutputAssociation>
        </task>"#,
    );
    let sim = run(&xml, json!({"order": 1}));
    assert_eq!(sim.instance(0).unwrap().status(), Status::Completed);
    assert_eq!(data(&sim), json!({"order": 1}));
    let p = common::import_str(&xml);
    let work = p[0].element(p[0].element_by_id("work").unwrap());
    assert!(work.inputs.is_empty() && work.outputs.is_empty());
}
