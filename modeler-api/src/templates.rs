//! Element templates in Camunda Modeler's format, made from each connector's JSON Schema, so that
//! a Camunda Modeler user gets a form for every Sluice connector and the XML it writes runs in
//! Sluice unchanged. `GET /api/v1/connectors/templates` serves them and `sluice templates --out
//! DIR` writes them.
//!
//! - **Camunda 8** (`zeebe:`): the type as `zeebe:taskDefinition type`, each input a `zeebe:input`
//!   (FEEL optional, so `=amount` and plain text both work), and the result variable as the
//!   `resultVariable` task header.
//! - **Camunda 7** (`camunda:`): a `camunda:connector` whose `connectorId` is the type, each input a
//!   `camunda:inputParameter` of the connector (`${path}` in text reads the Request's data).
//!
//! Camunda's own connectors (types starting `io.camunda:`) are left out: Camunda ships their
//! templates.

use serde_json::{Map, Value, json};
use sluice_connector_api::ConnectorInfo;

/// The element template dialects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    Camunda8,
    Camunda7,
}

impl Dialect {
    pub const ALL: [Dialect; 2] = [Dialect::Camunda8, Dialect::Camunda7];

    /// The file `sluice templates` writes this dialect's templates to.
    pub fn file_name(self) -> &'static str {
        match self {
            Dialect::Camunda8 => "sluice-connectors.camunda8.json",
            Dialect::Camunda7 => "sluice-connectors.camunda7.json",
        }
    }
}

/// Every connector's template in `dialect`, as one JSON array (what Camunda Modeler loads from a
/// file in its `resources/element-templates` folder).
pub fn element_templates(connectors: &[ConnectorInfo], dialect: Dialect) -> Value {
    let mut list: Vec<&ConnectorInfo> =
        connectors.iter().filter(|c| !c.connector_type.starts_with("io.camunda:")).collect();
    list.sort_by_key(|c| c.connector_type);
    Value::Array(list.into_iter().map(|c| template(c, dialect)).collect())
}

/// One input of a connector, read from its JSON Schema.
struct Field<'a> {
    name: &'a str,
    description: Option<&'a str>,
    required: bool,
    /// The first non-null JSON type (`string`, `number`, `boolean`, `object`, …), if one is given.
    kind: Option<&'a str>,
    choices: Vec<&'a str>,
}

fn fields(schema: &Value) -> Vec<Field<'_>> {
    let required: Vec<&str> =
        schema["required"].as_array().map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    let Some(props) = schema["properties"].as_object() else { return Vec::new() };
    props
        .iter()
        .map(|(name, p)| Field {
            name,
            description: p["description"].as_str(),
            required: required.contains(&name.as_str()),
            kind: match &p["type"] {
                Value::String(t) => Some(t.as_str()),
                Value::Array(ts) => ts.iter().filter_map(Value::as_str).find(|t| *t != "null"),
                _ => None,
            },
            choices: p["enum"].as_array().map(|e| e.iter().filter_map(Value::as_str).collect()).unwrap_or_default(),
        })
        .collect()
}

