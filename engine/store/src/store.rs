//! The store: opening either backend, process versions, the one-transaction writes of Requests
//! (through `batch.rs`) and pruning; the reads are in `reads.rs`, the outbox in `jobs.rs`.
//! (About 790 lines of code; its unit tests at the end take it past 800.)

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sluice_engine::Instance;
use sluice_engine::runtime::{Data, SubscriptionId, TokenId};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use crate::Error;
use crate::batch::{WriteOp, WriteResult, for_ids};
use crate::changes::{Changes, NewJob};
use crate::db::{Conn, DbRow, RawConn, Tx, args};
use crate::migrate;
use crate::types::{
    JobId, JobKind, JobRow, ProcessVersion, PrunePace, PruneStats, RequestId, RequestRow, RequestStatus,
    SubscriptionKind, SubscriptionRow, TaskRow, TaskStatus, from_millis, millis,
};

/// How long the provisional Request lease taken with a job claim lasts (see
/// [`Store::claim_jobs`]); the worker replaces it with its real lease right after the claim.
pub const CLAIM_GRACE: Duration = Duration::from_secs(5);

/// How hard a commit waits for the disk.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// A committed state change survives a power cut: SQLite `synchronous=FULL`, PostgreSQL
    /// `synchronous_commit=on`. The default.
    #[default]
    Full,
    /// Faster commits that may lose the last moments of work on a power cut (never corrupt the
    /// database): SQLite `synchronous=NORMAL` (in WAL mode), PostgreSQL `synchronous_commit=off`.
    Relaxed,
}

/// How to open a store. `Default` is what `sluice serve` uses.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    pub durability: Durability,
    /// Connections in the pool. SQLite serializes writers anyway; readers run beside them (WAL).
    pub max_connections: u32,
    /// How long a SQLite writer waits for another writer's lock before failing.
    pub busy_timeout: Duration,
    /// PostgreSQL only: keep Sluice's tables in this schema (created if missing, set as the
    /// connections' `search_path`). Tests give each test its own.
    pub postgres_schema: Option<String>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            durability: Durability::Full,
            max_connections: 8,
            busy_timeout: Duration::from_secs(5),
            postgres_schema: None,
        }
    }
}

/// Which database a store runs on.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug)]
enum Pool {
    /// SQLite; `raw`: a file, whose group-commit writer opens a connection of its own (an
    /// in-memory database is the pool's one connection).
    Sqlite {
        pool: SqlitePool,
        raw: Option<RawSpec>,
    },
    Postgres(PgPool),
}

/// Where and how the group-commit writer opens its own SQLite connection.
#[derive(Clone, Debug)]
struct RawSpec {
    path: std::path::PathBuf,
    /// The pool's [`sqlite_pragmas`], as a script.
    pragmas: String,
    busy_timeout: Duration,
}

/// The pragmas of every SQLite connection, the pool's and the group-commit writer's alike (the
/// journal mode, WAL, is the database file's and set by the pool).
fn sqlite_pragmas(durability: Durability) -> [(&'static str, &'static str); 3] {
    [
        ("foreign_keys", "ON"),
        (
            "synchronous",
            match durability {
                Durability::Full => "FULL",
                Durability::Relaxed => "NORMAL",
            },
        ),
        // Statement journals and temporary b-trees (multi-row statements, RETURNING, sorting) in
        // memory: as files, SQLite opened, wrote and deleted one in /var/tmp for many a statement
        // (the durable bench's writer: +8 to +20 % Requests/s in memory).
        ("temp_store", "MEMORY"),
    ]
}

/// A handle on the database; cheap to clone (it is a connection pool).
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
    /// SQLite: the write transactions of this process, one after the other (fairly), on the pool
    /// and on the group-commit writer's own connection alike.
    write_lock: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// The URL without its password, for messages.
    url: String,
}

/// A Request to create.
#[derive(Clone, Copy, Debug)]
pub struct NewRequest<'a> {
    pub id: RequestId,
    pub process_key: &'a str,
    pub process_version: i64,
    /// For a call activity's child: the parent Request and its call activity token.
    pub parent: Option<(RequestId, TokenId)>,
    pub state: &'a Instance,
}

/// One Request's state change, for [`Store::apply_steps`].
#[derive(Clone, Copy, Debug)]
pub struct StepWrite<'a> {
    pub request: RequestId,
    pub expected_revision: i64,
    pub state: &'a Instance,
    pub changes: &'a Changes,
}

/// What became of one write of a batch.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum StepOutcome {
    /// Written; the Request is now at this revision.
    Applied { revision: i64 },
    /// The Request was changed by someone else since it was loaded (or is gone): nothing of this
    /// write was written; the others of the batch were.
    Conflict,
}

/// Hides a password in a database URL.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let Some((userinfo, host)) = rest.split_once('@') else { return url.to_string() };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

pub(crate) const REQUEST_COLUMNS: &str = "id, process_key, process_version, status, parent_request_id, parent_token, data, \
     revision, created_at, updated_at, completed_at, started_by";
