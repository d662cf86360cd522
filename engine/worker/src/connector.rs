//! Connector jobs: call the connector with no transaction open, then step the Request with the
//! outcome, or give the job back for a retry.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sluice_bpmn::{Kind, TaskKind};
use sluice_connector_api::{ConnectorError, Context, IdempotencyKey, Invoked};
use sluice_engine::sim::ConnectorOutcome;
use sluice_engine::{HistoryEntry, HistoryEvent};
use sluice_store::{JobRow, LoadedRequest};
use tracing::Instrument;

use crate::handoff::LeaseAfter;
use crate::jobs::job_token;
use crate::secrets::{SecretsProblem, invoke_task, secrets_named};
use crate::write::StepCall;
use crate::{Engine, Error};

/// What becomes of a connector call's answer: the one mapping of [`ConnectorError`]s, for the
/// durable worker and for dry runs (`sluice run`).
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectorVerdict {
    /// The connector task gets this outcome.
    Outcome(ConnectorOutcome),
    /// A retryable error with tries left: call again later, not before `retry_after` when the
    /// connector asked for that. How long to wait is the caller's (its backoff).
    /// `unconfirmed`: the call may have taken effect (its answer was lost); the retry says so.
    Retry { message: String, retry_after: Option<Duration>, unconfirmed: bool },
}

impl ConnectorVerdict {
    /// The verdict on `result`, the answer to try number `tries` (1-based) of a call that is
    /// tried `max_tries` times at most: a retryable error on the last try fails the task with
    /// "… (gave up after `tries` `unit`)".
    pub fn of(result: Result<Value, ConnectorError>, tries: i64, max_tries: i64, unit: &str) -> Self {
        let outcome = match result {
            Ok(output) => ConnectorOutcome::Completed(output),
            Err(ConnectorError::Bpmn { code, message }) => ConnectorOutcome::BpmnError { code, message: Some(message) },
            Err(ConnectorError::Fatal { message }) => ConnectorOutcome::Failed(message),
            Err(ConnectorError::Retryable { message, retry_after }) if tries < max_tries => {
                return ConnectorVerdict::Retry { message, retry_after, unconfirmed: false };
            }
            Err(ConnectorError::Unconfirmed { message, retry_after }) if tries < max_tries => {
                return ConnectorVerdict::Retry { message, retry_after, unconfirmed: true };
            }
            Err(ConnectorError::Retryable { message, .. } | ConnectorError::Unconfirmed { message, .. }) => {
                ConnectorOutcome::Failed(format!("{message} (gave up after {tries} {unit})"))
            }
        };
        ConnectorVerdict::Outcome(outcome)
    }
}

/// ProcessMaker's "Magic Variables" a connector's inputs may name: `_request` (`id`, `name`,
/// `process_id`, `process_version`, `status`, `created_at`, `url`, `user_id`) and `_user` (the
/// person who started the Request: `id`, `username`, `email`, `name`, `fullname`, `firstname`,
/// `lastname`). Given to the call only, never stored in the Request's data; a variable of the
/// Request with the same name wins.
pub fn magic_request(
    id: &str,
    process: &sluice_bpmn::Process,
    version: i64,
    status: &str,
    created_at: &str,
    url: &str,
) -> Value {
    serde_json::json!({
        "id": id,
        "name": process.name.clone().unwrap_or_else(|| process.key.clone()),
        "process_id": process.key,
        "process_version": version,
        "status": status,
        "created_at": created_at,
        "url": url,
    })
}

/// `_user` for a person (see [`magic_request`]).
pub fn magic_user(id: &str, username: &str, email: &str, name: &str) -> Value {
    let (first, last) = name.split_once(' ').unwrap_or((name, ""));
    serde_json::json!({
        "id": id,
        "username": username,
        "email": email,
        "name": name,
        "fullname": name,
        "firstname": first,
        "lastname": last,
    })
}

