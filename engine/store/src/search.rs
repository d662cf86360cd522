//! Searching Requests by their data (`data.customer.name=Acme`, `data.amount>=1000`).
//!
//! A condition reads a path of object keys in the Request's data column with the backend's JSON
//! functions: `json_extract(data, '$."customer"."name"')` on SQLite, `(data::jsonb #>
//! '{"customer","name"}')` on PostgreSQL. Any path can be searched; a path named in
//! `SLUICE_SEARCH_FIELDS` gets an index on exactly that expression
//! ([`Store::ensure_search_indexes`]), so a search on it reads the matching rows only instead of
//! every Request. The SQL text of a path's expression is built in one place ([`expression`]) so
//! that the query and its index always agree (both backends match an index by its expression).

use serde_json::Value;

use crate::Error;
use crate::db::{Arg, args};
use crate::store::Store;

/// The most keys a searched path may have.
pub const MAX_PATH_DEPTH: usize = 8;

/// How a data condition compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl DataOp {
    fn sql(self) -> &'static str {
        match self {
            DataOp::Eq => "=",
            DataOp::Ne => "<>",
            DataOp::Gt => ">",
            DataOp::Ge => ">=",
            DataOp::Lt => "<",
            DataOp::Le => "<=",
        }
    }
}

/// One condition on the Request's data: the value at `path` compared with `value`.
///
/// `=` matches the same JSON value (a number matches a number, `"1000"` only the string);
/// `<>` matches every Request where `=` does not (the path missing included); the order
/// comparisons match values of the same kind only (numbers by value, strings by text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataCondition {
    pub path: Vec<String>,
    pub op: DataOp,
    pub value: Value,
}

impl DataCondition {
    /// A condition on a dotted path (`customer.name`); `Err` says what is wrong with the path.
    pub fn new(path: &str, op: DataOp, value: Value) -> Result<Self, String> {
        Ok(DataCondition { path: parse_path(path)?, op, value })
    }
}

/// A value as a search writes it: a JSON number, `true`, `false`, `null` or a quoted JSON
/// string as that JSON value; anything else is the text itself.
pub fn literal(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ (Value::Number(_) | Value::Bool(_) | Value::Null | Value::String(_))) => v,
        _ => Value::String(text.to_string()),
    }
}

/// A condition written as one text, `PATH OP VALUE`: `customer.name=Acme`, `amount>=1000`,
/// `status!="done"`, with `=`, `!=`, `<`, `<=`, `>`, `>=` (what a background operation's filter
/// takes). The value reads as [`literal`] does; an order comparison takes a number or a string.
pub fn parse_condition(text: &str) -> Result<DataCondition, String> {
    let Some(at) = text.find(['=', '!', '<', '>']) else {
        return Err(format!("`{text}` has no comparison: write PATH=VALUE, PATH>=VALUE, …"));
    };
    let (path, rest) = text.split_at(at);
    let (op, value) = [
        (">=", DataOp::Ge),
        ("<=", DataOp::Le),
        ("!=", DataOp::Ne),
        ("=", DataOp::Eq),
        (">", DataOp::Gt),
        ("<", DataOp::Lt),
    ]
    .into_iter()
    .find_map(|(sym, op)| rest.strip_prefix(sym).map(|v| (op, v)))
    .ok_or_else(|| format!("`{text}`: `!` is only part of `!=`"))?;
    let value = literal(value.trim());
    if matches!(op, DataOp::Gt | DataOp::Ge | DataOp::Lt | DataOp::Le)
        && !matches!(value, Value::Number(_) | Value::String(_))
    {
        return Err(format!("`{text}`: a comparison takes a number or a string"));
    }
    DataCondition::new(path.trim(), op, value).map_err(|why| format!("`{text}`: {why}"))
}

/// A dotted path of object keys: letters, digits, `_` and `-`, at most [`MAX_PATH_DEPTH`].
pub fn parse_path(path: &str) -> Result<Vec<String>, String> {
    let keys: Vec<String> = path.split('.').map(str::to_string).collect();
    if keys.len() > MAX_PATH_DEPTH {
        return Err(format!("`{path}` is deeper than {MAX_PATH_DEPTH} keys"));
    }
    for k in &keys {
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(format!(
                "`{path}` is not a data path: keys joined by `.`, each of letters, digits, `_` and `-`"
            ));
        }
    }
    Ok(keys)
}

