//! FEEL expressions over a Request's data, and ISO 8601 timer values.
//!
//! The engine compiles each expression of a BPMN model once ([`Expression::parse`]) and evaluates
//! it many times ([`Expression::eval`], [`Expression::eval_bool`]) against the Request's data.
//! Evaluation is pure and deterministic: no clock of its own (`now()` and `today()` read the time
//! the caller gives through [`Variables::now`]), no IO, no randomness.
//!
//! # Syntax accepted
//! * FEEL (DMN 1.3, as used by Camunda 8), with an optional leading `=`.
//! * Camunda 7 JUEL conditions `${...}` (or `#{...}`): `==`, `!=`, `<`, `>`, `<=`, `>=`, `eq`,
//!   `ne`, `lt`, `gt`, `le`, `ge`, `&&`, `||`, `!`, `and`, `or`, `not`, `empty`, `? :`,
//!   `+ - * / % div mod`, `'single'` or `"double"` quoted strings, `a.b`, `a[0]` (0-based),
//!   `a['key']`. They compile to the same tree as FEEL. JUEL method calls are not supported.
//!
//! # FEEL subset
//! * Literals: numbers (`1`, `-2.5`, `.5`), strings with `\" \\ \n \t \r \uXXXX` escapes,
//!   `true`, `false`, `null`, lists `[1, 2]`, contexts `{a: 1, "b c": 2, d: a + 1}`.
//! * Names: variables; `` `names with spaces` `` in backticks; paths `a.b.c` (on a list, the
//!   key of each element); filters `items[1]` (1-based, negative from the end, out of range is
//!   null) and `items[price > 10]` (the element is `item`, and its fields are visible by bare
//!   name); temporal properties (`d.year`, `d.month`, `d.day`, `d.weekday`, `t.hour`, `t.minute`,
//!   `t.second`, `dur.days`, `dur.hours`, ...).
//! * Operators, loosest first: `if c then a else b`, `for x in l, y in 1..3 return e`,
//!   `some/every x in l satisfies c`; `or`; `and`; `=`, `!=`, `<`, `<=`, `>`, `>=`,
//!   `x between a and b`, `x in <tests>`, `x instance of <type>`; `+ -`; `* /`; `**`; unary `-`.
//!   Unary minus binds tighter than `**` (`-2 ** 2` is 4), as in the DMN grammar.
//!   `in` tests: a value (`x in 5`, `x in [1, 2]` which means membership), `< 5`, `>= a`,
//!   ranges `[1..10]`, `(1..10]`, `]1..10[`, and a parenthesized list of tests `(1, 2, > 10)`.
//! * Three-valued logic: `false and null` is false, `true or null` is true, `true and null` is
//!   null. `if` takes the `else` branch for a null condition.
//! * Null propagation: arithmetic and ordering with null give null; `x = null` and `x != null`
//!   are booleans. Missing variables are null. Division by zero is null.
//! * **Sluice deviation from FEEL:** where FEEL silently gives null for a type mismatch, Sluice
//!   reports an [`EvalError`] so process designers see the mistake: comparing incompatible kinds
//!   (`"5" < 3`, `"a" = 1`), arithmetic on incompatible kinds (`"a" + 1`), `and`/`or`/`not` on
//!   non-booleans, functions given the wrong kind of argument, and malformed text given to
//!   `number`, `date`, `date and time`, `time`, `duration`. Inside lists and contexts
//!   (`[1] = ["1"]`, `list contains`, `x in [..]`) different kinds are simply unequal.
//! * Built-in functions: the DMN 1.5 set and Camunda's extensions (see README.md for the list),
//!   positional or named arguments; user-defined functions (`function(x) x * 2`), ranges and
//!   the range functions, `@"..."` temporal literals.
//! * Temporal values keep their zone (local, an offset, or a zone name); see README.md for what
//!   Sluice can do without a time-zone database. Results are ISO 8601 strings (`"PT5M"`,
//!   `"2026-12-01T09:00:00+01:00"`).
//! * Regular expressions (`matches`, `replace`, `split`, `extract`) run on the `regex` crate;
//!   where its syntax differs from XPath's, see `regexp.rs` and README.md.
//!
//! # Numbers
//! Numbers are exact decimals, as FEEL specifies (see "Numbers" in README.md):
//! * whole numbers in the i64 range are `i64` (integer conditions never touch a decimal), every
//!   other number a `rust_decimal::Decimal`: 96-bit mantissa, at most 28 decimal places, 28-29
//!   significant digits, range about ±7.9e28. `0.1 + 0.2 = 0.3` is true; `5 / 2` is `2.5`.
//! * Beyond the range: the [`EvalError`] "number too large" (a literal beyond it is a
//!   [`ParseError`]); never a panic or a wrap.
//! * Division rounds to 28-29 significant digits when not exact (`1 / 3` has 28 places, so
//!   `1 / 3 * 3 = 1` is false); division by zero is null. `**` with a whole exponent is exact,
//!   a fractional exponent and `sqrt` go through f64. Rounding functions (`decimal`, `round ..`,
//!   `floor`, `ceiling`) and comparisons are exact.
//! * JSON integers are read exactly; other JSON numbers through their shortest round-trip text
//!   (the JSON `0.1` is exactly 0.1), rounded to 28 decimal places. A JSON number beyond the
//!   range passes through unchanged and compares by sign, and arithmetic on it is an error.
//! * Results: a whole number in the i64 (or u64) range is a JSON integer (`100 * 1.1` gives
//!   `110`), any other the nearest f64 (`0.1 * 3` gives `0.3`).
//!
//! # Limits
//! Nesting deeper than 64 levels is a parse error; one evaluation runs at most 1,000,000 loop
//! steps and nests user-defined functions at most 24 calls deep; what it builds counts against
//! [`max_value_bytes`]. Nothing panics on any input.

