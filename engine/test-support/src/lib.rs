//! Fixtures the store and worker tests share.
//!
//! A test that runs on both backends is an `async fn` declared with [`both!`]: it runs once on
//! SQLite (a file in a temporary directory of its own) and once on PostgreSQL
//! (`SLUICE_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`, in a schema of
//! its own), as `NAME::sqlite` and `NAME::postgres`. The directory or schema is removed when the
//! test ends, passed or panicked.
//!
//! When no PostgreSQL server answers at that URL, each PostgreSQL run passes as skipped and says
//! so on stderr (`SKIPPED (PostgreSQL unreachable at …): <test>`); the test binary
//! `postgres_reachable_or_skipped` of this crate prints one line for the whole run that plain
//! `cargo test` shows. With `CI=true` an unreachable PostgreSQL fails the test instead (see
//! [`postgres_or_skip`]). `SLUICE_TEST_SKIP_POSTGRES=1` skips the PostgreSQL runs outright.
//!
//! Failures here are test failures: this crate panics (`expect`) rather than return errors.

use std::future::Future;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sluice_bpmn::{Options, Process, Source};
use sluice_engine::runtime::Data;
use sluice_store::{Store, StoreOptions};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::SqlitePoolOptions;

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

/// The PostgreSQL the tests use: `SLUICE_TEST_POSTGRES_URL`, else the local default.
pub fn postgres_url() -> String {
    std::env::var("SLUICE_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// Whether `CI` says this is a CI run (`true` or `1`): there, an unreachable PostgreSQL fails.
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// `Ok(())` when a server accepts connections at [`postgres_url`]'s host and port, else why not.
/// Checked once per test binary (a connection attempt of at most 3 s per address).
pub fn postgres_reachability() -> &'static Result<(), String> {
    static CHECKED: OnceLock<Result<(), String>> = OnceLock::new();
    CHECKED.get_or_init(|| reachable(&postgres_url()))
}

fn reachable(url: &str) -> Result<(), String> {
    let o = PgConnectOptions::from_str(url).map_err(|e| format!("not a PostgreSQL URL: {e}"))?;
    let (host, port) = (o.get_host(), o.get_port());
    if host.starts_with('/') {
        let socket = format!("{host}/.s.PGSQL.{port}");
        return std::os::unix::net::UnixStream::connect(&socket).map(drop).map_err(|e| format!("{socket}: {e}"));
    }
    let addrs = std::net::ToSocketAddrs::to_socket_addrs(&(host, port)).map_err(|e| format!("{host}:{port}: {e}"))?;
    let mut last = format!("{host}:{port}: no address");
    for addr in addrs {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(3)) {
            Ok(_) => return Ok(()),
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    Err(last)
}

/// Whether the PostgreSQL test `test` runs: `false` (and a loud line on stderr) when
/// `SLUICE_TEST_SKIP_POSTGRES=1`, or when no server is reachable and `CI` is not `true`. Panics
/// when no server is reachable under `CI=true`: CI must not pass without its PostgreSQL half.
pub fn postgres_or_skip(test: &str) -> bool {
    let url = postgres_url();
    if std::env::var("SLUICE_TEST_SKIP_POSTGRES").is_ok_and(|v| v == "1") {
        eprintln!("SKIPPED (SLUICE_TEST_SKIP_POSTGRES=1): {test}");
        return false;
    }
    match postgres_reachability() {
        Ok(()) => true,
        Err(why) if ci() => panic!(
            "PostgreSQL is not reachable at {url} ({why}) and CI=true: start it or point SLUICE_TEST_POSTGRES_URL \
             at one (outside CI the PostgreSQL tests are skipped instead)."
        ),
        Err(why) => {
            eprintln!("SKIPPED (PostgreSQL unreachable at {url}: {why}): {test}");
            false
        }
    }
}

/// A database of its own for one test: a SQLite file in `dir`, or a PostgreSQL schema.
#[derive(Debug)]
pub struct TestDb {
    pub kind: Kind,
    pub url: String,
    /// SQLite: the temporary directory that holds the file (removed with the test).
    pub dir: Option<PathBuf>,
    /// PostgreSQL: the test's schema (dropped with the test).
    pub schema: Option<String>,
}

impl TestDb {
    /// Store options that put the store in this test's database.
    pub fn options(&self) -> StoreOptions {
        StoreOptions { postgres_schema: self.schema.clone(), ..StoreOptions::default() }
    }

    /// Opens (and migrates) a store on this test's database; each call is a store of its own.
    pub async fn open(&self) -> Store {
        Store::open(&self.url, self.options()).await.expect("open the test's store")
    }

    /// An empty database (no tables), for a schema of an earlier version built by hand.
    pub async fn create_empty(&self) {
        match self.kind {
            Kind::Sqlite => {
                let path = self.url.trim_start_matches("sqlite://");
                std::fs::File::create(path).expect("create the SQLite file");
            }
            Kind::Postgres => {
                let schema = self.schema.as_deref().expect("a PostgreSQL test has a schema");
                self.exec(&format!("CREATE SCHEMA IF NOT EXISTS {schema}")).await
            }
        }
    }

    /// Runs SQL behind the store's back (to check rows, or to break things on purpose).
    pub async fn exec(&self, sql: &str) {
        match self.kind {
            Kind::Sqlite => {
                let pool = self.sqlite_pool().await;
                sqlx::raw_sql(sql).execute(&pool).await.expect("run SQL on SQLite");
                pool.close().await;
            }
            Kind::Postgres => {
                let pool = self.pg_pool().await;
                sqlx::raw_sql(sql).execute(&pool).await.expect("run SQL on PostgreSQL");
                pool.close().await;
            }
        }
    }

    /// The one number `sql` answers (a `COUNT(*)`).
    pub async fn count(&self, sql: &str) -> i64 {
        match self.kind {
            Kind::Sqlite => {
                let pool = self.sqlite_pool().await;
                let n = sqlx::query_scalar::<_, i64>(sql).fetch_one(&pool).await.expect("count on SQLite");
                pool.close().await;
                n
            }
            Kind::Postgres => {
                let pool = self.pg_pool().await;
                let n = sqlx::query_scalar::<_, i64>(sql).fetch_one(&pool).await.expect("count on PostgreSQL");
                pool.close().await;
                n
            }
        }
    }

    async fn sqlite_pool(&self) -> sqlx::SqlitePool {
        SqlitePoolOptions::new().max_connections(1).connect(&self.url).await.expect("connect to SQLite")
    }

    /// One connection to PostgreSQL, in this test's schema.
    pub async fn pg_pool(&self) -> sqlx::PgPool {
        let mut o = PgConnectOptions::from_str(&self.url).expect("a PostgreSQL URL");
        if let Some(s) = &self.schema {
            o = o.options([("search_path", s.as_str())]);
        }
        PgPoolOptions::new().max_connections(1).connect_with(o).await.expect("connect to PostgreSQL")
    }
}

/// A fresh [`TestDb`]; its directory or schema is removed when this drops (passed or panicked).
pub struct Fresh(Arc<TestDb>);

impl Deref for Fresh {
    type Target = Arc<TestDb>;

    fn deref(&self) -> &Arc<TestDb> {
        &self.0
    }
}

impl Drop for Fresh {
    fn drop(&mut self) {
        if let Some(dir) = &self.0.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some(schema) = self.0.schema.clone() {
            let url = self.0.url.clone();
            // Drop runs outside any async context we could await in: use a runtime of its own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
                rt.block_on(async {
                    let pool = PgPoolOptions::new().max_connections(1).connect(&url).await.expect("connect");
                    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                        .execute(&pool)
                        .await
                        .expect("drop the test's schema");
                    pool.close().await;
                })
            })
            .join();
        }
    }
}

