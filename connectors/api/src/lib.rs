//! The connector trait that Sluice task types are written against, and its types.
//!
//! A connector author implements [`Connector`] with typed input and output; the registry (in this
//! crate) erases it to JSON so the engine can call any connector by its `TYPE`.

use std::future::Future;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

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
    /// A BPMN error with a code, caught by error boundary events.
    #[error("BPMN error `{code}`: {message}")]
    Bpmn { code: String, message: String },
    /// Needs a person: becomes an incident whose text says what to fix.
    #[error("{message}")]
    Fatal { message: String },
}

/// Identifies one attempt of one step: (Request, element, attempt).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
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
#[derive(Debug, Clone)]
pub struct Context {
    pub key: IdempotencyKey,
    /// The Request's process key.
    pub process_key: String,
    /// A link to the Request for people (`SLUICE_PUBLIC_URL`-based).
    pub request_url: String,
}

impl Context {
    pub fn idempotency_key(&self) -> &IdempotencyKey {
        &self.key
    }
}
