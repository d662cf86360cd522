//! A thin layer over the two concrete sqlx drivers, so every query is written once.
//!
//! Both backends take `$1, $2, …` placeholders (sqlx's SQLite driver binds `$N` by number), and
//! the schema only uses types both decode the same way: 64-bit integers and text. Queries that
//! must differ (`FOR UPDATE SKIP LOCKED`, advisory locks) check [`Conn::is_postgres`].

use sqlx::postgres::{PgConnection, PgRow};
use sqlx::sqlite::{SqliteConnection, SqliteRow};
use sqlx::{Postgres, Row, Sqlite, Transaction};

use crate::Error;

/// A bind parameter.
#[derive(Clone, Debug)]
pub(crate) enum Arg {
    Int(Option<i64>),
    Real(Option<f64>),
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(Some(v))
    }
}
impl From<f64> for Arg {
    fn from(v: f64) -> Self {
        Arg::Real(Some(v))
    }
}
impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Self {
        Arg::Int(v)
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(Some(v))
    }
}
impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(Some(v.to_string()))
    }
}
impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Self {
        Arg::Text(v)
    }
}
impl From<Option<&[u8]>> for Arg {
    fn from(v: Option<&[u8]>) -> Self {
        Arg::Bytes(v.map(<[u8]>::to_vec))
    }
}
impl From<Option<&str>> for Arg {
    fn from(v: Option<&str>) -> Self {
        Arg::Text(v.map(str::to_string))
    }
}

/// Builds a `Vec<Arg>` from values of mixed types.
macro_rules! args {
    ($($v:expr),* $(,)?) => { vec![$(crate::db::Arg::from($v)),*] };
}
pub(crate) use args;

