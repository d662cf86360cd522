//! Who a task is for, at run time: the model's assignment evaluated when the task is created
//! (`requester` is the starter, `now()` the step's time), an expression that fails is an incident
//! naming the attribute, and a due date is a timer of the task that raises `task_overdue` once.
#![allow(clippy::unwrap_used)]

mod common;

use chrono::Duration;
use serde_json::json;
use sluice_engine::runtime::{SubscriptionKind, TokenId};
use sluice_engine::{Command, Data, Input, Instance, Start, StepError, TaskAssignment};

fn model(task: &str) -> std::sync::Arc<sluice_bpmn::Process> {
    let xml = format!(
        r#"<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="d">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="t"/>
    {task}
    <bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="e"/><bpmn:endEvent id="e"/>
  </bpmn:process>
</bpmn:definitions>"#
    );
    common::import_str(&xml).remove(0)
}

fn data(v: serde_json::Value) -> Data {
    serde_json::from_value(v).unwrap()
}

fn created(out: &[Command]) -> Option<(TokenId, TaskAssignment)> {
    out.iter().find_map(|c| match c {
        Command::TaskCreated { token, assignment, .. } => Some((*token, (**assignment).clone())),
        _ => None,
    })
}

#[test]
fn feel_assignments_read_the_requester_and_the_data() {
    let p = model(
        r#"<bpmn:userTask id="t"><bpmn:extensionElements>
            <zeebe:assignmentDefinition assignee="= requester" candidateUsers="= get value(manager_of_region, region)" candidateGroups="= [&quot;sales&quot;, region]"/>
            <zeebe:taskSchedule dueDate="= now() + duration(&quot;PT2H&quot;)"/>
            <zeebe:priorityDefinition priority="= amount / 10"/>
        </bpmn:extensionElements></bpmn:userTask>"#,
    );
    let d = data(json!({"region": "emea", "manager_of_region": {"emea": "eva", "apac": "ali"}, "amount": 700}));
    let mut out = Vec::new();
    Instance::start_as(&p, d, Start::Default, Some("rita".into()), common::t0(), &mut out).unwrap();
    let (_, a) = created(&out).unwrap();
    assert_eq!(a.assignee.as_deref(), Some("rita"));
    assert_eq!(a.candidate_users, ["eva"]);
    assert_eq!(a.candidate_groups, ["sales", "emea"]);
    assert_eq!(a.due, Some(common::t0() + Duration::hours(2)), "now() is the step's time");
    assert_eq!(a.priority, Some(70));
    // Started by the engine (no person): `requester` is null and the task unassigned.
    let mut out = Vec::new();
    let d = data(json!({"region": "apac", "manager_of_region": {"apac": "ali"}, "amount": 10}));
    Instance::start(&p, d, Start::Default, common::t0(), &mut out).unwrap();
    assert_eq!(created(&out).unwrap().1.assignee, None);
}

#[test]
fn camunda_7_expressions_templates_and_resource_roles() {
    let p = model(
        r#"<bpmn:userTask id="t" camunda:assignee="${approver}" camunda:candidateUsers="kermit_${level}, piggy" camunda:dueDate="2026-12-24T12:00:00">
            <bpmn:potentialOwner><bpmn:resourceAssignmentExpression><bpmn:formalExpression>user(gonzo), group(management), accounting</bpmn:formalExpression></bpmn:resourceAssignmentExpression></bpmn:potentialOwner>
        </bpmn:userTask>"#,
    );
    let mut out = Vec::new();
    Instance::start(&p, data(json!({"approver": "fozzie", "level": 2})), Start::Default, common::t0(), &mut out)
        .unwrap();
    let (_, a) = created(&out).unwrap();
    assert_eq!(a.assignee.as_deref(), Some("fozzie"));
    assert_eq!(a.candidate_users, ["kermit_2", "piggy", "gonzo"]);
    assert_eq!(a.candidate_groups, ["management", "accounting"]);
    assert_eq!(a.due.map(|d| d.to_rfc3339()).as_deref(), Some("2026-12-24T12:00:00+00:00"));
}

