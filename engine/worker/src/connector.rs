//! Connector jobs: call the connector with no transaction open, then step the Request with the
//! outcome, or give the job back for a retry.

use chrono::{DateTime, Utc};
use sluice_bpmn::{Kind, TaskKind};
use sluice_connector_api::{ConnectorError, Context, IdempotencyKey};
use sluice_engine::Input;
use sluice_store::{JobRow, LoadedRequest};

use crate::handoff::LeaseAfter;
use crate::jobs::job_token;
use crate::write::StepCall;
use crate::{Engine, Error};

impl Engine {
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
        let variables = r.instance.flattened_variables(token);
        let key = IdempotencyKey { request_id: id.to_string(), element_id: el.id.clone(), attempt };
        let url = format!("{}/requests/{id}", self.options.public_url.trim_end_matches('/'));
        let cx = Context::new(key, process.key.as_str(), url);
        // No transaction is open here: the call may take as long as the registry allows.
        let result = self.registry.invoke(&call.connector, &call.inputs, &variables, cx).await;
        let input = match result {
            Ok(output) => Input::ConnectorCompleted { token, output },
            Err(ConnectorError::Bpmn { code, message }) => Input::ThrowError { token, code, message: Some(message) },
            Err(ConnectorError::Fatal { message }) => Input::ConnectorFailed { token, message },
            Err(ConnectorError::Retryable { message, retry_after }) => {
                let attempts = job.attempts.max(1);
                if attempts >= i64::from(self.options.max_attempts) {
                    let message = format!("{message} (gave up after {attempts} attempts)");
                    Input::ConnectorFailed { token, message }
                } else {
                    let jitter = self.next_unit();
                    let mut delay = self.options.backoff.delay(attempts, jitter);
                    if let Some(after) = retry_after.and_then(|d| chrono::Duration::from_std(d).ok()) {
                        delay = delay.max(after);
                    }
                    self.store.release_job(job.id, &message, now + delay).await?;
                    return Ok(LeaseAfter::Held);
                }
            }
        };
        // The Request as read before the call: if nothing changed it meanwhile, no second read.
        let call = StepCall { preloaded: Some(r), run_last, ..StepCall::job(Some(job.id)) };
        let (_, after) = self.step_inner(id, now, call, |_| Ok(vec![input.clone()])).await?;
        Ok(after)
    }
}
