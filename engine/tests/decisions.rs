//! Business rule tasks: each dialect's decision reference, Camunda 7's result mappings, version
//! tags, the variables a decision sees, and decision errors as incidents that a retry resolves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use serde_json::{Value, json};
use sluice_engine::sim::{Sim, StubConnectors};
use sluice_engine::{Input, Status};

const DMN_NS: &str = "https://www.omg.org/spec/DMN/20191111/MODEL/";

/// A DMN file with one decision `level` (UNIQUE): an order's `amount` to an approval level and a
/// limit. `tag` is its `versionTag`; `big` is the output entry of the largest orders' rule.
fn levels(tag: &str, big: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="{DMN_NS}" xmlns:camunda="http://camunda.org/schema/1.0/dmn" id="levels" name="Levels" namespace="urn:t">
  <decision id="level" name="Approval level" camunda:versionTag="{tag}">
    <decisionTable id="t" hitPolicy="UNIQUE">
      <input id="i1"><inputExpression id="e1" typeRef="number"><text>amount</text></inputExpression></input>
      <output id="o1" name="level" typeRef="string"/>
      <rule id="small"><inputEntry id="r1i"><text>&lt; 1000</text></inputEntry><outputEntry id="r1o"><text>"clerk"</text></outputEntry></rule>
      <rule id="medium"><inputEntry id="r2i"><text>[1000..10000)</text></inputEntry><outputEntry id="r2o"><text>"manager"</text></outputEntry></rule>
      <rule id="large"><inputEntry id="r3i"><text>&gt;= 10000</text></inputEntry><outputEntry id="r3o"><text>{big}</text></outputEntry></rule>
    </decisionTable>
  </decision>
</definitions>"#
    )
}

fn definitions(text: &str) -> Arc<sluice_dmn::Definitions> {
    let parsed = sluice_dmn::parse(sluice_dmn::Source { file: "levels.dmn", text });
    assert!(!parsed.has_errors(), "{:?}", parsed.diagnostics);
    Arc::new(parsed.definitions.unwrap())
}

/// A process `p`: start → the business rule task `decide` (its attributes and extension
/// elements given) → end.
fn model(task_attrs: &str, extension: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:sluice="urn:sluice:bpmn:1"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="d" targetNamespace="urn:t">
  <process id="p" isExecutable="true">
    <startEvent id="start"/>
    <sequenceFlow id="f1" sourceRef="start" targetRef="decide"/>
    <businessRuleTask id="decide" {task_attrs}>{extension}</businessRuleTask>
    <sequenceFlow id="f2" sourceRef="decide" targetRef="end"/>
    <endEvent id="end"/>
  </process>
</definitions>"#
    )
}

fn run(xml: &str, dmn: Option<&str>, data: Value) -> (Sim, usize) {
    let mut sim = Sim::new(common::import_str(xml), common::t0());
    if let Some(text) = dmn {
        sim.add_decisions(definitions(text));
    }
    let r = sim.start("p", data.as_object().cloned().unwrap()).unwrap();
    sim.settle(&mut StubConnectors);
    (sim, r)
}

fn data_of(sim: &Sim, r: usize) -> Value {
    Value::Object(sim.instance(r).unwrap().data().clone())
}

