//! Data conditions of `GET /api/v1/requests` as a query string writes them.
//!
//! A form-encoded pair splits at its first `=`, so `data.amount>=1000` arrives as the key
//! `data.amount>` and the value `1000`, `data.amount>1000` as the key `data.amount>1000` with no
//! value: both spellings are read back into a path, an operator and a value here.

use serde_json::Value;
use sluice_store::{DataCondition, DataOp, literal};

use super::{ApiError, Details};

/// The condition of one `data.…` parameter (`key` as sent, `rest` after `data.`).
pub fn data_condition(key: &str, rest: &str, value: &str) -> Result<DataCondition, ApiError> {
    let bad = |message: String| ApiError::bad_request(message).with(Details::Field(Some(key.to_string())));
    let (path, op, text) = if let Some(p) = rest.strip_suffix(">") {
        (p, DataOp::Ge, value)
    } else if let Some(p) = rest.strip_suffix("<") {
        (p, DataOp::Le, value)
    } else if let Some(p) = rest.strip_suffix("!") {
        (p, DataOp::Ne, value)
    } else if let Some((p, v)) = rest.split_once('>') {
        (p, DataOp::Gt, v)
    } else if let Some((p, v)) = rest.split_once('<') {
        (p, DataOp::Lt, v)
    } else {
        (rest, DataOp::Eq, value)
    };
    if matches!(op, DataOp::Gt | DataOp::Lt) && !value.is_empty() {
        return Err(bad(format!("`{key}={value}` is not a comparison: write `data.PATH>=V`, `data.PATH>V`, …")));
    }
    let value = literal(text);
    if matches!(op, DataOp::Gt | DataOp::Ge | DataOp::Lt | DataOp::Le)
        && !matches!(value, Value::Number(_) | Value::String(_))
    {
        return Err(bad(format!("`{key}`: a comparison takes a number or a string, not `{text}`")));
    }
    DataCondition::new(path, op, value).map_err(|why| bad(format!("`{key}`: {why}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    fn parse(key: &str, value: &str) -> (Vec<String>, DataOp, Value) {
        let c = data_condition(key, key.strip_prefix("data.").unwrap_or(key), value).map_err(|e| e.message).unwrap();
        (c.path, c.op, c.value)
    }

    #[test]
    fn every_spelling_of_a_condition() {
        let path = |p: &str| p.split('.').map(str::to_string).collect::<Vec<_>>();
        assert_eq!(parse("data.customer.name", "Acme"), (path("customer.name"), DataOp::Eq, json!("Acme")));
        assert_eq!(parse("data.amount>", "1000"), (path("amount"), DataOp::Ge, json!(1000)));
        assert_eq!(parse("data.amount<", "5.5"), (path("amount"), DataOp::Le, json!(5.5)));
        assert_eq!(parse("data.amount>1000", ""), (path("amount"), DataOp::Gt, json!(1000)));
        assert_eq!(parse("data.amount<7", ""), (path("amount"), DataOp::Lt, json!(7)));
        assert_eq!(parse("data.tier!", "gold"), (path("tier"), DataOp::Ne, json!("gold")));
        assert_eq!(parse("data.vip", "true"), (path("vip"), DataOp::Eq, json!(true)));
        assert_eq!(parse("data.code", "\"1000\""), (path("code"), DataOp::Eq, json!("1000")));
        for (key, value) in [("data.a>", "true"), ("data.a'b", "1"), ("data.", "1"), ("data.a>1", "2")] {
            assert!(data_condition(key, &key[5..], value).is_err(), "{key}={value}");
        }
    }
}
