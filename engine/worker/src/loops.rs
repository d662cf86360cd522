//! The loops a server runs beside its API (`sluice serve`): the worker, the heartbeat and the
//! pruning of old history. Each runs until its stop signal turns true.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sluice_store::{PrunePace, Store};
use tokio::sync::{Notify, watch};

use crate::Engine;

/// How the loops pace themselves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoopOptions {
    /// Jobs claimed per batch of the worker loop.
    pub batch: u32,
    /// The longest the worker sleeps when nothing wakes it (timers come due without a wake-up).
    pub idle_poll: Duration,
    /// The wait after the worker loop failed (say the database is unreachable).
    pub error_pause: Duration,
    /// How often finished Requests past their retention are deleted.
    pub prune_every: Duration,
}

impl Default for LoopOptions {
    fn default() -> Self {
        LoopOptions {
            batch: 500,
            idle_poll: Duration::from_millis(100),
            error_pause: Duration::from_secs(1),
            prune_every: Duration::from_secs(600),
        }
    }
}

/// Runs due jobs until told to stop: at once again after a full batch, else after a wake-up (a
/// write left jobs due now that no node runs yet, see [`Engine::wakeup`]) or a short poll. Then
/// lets the handed-off runs end and gives up this node's Request leases.
pub async fn worker_loop(
    engine: Arc<Engine>,
    wake: Arc<Notify>,
    options: LoopOptions,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if *stop.borrow() {
            break;
        }
        let pause = match engine.run_due_jobs(Utc::now(), options.batch).await {
            Ok(n) if n as u32 >= options.batch => continue,
            Ok(_) => options.idle_poll,
            Err(e) => {
                tracing::error!(error = %e, "the worker loop failed; trying again");
                options.error_pause
            }
        };
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(pause) => {}
            _ = stop.changed() => break,
        }
    }
    // Let the handed-off runs finish their connector calls and steps, then hand this node's
    // Requests over at once instead of letting other nodes wait for the leases to run out.
    engine.drain_handoffs().await;
    if let Err(e) = engine.release_leases().await {
        tracing::error!(error = %e, "cannot release Request leases");
    }
}

/// How often the heartbeat loop looks for tables to vacuum or analyze (PostgreSQL with
/// autovacuum off; see [`Store::maintain_tables`]).
const MAINTENANCE_EVERY: Duration = Duration::from_secs(60);

/// Keeps this node's Request leases alive, every third of the lease, beside the worker loop (a
/// batch of slow connector calls must not let them lapse), until told to stop. About once a
/// minute it also starts, on a task of its own, what PostgreSQL's autovacuum would do where it
/// is off (a vacuum can take seconds; the leases must not wait for it).
pub async fn heartbeat_loop(engine: Arc<Engine>, mut stop: watch::Receiver<bool>) {
    let every = engine.options().request_lease / 3;
    let mut last = tokio::time::Instant::now();
    let mut maintenance: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => break,
        }
        if let Err(e) = engine.heartbeat(Utc::now()).await {
            tracing::error!(error = %e, "cannot renew Request leases");
        }
        if last.elapsed() >= MAINTENANCE_EVERY && maintenance.as_ref().is_none_or(|m| m.is_finished()) {
            last = tokio::time::Instant::now();
            maintenance = Some(tokio::spawn(maintain(engine.store().clone())));
        }
    }
    if let Some(m) = maintenance {
        m.abort();
    }
}

/// One round of [`Store::maintain_tables`], its failure logged.
pub async fn maintain(store: Store) {
    if let Err(e) = store.maintain_tables().await {
        tracing::warn!(error = %e, "cannot vacuum or analyze the tables that need it");
    }
}

/// Finished Requests one pruning transaction deletes.
pub const PRUNE_BATCH: u32 = 200;
/// The pause between two pruning transactions: at least 5 ms, and long enough that pruning
/// takes at most 10 % of the time (of the writer, on SQLite), whatever one transaction costs on
/// this machine and backend. At 5 ms flat, pruning a million Requests on SQLite cut the
/// Requests' throughput to 55 % while it ran; at 15 %, to 76 %.
pub const PRUNE_PACE: PrunePace = PrunePace { pause: Duration::from_millis(5), share: 0.10 };
/// [`PRUNE_PACE`] on PostgreSQL, whose writers do not share one lock: at a 10 % share the
/// Requests ran no slower during a prune of 100,000, and a million took over half an hour.
pub const PRUNE_PACE_POSTGRES: PrunePace = PrunePace { pause: Duration::from_millis(5), share: 0.40 };

/// The pruning pace for `store`'s backend.
pub fn prune_pace(store: &Store) -> PrunePace {
    match store.backend() {
        sluice_store::Backend::Postgres => PRUNE_PACE_POSTGRES,
        sluice_store::Backend::Sqlite => PRUNE_PACE,
    }
}
/// The pause between two transactions of the audit log's pruning.
const AUDIT_PRUNE_PAUSE: Duration = Duration::from_millis(5);

/// Audit entries one pruning transaction deletes.
const AUDIT_PRUNE_BATCH: u32 = 1_000;

/// Deletes finished Requests older than `retention` and, when `audit_retention` is given, audit
/// entries older than that, at start and then every [`LoopOptions::prune_every`], until told to
/// stop.
pub async fn prune_loop(
    store: Store,
    retention: Option<chrono::Duration>,
    audit_retention: Option<chrono::Duration>,
    options: LoopOptions,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        // Small transactions with a pause between them: the Requests' writes go on meanwhile.
        if let Some(retention) = retention {
            match store.prune_history_paced(Utc::now() - retention, PRUNE_BATCH, prune_pace(&store)).await {
                Ok(s) if s.requests > 0 => {
                    tracing::info!(requests = s.requests, events = s.events, "pruned finished Requests past retention")
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "cannot prune finished Requests"),
            }
        }
        if let Some(audit_retention) = audit_retention {
            let before = Utc::now() - audit_retention;
            let mut pruned = 0;
            loop {
                match store.prune_audit(before, AUDIT_PRUNE_BATCH).await {
                    Ok(n) => {
                        pruned += n;
                        if n < u64::from(AUDIT_PRUNE_BATCH) {
                            break;
                        }
                        tokio::time::sleep(AUDIT_PRUNE_PAUSE).await;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "cannot prune the audit log");
                        break;
                    }
                }
            }
            if pruned > 0 {
                tracing::info!(entries = pruned, "pruned audit entries past retention");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(options.prune_every) => {}
            _ = stop.changed() => break,
        }
    }
}