/// A connection (usually inside a transaction) of either backend.
pub(crate) enum Conn<'a> {
    Sqlite(&'a mut SqliteConnection),
    /// The group-commit writer's own SQLite connection, driven synchronously on its thread
    /// (`batch.rs`): no round trip to a connection thread per statement.
    Raw(&'a RawConn),
    Postgres(&'a mut PgConnection),
}

/// A row of either backend, read by column name.
pub(crate) enum DbRow {
    Sqlite(SqliteRow),
    Raw(RawRow),
    Postgres(PgRow),
}

/// The writer's own SQLite connection. Behind a mutex only so that futures holding a [`Conn`]
/// stay `Send` (a `rusqlite::Connection` is not `Sync`); one thread uses it, so it is never
/// contended.
pub(crate) type RawConn = std::sync::Mutex<rusqlite::Connection>;

fn raw_lock(c: &RawConn) -> std::sync::MutexGuard<'_, rusqlite::Connection> {
    // A panic while it was held cannot leave the connection half-changed: use it.
    c.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A row read through [`Conn::Raw`]: its columns' names (shared by the rows of a statement) and
/// values.
pub(crate) struct RawRow {
    names: std::sync::Arc<[String]>,
    values: Vec<rusqlite::types::Value>,
}

impl RawRow {
    fn get(&self, col: &str) -> Result<&rusqlite::types::Value, Error> {
        self.names
            .iter()
            .position(|n| n == col)
            .and_then(|i| self.values.get(i))
            .ok_or_else(|| Error::corrupt("row", format!("no column `{col}`")))
    }

    fn opt_int(&self, col: &str) -> Result<Option<i64>, Error> {
        match self.get(col)? {
            rusqlite::types::Value::Null => Ok(None),
            rusqlite::types::Value::Integer(i) => Ok(Some(*i)),
            other => Err(Error::corrupt("row", format!("column `{col}` is {:?}, not an integer", other.data_type()))),
        }
    }

    fn opt_text(&self, col: &str) -> Result<Option<String>, Error> {
        match self.get(col)? {
            rusqlite::types::Value::Null => Ok(None),
            rusqlite::types::Value::Text(t) => Ok(Some(t.clone())),
            other => Err(Error::corrupt("row", format!("column `{col}` is {:?}, not text", other.data_type()))),
        }
    }

    fn opt_bytes(&self, col: &str) -> Result<Option<Vec<u8>>, Error> {
        match self.get(col)? {
            rusqlite::types::Value::Null => Ok(None),
            rusqlite::types::Value::Blob(b) => Ok(Some(b.clone())),
            rusqlite::types::Value::Text(t) => Ok(Some(t.clone().into_bytes())),
            other => Err(Error::corrupt("row", format!("column `{col}` is {:?}, not bytes", other.data_type()))),
        }
    }
}

fn missing(col: &str) -> Error {
    Error::corrupt("row", format!("column `{col}` is NULL"))
}

/// `$N` → `?N` (SQLite's numbered parameter, bound by index), for [`Conn::Raw`]; a `$` not
/// followed by a digit stays.
fn numbered(sql: &str) -> String {
    let mut out = sql.as_bytes().to_vec();
    for i in 1..out.len() {
        if out[i - 1] == b'$' && out[i].is_ascii_digit() {
            out[i - 1] = b'?';
        }
    }
    // One ASCII byte replaced by another: still the UTF-8 it was.
    String::from_utf8(out).unwrap_or_else(|_| sql.to_string())
}

/// Binds `args` to `st` by index (1-based, as `?N` numbers them).
fn bind_raw(st: &mut rusqlite::CachedStatement<'_>, args: Vec<Arg>) -> Result<(), Error> {
    for (i, a) in args.into_iter().enumerate() {
        let r = match a {
            Arg::Int(v) => st.raw_bind_parameter(i + 1, v),
            Arg::Real(v) => st.raw_bind_parameter(i + 1, v),
            Arg::Text(v) => st.raw_bind_parameter(i + 1, v),
            Arg::Bytes(v) => st.raw_bind_parameter(i + 1, v),
        };
        r.map_err(Error::Sqlite)?;
    }
    Ok(())
}

/// Runs statements without parameters on the writer's own connection (`BEGIN`, `COMMIT`, …).
pub(crate) fn raw_script(c: &RawConn, sql: &str) -> Result<(), Error> {
    raw_lock(c).execute_batch(sql).map_err(Error::Sqlite)
}

fn raw_execute(c: &RawConn, sql: &str, args: Vec<Arg>) -> Result<u64, Error> {
    let c = raw_lock(c);
    let mut st = c.prepare_cached(&numbered(sql)).map_err(Error::Sqlite)?;
    bind_raw(&mut st, args)?;
    Ok(st.raw_execute().map_err(Error::Sqlite)? as u64)
}

fn raw_fetch(c: &RawConn, sql: &str, args: Vec<Arg>, limit: usize) -> Result<Vec<DbRow>, Error> {
    let c = raw_lock(c);
    let mut st = c.prepare_cached(&numbered(sql)).map_err(Error::Sqlite)?;
    bind_raw(&mut st, args)?;
    let names: std::sync::Arc<[String]> = st.column_names().into_iter().map(str::to_string).collect();
    let n = names.len();
    let mut rows = st.raw_query();
    let mut out = Vec::new();
    while out.len() < limit
        && let Some(r) = rows.next().map_err(Error::Sqlite)?
    {
        let mut values = Vec::with_capacity(n);
        for i in 0..n {
            values.push(r.get::<_, rusqlite::types::Value>(i).map_err(Error::Sqlite)?);
        }
        out.push(DbRow::Raw(RawRow { names: names.clone(), values }));
    }
    Ok(out)
}

fn bind_sqlite<'q>(
    mut q: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    args: Vec<Arg>,
) -> sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    for a in args {
        q = match a {
            Arg::Int(v) => q.bind(v),
            Arg::Real(v) => q.bind(v),
            Arg::Text(v) => q.bind(v),
            Arg::Bytes(v) => q.bind(v),
        };
    }
    q
}

fn bind_pg<'q>(
    mut q: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    args: Vec<Arg>,
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    for a in args {
        q = match a {
            Arg::Int(v) => q.bind(v),
            Arg::Real(v) => q.bind(v),
            Arg::Text(v) => q.bind(v),
            Arg::Bytes(v) => q.bind(v),
        };
    }
    q
}

