//! Suspended processes (`suspended_processes`, schema 26): a suspended process starts no Request;
//! the writer refuses the creation ([`Error::ProcessSuspended`], batch.rs) in the transaction
//! that would write it.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use crate::Error;
use crate::db::args;
use crate::store::Store;
use crate::types::{from_millis, millis};

/// When and by whom a process was suspended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suspension {
    pub at: DateTime<Utc>,
    pub by: Option<String>,
}

impl Store {
    /// Suspends process `key` (no version: [`Error::ProcessNotFound`]). Suspending a suspended
    /// process changes nothing; returns whether this call suspended it.
    pub async fn suspend_process(&self, key: &str, by: Option<&str>, now: DateTime<Utc>) -> Result<bool, Error> {
        let mut tx = self.begin_write().await?;
        let mut c = tx.conn();
        let deployed = c.fetch_optional("SELECT 1 AS one FROM process_versions WHERE process_key = $1", args![key]);
        if deployed.await?.is_none() {
            return Err(Error::ProcessNotFound { key: key.to_string(), version: 0 });
        }
        let n = c
            .execute(
                "INSERT INTO suspended_processes (process_key, suspended_at, suspended_by) VALUES ($1, $2, $3)
                 ON CONFLICT (process_key) DO NOTHING",
                args![key, millis(now), by],
            )
            .await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Resumes process `key`; returns whether it was suspended.
    pub async fn resume_process(&self, key: &str) -> Result<bool, Error> {
        let mut tx = self.begin_write().await?;
        let n = tx.conn().execute("DELETE FROM suspended_processes WHERE process_key = $1", args![key]).await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Whether (since when, by whom) process `key` is suspended.
    pub async fn process_suspension(&self, key: &str) -> Result<Option<Suspension>, Error> {
        let mut tx = self.begin_read().await?;
        let row = tx
            .conn()
            .fetch_optional(
                "SELECT suspended_at, suspended_by FROM suspended_processes WHERE process_key = $1",
                args![key],
            )
            .await?;
        row.map(|r| {
            Ok(Suspension {
                at: from_millis("suspension time", r.int("suspended_at")?)?,
                by: r.opt_text("suspended_by")?,
            })
        })
        .transpose()
    }

    /// Deletes a version of a process that no Request uses (of any status) and that is not its
    /// latest (the latest starts Requests and holds the timer start events; its number is
    /// never taken again).
    pub async fn delete_process_version(&self, key: &str, version: i64) -> Result<(), Error> {
        let mut tx = self.begin_write().await?;
        let mut c = tx.conn();
        let latest = c
            .fetch_optional("SELECT MAX(version) AS v FROM process_versions WHERE process_key = $1", args![key])
            .await?
            .and_then(|r| r.opt_int("v").transpose())
            .transpose()?;
        let exists = c
            .fetch_optional(
                "SELECT 1 AS one FROM process_versions WHERE process_key = $1 AND version = $2",
                args![key, version],
            )
            .await?
            .is_some();
        if !exists {
            return Err(Error::ProcessNotFound { key: key.to_string(), version });
        }
        if latest == Some(version) {
            return Err(Error::VersionIsLatest { key: key.to_string(), version });
        }
        let requests = c
            .fetch_optional(
                "SELECT COUNT(*) AS n FROM requests WHERE process_key = $1 AND process_version = $2",
                args![key, version],
            )
            .await?
            .map(|r| r.int("n"))
            .transpose()?
            .unwrap_or(0);
        if requests > 0 {
            return Err(Error::VersionInUse { key: key.to_string(), version, requests });
        }
        c.execute("DELETE FROM process_versions WHERE process_key = $1 AND version = $2", args![key, version]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The keys of every suspended process.
    pub async fn suspended_processes(&self) -> Result<HashSet<String>, Error> {
        let mut tx = self.begin_read().await?;
        let rows = tx.conn().fetch_all("SELECT process_key FROM suspended_processes", args![]).await?;
        rows.iter().map(|r| r.text("process_key")).collect()
    }
}