pub mod iso8601;

mod ast;
mod builtins;
mod eval;
mod lexer;
mod num;
mod parser;
mod regexp;
mod temporal;
mod unary;

use std::fmt;

use chrono::{DateTime, Utc};
pub use eval::{DEFAULT_MAX_VALUE_BYTES, max_value_bytes, set_max_value_bytes};
use serde_json::Map;
pub use serde_json::Value;
pub use unary::{ConstTest, TestsShape, UnaryTests};

use ast::{Expr, IterSrc, Test};
use eval::{Env, Tri, Val};

/// A compiled expression: parse once, evaluate many times.
#[derive(Debug, Clone, PartialEq)]
pub struct Expression {
    source: String,
    expr: Expr,
}

/// Variable lookup, innermost scope first; the engine implements this over its scopes.
pub trait Variables {
    /// The value of the variable `name`, or None when it does not exist.
    fn get(&self, name: &str) -> Option<&Value>;

    /// The current time, for `now()` and `today()`. None (the default): those functions are an
    /// error, so an evaluation never reads a clock of its own. The engine gives the time of the
    /// step (the virtual clock in `sluice run`); `sluice feel` gives the real time.
    fn now(&self) -> Option<DateTime<Utc>> {
        None
    }

    /// Typed FEEL values (dates, durations, exact numbers, ...) by name, looked up before
    /// [`Variables::get`]: for callers whose data is not JSON, such as the DMN TCK runner.
    fn values(&self) -> &[(String, FeelValue)] {
        &[]
    }
}

/// Other variables with the current time for `now()` and `today()`.
pub struct WithNow<'v> {
    /// The variables.
    pub vars: &'v dyn Variables,
    /// What `now()` gives.
    pub now: DateTime<Utc>,
}

impl Variables for WithNow<'_> {
    fn get(&self, name: &str) -> Option<&Value> {
        self.vars.get(name)
    }

    fn now(&self) -> Option<DateTime<Utc>> {
        Some(self.now)
    }

    fn values(&self) -> &[(String, FeelValue)] {
        self.vars.values()
    }
}