/// SQLite binds `$N` parameters by looking each name up among all of the statement's parameters,
/// which is quadratic for the multi-row statements of a batch (thousands of parameters). When a
/// statement uses `$1, $2, …` each once and in order, the same statement with plain `?` binds in
/// linear time; anything else is left as it is.
fn positional(sql: &str) -> Option<String> {
    let mut out = String::with_capacity(sql.len());
    let mut next = 1u32;
    let mut chars = sql.char_indices().peekable();
    while let Some((_, ch)) = chars.next() {
        if ch != '$' {
            out.push(ch);
            continue;
        }
        let mut n = 0u32;
        let mut digits = 0;
        while let Some(&(_, d)) = chars.peek() {
            let Some(v) = d.to_digit(10) else { break };
            n = n.checked_mul(10)?.checked_add(v)?;
            digits += 1;
            chars.next();
        }
        if digits == 0 || n != next {
            return None;
        }
        next += 1;
        out.push('?');
    }
    Some(out)
}

/// Above this many parameters a SQLite statement is rewritten with [`positional`] if it can be.
const POSITIONAL_ABOVE: usize = 16;

fn sqlite_sql<'s>(sql: &'s str, args: &[Arg]) -> std::borrow::Cow<'s, str> {
    if args.len() > POSITIONAL_ABOVE
        && let Some(p) = positional(sql)
    {
        return std::borrow::Cow::Owned(p);
    }
    std::borrow::Cow::Borrowed(sql)
}

impl Conn<'_> {
    pub(crate) fn is_postgres(&self) -> bool {
        matches!(self, Conn::Postgres(_))
    }

    /// Runs one statement; returns the rows it affected.
    pub(crate) async fn execute(&mut self, sql: &str, args: Vec<Arg>) -> Result<u64, Error> {
        Ok(match self {
            Conn::Sqlite(c) => {
                let sql = sqlite_sql(sql, &args);
                bind_sqlite(sqlx::query(&sql), args).execute(&mut **c).await?.rows_affected()
            }
            Conn::Raw(c) => raw_execute(c, sql, args)?,
            Conn::Postgres(c) => bind_pg(sqlx::query(sql), args).execute(&mut **c).await?.rows_affected(),
        })
    }

    pub(crate) async fn fetch_all(&mut self, sql: &str, args: Vec<Arg>) -> Result<Vec<DbRow>, Error> {
        Ok(match self {
            Conn::Sqlite(c) => {
                let sql = sqlite_sql(sql, &args);
                bind_sqlite(sqlx::query(&sql), args).fetch_all(&mut **c).await?.into_iter().map(DbRow::Sqlite).collect()
            }
            Conn::Raw(c) => raw_fetch(c, sql, args, usize::MAX)?,
            Conn::Postgres(c) => {
                bind_pg(sqlx::query(sql), args).fetch_all(&mut **c).await?.into_iter().map(DbRow::Postgres).collect()
            }
        })
    }

    pub(crate) async fn fetch_optional(&mut self, sql: &str, args: Vec<Arg>) -> Result<Option<DbRow>, Error> {
        Ok(match self {
            Conn::Sqlite(c) => bind_sqlite(sqlx::query(sql), args).fetch_optional(&mut **c).await?.map(DbRow::Sqlite),
            Conn::Raw(c) => raw_fetch(c, sql, args, 1)?.pop(),
            Conn::Postgres(c) => bind_pg(sqlx::query(sql), args).fetch_optional(&mut **c).await?.map(DbRow::Postgres),
        })
    }

    /// Runs a script of several statements without parameters (migrations).
    pub(crate) async fn execute_script(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        match self {
            Conn::Sqlite(c) => sqlx::raw_sql(sql).execute(&mut **c).await.map(drop),
            // Migrations run on the pool's connections, never on the writer's raw one.
            Conn::Raw(c) => raw_lock(c).execute_batch(sql).map_err(|e| sqlx::Error::Protocol(e.to_string())),
            Conn::Postgres(c) => sqlx::raw_sql(sql).execute(&mut **c).await.map(drop),
        }
    }
}

