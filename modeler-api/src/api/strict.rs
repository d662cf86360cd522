//! Strict inputs: an unknown query parameter or body field is a 400 `bad_request` naming it in
//! `error.field`, with a suggestion when it looks like a known one (`did you mean `assignee`?`).
//!
//! Query strings are checked once for every route by [`strict_query`], against the parameters the
//! route documents in the OpenAPI document (one source of truth: a parameter a handler reads but
//! does not document is refused, so the document cannot fall behind). Bodies are checked by serde
//! (`#[serde(deny_unknown_fields)]` on every body type); [`unknown_field`] turns serde's message
//! into the same answer.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use utoipa::OpenApi;
use utoipa::openapi::RefOr;
use utoipa::openapi::path::ParameterIn;

use super::{ApiError, Details};

/// Routes whose callers are other systems that add parameters of their own (OAuth providers add
/// `session_state`, `iss`, `scope`…): their unknown parameters are ignored.
const LENIENT: [&str; 2] = ["/api/v1/auth/oidc/callback", "/api/v1/integrations/slack/oauth/callback"];

/// Field names people bring from other engines, and what Sluice calls them.
const ALIASES: [(&str, &str, &str); 2] = [
    (
        "variables",
        "data",
        "Sluice takes a Request's data as plain JSON in `data` (`{\"data\": {\"amount\": 1}}`), not Camunda's typed \
         `variables`",
    ),
    ("businessKey", "data", "Sluice keeps a business key in the Request's `data`"),
];

/// The documented query parameters of every route, by `METHOD path-template`.
fn documented() -> &'static HashMap<String, Vec<String>> {
    static MAP: OnceLock<HashMap<String, Vec<String>>> = OnceLock::new();
    MAP.get_or_init(|| {
        let doc = super::openapi::ApiDoc::openapi();
        let mut map = HashMap::new();
        for (path, item) in &doc.paths.paths {
            let ops = [
                ("GET", &item.get),
                ("POST", &item.post),
                ("PUT", &item.put),
                ("PATCH", &item.patch),
                ("DELETE", &item.delete),
            ];
            for (method, op) in ops {
                let Some(op) = op else { continue };
                let names = op
                    .parameters
                    .iter()
                    .flatten()
                    .filter_map(|p| match p {
                        RefOr::T(p) if matches!(p.parameter_in, ParameterIn::Query) => Some(p.name.clone()),
                        _ => None,
                    })
                    .collect();
                map.insert(format!("{method} {path}"), names);
            }
        }
        map
    })
}

/// Refuses a query parameter the route does not document (routes outside the document, like the
/// web app's pages, are left alone).
pub async fn strict_query(req: Request, next: Next) -> Result<Response, ApiError> {
    let Some(query) = req.uri().query().filter(|q| !q.is_empty()) else { return Ok(next.run(req).await) };
    let Some(path) = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string()) else {
        return Ok(next.run(req).await);
    };
    if LENIENT.contains(&path.as_str()) {
        return Ok(next.run(req).await);
    }
    // HEAD is answered by the GET route.
    let method = if req.method() == axum::http::Method::HEAD { "GET" } else { req.method().as_str() };
    let Some(known) = documented().get(&format!("{method} {path}")) else { return Ok(next.run(req).await) };
    for (name, _) in form_urlencoded::parse(query.as_bytes()) {
        if !known.iter().any(|k| *k == name) && !extra_allowed(&path, &name) {
            return Err(unknown("query parameter", &name, known.iter().map(String::as_str)));
        }
    }
    Ok(next.run(req).await)
}

/// Parameters a route takes beyond its fixed ones: the data conditions of a Request or task search
/// (`data.PATH…`, checked by the handler).
fn extra_allowed(path: &str, name: &str) -> bool {
    (path == "/api/v1/requests" || path == "/api/v1/tasks") && name.starts_with("data.")
}

/// The 400 for an unknown `what` (`query parameter`, `field`) named `name`, suggesting the
/// closest of `known`.
pub fn unknown<'a>(what: &str, name: &str, known: impl IntoIterator<Item = &'a str>) -> ApiError {
    let leaf = name.rsplit('.').next().unwrap_or(name);
    let mut message = format!("unknown {what} `{name}`");
    if let Some((_, to, why)) = ALIASES.iter().find(|(from, _, _)| *from == leaf) {
        message.push_str(&format!(": {why}; did you mean `{to}`?"));
    } else if let Some(best) = suggest(leaf, known) {
        message.push_str(&format!("; did you mean `{best}`?"));
    } else {
        message.push_str(" (see the API's OpenAPI document at /api/v1/openapi.json)");
    }
    ApiError::bad_request(message).with(Details::Field(Some(name.to_string())))
}

/// Turns serde's ``unknown field `x`, expected one of `a`, `b` `` at `path` into [`unknown`];
/// `None` for any other error.
pub fn unknown_field(path: &str, message: &str) -> Option<ApiError> {
    let rest = message.strip_prefix("unknown field `")?;
    let (name, rest) = rest.split_once('`')?;
    let expected: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
    // serde_path_to_error names the object the field is in (`.` at the top).
    let parent = path.trim_start_matches('.');
    let full = if parent.is_empty() || parent.ends_with(name) {
        if parent.is_empty() { name.to_string() } else { parent.to_string() }
    } else {
        format!("{parent}.{name}")
    };
    Some(unknown("field", &full, expected))
}

/// The known name closest to `name`, when it is close enough to be a typo (or differs in case).
fn suggest<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = name.to_ascii_lowercase();
    known
        .into_iter()
        .map(|k| (k, distance(&lower, &k.to_ascii_lowercase())))
        .filter(|(k, d)| *d <= (k.len().max(name.len()) / 3).max(1))
        .min_by_key(|(_, d)| *d)
        .map(|(k, _)| k)
}

/// Levenshtein distance over characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(suggest("asignee", ["assignee", "candidate"]), Some("assignee"));
        assert_eq!(suggest("LIMIT", ["limit", "cursor"]), Some("limit"));
        assert_eq!(suggest("order_id", ["limit", "cursor", "process"]), None);
        assert_eq!(distance("kitten", "sitting"), 3);
    }

    #[test]
    fn reads_serde_messages() {
        let e = unknown_field(".", "unknown field `variables`, expected `data` or `version`").unwrap();
        assert!(e.message.contains("did you mean `data`"), "{}", e.message);
        assert!(matches!(e.details, Details::Field(Some(ref f)) if f == "variables"));
        let e = unknown_field("filter", "unknown field `proces`, expected one of `process`, `status`").unwrap();
        assert!(e.message.contains("did you mean `process`"), "{}", e.message);
        assert!(matches!(e.details, Details::Field(Some(ref f)) if f == "filter.proces"));
        assert!(unknown_field(".", "missing field `name`").is_none());
    }
}
