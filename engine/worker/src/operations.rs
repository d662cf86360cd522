//! Running background operations (see the store's `operations.rs`): a node claims a running
//! operation, takes its Requests a page at a time after its cursor, does the action on each in
//! the Request's own transaction, and records the outcome (and the cursor) in another. A node
//! that dies leaves its claim to run out; the next node to look goes on after the cursor.
//! Each page's ids are recorded before its first Request is handled, so the node that takes over
//! finishes that page by id, and a Request handled but not yet recorded when a node died (which
//! may no longer match the filter: a migration moves it off the filtered version) is handled
//! again. Doing an action again is a no-op: migrated (then "already there"), retried (then
//! nothing to retry), canceled (then finished).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};
use sluice_store::{OperationRow, RequestId};
use tokio::sync::watch;

use crate::{Engine, Error};

/// How long a node's claim on an operation holds without progress.
const CLAIM: chrono::Duration = chrono::Duration::seconds(15);
/// Requests read per page.
const PAGE: u32 = 100;

/// What an operation does to each Request.
enum Action {
    Migrate { version: i64, mapping: HashMap<String, String> },
    Retry,
    Cancel,
}

impl Action {
    fn of(op: &OperationRow) -> Result<Self, String> {
        match op.kind.as_str() {
            "migrate" => {
                let version = op.params["version"].as_i64().ok_or("a migration needs a `version`")?;
                let mapping = match op.params.get("mapping") {
                    None | Some(Value::Null) => HashMap::new(),
                    Some(m) => serde_json::from_value(m.clone()).map_err(|e| format!("`mapping`: {e}"))?,
                };
                Ok(Action::Migrate { version, mapping })
            }
            "retry" => Ok(Action::Retry),
            "cancel" => Ok(Action::Cancel),
            other => Err(format!("unknown operation kind `{other}`")),
        }
    }
}

impl Engine {
    /// Runs the next running operation this node can claim to its end (or until another node
    /// takes it over); `pace` is a pause after each Request, so that a large operation leaves
    /// room for the Requests' own work. Returns whether there was one.
    pub async fn run_next_operation(&self, pace: Duration) -> Result<bool, Error> {
        let node = self.options.node_id.clone();
        let now = Utc::now();
        let Some(mut op) = self.store.claim_operation(&node, now, now + CLAIM).await? else { return Ok(false) };
        let action = match Action::of(&op) {
            Ok(a) => a,
            Err(why) => {
                self.store.finish_operation(op.id, &node, Some(&why), Utc::now()).await?;
                return Ok(true);
            }
        };
        tracing::info!(operation = %op.id, kind = %op.kind, total = op.total, done = op.done, "running an operation");
        loop {
            // The rest of a page a node was handling when it stopped, else the next page.
            let rest: Vec<RequestId> = op.page.iter().copied().filter(|id| op.cursor.is_none_or(|c| *id > c)).collect();
            let page = if rest.is_empty() {
                let page = self.store.operation_requests(&op, PAGE).await?;
                if page.is_empty() {
                    self.store.finish_operation(op.id, &node, None, Utc::now()).await?;
                    tracing::info!(operation = %op.id, "operation done");
                    return Ok(true);
                }
                if !self.store.set_operation_page(op.id, &node, &page).await? {
                    tracing::warn!(operation = %op.id, "another node took the operation over");
                    return Ok(true);
                }
                page
            } else {
                rest
            };
            op.page.clear();
            for id in page {
                let failure = self.act(&action, id, op.created_by.clone()).await?;
                let now = Utc::now();
                if !self.store.record_operation_step(op.id, &node, id, failure, now, now + CLAIM).await? {
                    tracing::warn!(operation = %op.id, "another node took the operation over");
                    return Ok(true);
                }
                op.cursor = Some(id);
                if !pace.is_zero() {
                    tokio::time::sleep(pace).await;
                }
            }
        }
    }

    /// Gives up this node's claims on running operations; call it once its operation runs have
    /// stopped (at shutdown). Another node, or this one started again, then goes on after each
    /// operation's cursor at once; a node that dies instead leaves its claim to run out (15 s).
    pub async fn release_operations(&self) -> Result<u64, Error> {
        Ok(self.store.release_operations(&self.options.node_id).await?)
    }

    /// Does `action` to Request `id`: `Ok(None)` done, `Ok(Some(failure))` refused for this
    /// Request, `Err` when the store failed (the operation stops and is taken up again).
    async fn act(&self, action: &Action, id: RequestId, actor: Option<String>) -> Result<Option<Value>, Error> {
        let now = Utc::now();
        let result = match action {
            Action::Migrate { version, mapping } => self.migrate(id, *version, mapping, actor, now).await.map(|_| ()),
            Action::Retry => self.retry(id, now).await,
            Action::Cancel => match self.cancel(id, now).await {
                // Finished already (or by the run before a crash): what the operation wants.
                Err(Error::Step(sluice_engine::StepError::Ended)) => Ok(()),
                other => other,
            },
        };
        match result {
            Ok(()) => Ok(None),
            Err(e @ Error::Store(_)) => Err(e),
            Err(e) => Ok(Some(json!({"request_id": id.to_string(), "error": e.to_string()}))),
        }
    }
}

/// Runs operations while the server runs: looks for one every `every`, and runs each to its end.
pub async fn operations_loop(engine: Arc<Engine>, every: Duration, pace: Duration, mut stop: watch::Receiver<bool>) {
    loop {
        let pause = match engine.run_next_operation(pace).await {
            Ok(true) => Duration::ZERO,
            Ok(false) => every,
            Err(e) => {
                tracing::error!(error = %e, "cannot run an operation; trying again");
                every
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.changed() => break,
        }
    }
}