/// A FEEL value with its type (a date stays a date, a number keeps all its digits), for
/// callers that need more than the JSON form. Functions are not values of this kind.
#[derive(Debug, Clone)]
pub struct FeelValue(Val<'static>);

impl FeelValue {
    /// The JSON form (dates, times and durations as ISO 8601 text, ranges as FEEL text).
    pub fn to_json(&self) -> Value {
        self.0.clone().into_json()
    }

    /// A value from JSON: null, booleans, numbers, strings, lists and contexts.
    pub fn from_json(v: &Value) -> FeelValue {
        FeelValue(Val::from_json(v).into_static().unwrap_or(Val::Null))
    }

    /// A list of values.
    pub fn list(items: Vec<FeelValue>) -> FeelValue {
        FeelValue(Val::List(items.into_iter().map(|v| v.0).collect()))
    }

    /// A context of entries, in order.
    pub fn context(entries: Vec<(String, FeelValue)>) -> FeelValue {
        FeelValue(Val::Ctx(entries.into_iter().map(|(k, v)| (std::borrow::Cow::Owned(k), v.0)).collect()))
    }

    /// The FEEL type: `Null`, `number`, `string`, `boolean`, `list`, `context`, `date`, `time`,
    /// `date and time`, `days and time duration`, `years and months duration`, `range`.
    pub fn type_name(&self) -> &'static str {
        self.0.type_name()
    }

    /// The items of a list.
    pub fn items(&self) -> Option<Vec<FeelValue>> {
        let items = self.0.clone().items()?;
        Some(items.into_iter().filter_map(|v| v.into_static().map(FeelValue)).collect())
    }

    /// The entries of a context, in order.
    pub fn entries(&self) -> Option<Vec<(String, FeelValue)>> {
        let entries = self.0.clone().entries()?;
        Some(entries.into_iter().filter_map(|(k, v)| v.into_static().map(|v| (k.into_owned(), FeelValue(v)))).collect())
    }

    /// The number, exactly, as decimal text (`0.1`, `2`).
    pub fn number_text(&self) -> Option<String> {
        match &self.0 {
            Val::Int(i) => Some(i.to_string()),
            Val::Num(d) => Some(d.normalize().to_string()),
            Val::Huge(f) => Some(f.to_string()),
            _ => None,
        }
    }

    /// FEEL's `=` (null equals only null; numbers exactly; dates and times by instant);
    /// None when the two cannot be compared.
    pub fn feel_eq(&self, other: &FeelValue) -> Option<bool> {
        eval::equals(&self.0, &other.0).ok().flatten()
    }

    /// Whether the value is of the FEEL type written as `ty` (`list<string>`, `context<a:
    /// number>`, `date and time`, `Any`). The type text must parse.
    pub fn is_instance_of(&self, ty: &str) -> Result<bool, ParseError> {
        let t = parser::parse_type(ty)?;
        Ok(eval::instance_of(&self.0, &t))
    }
}

/// FEEL's `string()` of the value.
impl fmt::Display for FeelValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&builtins::to_text(self.0.clone()))
    }
}

impl Variables for Map<String, Value> {
    fn get(&self, name: &str) -> Option<&Value> {
        Map::get(self, name)
    }
}

/// Objects look up their keys; any other value has no variables.
impl Variables for Value {
    fn get(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Object(o) => o.get(name),
            _ => None,
        }
    }
}

/// Empty variables.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoVariables;

impl Variables for NoVariables {
    fn get(&self, _name: &str) -> Option<&Value> {
        None
    }
}

/// An expression that could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message} (at offset {offset})")]
pub struct ParseError {
    /// Byte offset into the source given to [`Expression::parse`].
    pub offset: usize,
    /// What was wrong, for a process designer.
    pub message: String,
}

/// An expression that could not be evaluated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct EvalError {
    /// What was wrong, for a process designer.
    pub message: String,
    /// Byte offset into the source of the function call or operator that failed, when known.
    pub offset: Option<usize>,
}

impl Expression {
    /// Parses FEEL (leading `=` optional, surrounding whitespace trimmed) or a Camunda 7
    /// `${...}` expression.
    pub fn parse(src: &str) -> Result<Expression, ParseError> {
        Ok(Expression { source: src.to_string(), expr: parser::parse_source(src, &[])? })
    }

    /// Parses FEEL whose names may hold characters that otherwise separate names (`Date-Time`,
    /// `a+b`, `Full Name`): each of `names` is read as one name wherever it appears whole.
    pub fn parse_with_names(src: &str, names: &[&str]) -> Result<Expression, ParseError> {
        Ok(Expression { source: src.to_string(), expr: parser::parse_source(src, names)? })
    }

    /// The source text as given.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates against the variables.
    pub fn eval(&self, vars: &dyn Variables) -> Result<Value, EvalError> {
        Ok(Env::new(vars).eval(&self.expr)?.into_json())
    }

    /// Evaluates to a typed value (a date stays a date).
    pub fn eval_value(&self, vars: &dyn Variables) -> Result<FeelValue, EvalError> {
        let v = Env::new(vars).eval(&self.expr)?;
        match v.into_static() {
            Some(v) => Ok(FeelValue(v)),
            None => Err(EvalError {
                message: "the expression gives a function, which is not a value".to_string(),
                offset: None,
            }),
        }
    }

