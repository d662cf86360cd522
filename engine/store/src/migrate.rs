//! Embedded schema migrations, run at open, and the check that refuses a newer schema.
//!
//! Each backend has its own numbered SQL files under `migrations/`, compiled into the binary. The
//! table `sluice_schema` logs one row per applied migration; the schema version is its highest
//! `version`. Numbers may have gaps (branches reserve numbers ahead of merging): every migration
//! whose version is not logged yet is applied, in order, so a gap filled later is still applied.
//! All pending migrations run in one write transaction (on PostgreSQL under an advisory
//! lock, so several `sluice serve` processes starting together migrate once).

use chrono::Utc;

use crate::Backend;
use crate::db::{Tx, args};
use crate::{Error, types::millis};

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

/// One migration: its version, name and the script of each backend (same file name in each folder).
macro_rules! migration {
    ($version:literal, $name:literal, $file:literal) => {
        Migration {
            version: $version,
            name: $name,
            sqlite: include_str!(concat!("../migrations/sqlite/", $file)),
            postgres: include_str!(concat!("../migrations/postgres/", $file)),
        }
    };
}

const MIGRATIONS: &[Migration] = &[
    migration!(1, "init", "0001_init.sql"),
    migration!(2, "tokens_settings_sources", "0002_tokens_settings_sources.sql"),
    migration!(4, "slack_integrations", "0004_slack_integrations.sql"),
    migration!(5, "notifications", "0005_notifications.sql"),
    migration!(6, "subscription_order", "0006_subscription_order.sql"),
    migration!(7, "history_batches", "0007_history_batches.sql"),
    migration!(8, "history_append", "0008_history_append.sql"),
    migration!(9, "fewer_indexes", "0009_fewer_indexes.sql"),
    migration!(10, "job_ends", "0010_job_ends.sql"),
    migration!(12, "people", "0012_people.sql"),
    migration!(13, "decisions", "0013_decisions.sql"),
    migration!(14, "task_assignment", "0014_task_assignment.sql"),
    migration!(15, "secrets", "0015_secrets.sql"),
    migration!(16, "oidc", "0016_oidc.sql"),
    migration!(17, "open_requests_by_version", "0017_open_requests_by_version.sql"),
    migration!(18, "worker_jobs", "0018_worker_jobs.sql"),
    migration!(23, "buffered_messages", "0023_buffered_messages.sql"),
    migration!(24, "unconfirmed_jobs", "0024_unconfirmed_jobs.sql"),
    migration!(25, "incidents", "0025_incidents.sql"),
    migration!(26, "suspended_processes", "0026_suspended_processes.sql"),
    migration!(27, "operations", "0027_operations.sql"),
    migration!(28, "suspended_requests", "0028_suspended_requests.sql"),
    migration!(29, "notification_options", "0029_notification_options.sql"),
    migration!(30, "sign_in_failures", "0030_sign_in_failures.sql"),
    migration!(31, "request_positions", "0031_request_positions.sql"),
];

/// Each embedded migration as (version, name, its SQL for `backend`), in order: what a database
/// of an earlier schema has run (tests build such databases by hand).
pub fn migration_scripts(backend: Backend) -> impl Iterator<Item = (i64, &'static str, &'static str)> {
    MIGRATIONS.iter().map(move |m| {
        let sql = match backend {
            Backend::Sqlite => m.sqlite,
            Backend::Postgres => m.postgres,
        };
        (m.version, m.name, sql)
    })
}

/// The newest schema version this build knows.
pub const SCHEMA_VERSION: i64 = 31;

/// An arbitrary constant for `pg_advisory_xact_lock`: "sluice migrations".
const PG_MIGRATION_LOCK: i64 = 0x0005_11CE_0001;

/// Brings the schema up to [`SCHEMA_VERSION`] inside `tx` (the caller commits), or refuses a
/// database whose schema is newer. Returns the version now in force.
pub(crate) async fn run(tx: &mut Tx, url: &str) -> Result<i64, Error> {
    let mut c = tx.conn();
    if c.is_postgres() {
        c.execute("SELECT pg_advisory_xact_lock($1)", args![PG_MIGRATION_LOCK]).await?;
    }
    c.execute(
        "CREATE TABLE IF NOT EXISTS sluice_schema (
            version    BIGINT NOT NULL PRIMARY KEY,
            name       TEXT   NOT NULL,
            applied_at BIGINT NOT NULL
        )",
        args![],
    )
    .await?;
    let row = c.fetch_optional("SELECT MAX(version) AS version FROM sluice_schema", args![]).await?;
    let found = match row {
        Some(r) => r.opt_int("version")?.unwrap_or(0),
        None => 0,
    };
    if found > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew { url: url.to_string(), found, known: SCHEMA_VERSION });
    }
    // Numbers may have gaps (branches take numbers ahead of each other), so every known migration
    // that is not logged as applied runs, in order, not just those above the highest.
    let applied: Vec<i64> = c
        .fetch_all("SELECT version FROM sluice_schema", args![])
        .await?
        .iter()
        .map(|r| r.int("version"))
        .collect::<Result<_, _>>()?;
    for m in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        let sql = if c.is_postgres() { m.postgres } else { m.sqlite };
        let fail =
            |source: sqlx::Error| Error::Migration { url: url.to_string(), version: m.version, name: m.name, source };
        c.execute_script(sql).await.map_err(fail)?;
        c.execute(
            "INSERT INTO sluice_schema (version, name, applied_at) VALUES ($1, $2, $3)",
            args![m.version, m.name, millis(Utc::now())],
        )
        .await?;
    }
    Ok(SCHEMA_VERSION.max(found))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order_and_end_at_the_known_version() {
        let mut last = 0;
        for m in MIGRATIONS {
            assert!(m.version > last, "migration {} is out of order", m.name);
            assert!(!m.sqlite.trim().is_empty() && !m.postgres.trim().is_empty());
            last = m.version;
        }
        assert_eq!(MIGRATIONS.last().map(|m| m.version), Some(SCHEMA_VERSION));
    }
}