/// Whether a connector task's inputs name `_user` (a user is only looked up for those).
fn names_user(call: &sluice_bpmn::ConnectorCall) -> bool {
    serde_json::to_string(&call.inputs).is_ok_and(|s| s.contains("_user"))
        || call.computed.iter().any(|c| c.expr.source().contains("_user"))
}

impl Engine {
    async fn add_magic_variables(
        &self,
        variables: &mut serde_json::Map<String, Value>,
        call: &sluice_bpmn::ConnectorCall,
        r: &LoadedRequest,
        process: &sluice_bpmn::Process,
    ) -> Result<(), Error> {
        let id = r.meta.id.to_string();
        let url = format!("{}/requests/{id}", self.options.public_url.trim_end_matches('/'));
        let status = format!("{:?}", r.meta.status).to_lowercase();
        let mut request =
            magic_request(&id, process, r.meta.process_version, &status, &r.meta.created_at.to_rfc3339(), &url);
        if let Some(username) = &r.meta.started_by
            && names_user(call)
            && let Some((u, _)) = self.store.user_for_sign_in(username).await?
        {
            request["user_id"] = Value::String(u.id.clone());
            variables.entry("_user").or_insert_with(|| magic_user(&u.id, &u.username, &u.email, &u.name));
        }
        variables.entry("_request").or_insert(request);
        Ok(())
    }