/// The SQL expression of the value at `path` (keys already checked by [`parse_path`], so they
/// are safe to write into the SQL text, which an index on the expression needs).
pub(crate) fn expression(path: &[String], postgres: bool) -> String {
    if postgres {
        let keys: Vec<String> = path.iter().map(|k| format!("\"{k}\"")).collect();
        format!("(data::jsonb #> '{{{}}}')", keys.join(","))
    } else {
        format!("json_extract(data, '{}')", sqlite_path(path))
    }
}

/// SQLite: the JSON path of the keys (`$."customer"."name"`).
fn sqlite_path(path: &[String]) -> String {
    let keys: String = path.iter().map(|k| format!(".\"{k}\"")).collect();
    format!("${keys}")
}

/// The JSON type test of the value at `path` matching `value`'s kind, for the order comparisons.
fn kind_test(path: &[String], value: &Value, postgres: bool) -> Option<String> {
    let (sqlite, pg) = match value {
        Value::Number(_) => ("IN ('integer', 'real')", "= 'number'"),
        Value::String(_) => ("= 'text'", "= 'string'"),
        _ => return None,
    };
    Some(if postgres {
        format!("jsonb_typeof({}) {pg}", expression(path, true))
    } else {
        format!("json_type(data, '{}') {sqlite}", sqlite_path(path))
    })
}

/// Appends ` AND …` for each condition to `sql`, with its arguments to `a`. An order
/// comparison with a value that has no order (`true`, `null`, an object) is refused.
pub(crate) fn push_conditions(
    conditions: &[DataCondition],
    postgres: bool,
    sql: &mut String,
    a: &mut Vec<Arg>,
) -> Result<(), Error> {
    for c in conditions {
        let expr = expression(&c.path, postgres);
        let matches = if postgres {
            a.push(c.value.to_string().into());
            format!("{expr} = ${}::jsonb", a.len())
        } else {
            sqlite_equal(&expr, &c.path, &c.value, a)
        };
        let condition = match c.op {
            DataOp::Eq => matches,
            DataOp::Ne => format!("NOT COALESCE({matches}, FALSE)"),
            op => {
                let Some(kind) = kind_test(&c.path, &c.value, postgres) else {
                    return Err(Error::BadSearch(format!(
                        "`data.{}` {} takes a number or a string, not {}",
                        c.path.join("."),
                        op.sql(),
                        c.value
                    )));
                };
                let bound = if postgres {
                    a.push(c.value.to_string().into());
                    format!("${}::jsonb", a.len())
                } else {
                    sqlite_value(&c.value, a)
                };
                format!("{kind} AND {expr} {} {bound}", op.sql())
            }
        };
        sql.push_str(&format!(" AND ({condition})"));
    }
    Ok(())
}

/// SQLite: the bound form of a string or number (an integer as INTEGER, any other number as
/// REAL: SQLite compares the two by value).
fn sqlite_value(value: &Value, a: &mut Vec<Arg>) -> String {
    match value {
        Value::String(s) => {
            a.push(s.as_str().into());
            format!("${}", a.len())
        }
        // Bound as a number (not cast in the SQL, which would keep SQLite off the index).
        Value::Number(n) => {
            match n.as_i64() {
                Some(i) => a.push(i.into()),
                None => a.push(n.as_f64().unwrap_or(f64::NAN).into()),
            }
            format!("${}", a.len())
        }
        other => {
            a.push(other.to_string().into());
            format!("${}", a.len())
        }
    }
}

