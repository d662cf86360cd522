//! Migrating a Request to another version of its process: the runtime's
//! [`Instance::migrate`](sluice_engine::Instance::migrate) on the Request as read, written as one
//! step guarded by its revision (the version, the rows naming renamed elements, the re-created
//! subscriptions and timers and a `request_migrated` history event, all or nothing).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sluice_engine::runtime::MigrationPlan;
use sluice_store::{LeaseChange, Migrated, RequestId, StateColumns, WriteOp, WriteResult};

use crate::changes::changes_of;
use crate::{Engine, Error};

/// What a migration did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Migration {
    /// The Request moved from `from` to the version asked for.
    Moved { from: i64 },
    /// It was on that version already: nothing changed (a migration run again is a no-op).
    AlreadyThere,
}

impl Engine {
    /// Moves Request `id` to `version` of its process, each element where it has something to
    /// the element `mapping` names (else to the one with its own id). Refused with
    /// [`Error::MigrationInvalid`] naming every element that does not fit, and nothing changes;
    /// a finished Request is refused too. Running it again once done answers
    /// [`Migration::AlreadyThere`].
    pub async fn migrate(
        &self,
        id: RequestId,
        version: i64,
        mapping: &HashMap<String, String>,
        actor: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Migration, Error> {
        for _ in 0..=self.options.max_conflict_retries {
            let mut r = match self.store.load_request(id).await {
                Ok(r) => r,
                Err(sluice_store::Error::RequestNotFound(_)) => return Err(Error::RequestNotFound(id)),
                Err(e) => return Err(e.into()),
            };
            let from = r.meta.process_version;
            if from == version {
                return Ok(Migration::AlreadyThere);
            }
            if r.meta.status.is_finished() {
                return Err(Error::MigrationInvalid("the Request is finished".into()));
            }
            let key = r.meta.process_key.clone();
            let old = self.process(&key, from).await?;
            // Asked of the store, not this node's cache of parsed versions: another node may
            // have deleted the version since this one parsed it.
            if !self.store.process_versions(&key).await?.iter().any(|v| v.version == version) {
                self.forget_version(&key, version);
                return Err(Error::MigrationInvalid(format!("process `{key}` has no version {version}")));
            }
            let new = match self.process(&key, version).await {
                Ok(p) => p,
                Err(Error::Store(sluice_store::Error::ProcessNotFound { .. }) | Error::ProcessNotFound(_)) => {
                    return Err(Error::MigrationInvalid(format!("process `{key}` has no version {version}")));
                }
                Err(e) => return Err(e),
            };
            let decisions = self.decisions_for(&new).await?;
            let mut out = Vec::new();
            let plan = MigrationPlan { old: &old, new: &new, from_version: from, to_version: version, mapping };
            let renamed = r.instance.migrate(&plan, &decisions, now, &mut out).map_err(Error::MigrationInvalid)?;
            let mut changes = changes_of(&new, id, &out, now, r.meta.parent.is_some(), &self.registry);
            changes.actor = actor.clone();
            changes.migrated = Some(Migrated { version, renamed });
            let wake = !changes.jobs_added.is_empty();
            let op = WriteOp::Step {
                request: id,
                expected_revision: r.revision,
                state: StateColumns::of(&r.instance)?,
                changes,
                lease: LeaseChange::Keep,
            };
            crate::gate::enter()?;
            match self.writer.write(op).await? {
                WriteResult::Conflict => continue,
                _ => {
                    if wake {
                        self.wake.notify_one();
                    }
                    return Ok(Migration::Moved { from });
                }
            }
        }
        Err(Error::Busy(id))
    }
}
