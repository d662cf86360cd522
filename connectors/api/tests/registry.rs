//! The registry: listing, deploy-time validation, and calls (templates, coercion, errors,
//! panics, timeouts, cancellation).
#![allow(clippy::unwrap_used)]

use std::borrow::Cow;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sluice_connector_api::{Call, Connector, ConnectorError, Context, IdempotencyKey, Registry, Secret, Secrets};

/// Echoes its inputs back, for checking what a connector receives.
struct Echo;

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Level {
    Info,
    Warn,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
struct EchoInput {
    #[schemars(length(min = 1))]
    text: String,
    count: u32,
    #[serde(default)]
    ratio: Option<f64>,
    #[serde(default)]
    loud: bool,
    #[serde(default)]
    level: Option<Level>,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    extra: Option<Value>,
}

impl Connector for Echo {
    const TYPE: &'static str = "echo";
    const NAME: &'static str = "Echo";
    type Input = EchoInput;
    type Output = EchoInput;

    fn escape(value: &str) -> Cow<'_, str> {
        Cow::Owned(value.replace('<', "&lt;"))
    }

    async fn invoke(&self, _cx: &Context, input: EchoInput) -> Result<EchoInput, ConnectorError> {
        Ok(input)
    }
}

/// Misbehaves as its input says.
struct Trouble;

#[derive(Deserialize, JsonSchema)]
struct TroubleInput {
    what: String,
}

impl Connector for Trouble {
    const TYPE: &'static str = "trouble";
    const NAME: &'static str = "Trouble";
    type Input = TroubleInput;
    type Output = Value;

    async fn invoke(&self, cx: &Context, input: TroubleInput) -> Result<Value, ConnectorError> {
        match input.what.as_str() {
            "panic" => panic!("boom"),
            "sleep" => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(json!("woke up"))
            }
            "retry" => {
                Err(ConnectorError::Retryable { message: "busy".into(), retry_after: Some(Duration::from_secs(7)) })
            }
            "bpmn" => Err(ConnectorError::bpmn("not_found", "no such thing")),
            w if w.starts_with("fail:") => Err(ConnectorError::fatal(format!("cannot reach {w}"))),
            _ => Ok(json!({"request": cx.request_id(), "attempt": cx.key.attempt})),
        }
    }
}

fn registry() -> Registry {
    Registry::default().with(Trouble).with(Echo)
}