/// SQLite: the value at `path` equals `value` (json_extract gives SQL values, so the JSON
/// kinds without one are tested by `json_type`).
fn sqlite_equal(expr: &str, path: &[String], value: &Value, a: &mut Vec<Arg>) -> String {
    let keys = sqlite_path(path);
    match value {
        Value::Null => format!("json_type(data, '{keys}') = 'null'"),
        Value::Bool(b) => format!("json_type(data, '{keys}') = '{b}'"),
        Value::String(_) | Value::Number(_) => {
            let kind = kind_test(path, value, false).unwrap_or_default();
            format!("{kind} AND {expr} = {}", sqlite_value(value, a))
        }
        Value::Array(_) | Value::Object(_) => {
            a.push(value.to_string().into());
            format!("{expr} = json(${})", a.len())
        }
    }
}

impl Store {
    /// Creates (once) an index on the expression of each path, so that searching it reads the
    /// matching Requests only. Paths are dotted (`customer.name`); an index of a path no longer
    /// named stays (drop it by hand if it costs). Building one over many Requests takes a
    /// while, once.
    pub async fn ensure_search_indexes(&self, paths: &[String]) -> Result<Vec<String>, Error> {
        let mut created = Vec::new();
        for path in paths {
            let keys = parse_path(path).map_err(Error::BadSearch)?;
            let mut tx = self.begin_write().await?;
            let mut c = tx.conn();
            let postgres = c.is_postgres();
            let name = index_name(&keys);
            let exists = if postgres {
                c.fetch_optional(
                    "SELECT 1 AS one FROM pg_indexes WHERE indexname = $1 AND schemaname = current_schema()",
                    args![name.as_str()],
                )
                .await?
            } else {
                c.fetch_optional(
                    "SELECT 1 AS one FROM sqlite_master WHERE type = 'index' AND name = $1",
                    args![name.as_str()],
                )
                .await?
            };
            if exists.is_some() {
                continue;
            }
            if postgres {
                // Several servers starting together: one builds it.
                c.execute("SELECT pg_advisory_xact_lock($1)", args![0x0005_11CE_0002i64]).await?;
            }
            c.execute(
                &format!("CREATE INDEX IF NOT EXISTS {name} ON requests ({})", expression(&keys, postgres)),
                args![],
            )
            .await?;
            tx.commit().await?;
            created.push(path.clone());
        }
        Ok(created)
    }
}

/// The index of a path's expression: `requests_data_` and the keys, with a hash so that
/// different paths never share a name.
fn index_name(keys: &[String]) -> String {
    let joined = keys.join(".");
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in joined.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    let readable: String =
        joined.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).take(30).collect();
    format!("requests_data_{readable}_{:08x}", hash as u32)
}

#[cfg(test)]
mod condition_tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn conditions_written_as_one_text_are_read() {
        let c = parse_condition("customer.name=Acme").unwrap();
        assert_eq!(
            (c.path, c.op, c.value),
            (vec!["customer".to_string(), "name".to_string()], DataOp::Eq, json!("Acme"))
        );
        let c = parse_condition("amount>=1000").unwrap();
        assert_eq!((c.op, c.value), (DataOp::Ge, json!(1000)));
        assert_eq!(parse_condition("amount<5").unwrap().op, DataOp::Lt);
        assert_eq!(parse_condition("amount>5").unwrap().op, DataOp::Gt);
        assert_eq!(parse_condition("amount<=5").unwrap().op, DataOp::Le);
        let c = parse_condition("status!=\"done\"").unwrap();
        assert_eq!((c.op, c.value), (DataOp::Ne, json!("done")));
        assert!(parse_condition("amount").is_err());
        assert!(parse_condition("amount!5").is_err());
        assert!(parse_condition("amount>true").is_err());
        assert!(parse_condition("=5").is_err());
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn paths_are_keys_of_safe_characters() {
        assert_eq!(parse_path("customer.name").unwrap(), ["customer", "name"]);
        assert!(parse_path("a..b").is_err());
        assert!(parse_path("a'b").is_err());
        assert!(parse_path("a.b.c.d.e.f.g.h.i").is_err());
        assert_eq!(expression(&parse_path("a.b").unwrap(), false), "json_extract(data, '$.\"a\".\"b\"')");
        assert_eq!(expression(&parse_path("a.b").unwrap(), true), "(data::jsonb #> '{\"a\",\"b\"}')");
        assert_ne!(index_name(&["a_b".into()]), index_name(&["a-b".into()]));
    }
}
