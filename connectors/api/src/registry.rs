//! The registry: the connectors a binary is built with, called by type with JSON inputs.
//!
//! Behind it sits a private type-erased trait, so the engine deals in JSON and connector authors
//! in their own typed `Input` and `Output`.

use std::any::Any;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use schemars::generate::SchemaSettings;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::schema::Fields;
use crate::template::{self, Secrets, Vars};
use crate::{Connector, ConnectorError, Context, Secret};

/// How long a call may take before the registry gives up on it (a `Retryable` error).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// One call's inputs for [`Registry::invoke_with`].
#[derive(Debug)]
pub struct Call<'a> {
    /// The inputs as written: strings are templates.
    pub raw_inputs: &'a Map<String, Value>,
    /// The Request's data the templates read.
    pub variables: &'a Map<String, Value>,
    /// Values computed by the caller, put at their (dotted) target after rendering; never
    /// rendered as templates.
    pub computed: Vec<(Vec<String>, Value)>,
    /// The secrets `{{ secrets.NAME }}` may name.
    pub secrets: &'a Secrets,
}

/// What stands for a secret's value that a connector repeated.
pub const REDACTED: &str = "***";

fn redact_text(text: &str, secrets: &[&str]) -> String {
    secrets.iter().fold(text.to_string(), |t, s| t.replace(s, REDACTED))
}

fn redact_value(v: Value, secrets: &[&str]) -> Value {
    match v {
        Value::String(s) if secrets.iter().any(|x| s.contains(x)) => Value::String(redact_text(&s, secrets)),
        Value::Array(a) => Value::Array(a.into_iter().map(|x| redact_value(x, secrets)).collect()),
        Value::Object(m) => {
            Value::Object(m.into_iter().map(|(k, x)| (redact_text(&k, secrets), redact_value(x, secrets))).collect())
        }
        other => other,
    }
}

fn redact_result(result: Result<Value, ConnectorError>, secrets: &[&str]) -> Result<Value, ConnectorError> {
    match result {
        Ok(v) => Ok(redact_value(v, secrets)),
        Err(ConnectorError::Retryable { message, retry_after }) => {
            Err(ConnectorError::Retryable { message: redact_text(&message, secrets), retry_after })
        }
        Err(ConnectorError::Unconfirmed { message, retry_after }) => {
            Err(ConnectorError::Unconfirmed { message: redact_text(&message, secrets), retry_after })
        }
        Err(ConnectorError::Bpmn { code, message }) => {
            Err(ConnectorError::Bpmn { code, message: redact_text(&message, secrets) })
        }
        Err(ConnectorError::Fatal { message }) => {
            Err(ConnectorError::Fatal { message: redact_text(&message, secrets) })
        }
    }
}

/// Puts `value` at `path` inside `map`, making objects on the way.
fn insert_at(map: &mut Map<String, Value>, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else { return };
    let mut cur = map;
    for seg in parents {
        let slot = cur.entry(seg.clone()).or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        let Value::Object(next) = slot else { return };
        cur = next;
    }
    cur.insert(last.clone(), value);
}

/// One connector as `GET /api/v1/connectors` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectorInfo {
    #[serde(rename = "type")]
    pub connector_type: &'static str,
    pub name: &'static str,
    /// The JSON Schema (draft 2020-12) of the connector's `Input`.
    pub inputs_schema: Value,
}

/// A placeholder in a connector input that resolved to nothing (a typo such as
/// `{{ order.nmae }}`, or data that is not there): it was rendered empty, and the caller should
/// say so (the engine records a `template_warning` in the Request's history).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateWarning {
    /// The input whose template it is.
    pub input: String,
    /// The placeholder's path, as written.
    pub path: String,
}

/// A connector call's answer with the warnings its inputs' rendering gave
/// ([`Registry::invoke_noting`]).
#[derive(Debug)]
pub struct Invoked {
    pub result: Result<Value, ConnectorError>,
    /// In input order, each input and path once.
    pub warnings: Vec<TemplateWarning>,
}