/// `channel_id` → `Channel id`.
fn label(name: &str) -> String {
    let spaced = name.replace(['_', '-'], " ");
    let mut chars = spaced.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn template(c: &ConnectorInfo, dialect: Dialect) -> Value {
    let description = c.inputs_schema["description"].as_str().unwrap_or(c.name);
    let inputs: Vec<Value> = fields(&c.inputs_schema).iter().map(|f| input(f, dialect)).collect();
    match dialect {
        Dialect::Camunda8 => {
            let mut properties = vec![json!({
                "type": "Hidden",
                "value": c.connector_type,
                "binding": {"type": "zeebe:taskDefinition", "property": "type"},
            })];
            properties.extend(inputs);
            properties.push(json!({
                "label": "Result variable",
                "description": "The Request field the connector's result is written to.",
                "group": "output",
                "type": "String",
                "optional": true,
                "binding": {"type": "zeebe:taskHeader", "key": "resultVariable"},
            }));
            json!({
                "$schema": "https://unpkg.com/@camunda/zeebe-element-templates-json-schema/resources/schema.json",
                "name": format!("{} (Sluice)", c.name),
                "id": format!("dev.sluice.connector.{}", c.connector_type),
                "description": description,
                "version": 1,
                "appliesTo": ["bpmn:Task"],
                "elementType": {"value": "bpmn:ServiceTask"},
                "groups": [{"id": "input", "label": "Input"}, {"id": "output", "label": "Output"}],
                "properties": properties,
            })
        }
        Dialect::Camunda7 => {
            let mut connector = vec![json!({
                "type": "Hidden",
                "value": c.connector_type,
                "binding": {"type": "property", "name": "connectorId"},
            })];
            connector.extend(inputs);
            json!({
                "$schema": "https://unpkg.com/@camunda/element-templates-json-schema/resources/schema.json",
                "name": format!("{} (Sluice)", c.name),
                "id": format!("dev.sluice.connector.{}.camunda7", c.connector_type),
                "description": description,
                "version": 1,
                "appliesTo": ["bpmn:Task"],
                "elementType": {"value": "bpmn:ServiceTask"},
                "properties": [],
                "scopes": [{"type": "camunda:Connector", "properties": connector}],
            })
        }
    }
}

fn input(f: &Field<'_>, dialect: Dialect) -> Value {
    let mut p = Map::new();
    p.insert("label".into(), Value::String(label(f.name)));
    if let Some(d) = f.description {
        p.insert("description".into(), Value::String(d.to_string()));
    }
    let (kind, feel) = match (f.kind, f.choices.is_empty()) {
        (_, false) => ("Dropdown", None),
        (Some("boolean"), _) => ("Boolean", None),
        // Text the designer writes (a message): a text area; FEEL allowed.
        (Some("string"), _) if f.name == "message" || f.name == "body" => ("Text", Some("optional")),
        (Some("string"), _) => ("String", Some("optional")),
        // Numbers, objects and values of any type: a FEEL expression (`=…`) or literal text.
        _ => ("String", Some("optional")),
    };
    p.insert("type".into(), Value::String(kind.into()));
    if !f.choices.is_empty() {
        let choices = f.choices.iter().map(|c| json!({"name": c, "value": c})).collect();
        p.insert("choices".into(), Value::Array(choices));
    }
    match dialect {
        Dialect::Camunda8 => {
            p.insert("group".into(), Value::String("input".into()));
            if let Some(feel) = feel {
                p.insert("feel".into(), Value::String(feel.into()));
            }
            p.insert("binding".into(), json!({"type": "zeebe:input", "name": f.name}));
        }
        Dialect::Camunda7 => {
            p.insert("binding".into(), json!({"type": "camunda:inputParameter", "name": f.name}));
        }
    }
    if f.required {
        p.insert("constraints".into(), json!({"notEmpty": true}));
    } else if dialect == Dialect::Camunda8 {
        // Left empty, the input is not written at all (the connector's default applies).
        p.insert("optional".into(), Value::Bool(true));
    }
    Value::Object(p)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::config::ConnectorArgs;

    #[test]
    fn every_sluice_connector_has_a_template_in_each_dialect_with_its_inputs() {
        let registry = crate::connectors::registry(&ConnectorArgs::default()).unwrap();
        let list = registry.list();
        for dialect in Dialect::ALL {
            let templates = element_templates(&list, dialect);
            let templates = templates.as_array().unwrap();
            let sluice: Vec<_> = list.iter().filter(|c| !c.connector_type.starts_with("io.camunda:")).collect();
            assert_eq!(templates.len(), sluice.len());
            let slack = templates
                .iter()
                .find(|t| t["id"].as_str().unwrap().starts_with("dev.sluice.connector.slack-notification"))
                .unwrap();
            let props = match dialect {
                Dialect::Camunda8 => slack["properties"].as_array().unwrap(),
                Dialect::Camunda7 => slack["scopes"][0]["properties"].as_array().unwrap(),
            };
            let bound: Vec<&str> = props.iter().filter_map(|p| p["binding"]["name"].as_str()).collect();
            for name in ["channel", "message", "integration"] {
                assert!(bound.contains(&name), "{dialect:?}: {name} missing in {slack}");
            }
            let channel = props.iter().find(|p| p["binding"]["name"] == "channel").unwrap();
            assert_eq!(channel["constraints"]["notEmpty"], true);
            let message = props.iter().find(|p| p["binding"]["name"] == "message").unwrap();
            assert_eq!(message["type"], "Text");
            let hidden = &props[0];
            assert_eq!(hidden["type"], "Hidden");
            assert_eq!(hidden["value"], "slack-notification");
        }
        assert_eq!(label("content_type"), "Content type");
    }
}