/// A database of `kind` that no other test uses: SQLite in a new directory named after `label`
/// (`sluice-<label>-<unique>`), PostgreSQL in a new schema. `None` when the PostgreSQL run is
/// skipped ([`postgres_or_skip`]: the test passes as skipped).
pub async fn fresh(kind: Kind, label: &str) -> Option<Fresh> {
    let test = std::thread::current().name().filter(|n| *n != "main").unwrap_or(label).to_string();
    fresh_named(kind, label, &test).await
}

/// [`fresh`], with the test's name for the skip line.
pub async fn fresh_named(kind: Kind, label: &str, test: &str) -> Option<Fresh> {
    let unique = uuid::Uuid::now_v7().simple().to_string();
    let db = match kind {
        Kind::Sqlite => {
            let dir = std::env::temp_dir().join(format!("sluice-{label}-{unique}"));
            std::fs::create_dir_all(&dir).expect("create the test's directory");
            let url = format!("sqlite://{}", dir.join("sluice.db").display());
            TestDb { kind, url, dir: Some(dir), schema: None }
        }
        Kind::Postgres => {
            let url = postgres_url();
            if !postgres_or_skip(test) {
                return None;
            }
            let probe =
                PgPoolOptions::new().max_connections(1).acquire_timeout(Duration::from_secs(5)).connect(&url).await;
            if let Err(e) = probe {
                panic!(
                    "PostgreSQL answers at {url} but cannot be used ({e}). Fix it, point SLUICE_TEST_POSTGRES_URL \
                     at another, or set SLUICE_TEST_SKIP_POSTGRES=1 to run the SQLite half only."
                );
            }
            TestDb { kind, url, dir: None, schema: Some(format!("t_{unique}")) }
        }
    };
    Some(Fresh(Arc::new(db)))
}

