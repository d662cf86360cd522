//! `{{ path }}` templates in connector inputs, rendered over the Request's data.
//!
//! Syntax:
//! - `{{ customer.name }}`: a dotted path into the Request's data; spaces inside the braces are
//!   optional. An array element is addressed by its 0-based index as a segment: `{{ items.0.sku }}`.
//! - `{{ request.id }}`, `{{ request.url }}`, `{{ process.key }}`: the call's [`Context`]. These
//!   three exact paths win over data variables of the same name.
//! - `{{ secrets.NAME }}` (Camunda 8 writes `{{secrets.NAME}}`): the stored secret `NAME`, given
//!   by the caller ([`Vars::secrets`]) and inserted as it is (not escaped: it is no data). Data
//!   cannot reach a secret: a value inserted into a template is never read as a template again.
//!   [`secret_names`] lists the names a set of inputs refers to.
//! - Strings are inserted as they are, numbers and booleans as JSON text (`3`, `4.5`, `true`),
//!   objects and arrays as compact JSON (`{"a":1}`).
//! - A missing value, or `null`, renders as the empty string, as in Mustache, Handlebars and Jinja:
//!   optional fields (`{{ customer.note }}`) are common in messages and should not stop a Request.
//!   `sluice check` cannot know the data, so nothing at deploy time would catch a typo either way;
//!   but a path that resolves to nothing at all (no such variable or field, as in a typo
//!   `{{ order.nmae }}`; not an explicit `null`) is reported to the caller of [`render_noting`],
//!   and the engine records it in the Request's history as a `template_warning`.
//! - Every inserted value passes through the connector's escape function (Slack escapes `&`, `<`,
//!   `>`); the template's own text is never escaped.
//! - Text that is not a placeholder stays as written: `{{` without a closing `}}`, or braces around
//!   something that is not a path (`{{ }}`, `{{ a b }}`, `{{{ x }}}`'s outer braces).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::{Context, Secret};

/// Escapes one inserted value (a connector's [`crate::Connector::escape`]).
pub type Escape = fn(&str) -> Cow<'_, str>;

/// Leaves values unchanged.
pub fn no_escape(value: &str) -> Cow<'_, str> {
    Cow::Borrowed(value)
}

/// The secrets a call may use, by name.
pub type Secrets = BTreeMap<String, Secret>;

/// The prefix of a secret's placeholder path.
pub const SECRETS_PREFIX: &str = "secrets.";

/// What a template can refer to.
#[derive(Debug, Clone, Copy)]
pub struct Vars<'a> {
    pub data: &'a Map<String, Value>,
    pub request_id: &'a str,
    pub request_url: &'a str,
    pub process_key: &'a str,
    /// `{{ secrets.NAME }}`; none by default.
    pub secrets: Option<&'a Secrets>,
}

impl<'a> Vars<'a> {
    pub fn new(data: &'a Map<String, Value>, cx: &'a Context) -> Self {
        Vars {
            data,
            request_id: &cx.key.request_id,
            request_url: &cx.request_url,
            process_key: &cx.process_key,
            secrets: None,
        }
    }

    /// These variables with `secrets` for `{{ secrets.NAME }}`.
    #[must_use]
    pub fn with_secrets(mut self, secrets: &'a Secrets) -> Self {
        self.secrets = Some(secrets);
        self
    }

    /// The value at a dotted path, if there is one. Context values are strings.
    pub fn lookup(&self, path: &str) -> Option<Lookup<'a>> {
        match path {
            "request.id" => return Some(Lookup::Text(self.request_id)),
            "request.url" => return Some(Lookup::Text(self.request_url)),
            "process.key" => return Some(Lookup::Text(self.process_key)),
            _ => {}
        }
        if let Some(name) = path.strip_prefix(SECRETS_PREFIX) {
            return self.secrets.and_then(|s| s.get(name)).map(|s| Lookup::Secret(s.expose()));
        }
        let mut segments = path.split('.');
        let mut cur = self.data.get(segments.next()?)?;
        for seg in segments {
            cur = match cur {
                Value::Object(m) => m.get(seg)?,
                Value::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(Lookup::Json(cur))
    }
}

/// A value found by [`Vars::lookup`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lookup<'a> {
    Text(&'a str),
    /// A secret's value: inserted unescaped.
    Secret(&'a str),
    Json(&'a Value),
}

/// One placeholder found in a template: its path and its byte range (braces included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placeholder<'t> {
    pub path: &'t str,
    pub start: usize,
    pub end: usize,
}

/// The placeholders of a template, in order.
pub fn placeholders(template: &str) -> Placeholders<'_> {
    Placeholders { src: template, pos: 0 }
}

/// True when the text has at least one placeholder, i.e. its value depends on the data.
pub fn is_template(text: &str) -> bool {
    placeholders(text).next().is_some()
}

/// Iterator returned by [`placeholders`].
#[derive(Debug, Clone)]
pub struct Placeholders<'t> {
    src: &'t str,
    pos: usize,
}