impl DbRow {
    pub(crate) fn int(&self, col: &str) -> Result<i64, Error> {
        Ok(match self {
            DbRow::Sqlite(r) => r.try_get(col)?,
            DbRow::Raw(r) => r.opt_int(col)?.ok_or_else(|| missing(col))?,
            DbRow::Postgres(r) => r.try_get(col)?,
        })
    }

    // Each accessor repeats the match over the three backends for its own column type: `sqlx`'s
    // `try_get` is generic per type, but `Raw` rows answer through a method per type.
    pub(crate) fn opt_int(&self, col: &str) -> Result<Option<i64>, Error> {
        Ok(match self {
            DbRow::Sqlite(r) => r.try_get(col)?,
            DbRow::Raw(r) => r.opt_int(col)?,
            DbRow::Postgres(r) => r.try_get(col)?,
        })
    }

    pub(crate) fn text(&self, col: &str) -> Result<String, Error> {
        Ok(match self {
            DbRow::Sqlite(r) => r.try_get(col)?,
            DbRow::Raw(r) => r.opt_text(col)?.ok_or_else(|| missing(col))?,
            DbRow::Postgres(r) => r.try_get(col)?,
        })
    }

    pub(crate) fn opt_bytes(&self, col: &str) -> Result<Option<Vec<u8>>, Error> {
        Ok(match self {
            DbRow::Sqlite(r) => r.try_get(col)?,
            DbRow::Raw(r) => r.opt_bytes(col)?,
            DbRow::Postgres(r) => r.try_get(col)?,
        })
    }

    pub(crate) fn opt_text(&self, col: &str) -> Result<Option<String>, Error> {
        Ok(match self {
            DbRow::Sqlite(r) => r.try_get(col)?,
            DbRow::Raw(r) => r.opt_text(col)?,
            DbRow::Postgres(r) => r.try_get(col)?,
        })
    }
}

/// Transactions committed by this process, for benchmarks and metrics.
pub(crate) static COMMITS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// An open transaction of either backend.
pub(crate) enum Tx {
    /// With the store's writer lock for a write transaction (see `Store::begin_write`).
    Sqlite(Transaction<'static, Sqlite>, Option<tokio::sync::OwnedMutexGuard<()>>),
    Postgres(Transaction<'static, Postgres>),
}

impl Tx {
    pub(crate) fn conn(&mut self) -> Conn<'_> {
        match self {
            Tx::Sqlite(t, _) => Conn::Sqlite(&mut *t),
            Tx::Postgres(t) => Conn::Postgres(&mut *t),
        }
    }

    /// Commits; dropping a `Tx` without committing rolls it back.
    pub(crate) async fn commit(self) -> Result<(), Error> {
        match self {
            Tx::Sqlite(t, _guard) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        COMMITS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::positional;

    #[test]
    fn dollar_parameters_become_numbered_ones() {
        assert_eq!(super::numbered("SELECT $1, $12 WHERE a = $1"), "SELECT ?1, ?12 WHERE a = ?1");
        assert_eq!(super::numbered("SELECT '$' || x, '$.a'"), "SELECT '$' || x, '$.a'");
    }

    #[test]
    fn in_order_parameters_become_positional_and_others_stay() {
        assert_eq!(positional("VALUES ($1, $2), ($3, $4)").as_deref(), Some("VALUES (?, ?), (?, ?)"));
        assert_eq!(positional("a = $1 AND b IN ($2, $3, $10)"), None, "$10 is not 4th");
        assert_eq!(positional("a = $1 OR b = $1"), None, "used twice");
        assert_eq!(positional("a = $2 AND b = $1"), None, "out of order");
        assert_eq!(positional("SELECT '$' || x").as_deref(), None, "a bare $ is not a parameter");
        assert_eq!(positional("no parameters").as_deref(), Some("no parameters"));
    }
}
