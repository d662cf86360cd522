//! A database of its own for one end-to-end test of the `sluice serve` binary: a SQLite file in a
//! scratch directory, or a fresh PostgreSQL database (created at `$SLUICE_TEST_POSTGRES_URL`,
//! default `postgres://postgres@127.0.0.1:5432/test`, and dropped afterwards). The PostgreSQL half
//! follows the store tests' skip rule (`sluice_test_support::postgres_or_skip`): without a server
//! there it passes as skipped, saying so, and fails under `CI=true`.

use std::path::PathBuf;
use std::time::Duration;

use crate::scratch_dir;

/// A database for one test, removed when dropped.
pub enum Db {
    Sqlite { dir: PathBuf },
    Postgres { admin: String, name: String, url: String },
}

impl Db {
    pub fn sqlite(name: &str) -> Db {
        Db::Sqlite { dir: scratch_dir(name) }
    }

    /// A fresh PostgreSQL database for the test `test`; `None` (the test passes as skipped, saying
    /// so) when no PostgreSQL is reachable outside CI, or under `SLUICE_TEST_SKIP_POSTGRES=1`.
    pub fn postgres(test: &str) -> Option<Db> {
        if !sluice_test_support::postgres_or_skip(test) {
            return None;
        }
        let admin = sluice_test_support::postgres_url();
        let unique = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let name = format!("sluice_e2e_{}_{unique}", std::process::id());
        if let Err(e) = pg_exec(&admin, &format!("CREATE DATABASE {name}")) {
            panic!(
                "cannot create a database at {admin} ({e}). Fix that PostgreSQL, point SLUICE_TEST_POSTGRES_URL \
                 at another, or set SLUICE_TEST_SKIP_POSTGRES=1."
            );
        }
        let url = with_database(&admin, &name);
        Some(Db::Postgres { admin, name, url })
    }

    /// What `SLUICE_DATABASE_URL` says to use this database.
    pub fn url(&self) -> String {
        match self {
            Db::Sqlite { dir } => format!("sqlite://{}", dir.join("sluice.db").display()),
            Db::Postgres { url, .. } => url.clone(),
        }
    }

    /// Where the servers' logs go: beside the SQLite file, else a scratch directory.
    pub fn log_dir(&self, name: &str) -> PathBuf {
        match self {
            Db::Sqlite { dir } => dir.clone(),
            Db::Postgres { .. } => scratch_dir(name),
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        match self {
            // Kept when the test failed, with the servers' logs beside it.
            Db::Sqlite { dir } if !std::thread::panicking() => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Db::Sqlite { .. } => {}
            Db::Postgres { admin, name, .. } => {
                let _ = pg_exec(admin, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

/// `postgres://user@host:port/db?x` with another database name.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_end = base[scheme_end..].find('/').map(|i| scheme_end + i).unwrap_or(base.len());
    format!("{}/{db}{query}", &base[..host_end])
}

fn pg_exec(url: &str, sql: &str) -> Result<(), String> {
    use sqlx::Connection;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    rt.block_on(async {
        let mut conn = tokio::time::timeout(Duration::from_secs(10), sqlx::PgConnection::connect(url))
            .await
            .map_err(|_| "timed out connecting".to_string())?
            .map_err(|e| e.to_string())?;
        sqlx::query(sql).execute(&mut conn).await.map_err(|e| e.to_string())?;
        conn.close().await.map_err(|e| e.to_string())
    })
}