    /// Runs a connector job and steps its Request with the result. `run_last`: the job runs in a
    /// handed-off run that holds the Request's lease (and is its last job); see [`Engine::plan`].
    pub(crate) async fn run_connector(
        &self,
        job: &JobRow,
        now: DateTime<Utc>,
        preloaded: Option<LoadedRequest>,
        run_last: Option<bool>,
    ) -> Result<LeaseAfter, Error> {
        let dropped = async |job: &JobRow| self.drop_job(job).await.map(|()| LeaseAfter::Held);
        let (Some(id), Some(token)) = (job.request_id, job_token(job)) else { return dropped(job).await };
        let loaded = match preloaded {
            Some(r) if r.meta.id == id => Ok(r),
            _ => self.store.load_request(id).await,
        };
        let r = match loaded {
            Ok(r) => r,
            Err(sluice_store::Error::RequestNotFound(_)) => return dropped(job).await,
            Err(e) => return Err(e.into()),
        };
        let process = self.process(&r.meta.process_key, r.meta.process_version).await?;
        let Some(&(_, element, attempt)) = r.instance.connector_calls().iter().find(|(t, _, _)| *t == token) else {
            // The token no longer waits on its connector (canceled, interrupted): nothing to do.
            return dropped(job).await;
        };
        let el = process.element(element);
        let Kind::Task(TaskKind::Connector(call)) = &el.kind else { return dropped(job).await };
        let mut variables = r.instance.flattened_variables(token);
        self.add_magic_variables(&mut variables, call, &r, &process).await?;
        let key = IdempotencyKey { request_id: id.to_string(), element_id: el.id.clone(), attempt };
        let url = format!("{}/requests/{id}", self.options.public_url.trim_end_matches('/'));
        let mut cx = Context::new(key, process.key.as_str(), url);
        // The answer of an earlier run was lost, or the server stopped while it ran.
        cx.maybe_done_before = job.unconfirmed || crate::jobs::crashes(job) > 0;
        // Secrets are opened for this call only; a value that does not open is an incident.
        let span = tracing::info_span!("connector_call", request_id = %id, element_id = %el.id, connector = %call.connector, outcome = tracing::field::Empty, error = tracing::field::Empty);
        cx.traceparent = crate::observe::traceparent(&span);
        let started = std::time::Instant::now();
        let invoked = match self.open_secrets(&secrets_named(call)).instrument(span.clone()).await {
            // No transaction is open here: the call may take as long as the registry allows.
            Ok(secrets) => invoke_task(&self.registry, call, &variables, &secrets, cx).instrument(span.clone()).await,
            Err(SecretsProblem::Store(e)) => return Err(e),
            Err(SecretsProblem::Fatal(message)) => {
                Invoked { result: Err(ConnectorError::fatal(message)), warnings: Vec::new() }
            }
        };
        let (result, warnings) = (invoked.result, invoked.warnings);
        let outcome = match &result {
            Ok(_) => "ok",
            Err(ConnectorError::Retryable { .. } | ConnectorError::Unconfirmed { .. }) => "retryable",
            Err(ConnectorError::Bpmn { .. }) => "bpmn_error",
            Err(_) => "incident",
        };
        let m = sluice_store::metrics::engine_metrics();
        m.connector_calls.inc(&[&call.connector, outcome]);
        m.connector_duration.observe(&[&call.connector], started.elapsed().as_secs_f64());
        span.record("outcome", outcome);
        if let Err(e) = &result
            && outcome == "incident"
        {
            span.record("error", tracing::field::display(e));
        }
        span.in_scope(|| tracing::debug!(outcome, "connector call answered"));
        let attempts = job.attempts.max(1);
        let input = match ConnectorVerdict::of(result, attempts, i64::from(self.options.max_attempts), "attempts") {
            ConnectorVerdict::Outcome(outcome) => outcome.into_input(token),
            ConnectorVerdict::Retry { message, retry_after, unconfirmed } => {
                let jitter = self.next_unit();
                let mut delay = self.options.backoff.delay(attempts, jitter);
                if let Some(after) = retry_after.and_then(|d| chrono::Duration::from_std(d).ok()) {
                    delay = delay.max(after);
                }
                m.count(&m.jobs_retried, 1);
                if unconfirmed {
                    self.store.release_unconfirmed_job(job.id, &message, now + delay).await?;
                } else {
                    self.store.release_job(job.id, &message, now + delay).await?;
                }
                return Ok(LeaseAfter::Held);
            }
        };
        // The Request as read before the call: if nothing changed it meanwhile, no second read.
        // Placeholders that rendered empty because nothing was there: said in the history with
        // the result (a retried call says it again with the attempt that completes).
        let events = warnings
            .into_iter()
            .map(|w| {
                HistoryEntry::new(Some(el.id.clone()), HistoryEvent::TemplateWarning { input: w.input, path: w.path })
            })
            .collect();
        let call = StepCall { preloaded: Some(r), run_last, events, ..StepCall::job(Some(job.id)) };
        let (_, after) = self.step_inner(id, now, call, |_| Ok(vec![input.clone()])).await?;
        Ok(after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retryable() -> Result<Value, ConnectorError> {
        Err(ConnectorError::Retryable { message: "busy".into(), retry_after: Some(Duration::from_secs(2)) })
    }

    #[test]
    fn answers_map_to_outcomes_and_retryable_errors_retry_until_the_last_try() {
        let of = |result, tries| ConnectorVerdict::of(result, tries, 3, "tries");
        assert_eq!(of(Ok(Value::Null), 1), ConnectorVerdict::Outcome(ConnectorOutcome::Completed(Value::Null)));
        let bpmn = Err(ConnectorError::Bpmn { code: "no".into(), message: "why".into() });
        let caught = ConnectorOutcome::BpmnError { code: "no".into(), message: Some("why".into()) };
        assert_eq!(of(bpmn, 1), ConnectorVerdict::Outcome(caught));
        let fatal = Err(ConnectorError::Fatal { message: "bad".into() });
        assert_eq!(of(fatal, 1), ConnectorVerdict::Outcome(ConnectorOutcome::Failed("bad".into())));
        let retry = ConnectorVerdict::Retry {
            message: "busy".into(),
            retry_after: Some(Duration::from_secs(2)),
            unconfirmed: false,
        };
        assert_eq!(of(retryable(), 2), retry);
        let gave_up = ConnectorOutcome::Failed("busy (gave up after 3 tries)".into());
        assert_eq!(of(retryable(), 3), ConnectorVerdict::Outcome(gave_up));
    }
}