/// The connectors a binary knows, by type.
///
/// ```text
/// let registry = Registry::default().with(Http::new()).with(SlackNotification::new(cfg));
/// ```
#[derive(Clone)]
pub struct Registry {
    connectors: BTreeMap<&'static str, Arc<dyn Erased>>,
    timeout: Duration,
}

impl Default for Registry {
    fn default() -> Self {
        Registry { connectors: BTreeMap::new(), timeout: DEFAULT_TIMEOUT }
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("types", &self.types().collect::<Vec<_>>())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Registry {
    /// Adds a connector.
    ///
    /// # Panics
    ///
    /// When a connector of the same `TYPE` is already registered: two connectors answering to one
    /// name is a bug in `main`, found the first time it runs.
    #[must_use]
    pub fn with<C: Connector>(mut self, connector: C) -> Self {
        let erased = Arc::new(Typed::new(connector));
        let previous = self.connectors.insert(C::TYPE, erased);
        assert!(previous.is_none(), "two connectors are registered with the type `{}`", C::TYPE);
        self
    }

    /// How long one call may take; past it the call is abandoned with a `Retryable` error.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn contains(&self, connector_type: &str) -> bool {
        self.connectors.contains_key(connector_type)
    }

    /// The registered types, sorted.
    pub fn types(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.connectors.keys().copied()
    }

    /// Every connector with its inputs' JSON Schema, sorted by type.
    pub fn list(&self) -> Vec<ConnectorInfo> {
        self.connectors
            .values()
            .map(|c| {
                let m = c.meta();
                ConnectorInfo { connector_type: m.connector_type, name: m.name, inputs_schema: m.schema.clone() }
            })
            .collect()
    }

    /// Deploy-time check of a connector task's inputs as written in the model (before templates
    /// are rendered): the connector exists, every required input is there, and each literal has
    /// the right JSON type. A template is accepted wherever a string goes; where a number, a
    /// boolean, an object or an array goes, its rendered text is read as JSON at run time, so only
    /// the run can tell whether `{{ x }}` gives one.
    pub fn validate(&self, connector_type: &str, raw_inputs: &Map<String, Value>) -> Result<(), String> {
        let c = self.connectors.get(connector_type).ok_or_else(|| self.unknown(connector_type))?;
        c.meta().fields.validate(raw_inputs)
    }

    /// Calls a connector: renders each string input as a template over `variables` (escaped by
    /// the connector), reads the inputs into its `Input`, runs it, and returns its output as JSON.
    ///
    /// Must be called inside a tokio runtime with the time driver enabled. The call runs as its
    /// own task: a panic becomes `Fatal` ("the connector panicked: …") instead of unwinding into
    /// the caller, a call that outlasts the registry's timeout is abandoned as `Retryable`, and a
    /// call whose `cx.cancellation` is triggered is abandoned as `Fatal`.
    ///
    /// A text input whose schema asks for at least one character (`minLength`, see
    /// `docs/connector-guide.md`) and whose template renders empty or blank fails the call
    /// (`Fatal`, naming the input: an incident) rather than reaching the connector.
    pub async fn invoke(
        &self,
        connector_type: &str,
        raw_inputs: &Map<String, Value>,
        variables: &Map<String, Value>,
        cx: Context,
    ) -> Result<Value, ConnectorError> {
        self.invoke_noting(connector_type, raw_inputs, variables, cx).await.result
    }

    // Its parameters repeat `invoke`'s, which answers only the result of this one; Rust has no
    // default arguments or optional outputs to fold them into one signature.
    /// [`Registry::invoke`], also answering the placeholders that resolved to nothing.
    pub async fn invoke_noting(
        &self,
        connector_type: &str,
        raw_inputs: &Map<String, Value>,
        variables: &Map<String, Value>,
        cx: Context,
    ) -> Invoked {
        let call = Call { raw_inputs, variables, computed: Vec::new(), secrets: &Secrets::new() };
        self.invoke_with(connector_type, call, cx).await
    }

    /// [`Registry::invoke_noting`] with inputs computed by the caller (FEEL) and the secrets the
    /// inputs may name. A `{{ secrets.NAME }}` whose secret is not given fails the call (`Fatal`,
    /// naming it) before the connector runs: a secret never renders as an empty string.
    pub async fn invoke_with(&self, connector_type: &str, call: Call<'_>, mut cx: Context) -> Invoked {
        let mut warnings: Vec<TemplateWarning> = Vec::new();
        let Some(c) = self.connectors.get(connector_type) else {
            return Invoked { result: Err(ConnectorError::fatal(self.unknown(connector_type))), warnings };
        };
        let mut used = BTreeMap::new();
        for (k, v) in call.raw_inputs {
            let names = template::secret_names(v);
            if let Some(name) = names.iter().find(|n| !call.secrets.contains_key(n.as_str())) {
                let message = format!(
                    "the input `{k}` uses the secret `{name}`, which is not set: store it (admin: `PUT \
                     /api/v1/secrets/{name}`), then retry"
                );
                return Invoked { result: Err(ConnectorError::fatal(message)), warnings };
            }
            if !names.is_empty() {
                used.insert(k.clone(), names);
            }
        }
        cx.secret_inputs = used;
        let vars = Vars::new(call.variables, &cx).with_secrets(call.secrets);
        let escape = c.escape_fn();
        let mut rendered = Map::new();
        for (k, v) in call.raw_inputs {
            let value = template::render_value_noting(v, &vars, escape, &mut |path| {
                let w = TemplateWarning { input: k.clone(), path: path.to_string() };
                if !warnings.contains(&w) {
                    warnings.push(w);
                }
            });
            rendered.insert(k.clone(), value);
        }
        for (target, value) in call.computed {
            insert_at(&mut rendered, &target, value);
        }
        let used: Vec<&str> = cx
            .secret_inputs
            .values()
            .flatten()
            .filter_map(|n| call.secrets.get(n.as_str()))
            .map(Secret::expose)
            .filter(|v| !v.is_empty())
            .collect();
        let result = self.call(c, connector_type, rendered, cx.clone()).await;
        // A connector that repeats a secret it was given (an error quoting a URL, an answer
        // echoing a header) does not carry it into the Request's data, history or incidents.
        let result = if used.is_empty() { result } else { redact_result(result, &used) };
        Invoked { result, warnings }
    }

    /// How a connector escapes data placed in its inputs (for callers that compute inputs
    /// themselves, such as FEEL inputs); unchanged for an unknown type.
    pub fn escape_of(&self, connector_type: &str) -> template::Escape {
        self.connectors.get(connector_type).map_or(template::no_escape, |c| c.escape_fn())
    }

    /// The connector's own deploy-time checks ([`Connector::check`]), each with its input.
    pub fn problems(&self, connector_type: &str, raw_inputs: &Map<String, Value>) -> Vec<(String, String)> {
        self.connectors.get(connector_type).map(|c| c.check(raw_inputs)).unwrap_or_default()
    }

    async fn call(
        &self,
        c: &Arc<dyn Erased>,
        connector_type: &str,
        rendered: Map<String, Value>,
        cx: Context,
    ) -> Result<Value, ConnectorError> {
        let meta = c.meta();
        if let Some(f) =
            meta.fields.fields.iter().find(|f| {
                f.non_empty && rendered.get(&f.name).and_then(Value::as_str).is_some_and(|s| s.trim().is_empty())
            })
        {
            return Err(ConnectorError::fatal(format!(
                "connector `{connector_type}`: input `{}` is empty (its template rendered nothing)",
                f.name
            )));
        }
        let inputs = meta
            .fields
            .coerce(rendered)
            .map_err(|p| ConnectorError::fatal(format!("connector `{connector_type}`: {p}")))?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(ConnectorError::fatal("connectors must be invoked inside a tokio runtime"));
        }
        let call = c.clone().start(cx.clone(), Value::Object(inputs))?;
        let task = tokio::task::spawn(call);
        let abort = task.abort_handle();
        let mut task = pin!(task);
        let mut cancelled = pin!(cx.cancellation.cancelled());
        let mut deadline = pin!(tokio::time::sleep(self.timeout));
        let timeout = self.timeout;
        std::future::poll_fn(|ctx| {
            if let Poll::Ready(joined) = task.as_mut().poll(ctx) {
                return Poll::Ready(match joined {
                    Ok(result) => result,
                    Err(e) if e.is_panic() => Err(ConnectorError::fatal(format!(
                        "the connector panicked: {}",
                        panic_message(e.into_panic().as_ref())
                    ))),
                    Err(_) => Err(ConnectorError::fatal("the connector call was aborted")),
                });
            }
            if cancelled.as_mut().poll(ctx).is_ready() {
                abort.abort();
                return Poll::Ready(Err(ConnectorError::fatal("the connector call was cancelled")));
            }
            if deadline.as_mut().poll(ctx).is_ready() {
                abort.abort();
                return Poll::Ready(Err(ConnectorError::Retryable {
                    message: format!("the connector did not answer within {}", human(timeout)),
                    retry_after: None,
                }));
            }
            Poll::Pending
        })
        .await
    }
}

