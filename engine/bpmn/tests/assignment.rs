//! Who a user task is for, read from each dialect: Camunda 7 attributes, Camunda 8's
//! `zeebe:assignmentDefinition`/`taskSchedule`/`priorityDefinition`, BPMN `humanPerformer` and
//! `potentialOwner`, ProcessMaker's `pm:assignment` on user and form tasks; and the diagnostics
//! for values that cannot work.
#![allow(clippy::unwrap_used)]

use sluice_bpmn::*;

const HEAD: &str = r#"<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:pm="http://processmaker.com/BPMN/2.0/Schema.xsd" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="defs">"#;

/// An executable process start → `task` (id `t`) → end.
fn exec(task: &str) -> String {
    format!(
        "{HEAD}\n<bpmn:process id=\"p\" isExecutable=\"true\">\n<bpmn:startEvent id=\"s\"/><bpmn:sequenceFlow id=\"f1\" \
         sourceRef=\"s\" targetRef=\"t\"/>{task}<bpmn:sequenceFlow id=\"f2\" sourceRef=\"t\" targetRef=\"e\"/>\
         <bpmn:endEvent id=\"e\"/>\n</bpmn:process>\n</bpmn:definitions>\n"
    )
}

fn import_one(xml: &str) -> Imported {
    import(&[Source { name: "t.bpmn", bytes: xml.as_bytes() }], &Options::default())
}

fn diagnostics(imported: &Imported) -> Vec<String> {
    imported.diagnostics.iter().map(|d| format!("{} {}", d.code, d.message)).collect()
}

/// The task `t`'s assignment, each value as `attribute=kind:source`.
fn human(task: &str) -> (Kind, Vec<String>, Option<String>) {
    let imported = import_one(&exec(task));
    assert!(!imported.has_errors(), "{:?}", diagnostics(&imported));
    let p = imported.definitions.processes[0].clone();
    let el = p.element(p.element_by_id("t").unwrap()).clone();
    let Some(h) = el.human else { return (el.kind, Vec::new(), None) };
    let show = |role: &str, v: &AssignValue| {
        let src = match &v.value {
            AssignSource::Text(s) => format!("text:{s}"),
            AssignSource::Expr(e) => format!("expr:{}", e.source()),
            AssignSource::Template(parts) => format!("template:{}", parts.len()),
        };
        format!("{role} {}={src}", v.attribute)
    };
    let mut out = Vec::new();
    out.extend(h.assignee.iter().map(|v| show("assignee", v)));
    out.extend(h.candidate_users.iter().map(|v| show("users", v)));
    out.extend(h.candidate_groups.iter().map(|v| show("groups", v)));
    out.extend(h.owners.iter().map(|v| show("owners", v)));
    out.extend(h.due.iter().map(|v| show("due", v)));
    out.extend(h.follow_up.iter().map(|v| show("follow_up", v)));
    out.extend(h.priority.iter().map(|v| show("priority", v)));
    (el.kind, out, h.documentation)
}

#[test]
fn camunda_7_attributes_with_literals_expressions_and_templates() {
    let (_, got, doc) = human(
        r#"<bpmn:userTask id="t" camunda:assignee="${approver}" camunda:candidateUsers="kermit_${loopCounter}, piggy"
            camunda:candidateGroups="management,accounting" camunda:dueDate="2026-12-24T12:00:00"
            camunda:followUpDate="P1D" camunda:priority="70"><bpmn:documentation> Check it. </bpmn:documentation></bpmn:userTask>"#,
    );
    assert_eq!(
        got,
        [
            "assignee camunda:assignee=expr:${approver}",
            "users camunda:candidateUsers=template:3",
            "groups camunda:candidateGroups=text:management,accounting",
            "due camunda:dueDate=text:2026-12-24T12:00:00",
            "follow_up camunda:followUpDate=text:P1D",
            "priority camunda:priority=text:70",
        ]
    );
    assert_eq!(doc.as_deref(), Some("Check it."));
}

#[test]
fn camunda_8_assignment_schedule_and_priority() {
    let (_, got, _) = human(
        r#"<bpmn:userTask id="t"><bpmn:extensionElements>
            <zeebe:assignmentDefinition assignee="= requester" candidateGroups="sales, emea" candidateUsers="= manager_of_region[region]"/>
            <zeebe:taskSchedule dueDate="= now() + duration(&quot;PT2H&quot;)" followUpDate="2026-12-24T09:00:00Z"/>
            <zeebe:priorityDefinition priority="80"/>
        </bpmn:extensionElements></bpmn:userTask>"#,
    );
    assert_eq!(
        got,
        [
            "assignee zeebe:assignmentDefinition assignee=expr:= requester",
            "users zeebe:assignmentDefinition candidateUsers=expr:= manager_of_region[region]",
            "groups zeebe:assignmentDefinition candidateGroups=text:sales, emea",
            "due zeebe:taskSchedule dueDate=expr:= now() + duration(\"PT2H\")",
            "follow_up zeebe:taskSchedule followUpDate=text:2026-12-24T09:00:00Z",
            "priority zeebe:priorityDefinition priority=text:80",
        ]
    );
}