fn map(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn cx() -> Context {
    let key = IdempotencyKey { request_id: "r-1".into(), element_id: "task".into(), attempt: 2 };
    Context::new(key, "order", "http://sluice.test/requests/r-1")
}

#[test]
fn lists_connectors_sorted_with_schemas() {
    let list = registry().list();
    let types: Vec<_> = list.iter().map(|c| c.connector_type).collect();
    assert_eq!(types, ["echo", "trouble"]);
    assert_eq!(list[0].name, "Echo");
    let schema = &list[0].inputs_schema;
    assert_eq!(schema["type"], "object");
    assert_eq!(schema["required"], json!(["text", "count"]));
    assert!(schema["properties"]["ratio"].is_object());
    let shown = serde_json::to_value(&list[1]).unwrap();
    assert_eq!(shown["type"], "trouble");
    assert_eq!(shown["name"], "Trouble");
}

#[test]
#[should_panic(expected = "two connectors are registered with the type `echo`")]
fn a_type_registered_twice_is_a_bug() {
    let _ = Registry::default().with(Echo).with(Echo);
}

fn check_valid(inputs: Value, expected: Result<(), &str>) {
    let got = registry().validate("echo", &map(inputs.clone()));
    assert_eq!(got, expected.map_err(str::to_owned), "inputs: {inputs}");
}

#[test]
fn validation_at_deploy_time() {
    assert_eq!(
        registry().validate("nope", &Map::new()),
        Err("no connector `nope` is registered (known: echo, trouble)".into())
    );
    check_valid(json!({"text": "hi", "count": "3"}), Ok(()));
    check_valid(json!({"text": "hi", "count": 3, "loud": true, "ratio": 0.5}), Ok(()));
    check_valid(json!({"text": "hi"}), Err("missing required input `count`"));
    check_valid(json!({}), Err("missing required input `text`; missing required input `count`"));
    check_valid(json!({"text": "hi", "count": "three"}), Err("input `count` must be an integer but is `three`"));
    check_valid(json!({"text": "hi", "count": "1.5"}), Err("input `count` must be an integer but is `1.5`"));
    check_valid(json!({"text": "hi", "count": ""}), Err("input `count` is empty"));
    check_valid(json!({"text": "hi", "count": 1, "ratio": "2"}), Ok(()));
    check_valid(json!({"text": "hi", "count": 1, "loud": "yes"}), Err("input `loud` must be a boolean but is `yes`"));
    check_valid(json!({"text": "hi", "count": 1, "loud": ""}), Ok(()));
    check_valid(json!({"text": 5, "count": 1}), Err("input `text` must be a string but is `5`"));
    check_valid(json!({"text": "hi", "count": 1, "tags": "[\"a\"]"}), Ok(()));
    check_valid(
        json!({"text": "hi", "count": 1, "tags": "{}"}),
        Err("input `tags` must be an array or null but is `{}`"),
    );
    check_valid(json!({"text": "hi", "count": 1, "level": "warn"}), Ok(()));
    check_valid(
        json!({"text": "hi", "count": 1, "level": "loud"}),
        Err(r#"input `level` must be one of "info", "warn" but is `"loud"`"#),
    );
    check_valid(json!({"text": "hi", "count": 1, "extra": "anything"}), Ok(()));
    // A template renders to text: fine for a string, only checkable at run time for a number.
    check_valid(json!({"text": "{{ name }}", "count": "{{ n }}"}), Ok(()));
    check_valid(json!({"text": "hi", "count": 1, "unknown": "x"}), Ok(()));
}

#[test]
fn a_required_text_input_that_is_literally_empty_is_refused_at_deploy_time() {
    check_valid(json!({"text": "", "count": 1}), Err("input `text` is empty"));
    check_valid(json!({"text": "  \n\t", "count": 1}), Err("input `text` is empty"));
    // Optional text may be empty; a template is only known at run time.
    check_valid(json!({"text": "{{ who }}", "count": 1, "extra": ""}), Ok(()));
    // Required without `minLength` (the guide's connector handles empty text itself): still a
    // literal empty value is a mistake in the model.
    let guide_like = Registry::default().with(Trouble);
    assert_eq!(guide_like.validate("trouble", &map(json!({"what": " "}))), Err("input `what` is empty".into()));
}

#[tokio::test]
async fn a_text_input_with_min_length_whose_template_renders_empty_fails_the_call_naming_it() {
    let fatal = |m: &str| Err(ConnectorError::fatal(m));
    let expected = "connector `echo`: input `text` is empty (its template rendered nothing)";
    assert_eq!(call(json!({"text": "{{ who }}", "count": 1}), json!({})).await, fatal(expected));
    assert_eq!(call(json!({"text": " {{ who }} ", "count": 1}), json!({"who": null})).await, fatal(expected));
    assert_eq!(call(json!({"text": "{{ who }}", "count": 1}), json!({"who": "  "})).await, fatal(expected));
    let out = call(json!({"text": "{{ who }}", "count": 1}), json!({"who": "Ada"})).await.unwrap();
    assert_eq!(out["text"], "Ada");
}

#[tokio::test]
async fn placeholders_that_resolve_to_nothing_come_back_as_warnings() {
    use sluice_connector_api::TemplateWarning;
    let inputs = map(json!({"text": "{{ order.nmae }} {{ order.id }} {{ order.nmae }}", "count": "{{ n }}",
                            "extra": {"deep": "{{ gone }}", "null": "{{ nothing }}"}}));
    let data = map(json!({"order": {"id": "O-1"}, "n": 2, "nothing": null}));
    let invoked = registry().invoke_noting("echo", &inputs, &data, cx()).await;
    let out = invoked.result.unwrap();
    assert_eq!(out["text"], " O-1 ", "rendered empty as before");
    let w = |input: &str, path: &str| TemplateWarning { input: input.into(), path: path.into() };
    // Each input and path once; an explicit null is a value, not a warning.
    assert_eq!(invoked.warnings, [w("text", "order.nmae"), w("extra", "gone")]);
    // A call that fails still reports what it rendered.
    let invoked = registry().invoke_noting("echo", &map(json!({"text": "{{ typo }}", "count": 1})), &data, cx()).await;
    assert!(invoked.result.is_err());
    assert_eq!(invoked.warnings, [w("text", "typo")]);
}

async fn call(inputs: Value, data: Value) -> Result<Value, ConnectorError> {
    registry().invoke("echo", &map(inputs), &map(data), cx()).await
}

#[tokio::test]
async fn renders_templates_escapes_values_and_coerces_text() {
    let out = call(
        json!({"text": "<b>{{ who }}</b> {{ request.id }}", "count": "{{ n }}", "ratio": "{{ r }}", "loud": "true",
               "tags": "{{ tags }}", "extra": {"nested": "{{ who }}"}}),
        json!({"who": "<script>", "n": 4, "r": 0.25, "tags": ["x", "y"]}),
    )
    .await
    .unwrap();
    assert_eq!(
        out,
        json!({"text": "<b>&lt;script></b> r-1", "count": 4, "ratio": 0.25, "loud": true, "level": null,
               "tags": ["x", "y"], "extra": {"nested": "&lt;script>"}})
    );
}

#[tokio::test]
async fn bad_inputs_at_run_time_are_fatal_and_name_the_input() {
    let fatal = |m: &str| Err(ConnectorError::fatal(m));
    assert_eq!(call(json!({"text": "x"}), json!({})).await, fatal("connector `echo`: missing required input `count`"));
    assert_eq!(
        call(json!({"text": "x", "count": "{{ n }}"}), json!({"n": "many"})).await,
        fatal("connector `echo`: input `count` must be an integer but is `many`")
    );
    assert_eq!(
        call(json!({"text": "x", "count": "{{ n }}"}), json!({})).await,
        fatal("connector `echo`: input `count` is empty")
    );
    // An optional non-string input whose template renders empty is left out.
    let out = call(json!({"text": "x", "count": 1, "ratio": "{{ r }}"}), json!({})).await.unwrap();
    assert_eq!(out["ratio"], Value::Null);
    let unknown = registry().invoke("nope", &Map::new(), &Map::new(), cx()).await;
    assert_eq!(unknown, fatal("no connector `nope` is registered (known: echo, trouble)"));
}

async fn trouble(what: &str, registry: &Registry, cx: Context) -> Result<Value, ConnectorError> {
    registry.invoke("trouble", &map(json!({"what": what})), &Map::new(), cx).await
}

#[tokio::test]
async fn connector_errors_and_context_pass_through() {
    let r = registry();
    assert_eq!(trouble("ok", &r, cx()).await, Ok(json!({"request": "r-1", "attempt": 2})));
    assert_eq!(
        trouble("retry", &r, cx()).await,
        Err(ConnectorError::Retryable { message: "busy".into(), retry_after: Some(Duration::from_secs(7)) })
    );
    assert_eq!(trouble("bpmn", &r, cx()).await, Err(ConnectorError::bpmn("not_found", "no such thing")));
}

#[tokio::test]
async fn a_panic_becomes_a_fatal_error() {
    let r = registry();
    assert_eq!(trouble("panic", &r, cx()).await, Err(ConnectorError::fatal("the connector panicked: boom")));
    // The registry still works afterwards.
    assert!(trouble("ok", &r, cx()).await.is_ok());
}

#[tokio::test]
async fn a_call_that_outlasts_the_timeout_is_retryable() {
    let r = registry().with_timeout(Duration::from_millis(50));
    assert_eq!(r.timeout(), Duration::from_millis(50));
    let err = trouble("sleep", &r, cx()).await.unwrap_err();
    assert_eq!(err, ConnectorError::retryable("the connector did not answer within 50 ms"));
    assert_eq!(Registry::default().timeout(), Duration::from_secs(60));
}

#[tokio::test]
async fn cancelling_abandons_the_call() {
    let r = registry();
    let cx = cx();
    let cancel = cx.cancellation().clone();
    let call = tokio::spawn(async move { trouble("sleep", &r, cx).await });
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!cancel.is_cancelled());
    cancel.cancel();
    assert!(cancel.is_cancelled());
    let got = tokio::time::timeout(Duration::from_secs(5), call).await.unwrap().unwrap();
    assert_eq!(got, Err(ConnectorError::fatal("the connector call was cancelled")));
}

#[test]
fn invoking_outside_a_runtime_is_an_error_not_a_panic() {
    let r = registry();
    let fut = trouble("ok", &r, cx());
    // Polled by a trivial executor with no tokio runtime around it.
    let got = futures_lite_block_on(fut);
    assert_eq!(got, Err(ConnectorError::fatal("connectors must be invoked inside a tokio runtime")));
}

/// Polls a future that completes without waiting (enough for the check above).
fn futures_lite_block_on<F: std::future::Future>(fut: F) -> F::Output {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let std::task::Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn secrets() -> Secrets {
    [("API_KEY".to_string(), Secret::new("s3cr3t<&>"))].into_iter().collect()
}

async fn with_secrets(connector: &str, inputs: Value, computed: Vec<(Vec<String>, Value)>) -> Result<Value, String> {
    let (raw, secrets) = (map(inputs), secrets());
    let data = map(json!({"name": "<b>"}));
    let call = Call { raw_inputs: &raw, variables: &data, computed, secrets: &secrets };
    registry().invoke_with(connector, call, cx()).await.result.map_err(|e| e.to_string())
}

#[tokio::test]
async fn secrets_are_given_unescaped_and_never_come_back() {
    // The connector gets the value (unescaped, data still escaped); what it repeats is redacted.
    let out = with_secrets("echo", json!({"text": "key {{ secrets.API_KEY }} for {{ name }}", "count": "1"}), vec![])
        .await
        .unwrap();
    assert_eq!(out["text"], "key *** for &lt;b>");
    let err = with_secrets("trouble", json!({"what": "fail:https://x/?key={{secrets.API_KEY}}"}), vec![]).await;
    assert_eq!(err.unwrap_err(), "cannot reach fail:https://x/?key=***");
    // A secret that is not given stops the call before the connector runs, naming it.
    let missing = with_secrets("echo", json!({"text": "{{ secrets.OTHER }}", "count": "1"}), vec![]).await;
    let missing = missing.unwrap_err();
    assert!(missing.contains("secret `OTHER`") && missing.contains("not set"), "{missing}");
}

#[tokio::test]
async fn computed_inputs_are_placed_at_their_target_unrendered() {
    let computed = vec![
        (vec!["text".to_string()], json!("{{ name }} stays")),
        (vec!["extra".to_string(), "deep".to_string(), "x".to_string()], json!(5)),
    ];
    let out = with_secrets("echo", json!({"text": "overwritten", "count": "2"}), computed).await.unwrap();
    assert_eq!(out["text"], "{{ name }} stays");
    assert_eq!(out["extra"], json!({"deep": {"x": 5}}));
}