    /// Evaluates a condition: Ok(true/false) only for a boolean result; any other result (null
    /// included) is an EvalError saying what was found.
    pub fn eval_bool(&self, vars: &dyn Variables) -> Result<bool, EvalError> {
        match Env::new(vars).cond(&self.expr)? {
            Tri::True => return Ok(true),
            Tri::False => return Ok(false),
            Tri::Null | Tri::Other => {}
        }
        // Not a boolean: evaluate again (evaluation is pure) to describe what was found.
        match Env::new(vars).eval(&self.expr)? {
            Val::Bool(b) => Ok(b),
            Val::Null => {
                let unset: Vec<String> = self
                    .variables()
                    .into_iter()
                    .filter(|n| vars.get(n).is_none_or(Value::is_null))
                    .map(|n| format!("`{n}`"))
                    .collect();
                let hint = match unset.len() {
                    0 => String::new(),
                    1 => format!(": is {} set?", unset[0]),
                    _ => format!(": are {} set?", unset.join(", ")),
                };
                Err(EvalError {
                    message: format!("expected a boolean but the condition gave null{hint}"),
                    offset: None,
                })
            }
            other => {
                let kind = other.kind();
                let mut shown = other.into_json().to_string();
                if shown.chars().count() > 60 {
                    shown = shown.chars().take(57).collect::<String>() + "...";
                }
                Err(EvalError {
                    message: format!("expected a boolean but the condition gave {kind} ({shown})"),
                    offset: None,
                })
            }
        }
    }

    /// The top-level variable names the expression reads (for diagnostics/docs), in order of
    /// first use; may over-approximate (field names inside filters are included).
    pub fn variables(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut bound = Vec::new();
        collect_vars(&self.expr, &mut bound, &mut out);
        out
    }
}

fn collect_vars<'e>(e: &'e Expr, bound: &mut Vec<&'e str>, out: &mut Vec<String>) {
    let mut walk = |x: &'e Expr, bound: &mut Vec<&'e str>| collect_vars(x, bound, out);
    match e {
        Expr::Lit(_) => {}
        Expr::Name(n) => {
            if !bound.contains(&n.as_str()) && !out.contains(n) {
                out.push(n.clone());
            }
        }
        Expr::Path(b, _) | Expr::IsDefined(b) | Expr::Neg(b) | Expr::Not(b) | Expr::Empty(b) => walk(b, bound),
        Expr::InstanceOf(b, _) | Expr::UnaryTest(_, b) => walk(b, bound),
        Expr::Range { lo, hi, .. } => {
            for x in [lo, hi].into_iter().flatten() {
                walk(x, bound);
            }
        }
        Expr::At(_, x) => walk(x, bound),
        Expr::Invoke(f, args, _) => {
            walk(f, bound);
            args.iter().for_each(|(_, a)| walk(a, bound));
        }
        Expr::FuncDef(params, body) => {
            let mark = bound.len();
            bound.extend(params.iter().map(String::as_str));
            walk(body, bound);
            bound.truncate(mark);
        }
        Expr::Filter(b, f) => {
            walk(b, bound);
            bound.push("item");
            walk(f, bound);
            bound.pop();
        }
        Expr::JuelIndex(a, b) | Expr::Cmp(_, a, b) => {
            walk(a, bound);
            walk(b, bound);
        }
        Expr::Call(_, args, _) => args.iter().flatten().for_each(|a| walk(a, bound)),
        Expr::Arith(first, rest) => {
            walk(first, bound);
            rest.iter().for_each(|(_, x)| walk(x, bound));
        }
        Expr::And(all) | Expr::Or(all) | Expr::List(all) => all.iter().for_each(|x| walk(x, bound)),
        Expr::Between(a, b, c) | Expr::If(a, b, c) => {
            walk(a, bound);
            walk(b, bound);
            walk(c, bound);
        }
        Expr::In(x, tests) => {
            walk(x, bound);
            for t in tests {
                match t {
                    Test::Value(v) | Test::Cmp(_, v) => walk(v, bound),
                    Test::Range { lo, hi, .. } => {
                        walk(lo, bound);
                        walk(hi, bound);
                    }
                }
            }
        }
        Expr::For(iters, body) => {
            let mark = bound.len();
            for (n, src) in iters {
                match src {
                    IterSrc::List(x) => walk(x, bound),
                    IterSrc::Range(a, b) => {
                        walk(a, bound);
                        walk(b, bound);
                    }
                }
                bound.push(n);
            }
            walk(body, bound);
            bound.truncate(mark);
        }
        Expr::Quant { iters, cond, .. } => {
            let mark = bound.len();
            for (n, src) in iters {
                walk(src, bound);
                bound.push(n);
            }
            walk(cond, bound);
            bound.truncate(mark);
        }
        Expr::Context(entries) => {
            let mark = bound.len();
            for (k, x) in entries {
                walk(x, bound);
                bound.push(k);
            }
            bound.truncate(mark);
        }
    }
}