pub(crate) const JOB_COLUMNS: &str = "id, request_id, kind, subscription, token, element_id, due_at, payload, attempts, ended, last_error, locked_by, locked_until, unconfirmed";
pub(crate) const TASK_COLUMNS: &str = "id, request_id, token, element_id, name, status, created_at, completed_at, completed_by, process_key, assignee, \
     candidate_users, candidate_groups, due_at, follow_up_at, priority, documentation, owner, delegation";
pub(crate) const SUBSCRIPTION_COLUMNS: &str = "request_id, subscription, kind, element_id, name, correlation_key";

impl Store {
    /// Opens (and on first use creates) the database at `url` and brings its schema up to date.
    ///
    /// - `sqlite://PATH` (or `sqlite:PATH`): the file is created if missing; WAL journal,
    ///   `synchronous=FULL` unless relaxed, foreign keys on, `busy_timeout` as given. Every write
    ///   transaction starts with `BEGIN IMMEDIATE` (sqlx's `Pool::begin_with`), so a writer takes
    ///   the write lock up front and waits for it under `busy_timeout` instead of failing later
    ///   with `SQLITE_BUSY` when a read transaction tries to upgrade.
    /// - `sqlite::memory:`: a private in-memory database on one connection (tests).
    /// - `postgres://…` (or `postgresql://…`): `synchronous_commit=on` unless relaxed.
    ///
    /// A database whose schema is newer than this build is refused with [`Error::SchemaTooNew`].
    pub async fn open(url: &str, options: StoreOptions) -> Result<Store, Error> {
        let shown = redact(url);
        let open_err = |source: sqlx::Error| Error::Open { url: shown.clone(), source };
        let pool = if url.starts_with("sqlite:") {
            let memory = url.contains(":memory:") || url.contains("mode=memory");
            let pragmas = sqlite_pragmas(options.durability);
            let connect = pragmas.iter().fold(
                SqliteConnectOptions::from_str(url)
                    .map_err(open_err)?
                    .create_if_missing(true)
                    .busy_timeout(options.busy_timeout)
                    .journal_mode(if memory { SqliteJournalMode::Memory } else { SqliteJournalMode::Wal }),
                |c, (key, value)| c.pragma(*key, *value),
            );
            // A file on this machine: no connection to lose, so no ping before each use.
            let pool = SqlitePoolOptions::new()
                .max_connections(if memory { 1 } else { options.max_connections.max(1) })
                .test_before_acquire(false)
                // An in-memory database lives as long as its one connection.
                .idle_timeout(if memory { None } else { Some(Duration::from_secs(600)) })
                .max_lifetime(if memory { None } else { Some(Duration::from_secs(1800)) })
                .connect_with(connect.clone())
                .await
                .map_err(open_err)?;
            let raw = (!memory).then(|| RawSpec {
                path: connect.get_filename().to_path_buf(),
                pragmas: pragmas.iter().map(|(key, value)| format!("PRAGMA {key} = {value};")).collect(),
                busy_timeout: options.busy_timeout,
            });
            Pool::Sqlite { pool, raw }
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let mut connect = PgConnectOptions::from_str(url).map_err(open_err)?;
            let sync = match options.durability {
                Durability::Full => "on",
                Durability::Relaxed => "off",
            };
            // No JIT: every statement here is a short lookup or write, and a generic plan
            // (statements are prepared) can cost enough to cross `jit_above_cost`; compiling it
            // then took 40 ms for a query that runs in 0.1 ms (the pruning's batch select).
            connect = connect.options([("synchronous_commit", sync), ("jit", "off")]);
            if let Some(schema) = &options.postgres_schema {
                if !schema.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || schema.is_empty() {
                    return Err(Error::UnsupportedUrl(format!("{shown} (schema name `{schema}`)")));
                }
                let admin =
                    PgPoolOptions::new().max_connections(1).connect_with(connect.clone()).await.map_err(open_err)?;
                sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                    .execute(&admin)
                    .await
                    .map_err(open_err)?;
                admin.close().await;
                connect = connect.options([("search_path", schema.as_str())]);
            }
            let pool = PgPoolOptions::new()
                .max_connections(options.max_connections.max(1))
                .connect_with(connect)
                .await
                .map_err(open_err)?;
            Pool::Postgres(pool)
        } else {
            return Err(Error::UnsupportedUrl(shown));
        };
        let store = Store { pool, url: shown, write_lock: Default::default() };
        let mut tx = store.begin_write().await?;
        migrate::run(&mut tx, &store.url).await?;
        tx.commit().await?;
        Ok(store)
    }

    /// Whether the group-commit writer writes through a connection of its own (SQLite files),
    /// from a thread of its own.
    pub(crate) fn has_own_writer(&self) -> bool {
        matches!(self.pool, Pool::Sqlite { raw: Some(_), .. })
    }