/// Runs `test` on a [`fresh`] database of `kind`, then removes the database.
pub async fn run<F, Fut>(kind: Kind, label: &str, test: F)
where
    F: FnOnce(Arc<TestDb>) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(db) = fresh(kind, label).await else { return };
    test(Arc::clone(&db)).await;
}

/// [`run`] for [`both!`], which names the test for the skip line.
pub async fn run_named<F, Fut>(kind: Kind, label: &str, name: &str, test: F)
where
    F: FnOnce(Arc<TestDb>) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(db) = fresh_named(kind, label, name).await else { return };
    test(Arc::clone(&db)).await;
}

/// For [`both!`]: runs a test that takes a store (`async fn(&Store)`) on the test's database.
pub async fn with_store(db: Arc<TestDb>, test: impl AsyncFnOnce(&Store)) {
    let store = db.open().await;
    test(&store).await
}

/// For [`both!`]: runs a test that takes two stores on the test's database, as two nodes would
/// have them (`async fn(Store, Store)`).
pub async fn with_two_stores<F, Fut>(db: Arc<TestDb>, test: F)
where
    F: FnOnce(Store, Store) -> Fut,
    Fut: Future<Output = ()>,
{
    let (a, b) = (db.open().await, db.open().await);
    test(a, b).await
}

/// Declares a test that runs on both backends, as `NAME::sqlite` and `NAME::postgres`.
///
/// `both!(name)` runs `async fn name(db: Arc<TestDb>)`; `both!(name, adapter)` runs
/// `adapter(db, name)`, with `adapter` a path that resolves from anywhere (such as
/// `sluice_test_support::with_store`). The caller's crate needs `tokio` (with `macros` and
/// `rt-multi-thread`).
#[macro_export]
macro_rules! both {
    (@each $name:ident, $test:expr) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::run($crate::Kind::Sqlite, env!("CARGO_CRATE_NAME"), $test).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::run_named(
                    $crate::Kind::Postgres,
                    env!("CARGO_CRATE_NAME"),
                    concat!(module_path!(), "::postgres"),
                    $test,
                )
                .await
            }
        }
    };
    ($name:ident) => {
        $crate::both!(@each $name, super::$name);
    };
    ($name:ident, $adapter:path) => {
        $crate::both!(@each $name, |db| $adapter(db, super::$name));
    };
}

/// 2026-03-01 09:00:00 UTC, the tests' "now".
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).single().expect("a valid time")
}

/// Request data from a JSON object.
pub fn data(v: serde_json::Value) -> Data {
    serde_json::from_value(v).expect("a JSON object")
}

/// A model file as deployments take it: its name and its bytes, read from `dir`.
pub fn model_file(dir: impl AsRef<Path>, name: &str) -> (String, Vec<u8>) {
    let path = dir.as_ref().join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    (name.to_string(), bytes)
}

/// The process `id` from the model file `name` in `dir`, imported without errors.
pub fn process(dir: impl AsRef<Path>, name: &str, id: &str) -> Arc<Process> {
    let (name, bytes) = model_file(dir, name);
    let imported = sluice_bpmn::import(&[Source { name: &name, bytes: &bytes }], &Options::default());
    assert!(!imported.has_errors(), "{:?}", imported.diagnostics);
    imported.definitions.process(id).unwrap_or_else(|| panic!("no process `{id}` in {name}")).clone()
}