impl Registry {
    /// "no connector `X` is registered", with the known ones and the closest to `X`.
    fn unknown(&self, connector_type: &str) -> String {
        let known: Vec<&str> = self.types().collect();
        format!(
            "no connector `{connector_type}` is registered{}",
            crate::schema::known_and_closest(connector_type, &known)
        )
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(no message)"
    }
}

fn human(d: Duration) -> String {
    if d.subsec_millis() == 0 { format!("{} s", d.as_secs()) } else { format!("{} ms", d.as_millis()) }
}

type Running = Pin<Box<dyn Future<Output = Result<Value, ConnectorError>> + Send>>;

/// What the registry knows of a connector without its types.
struct Meta {
    connector_type: &'static str,
    name: &'static str,
    schema: Value,
    fields: Fields,
}

/// The private, type-erased face of a [`Connector`]: JSON in, JSON out.
trait Erased: Send + Sync + 'static {
    fn meta(&self) -> &Meta;
    fn escape_fn(&self) -> template::Escape;
    fn check(&self, raw_inputs: &Map<String, Value>) -> Vec<(String, String)>;
    /// Reads the input into the connector's type and returns the call, ready to be spawned.
    fn start(self: Arc<Self>, cx: Context, input: Value) -> Result<Running, ConnectorError>;
}