    /// SQLite files: a connection of its own for the group-commit writer's thread, which runs its
    /// statements directly (see `batch.rs`), with the pool's pragmas.
    pub(crate) fn open_raw_writer(&self) -> Result<Option<RawConn>, Error> {
        let Pool::Sqlite { raw: Some(spec), .. } = &self.pool else { return Ok(None) };
        let c = rusqlite::Connection::open(&spec.path).map_err(Error::Sqlite)?;
        c.busy_timeout(spec.busy_timeout).map_err(Error::Sqlite)?;
        c.execute_batch(&spec.pragmas).map_err(Error::Sqlite)?;
        // The batch's statements come in a few shapes and power-of-two sizes.
        c.set_prepared_statement_cache_capacity(256);
        Ok(Some(std::sync::Mutex::new(c)))
    }

    /// The SQLite writer lock, which every write transaction of this process holds (fair, first
    /// come first served).
    pub(crate) async fn writer_lock(&self) -> tokio::sync::OwnedMutexGuard<()> {
        self.write_lock.clone().lock_owned().await
    }

    /// [`Store::close`] was called: no more writes.
    pub(crate) fn is_closed(&self) -> bool {
        match &self.pool {
            Pool::Sqlite { pool, .. } => pool.is_closed(),
            Pool::Postgres(p) => p.is_closed(),
        }
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite { .. } => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Closes every connection (waits for the ones in use).
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite { pool, .. } => pool.close().await,
            Pool::Postgres(p) => p.close().await,
        }
    }

    /// The schema version of the database (this build's [`crate::SCHEMA_VERSION`] after a successful open).
    pub async fn schema_version(&self) -> Result<i64, Error> {
        let mut tx = self.begin_read().await?;
        let row = tx.conn().fetch_optional("SELECT MAX(version) AS version FROM sluice_schema", args![]).await?;
        Ok(match row {
            Some(r) => r.opt_int("version")?.unwrap_or(0),
            None => 0,
        })
    }

    /// A write transaction: `BEGIN IMMEDIATE` on SQLite, a plain (read committed) one on PostgreSQL.
    pub(crate) async fn begin_write(&self) -> Result<Tx, Error> {
        Ok(match &self.pool {
            Pool::Sqlite { pool, .. } => {
                // SQLite has one writer at a time and its lock is not fair: a writer polling
                // under `busy_timeout` can starve behind back-to-back commits. Writers of this
                // process queue here instead, first come first served.
                let guard = self.writer_lock().await;
                Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?, Some(guard))
            }
            Pool::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    /// SQLite: copies the write-ahead log into the database file now and empties the log, so a
    /// value just overwritten is gone from both files (see `replace_secret_setting`).
    pub(crate) async fn checkpoint(&self) -> Result<(), Error> {
        if let Pool::Sqlite { pool, .. } = &self.pool {
            let _guard = self.writer_lock().await;
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(pool).await?;
        }
        Ok(())
    }

    /// A read transaction: one consistent snapshot for reads of several statements.
    pub(crate) async fn begin_read(&self) -> Result<Tx, Error> {
        Ok(match &self.pool {
            Pool::Sqlite { pool, .. } => Tx::Sqlite(pool.begin().await?, None),
            Pool::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    // ---- process versions ----

    /// Records a deployed process whose file is this UTF-8 `xml`. The same content hash as the
    /// latest version of `key` answers that version (`created = false`); anything else becomes the
    /// next version.
    pub async fn deploy_version(
        &self,
        key: &str,
        name: Option<&str>,
        xml: &str,
        hash: &str,
    ) -> Result<(i64, bool), Error> {
        self.deploy_source(key, name, xml, xml.as_bytes(), hash).await
    }

    /// Like [`Store::deploy_version`], for a file in any encoding: `source` is the file as
    /// deployed (what [`Store::process_source`] answers, to import it from), `xml` its decoded
    /// text (what [`Store::process_xml`] answers, for showing it). The bytes are only stored when
    /// they differ from the UTF-8 text.
    pub async fn deploy_source(
        &self,
        key: &str,
        name: Option<&str>,
        xml: &str,
        source: &[u8],
        hash: &str,
    ) -> Result<(i64, bool), Error> {
        self.deploy_source_with(key, name, xml, source, hash, |_| Vec::new()).await
    }

    // Its parameters repeat `deploy_source`'s: that one is the plain entry point, without the
    // `timer_starts` closure, and forwards to this one; Rust has no default arguments to merge them.
    /// [`Store::deploy_source`], replacing the process's timer start jobs
    /// ([`JobKind::TimerStart`], found by their payload's `process_key`) with `timer_starts(v)`
    /// when it stores a new version `v`, in the same transaction: the jobs are always those of
    /// the latest version. Unchanged XML (no new version) leaves the jobs as they are.
    pub async fn deploy_source_with<F>(
        &self,
        key: &str,
        name: Option<&str>,
        xml: &str,
        source: &[u8],
        hash: &str,
        timer_starts: F,
    ) -> Result<(i64, bool), Error>
    where
        F: FnOnce(i64) -> Vec<NewJob> + Send,
    {
        let bytes = (source != xml.as_bytes()).then_some(source);
        let mut tx = self.begin_write().await?;
        let mut c = tx.conn();
        if c.is_postgres() {
            // Two nodes deploying the same key at once must not both take the next number.
            c.execute("SELECT pg_advisory_xact_lock(hashtext($1))", args![key]).await?;
        }
        let latest = c
            .fetch_optional(
                "SELECT version, content_hash FROM process_versions WHERE process_key = $1 ORDER BY version DESC LIMIT 1",
                args![key],
            )
            .await?;
        let next = match latest {
            Some(r) if r.text("content_hash")? == hash => return Ok((r.int("version")?, false)),
            Some(r) => r.int("version")? + 1,
            None => 1,
        };
        c.execute(
            "INSERT INTO process_versions (process_key, version, name, xml, xml_bytes, content_hash, deployed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            args![key, next, name, xml, bytes, hash, millis(Utc::now())],
        )
        .await?;
        // The previous version's timer starts: few rows, found through `jobs_by_request`.
        let rows = c
            .fetch_all(
                "SELECT id, payload FROM jobs WHERE request_id IS NULL AND kind = $1",
                args![JobKind::TimerStart.as_str()],
            )
            .await?;
        let mut old = Vec::new();
        for r in rows {
            let payload: Value = serde_json::from_str(&r.text("payload")?).unwrap_or(Value::Null);
            if payload.get("process_key").and_then(Value::as_str) == Some(key) {
                old.push(r.text("id")?);
            }
        }
        if !old.is_empty() {
            for_ids(&mut c, "DELETE FROM jobs WHERE id IN ({ids})", &[], &old).await?;
        }
        let at = millis(Utc::now());
        for job in timer_starts(next) {
            insert_job(&mut c, None, &job, at).await?;
        }
        tx.commit().await?;
        Ok((next, true))
    }

    /// The latest version of every process, by key.
    pub async fn latest_processes(&self) -> Result<Vec<ProcessVersion>, Error> {
        let mut tx = self.begin_read().await?;
        let rows = tx
            .conn()
            .fetch_all(
                "SELECT p.process_key, p.version, p.name, p.content_hash, p.deployed_at FROM process_versions p
                 WHERE p.version = (SELECT MAX(q.version) FROM process_versions q WHERE q.process_key = p.process_key)
                 ORDER BY p.process_key",
                args![],
            )
            .await?;
        rows.iter().map(process_row).collect()
    }

    /// Every version of one process, oldest first (empty when none is deployed).
    pub async fn process_versions(&self, key: &str) -> Result<Vec<ProcessVersion>, Error> {
        let mut tx = self.begin_read().await?;
        let rows = tx
            .conn()
            .fetch_all(
                "SELECT process_key, version, name, content_hash, deployed_at FROM process_versions
                 WHERE process_key = $1 ORDER BY version",
                args![key],
            )
            .await?;
        rows.iter().map(process_row).collect()
    }

    /// The XML a process version was deployed with, as text (decoded from the file's encoding;
    /// the XML declaration is left as it was).
    pub async fn process_xml(&self, key: &str, version: i64) -> Result<String, Error> {
        self.process_version_row("xml", key, version).await?.text("xml")
    }

    /// The given columns of one process version's row.
    async fn process_version_row(&self, columns: &str, key: &str, version: i64) -> Result<DbRow, Error> {
        let mut tx = self.begin_read().await?;
        let sql = format!("SELECT {columns} FROM process_versions WHERE process_key = $1 AND version = $2");
        let row = tx.conn().fetch_optional(&sql, args![key, version]).await?;
        row.ok_or_else(|| Error::ProcessNotFound { key: key.to_string(), version })
    }

    /// The file a process version was deployed from, byte for byte (in its own encoding): what
    /// the worker imports.
    pub async fn process_source(&self, key: &str, version: i64) -> Result<Vec<u8>, Error> {
        let r = self.process_version_row("xml, xml_bytes", key, version).await?;
        match r.opt_bytes("xml_bytes")? {
            Some(bytes) => Ok(bytes),
            None => Ok(r.text("xml")?.into_bytes()),
        }
    }

    // ---- writes: one transaction per state change (see `batch.rs`) ----

    /// Creates a Request at revision 1 with what its start emitted, in one transaction. Records a
    /// `request_started` event before the events of `changes`.
    pub async fn create_request(&self, new: &NewRequest<'_>, changes: &Changes) -> Result<(), Error> {
        self.write_all(&[create_op(new, changes)?]).await.map(drop)
    }

    /// Writes one step of a Request: its new state, status, data and revision, with `changes`, in
    /// one transaction. Returns the new revision. If the Request is not at `expected_revision`,
    /// nothing is written and [`Error::Conflict`] is returned.
    pub async fn apply_step(
        &self,
        request: RequestId,
        expected_revision: i64,
        state: &Instance,
        changes: &Changes,
    ) -> Result<i64, Error> {
        let write = StepWrite { request, expected_revision, state, changes };
        match self.write_all(&[step_op(&write)?]).await?.pop() {
            Some(WriteResult::Applied { revision, .. }) => Ok(revision),
            _ => {
                if self.request_row(request).await?.is_none() {
                    return Err(Error::RequestNotFound(request));
                }
                Err(Error::Conflict { request, expected: expected_revision })
            }
        }
    }

    /// Writes many Requests' steps (and creations) in ONE transaction. A stale revision skips that
    /// write alone ([`StepOutcome::Conflict`]); a database error or a refused creation rolls back
    /// the whole batch.
    pub async fn apply_steps(
        &self,
        creates: &[(NewRequest<'_>, &Changes)],
        steps: &[StepWrite<'_>],
    ) -> Result<Vec<StepOutcome>, Error> {
        let mut ops = Vec::with_capacity(creates.len() + steps.len());
        for (new, changes) in creates {
            ops.push(create_op(new, changes)?);
        }
        for w in steps {
            ops.push(step_op(w)?);
        }
        let results = self.write_all(&ops).await?;
        Ok(results[creates.len()..]
            .iter()
            .map(|r| match r {
                WriteResult::Applied { revision, .. } => StepOutcome::Applied { revision: *revision },
                _ => StepOutcome::Conflict,
            })
            .collect())
    }

    /// Deletes Requests that finished (completed or canceled) before `finished_before`, with their
    /// history and tasks. Active Requests and their history are never touched. Works through the
    /// backlog `limit` Requests per transaction (oldest first), so a large prune never holds the
    /// write lock for long. A Request whose `cancel_child` jobs have not run yet is kept until they
    /// have: deleting it would delete them too, and its children would never be canceled.
    pub async fn prune_history(&self, finished_before: DateTime<Utc>, limit: u32) -> Result<PruneStats, Error> {
        self.prune_history_paced(finished_before, limit, PrunePace::FULL).await
    }

    /// [`Store::prune_history`] with a pause after each batch (`pace`), so that a long prune
    /// leaves the Requests' writes room between its transactions (the server's pruning loop).
    pub async fn prune_history_paced(
        &self,
        finished_before: DateTime<Utc>,
        limit: u32,
        pace: PrunePace,
    ) -> Result<PruneStats, Error> {
        let cutoff = millis(finished_before);
        let mut total = PruneStats { requests: 0, events: 0 };
        // Its deletes look rows up by Request id in the history tables: on a PostgreSQL that
        // never analyzed them, each read the whole table.
        self.maintain_tables().await?;
        loop {
            let mut tx = self.begin_write().await?;
            // From when the writer is ours (waiting for it is not the prune's share).
            let started = std::time::Instant::now();
            let mut c = tx.conn();
            let rows = c
                // The limit is written into the statement: with `LIMIT $2`, PostgreSQL's generic
                // plan (after five runs) assumes a tenth of the table and reads it with parallel
                // workers.
                .fetch_all(
                    &format!(
                        "SELECT id FROM requests WHERE completed_at IS NOT NULL AND completed_at < $1
                         AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.request_id = requests.id AND jobs.kind = 'cancel_child')
                         ORDER BY completed_at LIMIT {}",
                        limit.max(1)
                    ),
                    args![cutoff],
                )
                .await?;
            if rows.is_empty() {
                return Ok(total);
            }
            let ids = rows.iter().map(|r| r.text("id")).collect::<Result<Vec<_>, _>>()?;
            let stats = delete_requests(&mut c, &ids).await?;
            tx.commit().await?;
            total.requests += stats.requests;
            total.events += stats.events;
            let pause = pace.after(started.elapsed());
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
        }
    }

    /// PostgreSQL with `autovacuum` off (as some set it for bulk loads, and never back): does for
    /// this store's tables what autovacuum would, with its default thresholds: `VACUUM (ANALYZE)`
    /// where dead rows exceed a fifth of the live ones (and 50), else `ANALYZE` where the rows
    /// changed by more than a tenth (and a thousand) since the last analysis. Without it the job
    /// queue's table grew to a million dead rows that every claim walked (90 ms per walk for 300
    /// live jobs), and with no statistics the planner took any `request_id = …` to match a
    /// two-hundredth of a table and read all of it (1–2 s per pruning batch at 3 M Requests).
    /// Returns the tables it vacuumed or analyzed; with autovacuum on, and on SQLite, nothing.
    /// May take seconds on a large table: run it beside the work, not in its way.
    pub async fn maintain_tables(&self) -> Result<Vec<String>, Error> {
        let Pool::Postgres(pool) = &self.pool else { return Ok(Vec::new()) };
        let on: String = sqlx::query_scalar("SELECT current_setting('autovacuum')").fetch_one(pool).await?;
        if on == "on" {
            return Ok(Vec::new());
        }
        let tables: Vec<(String, i64, i64, i64)> = sqlx::query_as(
            "SELECT relname::text, n_live_tup, n_dead_tup, n_mod_since_analyze FROM pg_stat_user_tables
             WHERE schemaname = current_schema() ORDER BY relname",
        )
        .fetch_all(pool)
        .await?;
        let mut done = Vec::new();
        for (table, live, dead, changed) in tables {
            // A name read from the catalog, quoted as an identifier.
            let name = format!("\"{}\"", table.replace('"', "\"\""));
            if dead > 50 + live / 5 {
                // Outside a transaction block, as VACUUM must be (the simple query protocol).
                sqlx::raw_sql(&format!("VACUUM (ANALYZE) {name}")).execute(pool).await?;
            } else if changed > 1000 + live / 10 {
                sqlx::raw_sql(&format!("ANALYZE {name}")).execute(pool).await?;
            } else {
                continue;
            }
            done.push(table);
        }
        if !done.is_empty() {
            tracing::info!(tables = ?done, "autovacuum is off: vacuumed or analyzed the tables that needed it");
        }
        Ok(done)
    }

    /// Deletes the given Requests with their history and tasks, those of them that are finished
    /// and whose `cancel_child` jobs have run (as [`Store::prune_history`]); the others stay.
    /// `sluice export --prune` deletes what it exported with it.
    pub async fn prune_requests(&self, ids: &[RequestId]) -> Result<PruneStats, Error> {
        let mut total = PruneStats { requests: 0, events: 0 };
        for chunk in ids.chunks(500) {
            let mut tx = self.begin_write().await?;
            let mut c = tx.conn();
            let list = (1..=chunk.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
            let args = chunk.iter().map(|id| crate::db::Arg::from(id.to_string())).collect::<Vec<_>>();
            let rows = c
                .fetch_all(
                    &format!(
                        "SELECT id FROM requests WHERE id IN ({list}) AND completed_at IS NOT NULL
                         AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.request_id = requests.id AND jobs.kind = 'cancel_child')"
                    ),
                    args,
                )
                .await?;
            let finished = rows.iter().map(|r| r.text("id")).collect::<Result<Vec<_>, _>>()?;
            if !finished.is_empty() {
                let stats = delete_requests(&mut c, &finished).await?;
                total.requests += stats.requests;
                total.events += stats.events;
            }
            tx.commit().await?;
        }
        Ok(total)
    }
}

/// Deletes Requests by id with their history, tasks and candidates; counts what went.
async fn delete_requests(c: &mut Conn<'_>, ids: &[String]) -> Result<PruneStats, Error> {
    let mut total = PruneStats { requests: 0, events: 0 };
    let list = (1..=ids.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
    let ids_args = || ids.iter().map(|id| crate::db::Arg::from(id.as_str())).collect::<Vec<_>>();
    let batched = c
        .fetch_optional(
            &format!("SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) AS n FROM event_batches WHERE request_id IN ({list})"),
            ids_args(),
        )
        .await?;
    total.events += match batched {
        Some(r) => u64::try_from(r.int("n")?).unwrap_or(0),
        None => 0,
    };
    c.execute(&format!("DELETE FROM event_batches WHERE request_id IN ({list})"), ids_args()).await?;
    total.events += c.execute(&format!("DELETE FROM events WHERE request_id IN ({list})"), ids_args()).await?;
    c.execute(&format!("DELETE FROM task_candidates WHERE request_id IN ({list})"), ids_args()).await?;
    c.execute(&format!("DELETE FROM incidents WHERE request_id IN ({list})"), ids_args()).await?;
    c.execute(&format!("DELETE FROM tasks WHERE request_id IN ({list})"), ids_args()).await?;
    total.requests += c.execute(&format!("DELETE FROM requests WHERE id IN ({list})"), ids_args()).await?;
    Ok(total)
}

// ---- the write path ----

pub(crate) fn json_text(what: &'static str, v: &impl serde::Serialize) -> Result<String, Error> {
    serde_json::to_string(v).map_err(|source| Error::Serialize { what, source })
}

/// The columns of the Request row that follow from its state.
#[derive(Clone, Debug)]
pub struct StateColumns {
    pub(crate) state: String,
    pub(crate) data: String,
    pub(crate) status: RequestStatus,
    /// Where its tokens and incidents are (`requests.positions`, see [`positions`]); `None` once
    /// finished.
    pub(crate) positions: Option<String>,
}

impl StateColumns {
    /// Serializes a Request's state for writing (done by the caller, outside the writer).
    pub fn of(state: &Instance) -> Result<StateColumns, Error> {
        state_columns(state)
    }

    pub fn status(&self) -> RequestStatus {
        self.status
    }
}

fn state_columns(state: &Instance) -> Result<StateColumns, Error> {
    let status = RequestStatus::of(state);
    Ok(StateColumns {
        state: json_text("Request state", state)?,
        data: json_text("Request data", state.data())?,
        status,
        positions: (!status.is_finished()).then(|| positions(state)),
    })
}

/// The `requests.positions` text of an open Request: its tokens' element indexes in ascending
/// order, then, when it has incidents, `;` and theirs (`3,5`, `4;4`). Sorted so that Requests
/// in the same places write the same text, which the per-element counts group by
/// ([`crate::Store::element_counts`], read back by [`crate::reads::parse_positions`]).
pub(crate) fn positions(state: &Instance) -> String {
    use std::fmt::Write as _;
    fn list(out: &mut String, mut elements: Vec<usize>) {
        elements.sort_unstable();
        for (i, e) in elements.into_iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            // Writing to a String cannot fail.
            let _ = write!(out, "{e}");
        }
    }
    let mut out = String::new();
    list(&mut out, state.tokens().iter().map(|t| t.element.index()).collect());
    if !state.incidents().is_empty() {
        out.push(';');
        list(&mut out, state.incidents().iter().map(|i| i.element.index()).collect());
    }
    out
}

fn create_op(new: &NewRequest<'_>, changes: &Changes) -> Result<WriteOp, Error> {
    Ok(WriteOp::Create {
        id: new.id,
        process_key: new.process_key.to_string(),
        process_version: new.process_version,
        parent: new.parent,
        state: state_columns(new.state)?,
        changes: changes.clone(),
        require_latest: false,
        lease: crate::LeaseChange::Keep,
    })
}

fn step_op(w: &StepWrite<'_>) -> Result<WriteOp, Error> {
    Ok(WriteOp::Step {
        request: w.request,
        expected_revision: w.expected_revision,
        state: state_columns(w.state)?,
        changes: w.changes.clone(),
        lease: crate::LeaseChange::Keep,
    })
}

/// Inserts one job of the Request `rid`; a result for a parent only if the Request has one.
pub(crate) async fn insert_job(c: &mut Conn<'_>, rid: Option<&str>, j: &NewJob, at: i64) -> Result<(), Error> {
    // Results for a parent are only written for a Request that has one.
    let guard = if j.kind.for_parent() {
        " WHERE EXISTS (SELECT 1 FROM requests WHERE id = $2 AND parent_request_id IS NOT NULL)"
    } else {
        ""
    };
    let sql = format!(
        "INSERT INTO jobs (id, request_id, kind, subscription, token, element_id, due_at, payload, created_at)
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9{guard}"
    );
    c.execute(
        &sql,
        args![
            j.id.to_string(),
            rid,
            j.kind.as_str(),
            j.subscription.map(|s| i64::from(s.0)),
            j.token.map(|t| i64::from(t.0)),
            j.element_id.as_deref(),
            millis(j.due_at),
            json_text("job payload", &j.payload)?,
            at,
        ],
    )
    .await?;
    Ok(())
}

// ---- row decoding ----

pub(crate) fn parse_id<T: FromStr<Err = Error>>(what: &'static str, s: &str) -> Result<T, Error> {
    s.parse().map_err(|_| Error::corrupt(what, format!("`{s}` is not a UUID")))
}

pub(crate) fn parse_json(what: &'static str, s: &str) -> Result<Value, Error> {
    serde_json::from_str(s).map_err(|e| Error::corrupt(what, e))
}

fn to_u32(what: &'static str, v: i64) -> Result<u32, Error> {
    u32::try_from(v).map_err(|_| Error::corrupt(what, format!("{v} is out of range")))
}

pub(crate) fn parse_cursor(cursor: &str) -> Result<(i64, String), Error> {
    let bad = || Error::BadCursor(cursor.to_string());
    let (at, id) = cursor.split_once('.').ok_or_else(bad)?;
    let at = at.parse::<i64>().map_err(|_| bad())?;
    let id = id.parse::<RequestId>().map_err(|_| bad())?;
    Ok((at, id.to_string()))
}

// Reads a row like `integration` in integrations.rs and the other row mappers: each maps its own
// table's columns to its own type.
fn process_row(r: &DbRow) -> Result<ProcessVersion, Error> {
    Ok(ProcessVersion {
        key: r.text("process_key")?,
        version: r.int("version")?,
        name: r.opt_text("name")?,
        content_hash: r.text("content_hash")?,
        deployed_at: from_millis("deploy time", r.int("deployed_at")?)?,
    })
}

pub(crate) fn request_row(r: &DbRow) -> Result<RequestRow, Error> {
    let status = r.text("status")?;
    let data: Data = serde_json::from_str(&r.text("data")?).map_err(|e| Error::corrupt("Request data", e))?;
    let parent = match (r.opt_text("parent_request_id")?, r.opt_int("parent_token")?) {
        (Some(p), Some(t)) => Some((parse_id("parent Request id", &p)?, TokenId(to_u32("parent token", t)?))),
        _ => None,
    };
    Ok(RequestRow {
        id: parse_id("Request id", &r.text("id")?)?,
        process_key: r.text("process_key")?,
        process_version: r.int("process_version")?,
        status: RequestStatus::parse(&status).ok_or_else(|| Error::corrupt("Request status", &status))?,
        parent,
        data,
        revision: r.int("revision")?,
        created_at: from_millis("Request created_at", r.int("created_at")?)?,
        updated_at: from_millis("Request updated_at", r.int("updated_at")?)?,
        completed_at: r.opt_int("completed_at")?.map(|t| from_millis("Request completed_at", t)).transpose()?,
        started_by: r.opt_text("started_by")?,
    })
}

pub(crate) fn task_row(r: &DbRow) -> Result<TaskRow, Error> {
    let status = r.text("status")?;
    Ok(TaskRow {
        id: parse_id("task id", &r.text("id")?)?,
        request_id: parse_id("task request id", &r.text("request_id")?)?,
        token: TokenId(to_u32("task token", r.int("token")?)?),
        element_id: r.text("element_id")?,
        name: r.opt_text("name")?,
        status: TaskStatus::parse(&status).ok_or_else(|| Error::corrupt("task status", &status))?,
        created_at: from_millis("task created_at", r.int("created_at")?)?,
        completed_at: r.opt_int("completed_at")?.map(|t| from_millis("task completed_at", t)).transpose()?,
        completed_by: r.opt_text("completed_by")?,
        process_key: r.opt_text("process_key")?,
        assignee: r.opt_text("assignee")?,
        candidate_users: names("task candidate_users", r.opt_text("candidate_users")?)?,
        candidate_groups: names("task candidate_groups", r.opt_text("candidate_groups")?)?,
        due: r.opt_int("due_at")?.map(|t| from_millis("task due_at", t)).transpose()?,
        follow_up: r.opt_int("follow_up_at")?.map(|t| from_millis("task follow_up_at", t)).transpose()?,
        priority: r.opt_int("priority")?,
        documentation: r.opt_text("documentation")?,
        owner: r.opt_text("owner")?,
        delegation: r.opt_text("delegation")?,
    })
}

/// A JSON array of names as stored (NULL: none).
fn names(what: &'static str, text: Option<String>) -> Result<Vec<String>, Error> {
    match text {
        None => Ok(Vec::new()),
        Some(t) => serde_json::from_str(&t).map_err(|e| Error::corrupt(what, e.to_string())),
    }
}

pub(crate) fn job_row(r: &DbRow) -> Result<JobRow, Error> {
    let kind = r.text("kind")?;
    Ok(JobRow {
        id: parse_id::<JobId>("job id", &r.text("id")?)?,
        request_id: r.opt_text("request_id")?.map(|s| parse_id("job request id", &s)).transpose()?,
        kind: JobKind::parse(&kind).ok_or_else(|| Error::corrupt("job kind", &kind))?,
        subscription: r
            .opt_int("subscription")?
            .map(|s| to_u32("job subscription", s).map(SubscriptionId))
            .transpose()?,
        token: r.opt_int("token")?.map(|t| to_u32("job token", t).map(TokenId)).transpose()?,
        element_id: r.opt_text("element_id")?,
        due_at: from_millis("job due_at", r.int("due_at")?)?,
        payload: parse_json("job payload", &r.text("payload")?)?,
        attempts: r.int("attempts")?,
        ended: r.int("ended")?,
        last_error: r.opt_text("last_error")?,
        unconfirmed: r.int("unconfirmed")? != 0,
        locked_by: r.opt_text("locked_by")?,
        locked_until: r.opt_int("locked_until")?.map(|t| from_millis("job locked_until", t)).transpose()?,
    })
}

pub(crate) fn subscription_row(r: &DbRow) -> Result<SubscriptionRow, Error> {
    let kind = r.text("kind")?;
    Ok(SubscriptionRow {
        request_id: parse_id("subscription request id", &r.text("request_id")?)?,
        subscription: SubscriptionId(to_u32("subscription id", r.int("subscription")?)?),
        kind: SubscriptionKind::parse(&kind).ok_or_else(|| Error::corrupt("subscription kind", &kind))?,
        element_id: r.text("element_id")?,
        name: r.text("name")?,
        correlation_key: r.opt_text("correlation_key")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_appear_in_messages() {
        assert_eq!(redact("postgres://sluice:secret@db:5432/x"), "postgres://sluice:***@db:5432/x");
        assert_eq!(redact("postgres://sluice@db/x"), "postgres://sluice@db/x");
        assert_eq!(redact("sqlite://sluice.db"), "sqlite://sluice.db");
    }

    #[test]
    fn cursors_round_trip_and_bad_ones_are_refused() {
        let id = RequestId::new();
        let (at, parsed) = parse_cursor(&format!("1700000000000.{id}")).expect("valid cursor");
        assert_eq!((at, parsed), (1_700_000_000_000, id.to_string()));
        for bad in ["", "x", "12", "12.notauuid", "a.0190b4c4-0000-7000-8000-000000000000"] {
            assert!(matches!(parse_cursor(bad), Err(Error::BadCursor(_))), "{bad}");
        }
    }

    #[tokio::test]
    async fn sqlite_connections_keep_temporary_data_in_memory() {
        let dir = std::env::temp_dir().join(format!("sluice-pragmas-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let url = format!("sqlite://{}", dir.join("s.db").display());
        let store = Store::open(&url, StoreOptions::default()).await.expect("open");
        // 2 = MEMORY: no statement journal or temporary b-tree goes to a file in /var/tmp.
        let mut tx = store.begin_read().await.expect("read");
        let row = tx.conn().fetch_optional("PRAGMA temp_store", args![]).await.expect("pragma");
        assert_eq!(row.expect("a row").int("temp_store").expect("int"), 2);
        drop(tx);
        let raw = store.open_raw_writer().expect("writer").expect("a file has a writer connection");
        let writer: i64 = raw.lock().expect("lock").query_row("PRAGMA temp_store", [], |r| r.get(0)).expect("pragma");
        assert_eq!(writer, 2);
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