#[test]
fn a_failing_expression_is_an_incident_naming_the_attribute_never_an_unassigned_task() {
    let p = model(
        r#"<bpmn:userTask id="t"><bpmn:extensionElements>
            <zeebe:assignmentDefinition candidateGroups="= groups + 1"/>
        </bpmn:extensionElements></bpmn:userTask>"#,
    );
    let mut out = Vec::new();
    let inst = Instance::start(&p, data(json!({"groups": "sales"})), Start::Default, common::t0(), &mut out).unwrap();
    assert!(created(&out).is_none(), "no task");
    let incident = &inst.incidents()[0];
    assert_eq!(incident.code, "expression_failed");
    assert!(incident.message.contains("`zeebe:assignmentDefinition candidateGroups` of `t`"), "{}", incident.message);
    // A value of the wrong kind is one too.
    let p = model(r#"<bpmn:userTask id="t" camunda:dueDate="${when}"/>"#);
    let mut out = Vec::new();
    let inst = Instance::start(&p, data(json!({"when": "someday"})), Start::Default, common::t0(), &mut out).unwrap();
    assert!(inst.incidents()[0].message.contains("`camunda:dueDate` of `t` failed"), "{}", inst.incidents()[0].message);
    // A retry evaluates again: with the same data, the same incident stays.
    let mut inst = inst;
    let id = inst.incidents()[0].id;
    let mut out = Vec::new();
    inst.step(&p, Input::Retry { incident: id }, common::t0(), &mut out).unwrap();
    assert!(created(&out).is_none(), "the same data fails again");
    assert_eq!(inst.incidents().len(), 1);
}

#[test]
fn a_due_date_raises_task_overdue_once_and_closes_with_the_task() {
    let p = model(r#"<bpmn:userTask id="t" camunda:dueDate="PT1H"/>"#);
    let mut out = Vec::new();
    let mut inst = Instance::start(&p, Data::default(), Start::Default, common::t0(), &mut out).unwrap();
    let (token, a) = created(&out).unwrap();
    assert_eq!(a.due, Some(common::t0() + Duration::hours(1)));
    let subs = inst.subscriptions();
    assert_eq!(subs.len(), 1);
    assert!(matches!(subs[0].kind, SubscriptionKind::Timer { .. }));
    let sub = subs[0].id;
    let mut out = Vec::new();
    let later = common::t0() + Duration::hours(1);
    inst.step(&p, Input::TimerFired { subscription: sub }, later, &mut out).unwrap();
    assert!(
        out.iter().any(|c| matches!(c, Command::TaskOverdue { token: t, due, .. } if *t == token && *due == later)),
        "{out:?}"
    );
    assert!(!out.iter().any(|c| matches!(c, Command::ElementCompleted { .. })), "the task stays open: {out:?}");
    assert_eq!(
        inst.step(&p, Input::TimerFired { subscription: sub }, later, &mut Vec::new()),
        Err(StepError::UnknownSubscription),
        "once"
    );
    inst.step(&p, Input::CompleteTask { token, data: Data::default() }, later, &mut Vec::new()).unwrap();
    assert_eq!(inst.status(), sluice_engine::Status::Completed);

    // Completed before it is due: the timer goes with the task.
    let mut out = Vec::new();
    let mut inst = Instance::start(&p, Data::default(), Start::Default, common::t0(), &mut out).unwrap();
    let (token, _) = created(&out).unwrap();
    let mut out = Vec::new();
    inst.step(&p, Input::CompleteTask { token, data: Data::default() }, common::t0(), &mut out).unwrap();
    assert!(out.iter().any(|c| matches!(c, Command::CloseSubscription { .. })), "{out:?}");
    assert!(inst.subscriptions().is_empty());
}