struct Typed<C> {
    connector: C,
    meta: Meta,
}

impl<C: Connector> Typed<C> {
    fn new(connector: C) -> Self {
        let schema: Value =
            SchemaSettings::draft2020_12().for_deserialize().into_generator().into_root_schema_for::<C::Input>().into();
        let fields = Fields::from_schema(&schema);
        Typed { connector, meta: Meta { connector_type: C::TYPE, name: C::NAME, schema, fields } }
    }
}

impl<C: Connector> Erased for Typed<C> {
    fn meta(&self) -> &Meta {
        &self.meta
    }

    fn escape_fn(&self) -> template::Escape {
        escape_of::<C>
    }

    fn check(&self, raw_inputs: &Map<String, Value>) -> Vec<(String, String)> {
        C::check(raw_inputs)
    }

    fn start(self: Arc<Self>, cx: Context, input: Value) -> Result<Running, ConnectorError> {
        let input: C::Input = serde_json::from_value(input)
            .map_err(|e| ConnectorError::fatal(format!("connector `{}`: the inputs are not valid: {e}", C::TYPE)))?;
        Ok(Box::pin(async move {
            let output = self.connector.invoke(&cx, input).await?;
            serde_json::to_value(output).map_err(|e| {
                ConnectorError::fatal(format!("connector `{}` returned an output that is not JSON: {e}", C::TYPE))
            })
        }))
    }
}

fn escape_of<C: Connector>(value: &str) -> Cow<'_, str> {
    C::escape(value)
}
