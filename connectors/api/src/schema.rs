//! What the registry reads from a connector's input JSON Schema: each input's JSON types and
//! whether it is required, used to coerce `sluice:input` text and to check inputs at deploy time.

use serde_json::{Map, Value};

use crate::template;

/// A set of JSON types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Kinds(u8);

impl Kinds {
    pub const STRING: Kinds = Kinds(1);
    pub const NUMBER: Kinds = Kinds(2);
    pub const INTEGER: Kinds = Kinds(4);
    pub const BOOLEAN: Kinds = Kinds(8);
    pub const OBJECT: Kinds = Kinds(16);
    pub const ARRAY: Kinds = Kinds(32);
    pub const NULL: Kinds = Kinds(64);
    pub const ANY: Kinds = Kinds(127);

    const NAMES: [(Kinds, &'static str); 7] = [
        (Kinds::STRING, "a string"),
        (Kinds::NUMBER, "a number"),
        (Kinds::INTEGER, "an integer"),
        (Kinds::BOOLEAN, "a boolean"),
        (Kinds::OBJECT, "an object"),
        (Kinds::ARRAY, "an array"),
        (Kinds::NULL, "null"),
    ];

    fn union(self, other: Kinds) -> Kinds {
        Kinds(self.0 | other.0)
    }

    pub fn has(self, k: Kinds) -> bool {
        self.0 & k.0 != 0
    }

    fn from_name(name: &str) -> Kinds {
        match name {
            "string" => Kinds::STRING,
            "number" => Kinds::NUMBER,
            "integer" => Kinds::INTEGER,
            "boolean" => Kinds::BOOLEAN,
            "object" => Kinds::OBJECT,
            "array" => Kinds::ARRAY,
            "null" => Kinds::NULL,
            _ => Kinds::ANY,
        }
    }

    fn of(v: &Value) -> Kinds {
        match v {
            Value::Null => Kinds::NULL,
            Value::Bool(_) => Kinds::BOOLEAN,
            Value::Number(n) if n.is_f64() => Kinds::NUMBER,
            Value::Number(_) => Kinds::INTEGER,
            Value::String(_) => Kinds::STRING,
            Value::Array(_) => Kinds::ARRAY,
            Value::Object(_) => Kinds::OBJECT,
        }
    }

    /// Whether a value of this JSON type fits (an integer fits where a number goes).
    pub fn accepts(self, v: &Value) -> bool {
        let k = Kinds::of(v);
        self.has(k) || (k == Kinds::INTEGER && self.has(Kinds::NUMBER))
    }

    /// "a string or an object" — for messages.
    pub fn describe(self) -> String {
        let names: Vec<&str> = Kinds::NAMES
            .iter()
            .filter(|(k, _)| self.has(*k) && !(*k == Kinds::INTEGER && self.has(Kinds::NUMBER)))
            .map(|(_, n)| *n)
            .collect();
        match names.as_slice() {
            [] => "nothing".into(),
            [one] => (*one).into(),
            [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
        }
    }
}

/// One input of a connector, as its schema describes it.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    pub name: String,
    pub kinds: Kinds,
    pub required: bool,
    /// The allowed values, when the schema lists them (`enum` or `const`).
    pub allowed: Option<Vec<Value>>,
    /// The schema asks for text of at least one character (`minLength` ≥ 1; schemars:
    /// `#[schemars(length(min = 1))]`): empty or blank text is refused, also when a template
    /// renders it at run time.
    pub non_empty: bool,
}

/// The inputs a connector takes.
#[derive(Debug, Clone, Default)]
pub(crate) struct Fields {
    pub fields: Vec<Field>,
    /// False when the schema says `additionalProperties: false`.
    pub open: bool,
}

impl Fields {
    pub fn from_schema(root: &Value) -> Fields {
        let obj = resolve(root, root, 0);
        let required: Vec<&str> = obj
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let fields = obj
            .get("properties")
            .and_then(Value::as_object)
            .map(|props| {
                props
                    .iter()
                    .map(|(name, s)| Field {
                        name: name.clone(),
                        kinds: kinds(s, root, 0),
                        required: required.contains(&name.as_str()),
                        allowed: allowed(s, root, 0),
                        non_empty: resolve(s, root, 0).get("minLength").and_then(Value::as_u64).is_some_and(|n| n >= 1),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Fields { fields, open: obj.get("additionalProperties") != Some(&Value::Bool(false)) }
    }

    fn get(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Deploy-time check of raw inputs (before templates are rendered).
    pub fn validate(&self, raw: &Map<String, Value>) -> Result<(), String> {
        let mut problems = Vec::new();
        for f in &self.fields {
            match raw.get(&f.name) {
                None => {
                    if f.required {
                        problems.push(format!("missing required input `{}`", f.name));
                    }
                }
                Some(v) => {
                    if let Err(p) = f.check_raw(v) {
                        problems.push(p);
                    }
                }
            }
        }
        if !self.open {
            let known: Vec<&str> = self.fields.iter().map(|f| f.name.as_str()).collect();
            for k in raw.keys().filter(|k| self.get(k).is_none()) {
                problems.push(format!("unknown input `{k}`{}", known_and_closest(k, &known)));
            }
        }
        if problems.is_empty() { Ok(()) } else { Err(problems.join("; ")) }
    }

    /// Turns rendered inputs into the JSON the connector's Input deserializes from: text given to
    /// a non-string input is read as JSON (`"5"` → `5`); empty text there means "not given".
    pub fn coerce(&self, mut inputs: Map<String, Value>) -> Result<Map<String, Value>, String> {
        let mut problems = Vec::new();
        for f in &self.fields {
            let Some(v) = inputs.get_mut(&f.name) else {
                if f.required {
                    problems.push(format!("missing required input `{}`", f.name));
                }
                continue;
            };
            if let Value::String(s) = v
                && !f.kinds.has(Kinds::STRING)
            {
                if s.trim().is_empty() {
                    inputs.remove(&f.name);
                    if f.required {
                        problems.push(format!("input `{}` is empty", f.name));
                    }
                    continue;
                }
                match serde_json::from_str::<Value>(s) {
                    Ok(parsed) => *v = parsed,
                    Err(_) => {
                        problems.push(format!("input `{}` must be {} but is `{s}`", f.name, f.kinds.describe()));
                        continue;
                    }
                }
            }
            if let Err(p) = f.check_value(v) {
                problems.push(p);
            }
        }
        if !self.open {
            for k in inputs.keys().filter(|k| self.get(k).is_none()) {
                problems.push(format!("unknown input `{k}`"));
            }
        }
        if problems.is_empty() { Ok(inputs) } else { Err(problems.join("; ")) }
    }
}

impl Field {
    /// A raw input: a template can only be checked once rendered, except that it makes a string.
    fn check_raw(&self, v: &Value) -> Result<(), String> {
        match v {
            Value::String(s) if template::is_template(s) => {
                // A template makes a string: fine wherever a string goes. For other types the
                // rendered text is read as JSON at run time, which only the data can decide.
                Ok(())
            }
            Value::String(s)
                if (self.required || self.non_empty) && self.kinds.has(Kinds::STRING) && s.trim().is_empty() =>
            {
                Err(format!("input `{}` is empty", self.name))
            }
            Value::String(s) if !self.kinds.has(Kinds::STRING) => {
                if s.trim().is_empty() {
                    return if self.required { Err(format!("input `{}` is empty", self.name)) } else { Ok(()) };
                }
                match serde_json::from_str::<Value>(s) {
                    Ok(parsed) => self.check_value(&parsed),
                    Err(_) => Err(format!("input `{}` must be {} but is `{s}`", self.name, self.kinds.describe())),
                }
            }
            _ => self.check_value(v),
        }
    }

    fn check_value(&self, v: &Value) -> Result<(), String> {
        if !self.kinds.accepts(v) {
            return Err(format!("input `{}` must be {} but is `{v}`", self.name, self.kinds.describe()));
        }
        if let Some(allowed) = &self.allowed
            && !v.is_null()
            && !allowed.contains(v)
        {
            let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
            return Err(format!("input `{}` must be one of {} but is `{v}`", self.name, list.join(", ")));
        }
        Ok(())
    }
}

const MAX_DEPTH: usize = 16;

/// Follows `$ref` (to `#/$defs/…` or `#/definitions/…`) to the schema it names.
fn resolve<'s>(schema: &'s Value, root: &'s Value, depth: usize) -> &'s Value {
    if depth < MAX_DEPTH
        && let Some(r) = schema.get("$ref").and_then(Value::as_str)
        && let Some(target) = r.strip_prefix('#').and_then(|p| root.pointer(p))
    {
        return resolve(target, root, depth + 1);
    }
    schema
}

/// The values a schema allows when it lists them (`enum`, `const`, or a union of those and
/// `null`, as an `Option` of a unit enum gives).
fn allowed(schema: &Value, root: &Value, depth: usize) -> Option<Vec<Value>> {
    let schema = resolve(schema, root, depth);
    if depth >= MAX_DEPTH {
        return None;
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return Some(values.clone());
    }
    if let Some(c) = schema.get("const") {
        return Some(vec![c.clone()]);
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(options)) = schema.get(key) {
            let mut all = Vec::new();
            for option in options {
                if kinds(option, root, depth + 1) == Kinds::NULL {
                    continue;
                }
                all.extend(allowed(option, root, depth + 1)?);
            }
            return Some(all);
        }
    }
    None
}

/// The JSON types a schema allows; anything it cannot tell is [`Kinds::ANY`].
fn kinds(schema: &Value, root: &Value, depth: usize) -> Kinds {
    let schema = resolve(schema, root, depth);
    if depth >= MAX_DEPTH {
        return Kinds::ANY;
    }
    match schema.get("type") {
        Some(Value::String(t)) => return Kinds::from_name(t),
        Some(Value::Array(ts)) => {
            return ts.iter().filter_map(Value::as_str).fold(Kinds::default(), |acc, t| acc.union(Kinds::from_name(t)));
        }
        _ => {}
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(options)) = schema.get(key) {
            return options.iter().fold(Kinds::default(), |acc, s| acc.union(kinds(s, root, depth + 1)));
        }
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return values.iter().fold(Kinds::default(), |acc, v| acc.union(Kinds::of(v)));
    }
    if let Some(c) = schema.get("const") {
        return Kinds::of(c);
    }
    if schema.get("properties").is_some() {
        return Kinds::OBJECT;
    }
    if schema.get("items").is_some() {
        return Kinds::ARRAY;
    }
    Kinds::ANY
}

/// " (known: a, b, c; did you mean `b`?)": the known names, and the closest to `name` when it is
/// within a third of its length in edits.
pub(crate) fn known_and_closest(name: &str, known: &[&str]) -> String {
    if known.is_empty() {
        return String::new();
    }
    let mut out = format!(" (known: {}", known.join(", "));
    if let Some(k) = closest_name(name, known) {
        out.push_str(&format!("; did you mean `{k}`?"));
    }
    out.push(')');
    out
}

/// The name of `known` closest to `name` (case aside), when it is within a third of the longer
/// one's length in edits: what a "did you mean" suggests for a mistyped connector, input or job
/// type. `None` when nothing is that close.
pub fn closest_name<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (edit_distance(&name.to_lowercase(), &k.to_lowercase()), *k))
        .min()
        .filter(|(d, k)| *d <= k.chars().count().max(name.chars().count()).div_ceil(3))
        .map(|(_, k)| k)
}

/// Levenshtein distance over characters.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod closest_tests {
    use super::*;

    #[test]
    fn suggests_the_closest_known_name() {
        assert_eq!(edit_distance("chanel", "channel"), 1);
        assert_eq!(
            known_and_closest("chanel", &["channel", "message"]),
            " (known: channel, message; did you mean `channel`?)"
        );
        assert_eq!(known_and_closest("zzzzzz", &["channel", "message"]), " (known: channel, message)");
    }
}