impl<'t> Iterator for Placeholders<'t> {
    type Item = Placeholder<'t>;

    fn next(&mut self) -> Option<Placeholder<'t>> {
        loop {
            let rest = self.src.get(self.pos..)?;
            let open = self.pos + rest.find("{{")?;
            let inner_start = open + 2;
            let Some(close) = self.src[inner_start..].find("}}") else {
                // No closing braces anywhere after this: the rest is literal text.
                self.pos = self.src.len();
                return None;
            };
            let inner_end = inner_start + close;
            let path = self.src[inner_start..inner_end].trim();
            if is_path(path) {
                self.pos = inner_end + 2;
                return Some(Placeholder { path, start: open, end: inner_end + 2 });
            }
            // Not a placeholder: keep the first brace literal and look again from the next one,
            // so `{{{ x }}}` still finds `{{ x }}`.
            self.pos = open + 1;
        }
    }
}

/// The names of the secrets (`{{ secrets.NAME }}`) that the strings in `value` refer to, each
/// once, in order.
pub fn secret_names(value: &Value) -> Vec<String> {
    let mut names = Vec::new();
    collect_secret_names(value, &mut names);
    names
}

fn collect_secret_names(value: &Value, names: &mut Vec<String>) {
    match value {
        Value::String(s) => {
            for p in placeholders(s) {
                if let Some(name) = p.path.strip_prefix(SECRETS_PREFIX)
                    && !names.iter().any(|n| n == name)
                {
                    names.push(name.to_string());
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_secret_names(v, names)),
        Value::Object(m) => m.values().for_each(|v| collect_secret_names(v, names)),
        _ => {}
    }
}

/// The secret a text refers to when it is nothing but one placeholder `{{ secrets.NAME }}`
/// (surrounding blanks allowed).
pub fn only_secret(text: &str) -> Option<&str> {
    let t = text.trim();
    let p = placeholders(t).next()?;
    (p.start == 0 && p.end == t.len()).then_some(())?;
    p.path.strip_prefix(SECRETS_PREFIX).filter(|n| !n.is_empty())
}

fn is_path(path: &str) -> bool {
    !path.is_empty()
        && path
            .split('.')
            .all(|seg| !seg.is_empty() && !seg.contains(|c: char| c.is_whitespace() || c == '{' || c == '}'))
}

/// Renders a template: each placeholder is replaced by its value, escaped. Borrows the input when
/// it has no placeholder.
pub fn render<'t>(template: &'t str, vars: &Vars<'_>, escape: Escape) -> Cow<'t, str> {
    render_noting(template, vars, escape, &mut |_| {})
}

/// [`render`], calling `missing` with the path of each placeholder that resolves to nothing (no
/// such variable or field; an explicit `null` is a value). Such a placeholder still renders empty.
pub fn render_noting<'t>(
    template: &'t str,
    vars: &Vars<'_>,
    escape: Escape,
    missing: &mut dyn FnMut(&str),
) -> Cow<'t, str> {
    let mut found = placeholders(template).peekable();
    if found.peek().is_none() {
        return Cow::Borrowed(template);
    }
    let mut out = String::with_capacity(template.len() + 32);
    let mut last = 0;
    let mut buf = String::new();
    for p in found {
        out.push_str(&template[last..p.start]);
        match vars.lookup(p.path) {
            None => missing(p.path),
            Some(Lookup::Json(Value::Null)) => {}
            Some(Lookup::Text(s)) => out.push_str(&escape(s)),
            Some(Lookup::Secret(s)) => out.push_str(s),
            Some(Lookup::Json(Value::String(s))) => out.push_str(&escape(s)),
            Some(Lookup::Json(v)) => {
                buf.clear();
                // Numbers, booleans, objects and arrays as compact JSON text. Writing a `Value`
                // into a String cannot fail.
                use std::fmt::Write;
                let _ = write!(buf, "{v}");
                out.push_str(&escape(&buf));
            }
        }
        last = p.end;
    }
    out.push_str(&template[last..]);
    Cow::Owned(out)
}

