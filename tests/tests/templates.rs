//! Element templates round-trip: `sluice templates --out DIR` writes what
//! `GET /api/v1/connectors/templates` serves; the Slack Notification template of each dialect is
//! applied to a service task the way Camunda Modeler applies a template (each property written
//! where its binding says), the model passes `sluice check`, and `sluice run` posts its message to
//! the fake Slack. The template's binding rules are applied here generically, not per connector.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use sluice_fake_slack::{self as fake, FakeSlack};
use sluice_tests::server::{self, Api, Spawned, free_port};
use sluice_tests::{scratch_dir, sluice_bin};

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A process with one service task made from `template`, each input given its value from
/// `values` (by binding name), as Camunda Modeler writes it.
fn apply(template: &Value, values: &BTreeMap<&str, &str>) -> String {
    let mut task_attrs = String::new();
    let mut zeebe_type = None;
    let (mut zeebe_inputs, mut zeebe_headers, mut connector_id, mut c7_inputs) =
        (String::new(), String::new(), None, String::new());
    let mut props: Vec<&Value> = template["properties"].as_array().unwrap().iter().collect();
    for scope in template["scopes"].as_array().into_iter().flatten() {
        assert_eq!(scope["type"], "camunda:Connector");
        props.extend(scope["properties"].as_array().unwrap());
    }
    for p in props {
        let b = &p["binding"];
        let name = b["name"].as_str().or(b["key"].as_str()).unwrap_or("");
        let value = match p["type"].as_str().unwrap() {
            "Hidden" => p["value"].as_str().unwrap().to_string(),
            _ => match values.get(name) {
                Some(v) => v.to_string(),
                None => {
                    assert_ne!(p["constraints"]["notEmpty"], true, "required input {name} not given");
                    continue;
                }
            },
        };
        match b["type"].as_str().unwrap() {
            "zeebe:taskDefinition" => zeebe_type = Some(value),
            "zeebe:input" => zeebe_inputs.push_str(&format!(
                r#"<zeebe:input source="{}" target="{}"/>"#,
                escape(&value),
                escape(name)
            )),
            "zeebe:taskHeader" => {
                zeebe_headers.push_str(&format!(r#"<zeebe:header key="{}" value="{}"/>"#, escape(name), escape(&value)))
            }
            "property" if name == "connectorId" => connector_id = Some(value),
            "property" => task_attrs.push_str(&format!(r#" {name}="{}""#, escape(&value))),
            "camunda:inputParameter" => c7_inputs.push_str(&format!(
                r#"<camunda:inputParameter name="{}">{}</camunda:inputParameter>"#,
                escape(name),
                escape(&value)
            )),
            other => panic!("a binding this test does not know: {other}"),
        }
    }
    let id = template["id"].as_str().unwrap();
    let extension = match (zeebe_type, connector_id) {
        (Some(t), None) => format!(
            r#"<zeebe:taskDefinition type="{}"/><zeebe:ioMapping>{zeebe_inputs}</zeebe:ioMapping><zeebe:taskHeaders>{zeebe_headers}</zeebe:taskHeaders>"#,
            escape(&t)
        ),
        (None, Some(c)) => format!(
            r#"<camunda:connector><camunda:inputOutput>{c7_inputs}</camunda:inputOutput><camunda:connectorId>{}</camunda:connectorId></camunda:connector>"#,
            escape(&c)
        ),
        other => panic!("a template binds one of a task definition or a connector: {other:?}"),
    };
    let template_attr = if template["$schema"].as_str().unwrap().contains("zeebe") {
        format!(r#" zeebe:modelerTemplate="{id}" zeebe:modelerTemplateVersion="1""#)
    } else {
        format!(r#" camunda:modelerTemplate="{id}""#)
    };
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
  id="defs" targetNamespace="urn:templates">
  <bpmn:process id="from_template" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="notify"/>
    <bpmn:serviceTask id="notify" name="Tell sales"{template_attr}{task_attrs}>
      <bpmn:extensionElements>{extension}</bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="notify" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"#
    )
}

fn slack_template<'a>(templates: &'a Value, dialect: &str) -> &'a Value {
    templates
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"].as_str().unwrap().starts_with("dev.sluice.connector.slack-notification"))
        .unwrap_or_else(|| panic!("{dialect}: no Slack Notification template in {templates}"))
}

#[tokio::test]
async fn templates_make_models_that_check_and_run() {
    let dir = scratch_dir("element-templates");
    // Written by the command line …
    let out = std::process::Command::new(sluice_bin())
        .args(["templates", "--out", dir.join("templates").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let read = |file: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join("templates").join(file)).unwrap()).unwrap()
    };
    let c8 = read("sluice-connectors.camunda8.json");
    let c7 = read("sluice-connectors.camunda7.json");

    // … the same as the server serves.
    let slack = FakeSlack::start(fake::Config { post_interval: Duration::from_millis(10), ..fake::Config::default() })
        .await
        .unwrap();
    let addr = free_port();
    let mut cmd = server::serve_command(&dir, addr, server::TOKEN);
    cmd.env("SLACK_API_URL", slack.api_url()).env("SLACK_BOT_TOKEN", fake::DEFAULT_TOKEN);
    let served = tokio::task::spawn_blocking(move || {
        let _server = Spawned::start(&mut cmd, addr);
        let api = Api { addr };
        let get = |path: &str| {
            let (status, body) = api.get(path).unwrap();
            assert_eq!(status, 200, "{path}: {body}");
            body
        };
        let bad = api.get("/api/v1/connectors/templates?dialect=camunda6").unwrap();
        (
            get("/api/v1/connectors/templates"),
            get("/api/v1/connectors/templates?dialect=camunda8"),
            get("/api/v1/connectors/templates?dialect=camunda7"),
            bad,
        )
    })
    .await
    .unwrap();
    assert_eq!(served.0, c8, "Camunda 8 is the default");
    assert_eq!(served.1, c8);
    assert_eq!(served.2, c7);
    assert_eq!(served.3.0, 400, "{}", served.3.1);

    // Each dialect's Slack template, applied, checks and runs.
    let cases = [
        ("camunda8", &c8, BTreeMap::from([("channel", "C0SALES"), ("message", "=\"Order \" + order_id + \" is in\"")])),
        ("camunda7", &c7, BTreeMap::from([("channel", "C0SALES"), ("message", "Order ${order_id} is in")])),
    ];
    for (dialect, templates, values) in cases {
        let model = apply(slack_template(templates, dialect), &values);
        let file = dir.join(format!("{dialect}.bpmn"));
        std::fs::write(&file, &model).unwrap();
        let check = std::process::Command::new(sluice_bin()).args(["check", file.to_str().unwrap()]).output().unwrap();
        assert!(
            check.status.success(),
            "{dialect}: {}{}\n{model}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
        let api_url = slack.api_url();
        let before = slack.all_messages().len();
        let run = tokio::task::spawn_blocking(move || {
            std::process::Command::new(sluice_bin())
                .args(["run", file.to_str().unwrap(), "--data", &json!({"order_id": "A-7"}).to_string()])
                .env("SLACK_API_URL", api_url)
                .env("SLACK_BOT_TOKEN", fake::DEFAULT_TOKEN)
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&run.stdout);
        assert!(run.status.success(), "{dialect}: {stdout}{}", String::from_utf8_lossy(&run.stderr));
        let last: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
        assert_eq!(last["status"], "completed", "{dialect}: {stdout}");
        let all = slack.all_messages();
        assert_eq!(all.len(), before + 1, "{dialect}: one message: {all:?}");
        let m = all.last().unwrap();
        assert_eq!((m.channel.as_str(), m.text.as_str()), ("C0SALES", "Order A-7 is in"), "{dialect}");
    }
}
