//! What relies on Slack integrations: the notification settings of processes (each names its
//! integration) and the Slack Notification tasks of the latest deployed process versions (a task
//! names one with its `integration` input, or names none and gets the choosing rule's pick: the
//! only integration, else `default`). Deleting an integration, or connecting a second one while
//! tasks rely on the only one without naming it, would break them at run time; the admin API
//! refuses both, saying which processes to change.

use std::collections::BTreeMap;

use sluice_bpmn::{Kind, TaskKind};
use sluice_connector_api::Connector;
use sluice_store::Store;

/// The connector type of Slack Notification tasks.
const SLACK_TASK: &str = <sluice_slack::SlackNotification as Connector>::TYPE;

/// A Slack Notification task of a deployed process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackTask {
    pub process: String,
    pub version: i64,
    /// The task's BPMN id.
    pub task: String,
    pub integration: Named,
}

/// The integration a task names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Named {
    /// None: the choosing rule picks (the only integration, else `default`).
    Nothing,
    /// This alias.
    Alias(String),
    /// A template over the Request's data (`{{ … }}`): known at run time only.
    Template,
}

/// The processes relying on one integration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reliance {
    /// Process keys whose notification settings post with it.
    pub notification_settings: Vec<String>,
    /// Process key → the ids of its Slack Notification tasks (latest version) that use it.
    pub tasks: BTreeMap<String, Vec<String>>,
}

impl Reliance {
    pub fn is_empty(&self) -> bool {
        self.notification_settings.is_empty() && self.tasks.is_empty()
    }

    /// Every process named, once, sorted.
    pub fn processes(&self) -> Vec<String> {
        let mut all: Vec<String> = self.notification_settings.iter().chain(self.tasks.keys()).cloned().collect();
        all.sort();
        all.dedup();
        all
    }

    /// For messages: `notification settings of `a`, `b`; Slack tasks `t1`, `t2` of process `p``.
    pub fn describe(&self) -> String {
        let quoted = |items: &[String]| items.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ");
        let mut parts = Vec::new();
        if !self.notification_settings.is_empty() {
            parts.push(format!("the notification settings of {}", quoted(&self.notification_settings)));
        }
        for (process, tasks) in &self.tasks {
            let noun = if tasks.len() == 1 { "task" } else { "tasks" };
            parts.push(format!("Slack {noun} {} of process `{process}`", quoted(tasks)));
        }
        parts.join("; ")
    }

    fn add_task(&mut self, t: &SlackTask) {
        self.tasks.entry(t.process.clone()).or_default().push(t.task.clone());
    }
}

/// The Slack Notification tasks of the latest version of every deployed process.
pub async fn deployed_slack_tasks(store: &Store) -> Result<Vec<SlackTask>, sluice_store::Error> {
    let latest = store.latest_processes().await?;
    let mut models = Vec::with_capacity(latest.len());
    for p in &latest {
        models.push((p.key.clone(), p.version, store.process_xml(&p.key, p.version).await?));
    }
    Ok(slack_tasks(&models))
}

/// The Slack Notification tasks of `models` (key, version, BPMN XML).
fn slack_tasks(models: &[(String, i64, String)]) -> Vec<SlackTask> {
    let known: Vec<&str> = models.iter().map(|(key, _, _)| key.as_str()).collect();
    let options = sluice_bpmn::Options { known_processes: &known, connectors: None, known_decisions: None };
    let mut out = Vec::new();
    for (key, version, xml) in models {
        let source = sluice_bpmn::Source { name: key, bytes: xml.as_bytes() };
        let imported = sluice_bpmn::import(&[source], &options);
        let Some(process) = imported.definitions.process(key) else {
            tracing::warn!(process = %key, version, "a deployed process no longer imports");
            continue;
        };
        for element in &process.elements {
            let Kind::Task(TaskKind::Connector(call)) = &element.kind else { continue };
            if call.connector != SLACK_TASK {
                continue;
            }
            let integration = match call.inputs.get("integration") {
                Some(serde_json::Value::String(s)) if s.contains("{{") => Named::Template,
                Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Named::Alias(s.trim().to_string()),
                _ => Named::Nothing,
            };
            out.push(SlackTask { process: key.clone(), version: *version, task: element.id.clone(), integration });
        }
    }
    out
}

