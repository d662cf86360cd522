//! A user task's completion form: Camunda 7's `camunda:formData` and Sluice's `sluice:form`,
//! the approval flag, and the diagnostics for forms that cannot be shown.
#![allow(clippy::unwrap_used)]

use sluice_bpmn::*;

const HEAD: &str = r#"<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:sluice="urn:sluice:bpmn:1" id="defs">"#;

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

fn form(task: &str) -> Option<TaskForm> {
    let imported = import_one(&exec(task));
    let d: Vec<String> = imported.diagnostics.iter().map(|d| format!("{} {}", d.code, d.message)).collect();
    assert!(!imported.has_errors(), "{d:?}");
    let p = imported.definitions.processes[0].clone();
    p.element(p.element_by_id("t").unwrap()).form.as_deref().cloned()
}

fn field(id: &str, label: &str, kind: FieldKind, default: Option<&str>, required: bool) -> FormField {
    FormField {
        id: id.into(),
        label: label.into(),
        kind,
        default: default.map(Into::into),
        required,
        values: Vec::new(),
    }
}

#[test]
fn camunda_7_form_fields_are_read_as_camunda_modeler_writes_them() {
    let f = form(
        r#"<bpmn:userTask id="t"><bpmn:extensionElements><camunda:formData>
             <camunda:formField id="amount" label="Amount" type="long">
               <camunda:validation><camunda:constraint name="required"/><camunda:constraint name="min" config="1"/></camunda:validation>
             </camunda:formField>
             <camunda:formField id="note" type="string" defaultValue="none"/>
             <camunda:formField id="size" label="Size" type="enum" defaultValue="m">
               <camunda:value id="s" name="Small"/><camunda:value id="m"/>
             </camunda:formField>
             <camunda:formField id="ship" label="Ship on" type="date"/>
           </camunda:formData></bpmn:extensionElements></bpmn:userTask>"#,
    )
    .unwrap();
    assert!(!f.approval);
    let mut size = field("size", "Size", FieldKind::Enum, Some("m"), false);
    size.values =
        vec![FieldValue { id: "s".into(), name: "Small".into() }, FieldValue { id: "m".into(), name: "m".into() }];
    assert_eq!(
        f.fields,
        vec![
            field("amount", "Amount", FieldKind::Long, None, true),
            field("note", "note", FieldKind::String, Some("none"), false),
            size,
            field("ship", "Ship on", FieldKind::Date, None, false),
        ]
    );
}

#[test]
fn a_sluice_form_and_what_makes_an_approval_task() {
    let f = form(
        r#"<bpmn:userTask id="t"><bpmn:extensionElements><sluice:form>
             <sluice:field id="reason" label="Reason" required="true" default="-"/>
             <sluice:field id="ok" type="boolean"/>
           </sluice:form></bpmn:extensionElements></bpmn:userTask>"#,
    )
    .unwrap();
    assert!(!f.approval);
    assert_eq!(
        f.fields,
        vec![
            field("reason", "Reason", FieldKind::String, Some("-"), true),
            field("ok", "ok", FieldKind::Boolean, None, false)
        ]
    );
    // On the form, on the task (with no form at all), or a boolean field named `approved`.
    let on_form = r#"<bpmn:userTask id="t"><bpmn:extensionElements><sluice:form approval="true"/></bpmn:extensionElements></bpmn:userTask>"#;
    assert!(form(on_form).unwrap().approval);
    let on_task = form(r#"<bpmn:userTask id="t" sluice:approval="true"/>"#).unwrap();
    assert!(on_task.approval && on_task.fields.is_empty());
    let approved = r#"<bpmn:userTask id="t"><bpmn:extensionElements><camunda:formData>
        <camunda:formField id="approved" type="boolean"/></camunda:formData></bpmn:extensionElements></bpmn:userTask>"#;
    assert!(form(approved).unwrap().approval);
    // A task without a form has none.
    assert_eq!(form(r#"<bpmn:userTask id="t" name="plain"/>"#), None);
}

#[test]
fn forms_that_cannot_be_shown_are_located_errors() {
    for (task, want) in [
        (
            r#"<bpmn:userTask id="t"><bpmn:extensionElements><camunda:formData><camunda:formField id="x" type="money"/></camunda:formData></bpmn:extensionElements></bpmn:userTask>"#,
            "form field `x` of `t` has type `money`",
        ),
        (
            r#"<bpmn:userTask id="t"><bpmn:extensionElements><sluice:form><sluice:field label="x"/></sluice:form></bpmn:extensionElements></bpmn:userTask>"#,
            "a form field of `t` has no `id`",
        ),
        (
            r#"<bpmn:userTask id="t"><bpmn:extensionElements><sluice:form><sluice:field id="x"/><sluice:field id="x"/></sluice:form></bpmn:extensionElements></bpmn:userTask>"#,
            "form field `x` of `t` is declared twice",
        ),
        (
            r#"<bpmn:userTask id="t"><bpmn:extensionElements><sluice:form><sluice:field id="x" type="enum"/></sluice:form></bpmn:extensionElements></bpmn:userTask>"#,
            "enum form field `x` of `t` has no values",
        ),
    ] {
        let imported = import_one(&exec(task));
        let errors: Vec<&Diagnostic> = imported.diagnostics.iter().filter(|d| d.severity == Severity::Error).collect();
        assert_eq!(errors.len(), 1, "{task}: {:?}", imported.diagnostics);
        let d = errors[0];
        assert_eq!(d.code, "invalid-form");
        assert!(d.message.contains(want), "{}", d.message);
        assert_eq!(d.element.as_deref(), Some("t"));
        assert_eq!(d.pos.line, 3, "{d:?}");
    }
}