#[test]
fn each_dialect_stores_the_decision_result_where_it_says() {
    let dmn = levels("v1", "\"board\"");
    let sluice = model(r#"sluice:decisionRef="level" sluice:resultVariable="approver""#, "");
    let (sim, r) = run(&sluice, Some(&dmn), json!({"amount": 2500}));
    assert_eq!(sim.instance(r).unwrap().status(), Status::Completed);
    assert_eq!(data_of(&sim, r)["approver"], "manager");
    // The history names the decision, its version and the matched rule.
    let line = sim.trace().iter().find(|l| l["event"] == "decision_evaluated").unwrap();
    assert_eq!(line["decision"], "level");
    assert_eq!(line["matched"], json!([{"decision": "level", "rules": ["medium"]}]));

    let zeebe = model(
        "",
        r#"<extensionElements><zeebe:calledDecision decisionId="level" resultVariable="approver"/></extensionElements>"#,
    );
    let (sim, r) = run(&zeebe, Some(&dmn), json!({"amount": 50}));
    assert_eq!(data_of(&sim, r)["approver"], "clerk");

    // Camunda 7: resultList unless mapDecisionResult says otherwise.
    let c7 = |map: &str| {
        let map = if map.is_empty() { String::new() } else { format!(r#" camunda:mapDecisionResult="{map}""#) };
        model(&format!(r#"camunda:decisionRef="level" camunda:resultVariable="approver"{map}"#), "")
    };
    for (map, want) in [
        ("", json!([{"level": "board"}])),
        ("resultList", json!([{"level": "board"}])),
        ("singleResult", json!({"level": "board"})),
        ("singleEntry", json!("board")),
        ("collectEntries", json!(["board"])),
    ] {
        let (sim, r) = run(&c7(map), Some(&dmn), json!({"amount": 20000}));
        assert_eq!(data_of(&sim, r)["approver"], want, "mapDecisionResult `{map}`");
    }
}

#[test]
fn a_decision_error_is_an_incident_naming_decision_and_rule_and_a_retry_after_a_fix_runs_it() {
    // The large orders' rule divides by a string: an evaluation error in that rule.
    let broken = levels("v1", "amount / \"x\"");
    let xml = model(r#"sluice:decisionRef="level" sluice:resultVariable="approver""#, "");
    let (mut sim, r) = run(&xml, Some(&broken), json!({"amount": 20000}));
    let inst = sim.instance(r).unwrap();
    assert_eq!(inst.status(), Status::Active);
    let incident = inst.incidents()[0].clone();
    assert_eq!(incident.code, "decision_failed");
    assert!(incident.message.contains("decision `level`"), "{}", incident.message);
    assert!(incident.message.contains("rule `large`"), "{}", incident.message);
    assert!(!data_of(&sim, r).as_object().unwrap().contains_key("approver"), "no silent empty result");

    // Deploying the fixed decision and retrying runs it again.
    sim.add_decisions(definitions(&levels("v1", "\"board\"")));
    sim.step(r, Input::Retry { incident: incident.id }).unwrap();
    sim.settle(&mut StubConnectors);
    assert_eq!(sim.instance(r).unwrap().status(), Status::Completed);
    assert_eq!(data_of(&sim, r)["approver"], "board");
}

#[test]
fn a_pinned_version_tag_picks_only_that_version() {
    let pinned =
        model(r#"sluice:decisionRef="level" sluice:decisionVersionTag="2026-q2" sluice:resultVariable="approver""#, "");
    let (sim, r) = run(&pinned, Some(&levels("2026-q1", "\"board\"")), json!({"amount": 5}));
    let incident = &sim.instance(r).unwrap().incidents()[0];
    assert_eq!(incident.code, "decision_not_found");
    assert!(incident.message.contains("decision `level` (version tag `2026-q2`)"), "{}", incident.message);

    let (sim, r) = run(&pinned, Some(&levels("2026-q2", "\"board\"")), json!({"amount": 5}));
    assert_eq!(data_of(&sim, r)["approver"], "clerk");

    // Camunda 7's binding by version tag reads the same way.
    let c7 = model(
        r#"camunda:decisionRef="level" camunda:decisionRefBinding="versionTag" camunda:decisionRefVersionTag="2026-q2" camunda:resultVariable="approver" camunda:mapDecisionResult="singleEntry""#,
        "",
    );
    let (sim, r) = run(&c7, Some(&levels("2026-q2", "\"board\"")), json!({"amount": 5}));
    assert_eq!(data_of(&sim, r)["approver"], "clerk");
}

#[test]
fn a_decision_sees_the_variables_of_its_scope() {
    // Inside a multi-instance sub-process each instance's item is the decision's input; the
    // result is collected per instance.
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:sluice="urn:sluice:bpmn:1" id="d" targetNamespace="urn:t">
  <process id="p" isExecutable="true">
    <startEvent id="start"/>
    <sequenceFlow id="f1" sourceRef="start" targetRef="each"/>
    <subProcess id="each">
      <multiInstanceLoopCharacteristics sluice:collection="= orders" sluice:elementVariable="amount"
        sluice:outputCollection="levels" sluice:outputElement="= approver"/>
      <startEvent id="s2"/>
      <sequenceFlow id="g1" sourceRef="s2" targetRef="decide"/>
      <businessRuleTask id="decide" sluice:decisionRef="level" sluice:resultVariable="approver"/>
      <sequenceFlow id="g2" sourceRef="decide" targetRef="e2"/>
      <endEvent id="e2"/>
    </subProcess>
    <sequenceFlow id="f2" sourceRef="each" targetRef="end"/>
    <endEvent id="end"/>
  </process>
</definitions>"#;
    let (sim, r) = run(xml, Some(&levels("v1", "\"board\"")), json!({"orders": [10, 5000, 50000]}));
    assert_eq!(sim.instance(r).unwrap().status(), Status::Completed, "{:?}", sim.trace());
    assert_eq!(data_of(&sim, r)["levels"], json!(["clerk", "manager", "board"]));
}