/// What relies on `alias`, given the deployed tasks, the process keys whose notification settings
/// name it, and the integration the choosing rule gives tasks that name none (`nameless`).
pub fn reliance_on(alias: &str, tasks: &[SlackTask], settings: Vec<String>, nameless: Option<&str>) -> Reliance {
    let mut reliance = Reliance { notification_settings: settings, ..Reliance::default() };
    for t in tasks {
        let uses = match &t.integration {
            Named::Alias(a) => a == alias,
            Named::Nothing => nameless == Some(alias),
            Named::Template => false,
        };
        if uses {
            reliance.add_task(t);
        }
    }
    reliance
}

/// The tasks that name no integration, as a [`Reliance`].
pub fn nameless(tasks: &[SlackTask]) -> Reliance {
    let mut reliance = Reliance::default();
    for t in tasks.iter().filter(|t| t.integration == Named::Nothing) {
        reliance.add_task(t);
    }
    reliance
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(process: &str, task: &str, integration: Named) -> SlackTask {
        SlackTask { process: process.into(), version: 1, task: task.into(), integration }
    }

    #[test]
    fn slack_tasks_are_read_from_the_models() {
        let model = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:sluice="urn:sluice:bpmn:1" id="d" targetNamespace="urn:t">
  <bpmn:process id="order" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="plain"/>
    <bpmn:serviceTask id="plain" implementation="slack-notification">
      <bpmn:extensionElements>
        <sluice:input name="channel" value="C1"/><sluice:input name="message" value="m"/>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="plain" targetRef="named"/>
    <bpmn:serviceTask id="named" implementation="slack-notification">
      <bpmn:extensionElements>
        <sluice:input name="channel" value="C1"/><sluice:input name="message" value="m"/>
        <sluice:input name="integration" value=" ops "/>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f3" sourceRef="named" targetRef="templated"/>
    <bpmn:serviceTask id="templated" implementation="slack-notification">
      <bpmn:extensionElements>
        <sluice:input name="channel" value="C1"/><sluice:input name="message" value="m"/>
        <sluice:input name="integration" value="{{ workspace }}"/>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f4" sourceRef="templated" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>"#;
        let tasks = slack_tasks(&[("order".into(), 3, model.into())]);
        let named: Vec<(&str, &Named)> = tasks.iter().map(|t| (t.task.as_str(), &t.integration)).collect();
        assert_eq!(
            named,
            [("plain", &Named::Nothing), ("named", &Named::Alias("ops".into())), ("templated", &Named::Template)]
        );
        assert!(tasks.iter().all(|t| t.process == "order" && t.version == 3));
        // A model that no longer imports is skipped, not a failure.
        assert!(slack_tasks(&[("broken".into(), 1, "<not bpmn".into())]).is_empty());
    }

    #[test]
    fn tasks_rely_on_what_they_name_or_on_the_rules_pick() {
        let tasks = [
            task("order", "notify", Named::Nothing),
            task("order", "escalate", Named::Alias("ops".into())),
            task("invoice", "tell", Named::Alias("sales".into())),
            task("leave", "dynamic", Named::Template),
        ];
        let on_ops = reliance_on("ops", &tasks, vec![], Some("ops"));
        assert_eq!(on_ops.tasks, BTreeMap::from([("order".to_string(), vec!["notify".into(), "escalate".into()])]));
        let on_ops = reliance_on("ops", &tasks, vec!["leave".into()], Some("default"));
        assert_eq!(on_ops.processes(), ["leave", "order"]);
        assert_eq!(on_ops.describe(), "the notification settings of `leave`; Slack task `escalate` of process `order`");
        assert!(reliance_on("other", &tasks, vec![], None).is_empty());
        assert_eq!(nameless(&tasks).processes(), ["order"]);
    }
}
