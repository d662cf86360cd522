//! The connector of docs/connector-guide.md: it upper-cases a text. A test checks that this file
//! and the guide's code are the same, and runs it.

use std::borrow::Cow;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sluice_connector_api::{Connector, ConnectorError, Context, IdempotencyKey, Registry};

/// The inputs, as `<sluice:input name="…">` elements give them. Doc comments become the
/// descriptions in the JSON Schema that `GET /api/v1/connectors` serves.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct UppercaseInput {
    /// The text to upper-case (a template: `Order {{ order_id }}`).
    pub text: String,
    /// How many times to repeat it; default 1.
    #[serde(default = "once")]
    pub times: u32,
}

fn once() -> u32 {
    1
}

/// What the task stores in the Request's data (under `result_variable`).
#[derive(Debug, Serialize)]
pub struct UppercaseOutput {
    pub text: String,
    pub length: usize,
}

/// The connector. Whatever it needs (clients, configuration) is built once in `main`.
pub struct Uppercase {
    max_length: usize,
}

impl Uppercase {
    pub fn new(max_length: usize) -> Self {
        Uppercase { max_length }
    }
}

impl Connector for Uppercase {
    const TYPE: &'static str = "uppercase";
    const NAME: &'static str = "Upper-case a text";
    type Input = UppercaseInput;
    type Output = UppercaseOutput;

    /// Values from the Request's data lose their line breaks; the template's own text is kept.
    fn escape(value: &str) -> Cow<'_, str> {
        if value.contains('\n') { Cow::Owned(value.replace('\n', " ")) } else { Cow::Borrowed(value) }
    }

    async fn invoke(&self, _cx: &Context, input: UppercaseInput) -> Result<UppercaseOutput, ConnectorError> {
        if input.text.trim().is_empty() {
            // The model can catch this with an error boundary event for `empty_text`.
            return Err(ConnectorError::bpmn("empty_text", "there is nothing to upper-case"));
        }
        let text = input.text.to_uppercase().repeat(input.times as usize);
        if text.len() > self.max_length {
            // A person has to change the model or the data: an incident.
            return Err(ConnectorError::fatal(format!("the text is longer than {} bytes", self.max_length)));
        }
        Ok(UppercaseOutput { length: text.chars().count(), text })
    }
}

/// What the engine does with it, by hand: register, then invoke by type with the raw inputs.
pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    let registry = Registry::default().with(Uppercase::new(1_000));

    // Inputs as the BPMN file gives them (text), and the Request's data.
    let inputs: Map<String, Value> =
        serde_json::from_str(r#"{"text": "order {{ order_id }} from {{ customer.name }}", "times": "1"}"#)?;
    let data: Map<String, Value> =
        serde_json::from_str(r#"{"order_id": "ORD-7", "customer": {"name": "Acme\nGmbH"}}"#)?;
    let key = IdempotencyKey { request_id: "r-1".into(), element_id: "shout".into(), attempt: 1 };
    let cx = Context::new(key, "order", "http://127.0.0.1:8080/requests/r-1");

    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build()?;
    let output = runtime.block_on(registry.invoke("uppercase", &inputs, &data, cx))?;
    println!("{output}"); // {"text":"ORDER ORD-7 FROM ACME GMBH","length":26}
    Ok(())
}