/// Renders every string inside a JSON value (object values and array items too, for inputs that
/// ProcessMaker's `pm:config` gives as JSON). Other values are kept.
pub fn render_value(value: &Value, vars: &Vars<'_>, escape: Escape) -> Value {
    render_value_noting(value, vars, escape, &mut |_| {})
}

/// [`render_value`], calling `missing` as [`render_noting`] does.
pub fn render_value_noting(value: &Value, vars: &Vars<'_>, escape: Escape, missing: &mut dyn FnMut(&str)) -> Value {
    match value {
        Value::String(s) => match render_noting(s, vars, escape, missing) {
            Cow::Borrowed(_) => value.clone(),
            Cow::Owned(o) => Value::String(o),
        },
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| render_value_noting(v, vars, escape, missing)).collect())
        }
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), render_value_noting(v, vars, escape, missing))).collect())
        }
        _ => value.clone(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::IdempotencyKey;
    use serde_json::json;

    fn cx() -> Context {
        let key = IdempotencyKey { request_id: "r-42".into(), element_id: "notify".into(), attempt: 1 };
        Context::new(key, "order", "https://sluice.example/requests/r-42")
    }

    fn data() -> Map<String, Value> {
        json!({
            "order_id": "ORD-1",
            "amount": 450.5,
            "count": 3,
            "approved": true,
            "nothing": null,
            "customer": {"name": "Acme <GmbH> & Co", "tags": ["a", "b"]},
            "items": [{"sku": "X1"}, {"sku": "X2"}],
            "request": {"id": "shadowed", "note": "from data"},
        })
        .as_object()
        .unwrap()
        .clone()
    }

    fn slack_escape(s: &str) -> Cow<'_, str> {
        if !s.contains(['&', '<', '>']) {
            return Cow::Borrowed(s);
        }
        Cow::Owned(s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;"))
    }

    fn check_with(template: &str, escape: Escape, expected: &str) {
        let (data, cx) = (data(), cx());
        let got = render(template, &Vars::new(&data, &cx), escape);
        assert_eq!(got, expected, "template: {template:?}");
    }

    fn check(template: &str, expected: &str) {
        check_with(template, no_escape, expected);
    }

    #[test]
    fn paths() {
        check("Order {{ order_id }}", "Order ORD-1");
        check("{{order_id}}", "ORD-1");
        check("{{   order_id\t}}!", "ORD-1!");
        check("{{ customer.name }}", "Acme <GmbH> & Co");
        check("{{ items.1.sku }}", "X2");
        check("{{ customer.tags.0 }}{{ customer.tags.1 }}", "ab");
        check("{{ items.9.sku }}|{{ items.x }}|{{ order_id.deeper }}", "||");
    }

    #[test]
    fn value_kinds() {
        check("{{ amount }} {{ count }} {{ approved }}", "450.5 3 true");
        check("{{ customer.tags }}", r#"["a","b"]"#);
        check("{{ items.0 }}", r#"{"sku":"X1"}"#);
        check("[{{ nothing }}][{{ missing }}][{{ missing.deep }}]", "[][][]");
    }

    #[test]
    fn context_values() {
        check(
            "{{ request.id }} {{ request.url }} {{ process.key }}",
            "r-42 https://sluice.example/requests/r-42 order",
        );
        // Only the three exact paths come from the context; other `request.*` paths are data.
        check("{{ request.note }}", "from data");
    }

    #[test]
    fn literal_text_stays() {
        check("", "");
        check("no placeholders", "no placeholders");
        check("open {{ order_id", "open {{ order_id");
        check("{{ order_id }} then {{ open", "ORD-1 then {{ open");
        check("{{ }} {{}}", "{{ }} {{}}");
        check("{{ a b }}", "{{ a b }}");
        check("{{{ order_id }}}", "{ORD-1}");
        check("{{ .x }} {{ x. }}", "{{ .x }} {{ x. }}");
        check(r#"{"amount": {{ amount }}}"#, r#"{"amount": 450.5}"#);
        check("}} {{ order_id }} }}", "}} ORD-1 }}");
        check("ünïcödé {{ order_id }} ✓", "ünïcödé ORD-1 ✓");
    }

    #[test]
    fn escaping_applies_to_inserted_values_only() {
        check_with("<b>{{ customer.name }}</b>", slack_escape, "<b>Acme &lt;GmbH&gt; &amp; Co</b>");
        check_with("{{ request.url }}", slack_escape, "https://sluice.example/requests/r-42");
        check_with("{{ count }} & {{ order_id }}", slack_escape, "3 & ORD-1");
    }

    #[test]
    fn secrets_are_inserted_unescaped_and_data_never_reaches_one() {
        let mut data = data();
        data.insert("sneaky".into(), json!("{{ secrets.TOKEN }}"));
        let cx = cx();
        let secrets: Secrets = [("TOKEN".to_string(), Secret::new("xoxb-<1>&"))].into_iter().collect();
        let vars = Vars::new(&data, &cx).with_secrets(&secrets);
        assert_eq!(render("Bearer {{secrets.TOKEN}}", &vars, slack_escape), "Bearer xoxb-<1>&");
        assert_eq!(render("{{ sneaky }}", &vars, slack_escape), "{{ secrets.TOKEN }}");
        let mut missing = Vec::new();
        render_noting("{{ secrets.OTHER }}", &vars, no_escape, &mut |p| missing.push(p.to_string()));
        assert_eq!(missing, ["secrets.OTHER"]);
        // Without secrets given, none resolves.
        assert_eq!(render("[{{ secrets.TOKEN }}]", &Vars::new(&data, &cx), no_escape), "[]");
        let v = json!({"token": "{{secrets.A}}", "data": {"x": "{{ secrets.B }} {{secrets.A}}", "y": "{{ a }}"}});
        assert_eq!(secret_names(&v), ["A", "B"]);
        assert_eq!(only_secret(" {{secrets.SLACK_OAUTH_TOKEN}} "), Some("SLACK_OAUTH_TOKEN"));
        assert_eq!(only_secret("{{ secrets.X }}"), Some("X"));
        assert_eq!(only_secret("Bearer {{ secrets.X }}"), None);
        assert_eq!(only_secret("xoxb-123"), None);
        assert_eq!(only_secret("{{ token }}"), None);
    }

    #[test]
    fn borrows_when_there_is_nothing_to_render() {
        let (data, cx) = (data(), cx());
        assert!(matches!(render("plain {{ text", &Vars::new(&data, &cx), no_escape), Cow::Borrowed(_)));
    }

    #[test]
    fn placeholder_positions() {
        let found: Vec<_> = placeholders("a {{ x.y }} b {{z}}").map(|p| (p.path, p.start, p.end)).collect();
        assert_eq!(found, [("x.y", 2, 11), ("z", 14, 19)]);
        assert!(is_template("{{ a }}"));
        assert!(!is_template("{{ }}"));
    }

    #[test]
    fn renders_nested_json() {
        let (data, cx) = (data(), cx());
        let v = json!({"h": {"X-Order": "{{ order_id }}"}, "list": ["{{ count }}", 7]});
        assert_eq!(
            render_value(&v, &Vars::new(&data, &cx), no_escape),
            json!({"h": {"X-Order": "ORD-1"}, "list": ["3", 7]})
        );
    }

    #[test]
    fn paths_that_resolve_to_nothing_render_empty_and_are_reported() {
        let (data, cx) = (data(), cx());
        let vars = Vars::new(&data, &cx);
        let mut missing = Vec::new();
        let got = render_noting(
            "{{ customer.nmae }}|{{ nothing }}|{{ order_id }}|{{ items.9 }}",
            &vars,
            no_escape,
            &mut |p| missing.push(p.to_string()),
        );
        assert_eq!(got, "||ORD-1|");
        // An explicit null is a value: only the paths with nothing there are reported.
        assert_eq!(missing, ["customer.nmae", "items.9"]);
        let mut nested = Vec::new();
        let v = json!({"h": {"X-Order": "{{ order.id }}"}, "list": ["{{ count }}"]});
        render_value_noting(&v, &vars, no_escape, &mut |p| nested.push(p.to_string()));
        assert_eq!(nested, ["order.id"]);
    }
}
