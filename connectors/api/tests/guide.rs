//! The guide's connector (docs/connector-guide.md) compiles, runs, and is the code the guide shows.
#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
#[path = "../examples/guide_connector.rs"]
mod guide;

use serde_json::{Value, json};
use sluice_connector_api::{ConnectorError, Context, IdempotencyKey, Registry};

const SOURCE: &str = include_str!("../examples/guide_connector.rs");
const GUIDE: &str = include_str!("../../../docs/connector-guide.md");

/// The guide's first ```rust block.
fn guide_code() -> &'static str {
    let start = GUIDE.find("```rust\n").expect("the guide has a rust block") + "```rust\n".len();
    let len = GUIDE[start..].find("```\n").unwrap();
    &GUIDE[start..start + len]
}

#[test]
fn the_guide_shows_this_code() {
    // The file opens with two lines of its own (this test's note) that the guide leaves out.
    let body = SOURCE.split_once("\n\n").unwrap().1;
    assert!(guide_code() == body, "docs/connector-guide.md and connectors/api/examples/guide_connector.rs differ");
}

#[test]
fn the_example_runs() {
    guide::main().unwrap();
}

async fn call(inputs: Value, data: Value) -> Result<Value, ConnectorError> {
    let registry = Registry::default().with(guide::Uppercase::new(20));
    let key = IdempotencyKey { request_id: "r".into(), element_id: "e".into(), attempt: 1 };
    let cx = Context::new(key, "p", "http://x/requests/r");
    registry.invoke("uppercase", inputs.as_object().unwrap(), data.as_object().unwrap(), cx).await
}

#[tokio::test]
async fn the_guide_connector_behaves_as_described() {
    let out = call(json!({"text": "hi {{ name }}\n", "times": "2"}), json!({"name": "a\nb"})).await.unwrap();
    assert_eq!(out, json!({"text": "HI A B\nHI A B\n", "length": 14}));
    assert_eq!(
        call(json!({"text": "{{ missing }}"}), json!({})).await,
        Err(ConnectorError::bpmn("empty_text", "there is nothing to upper-case"))
    );
    assert_eq!(
        call(json!({"text": "x", "times": 50}), json!({})).await,
        Err(ConnectorError::fatal("the text is longer than 20 bytes"))
    );
    let registry = Registry::default().with(guide::Uppercase::new(20));
    assert_eq!(
        registry.validate("uppercase", json!({"times": 2}).as_object().unwrap()),
        Err("missing required input `text`".into())
    );
}