#[test]
fn bpmn_resource_roles() {
    let (_, got, _) = human(
        r#"<bpmn:userTask id="t">
            <bpmn:humanPerformer><bpmn:resourceAssignmentExpression><bpmn:formalExpression>user(kermit)</bpmn:formalExpression></bpmn:resourceAssignmentExpression></bpmn:humanPerformer>
            <bpmn:potentialOwner><bpmn:resourceAssignmentExpression><bpmn:formalExpression>user(piggy), group(management)</bpmn:formalExpression></bpmn:resourceAssignmentExpression></bpmn:potentialOwner>
        </bpmn:userTask>"#,
    );
    assert_eq!(
        got,
        ["assignee humanPerformer=text:user(kermit)", "owners potentialOwner=text:user(piggy), group(management)"]
    );
}

#[test]
fn processmaker_requester_user_group_and_due_in_on_user_and_form_tasks() {
    let (kind, got, _) = human(r#"<bpmn:task id="t" pm:screenRef="3" pm:assignment="requester" pm:dueIn="72"/>"#);
    assert!(matches!(kind, Kind::Task(TaskKind::User)), "a form task waits for a person");
    assert_eq!(got, ["assignee pm:assignment=expr:requester", "due pm:dueIn=text:PT72H"]);
    let (_, got, _) = human(r#"<bpmn:userTask id="t" pm:assignment="user" pm:assignedUsers="ann"/>"#);
    assert_eq!(got, ["assignee pm:assignedUsers=text:ann"]);
    let (_, got, _) = human(r#"<bpmn:userTask id="t" pm:assignment="user" pm:assignedUsers="ann,bob"/>"#);
    assert_eq!(got, ["users pm:assignedUsers=text:ann", "users pm:assignedUsers=text:bob"]);
    let (_, got, _) = human(r#"<bpmn:task id="t" pm:screenRef="3" pm:assignment="group" pm:assignedGroups="1, 2"/>"#);
    assert_eq!(got, ["groups pm:assignedGroups=text:1", "groups pm:assignedGroups=text:2"]);
    // A plain task (no screen) still passes straight through, whatever its assignment says.
    let (kind, got, _) = human(r#"<bpmn:task id="t" pm:assignment="requester"/>"#);
    assert!(matches!(kind, Kind::Task(TaskKind::Plain)));
    assert!(got.is_empty());
}

#[test]
fn the_real_processmaker_files_import_with_their_form_tasks_for_the_requester() {
    let Some(corpus) = std::env::var_os("SLUICE_BPMN_CORPUS") else {
        eprintln!("SLUICE_BPMN_CORPUS is not set: skipped");
        return;
    };
    let path = std::path::Path::new(&corpus).join("behaviour/nayra/TaskMultipleOutgoing.bpmn");
    let bytes = std::fs::read(path).unwrap();
    let imported = import(&[Source { name: "TaskMultipleOutgoing.bpmn", bytes: &bytes }], &Options::default());
    assert!(!imported.has_errors(), "{:?}", diagnostics(&imported));
    let p = &imported.definitions.processes[0];
    let form = p.element(p.element_by_id("node_2").unwrap());
    assert!(matches!(form.kind, Kind::Task(TaskKind::User)));
    let assignee = &form.human.as_ref().unwrap().assignee.as_ref().unwrap();
    assert_eq!(assignee.attribute, "pm:assignment");
}

#[test]
fn values_that_cannot_work_are_diagnosed() {
    let cases = [
        (r#"<bpmn:userTask id="t" camunda:assignee="${a +}"/>"#, "invalid-expression `camunda:assignee` of `t`"),
        (
            r#"<bpmn:userTask id="t" camunda:dueDate="next tuesday"/>"#,
            "invalid-assignment `camunda:dueDate` of `t` is `next tuesday`",
        ),
        (
            r#"<bpmn:userTask id="t" camunda:priority="high"/>"#,
            "invalid-assignment `camunda:priority` of `t` is `high`",
        ),
        (
            r#"<bpmn:userTask id="t"><bpmn:extensionElements><zeebe:assignmentDefinition candidateGroups="= ["/></bpmn:extensionElements></bpmn:userTask>"#,
            "invalid-expression `zeebe:assignmentDefinition candidateGroups` of `t`",
        ),
        (
            r#"<bpmn:userTask id="t" pm:assignment="user"/>"#,
            "invalid-assignment `t` is assigned to `user` but `pm:assignedUsers` names nobody",
        ),
        (
            r#"<bpmn:userTask id="t" pm:assignment="group" pm:assignedGroups=""/>"#,
            "invalid-assignment `t` is assigned to `group`",
        ),
        (
            r#"<bpmn:userTask id="t" pm:assignment="self_service"/>"#,
            "unsupported-assignment `pm:assignment=\"self_service\"`",
        ),
        (r#"<bpmn:userTask id="t" pm:dueIn="soon"/>"#, "invalid-assignment `pm:dueIn` of `t` is `soon`"),
    ];
    for (task, want) in cases {
        let imported = import_one(&exec(task));
        let got = diagnostics(&imported);
        assert!(imported.has_errors(), "{task}: {got:?}");
        assert!(got.iter().any(|d| d.starts_with(want)), "{task}: want {want}, got {got:?}");
    }
    // A resource named without an expression: imported, with a warning that it is not read.
    let imported = import_one(&exec(
        r#"<bpmn:userTask id="t"><bpmn:potentialOwner><bpmn:resourceRef>clerk</bpmn:resourceRef></bpmn:potentialOwner></bpmn:userTask>"#,
    ));
    assert!(!imported.has_errors());
    assert!(
        diagnostics(&imported).iter().any(|d| d.starts_with("assignment-not-read")),
        "{:?}",
        diagnostics(&imported)
    );
}
