//! The connector trait that Sluice task types are written against, and its types.
//!
//! A connector author implements [`Connector`] with typed input and output; the [`Registry`] (in
//! this crate) erases it to JSON so the engine can call any connector by its `TYPE`. The guide for
//! connector authors is `docs/connector-guide.md`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

mod registry;
mod schema;
mod secret;
pub mod template;

pub use registry::{Call, ConnectorInfo, DEFAULT_TIMEOUT, Invoked, Registry, TemplateWarning};
pub use schema::closest_name;
pub use secret::Secret;
pub use template::Secrets;

/// A task type. Implement this, then register it in `main` with `Registry::with`.
pub trait Connector: Send + Sync + 'static {
    /// The `implementation` value of a service task. Persisted in BPMN files and the database:
    /// renaming it breaks deployed models.
    const TYPE: &'static str;
    /// A name for people (`GET /api/v1/connectors`).
    const NAME: &'static str;
    type Input: DeserializeOwned + JsonSchema + Send;
    type Output: Serialize + Send;

    /// Escapes a value of the Request's data before it is placed into a template of this
    /// connector's inputs (Slack escapes `&`, `<`, `>` for mrkdwn). Default: unchanged.
    fn escape(value: &str) -> std::borrow::Cow<'_, str> {
        std::borrow::Cow::Borrowed(value)
    }

    /// Deploy-time checks of the inputs as written in the model, beyond their schema (which the
    /// registry checks): each problem with the top-level input it concerns. A FEEL input
    /// (Camunda 8's `=…`) appears as its source text starting with `=`. Default: none.
    fn check(_raw_inputs: &serde_json::Map<String, serde_json::Value>) -> Vec<(String, String)> {
        Vec::new()
    }

    /// Does the work. Called at least once per step: use `cx.idempotency_key()` to make repeated
    /// calls for the same step harmless.
    fn invoke(
        &self,
        cx: &Context,
        input: Self::Input,
    ) -> impl Future<Output = Result<Self::Output, ConnectorError>> + Send;
}

/// What went wrong, typed so the engine knows what to do next.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConnectorError {
    /// Worth trying again (after `retry_after` when given), with backoff.
    #[error("{message}")]
    Retryable { message: String, retry_after: Option<Duration> },
    /// Worth trying again as [`ConnectorError::Retryable`], but the call may have taken effect
    /// (its answer was lost: a timeout, a broken connection, a 5xx). The engine records that
    /// durably with the retry, and the next attempt gets [`Context::maybe_done_before`] set, so
    /// it checks before doing the work again.
    #[error("{message}")]
    Unconfirmed { message: String, retry_after: Option<Duration> },
    /// A BPMN error with a code, caught by error boundary events.
    #[error("BPMN error `{code}`: {message}")]
    Bpmn { code: String, message: String },
    /// Needs a person: becomes an incident whose text says what to fix.
    #[error("{message}")]
    Fatal { message: String },
}

impl ConnectorError {
    /// A [`ConnectorError::Retryable`] without a `retry_after` hint.
    pub fn retryable(message: impl Into<String>) -> Self {
        ConnectorError::Retryable { message: message.into(), retry_after: None }
    }

    /// A [`ConnectorError::Fatal`].
    pub fn fatal(message: impl Into<String>) -> Self {
        ConnectorError::Fatal { message: message.into() }
    }

    /// A [`ConnectorError::Bpmn`].
    pub fn bpmn(code: impl Into<String>, message: impl Into<String>) -> Self {
        ConnectorError::Bpmn { code: code.into(), message: message.into() }
    }
}

/// Identifies one attempt of one step: (Request, element, attempt).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
pub struct IdempotencyKey {
    pub request_id: String,
    pub element_id: String,
    pub attempt: u32,
}

impl IdempotencyKey {
    /// The key of the step regardless of attempt: what a connector uses to find out whether an
    /// earlier attempt already did the work.
    pub fn step(&self) -> String {
        format!("{}/{}", self.request_id, self.element_id)
    }
}

/// What a connector knows about the call besides its input.
///
/// Build one with [`Context::new`] (or a struct literal ending in `..Default::default()`), so
/// that fields added later don't break your code.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub key: IdempotencyKey,
    /// The Request's process key.
    pub process_key: String,
    /// A link to the Request for people (`SLUICE_PUBLIC_URL`-based).
    pub request_url: String,
    /// Triggered by the engine when the activity is interrupted (a boundary event fired, the
    /// Request was canceled): the result of the call will be thrown away.
    pub cancellation: Cancellation,
    /// The secrets each input refers to (`{{ secrets.NAME }}`), by input; filled in by the
    /// registry. Names only: the values are already in the rendered inputs.
    pub secret_inputs: std::collections::BTreeMap<String, Vec<String>>,
    /// An earlier run of this same call may have done the work: its answer was lost
    /// ([`ConnectorError::Unconfirmed`]) or the server stopped while it ran. A connector whose
    /// work must happen at most once checks here (and only here) before doing it again.
    pub maybe_done_before: bool,
    /// The W3C `traceparent` of this call's span when traces are exported (OpenTelemetry): a
    /// connector that calls another service over HTTP sends it as the `traceparent` header, so
    /// that service's spans join the Request's trace. `None` when no traces are kept.
    pub traceparent: Option<String>,
}

impl Context {
    pub fn new(key: IdempotencyKey, process_key: impl Into<String>, request_url: impl Into<String>) -> Self {
        Context {
            key,
            process_key: process_key.into(),
            request_url: request_url.into(),
            cancellation: Cancellation::new(),
            secret_inputs: std::collections::BTreeMap::new(),
            maybe_done_before: false,
            traceparent: None,
        }
    }

    pub fn idempotency_key(&self) -> &IdempotencyKey {
        &self.key
    }

    /// The Request's id (the first part of the idempotency key).
    pub fn request_id(&self) -> &str {
        &self.key.request_id
    }

    pub fn cancellation(&self) -> &Cancellation {
        &self.cancellation
    }

    /// True once the engine has asked this call to stop.
    pub fn is_cancelled(&self) -> bool {
        self.cancellation.is_cancelled()
    }
}

/// A one-way signal from the engine to a running connector call: "stop, nobody wants the result".
///
/// Clones share the signal. The registry stops waiting for a call as soon as it is cancelled (and
/// aborts the call's task at its next `.await`), so connectors only need to look at it to stop
/// between steps of a long computation that does not `.await`.
#[derive(Debug, Clone)]
pub struct Cancellation {
    tx: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Default for Cancellation {
    fn default() -> Self {
        Cancellation::new()
    }
}

impl Cancellation {
    pub fn new() -> Self {
        Cancellation { tx: Arc::new(tokio::sync::watch::Sender::new(false)) }
    }

    /// Triggers the signal; it stays triggered.
    pub fn cancel(&self) {
        self.tx.send_replace(true);
    }

    pub fn is_cancelled(&self) -> bool {
        *self.tx.borrow()
    }

    /// Completes once the signal is triggered (at once if it already is).
    pub async fn cancelled(&self) {
        let mut rx = self.tx.subscribe();
        // The sender lives as long as `self`, so `wait_for` can only end by seeing `true`.
        let _ = rx.wait_for(|cancelled| *cancelled).await;
    }
}
