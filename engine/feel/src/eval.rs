//! Evaluation of the syntax tree over borrowed JSON: values read from the variables stay
//! borrowed (`Val<'a>`) until the final result is converted to owned JSON, so a condition such as
//! `amount > 100` allocates nothing.
//!
//! Why one file of this size: the borrowed values (`Val`), three-valued logic (`Tri`) and the
//! evaluator (`Env`) are one unit whose lifetimes tie together; the built-in functions, which are
//! separable, live in `builtins.rs`.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::rc::Rc;

use chrono::{Datelike, NaiveDate, TimeDelta, Timelike, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Number, Value};

use crate::ast::{ArOp, CmpOp, Expr, IterSrc, Lit, Test, TypeExpr, TypeName};
use crate::iso8601::IsoDuration;
use crate::num::{dec_cmp, dec_from_f64, dec_int, dec_to_f64, dec_trunc_i128, int_div, too_large};
use crate::temporal::{self, DateTime, Time, Zone};
use crate::{EvalError, FeelValue, Variables, builtins};

/// Most loop iterations (`for`, `some`, `every`, filters, ranges) one evaluation may run; keeps
/// a hostile or mistaken expression from eating the engine's memory and time.
pub(crate) const MAX_STEPS: u64 = 1_000_000;

/// The default of [`max_value_bytes`]: 4 MiB.
pub const DEFAULT_MAX_VALUE_BYTES: usize = 4 << 20;

static MAX_VALUE_BYTES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(DEFAULT_MAX_VALUE_BYTES);

/// The most bytes (approximately: the JSON size) of values one evaluation may build with `for`,
/// string concatenation, list and context literals and built-in functions: a hostile or mistaken
/// expression (`for i in 1..100000 return long_text`) gets an error instead of the memory of
/// the process. Values read from the variables and passed on unchanged do not count.
pub fn max_value_bytes() -> usize {
    MAX_VALUE_BYTES.load(std::sync::atomic::Ordering::Relaxed)
}

/// Sets [`max_value_bytes`] for the whole process (a server's configuration, read at start).
pub fn set_max_value_bytes(bytes: usize) {
    MAX_VALUE_BYTES.store(bytes.max(1), std::sync::atomic::Ordering::Relaxed);
}

// The inner `json` walks a `serde_json::Value` and the outer match a `Val` the same way (lists and
// objects, stopping at `cap`): two different types with no common trait to walk, so the counting
// is written once for each.
/// The JSON size of a value, roughly, counted up to `cap` (the walk stops there).
fn approx_size(v: &Val<'_>, cap: usize) -> usize {
    fn json(v: &Value, cap: usize) -> usize {
        match v {
            Value::String(s) => s.len() + 2,
            Value::Array(a) => {
                let mut n = 2;
                for x in a {
                    n += json(x, cap) + 1;
                    if n >= cap {
                        break;
                    }
                }
                n
            }
            Value::Object(m) => {
                let mut n = 2;
                for (k, x) in m {
                    n += k.len() + 4 + json(x, cap);
                    if n >= cap {
                        break;
                    }
                }
                n
            }
            _ => 8,
        }
    }
    match v {
        Val::Str(s) => s.len() + 2,
        Val::JList(a) => {
            let mut n = 2;
            for x in a.iter() {
                n += json(x, cap) + 1;
                if n >= cap {
                    break;
                }
            }
            n
        }
        Val::JObj(m) => {
            let mut n = 2;
            for (k, x) in m.iter() {
                n += k.len() + 4 + json(x, cap);
                if n >= cap {
                    break;
                }
            }
            n
        }
        Val::List(items) => {
            let mut n = 2;
            for x in items {
                n += approx_size(x, cap) + 1;
                if n >= cap {
                    break;
                }
            }
            n
        }
        Val::Ctx(entries) => {
            let mut n = 2;
            for (k, x) in entries {
                n += k.len() + 4 + approx_size(x, cap);
                if n >= cap {
                    break;
                }
            }
            n
        }
        _ => 8,
    }
}

/// A value during evaluation; JSON from the variables stays borrowed.
#[derive(Debug, Clone)]
pub(crate) enum Val<'a> {
    Null,
    Bool(bool),
    /// A whole number in the i64 range: the fast path, and how integers are read from JSON.
    Int(i64),
    /// Any other number, exact.
    Num(Decimal),
    /// A JSON number beyond the decimal range (|x| > 7.9e28): passes through unchanged and
    /// compares by sign, but arithmetic on it is the error "number too large".
    Huge(f64),
    Str(Cow<'a, str>),
    JList(&'a [Value]),
    JObj(&'a Map<String, Value>),
    List(Vec<Val<'a>>),
    Ctx(Vec<(Cow<'a, str>, Val<'a>)>),
    DateTime(DateTime),
    Date(NaiveDate),
    Time(Time),
    Dur(IsoDuration),
    /// A range (`[1..10]`, `< 5`) or a unary test kept as a value (`(= 5)`).
    Range(Rc<RangeV<'a>>),
    /// A function value (`function(x) x + 1`).
    Func(Rc<Func<'a>>),
}

/// A range value.
#[derive(Debug, Clone)]
pub(crate) enum RangeV<'a> {
    /// The ends (None: open-ended, as in `< 5`), each included or not.
    Interval { lo: Option<Val<'a>>, lo_incl: bool, hi: Option<Val<'a>>, hi_incl: bool },
    /// `(= x)`.
    Eq(Val<'a>),
    /// `(!= x)`.
    Ne(Val<'a>),
}

/// A user-defined function: its parameters, body and the local names it saw where defined.
#[derive(Debug)]
pub(crate) struct Func<'a> {
    pub params: &'a [String],
    pub body: &'a Expr,
    captured: Vec<Local<'a>>,
}

pub(crate) fn err<T>(msg: impl Into<String>) -> Result<T, EvalError> {
    Err(EvalError { message: msg.into(), offset: None })
}

/// Converts a decimal to JSON: a JSON integer when it is a whole number in the i64 or u64
/// range (`110.0` gives `110`), else the nearest f64 (`0.3`, `2.5`). Every decimal is within
/// the f64 range.
pub(crate) fn dec_json(d: Decimal) -> Value {
    if let Some(i) = dec_int(d) {
        return Value::from(i);
    }
    if d.is_sign_positive()
        && d.fract().is_zero()
        && let Ok(u) = u64::try_from(dec_trunc_i128(d))
    {
        return Value::from(u);
    }
    Number::from_f64(dec_to_f64(d)).map_or(Value::Null, Value::Number)
}

/// A JSON number as a FEEL number: integers exactly, other values through the shortest text
/// that reads back as the same f64 (the JSON `0.1` is exactly 0.1).
#[cold]
#[inline(never)]
pub(crate) fn json_num(n: &Number) -> Val<'static> {
    if let Some(i) = n.as_i64() {
        return Val::Int(i);
    }
    if let Some(u) = n.as_u64() {
        return Val::Num(Decimal::from(u));
    }
    let f = n.as_f64().unwrap_or(0.0);
    match dec_from_f64(f) {
        Some(d) => Val::Num(d),
        None => Val::Huge(f),
    }
}

/// A number value from a decimal: an `Int` when it is a whole number in the i64 range.
pub(crate) fn dec_val(d: Decimal) -> Val<'static> {
    match dec_int(d) {
        Some(i) => Val::Int(i),
        None => Val::Num(d),
    }
}

impl<'a> Val<'a> {
    pub(crate) fn from_json(v: &'a Value) -> Val<'a> {
        match v {
            Value::Null => Val::Null,
            Value::Bool(b) => Val::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Val::Int(i),
                None => json_num(n),
            },
            Value::String(s) => Val::Str(Cow::Borrowed(s)),
            Value::Array(a) => Val::JList(a),
            Value::Object(o) => Val::JObj(o),
        }
    }

    pub(crate) fn into_json(self) -> Value {
        match self {
            Val::Null => Value::Null,
            Val::Bool(b) => Value::Bool(b),
            Val::Int(i) => Value::from(i),
            Val::Num(d) => dec_json(d),
            Val::Huge(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
            Val::Str(s) => Value::String(s.into_owned()),
            Val::JList(a) => Value::Array(a.to_vec()),
            Val::JObj(o) => Value::Object(o.clone()),
            Val::List(l) => Value::Array(l.into_iter().map(Val::into_json).collect()),
            Val::Ctx(c) => Value::Object(c.into_iter().map(|(k, v)| (k.into_owned(), v.into_json())).collect()),
            Val::DateTime(t) => Value::String(t.to_string()),
            Val::Date(d) => Value::String(temporal::date_text(&d)),
            Val::Time(t) => Value::String(t.to_string()),
            Val::Dur(d) => Value::String(d.to_string()),
            Val::Range(r) => Value::String(range_text(&r)),
            Val::Func(_) => Value::Null,
        }
    }

    /// The kind of value, with an article, for messages ("a number").
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Val::Null => "null",
            Val::Bool(_) => "a boolean",
            Val::Int(_) | Val::Num(_) | Val::Huge(_) => "a number",
            Val::Str(_) => "a string",
            Val::JList(_) | Val::List(_) => "a list",
            Val::JObj(_) | Val::Ctx(_) => "a context",
            Val::DateTime(_) => "a date and time",
            Val::Date(_) => "a date",
            Val::Time(_) => "a time",
            Val::Dur(_) => "a duration",
            Val::Range(_) => "a range",
            Val::Func(_) => "a function",
        }
    }

    /// The FEEL type name (`date and time`, `days and time duration`).
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Val::Null => "Null",
            Val::Bool(_) => "boolean",
            Val::Int(_) | Val::Num(_) | Val::Huge(_) => "number",
            Val::Str(_) => "string",
            Val::JList(_) | Val::List(_) => "list",
            Val::JObj(_) | Val::Ctx(_) => "context",
            Val::DateTime(_) => "date and time",
            Val::Date(_) => "date",
            Val::Time(_) => "time",
            Val::Dur(d) if d.total_nanos() == 0 && d.total_months() != 0 => "years and months duration",
            Val::Dur(_) => "days and time duration",
            Val::Range(_) => "range",
            Val::Func(_) => "function",
        }
    }

    /// The value with nothing borrowed (None for a function, which borrows its body).
    pub(crate) fn into_static(self) -> Option<Val<'static>> {
        Some(match self {
            Val::Null => Val::Null,
            Val::Bool(b) => Val::Bool(b),
            Val::Int(i) => Val::Int(i),
            Val::Num(d) => Val::Num(d),
            Val::Huge(f) => Val::Huge(f),
            Val::Str(s) => Val::Str(Cow::Owned(s.into_owned())),
            Val::JList(a) => Val::List(a.iter().map(|v| Val::from_json(v).into_static()).collect::<Option<_>>()?),
            Val::JObj(o) => Val::Ctx(
                o.iter()
                    .map(|(k, v)| Val::from_json(v).into_static().map(|v| (Cow::Owned(k.clone()), v)))
                    .collect::<Option<_>>()?,
            ),
            Val::List(l) => Val::List(l.into_iter().map(Val::into_static).collect::<Option<_>>()?),
            Val::Ctx(c) => Val::Ctx(
                c.into_iter()
                    .map(|(k, v)| v.into_static().map(|v| (Cow::Owned(k.into_owned()), v)))
                    .collect::<Option<_>>()?,
            ),
            Val::DateTime(t) => Val::DateTime(t),
            Val::Date(d) => Val::Date(d),
            Val::Time(t) => Val::Time(t),
            Val::Dur(d) => Val::Dur(d),
            Val::Range(r) => {
                let st = |v: &Option<Val<'a>>| -> Option<Option<Val<'static>>> {
                    match v {
                        None => Some(None),
                        Some(v) => v.clone().into_static().map(Some),
                    }
                };
                Val::Range(Rc::new(match &*r {
                    RangeV::Interval { lo, lo_incl, hi, hi_incl } => {
                        RangeV::Interval { lo: st(lo)?, lo_incl: *lo_incl, hi: st(hi)?, hi_incl: *hi_incl }
                    }
                    RangeV::Eq(v) => RangeV::Eq(v.clone().into_static()?),
                    RangeV::Ne(v) => RangeV::Ne(v.clone().into_static()?),
                }))
            }
            Val::Func(_) => return None,
        })
    }

    pub(crate) fn is_list(&self) -> bool {
        matches!(self, Val::JList(_) | Val::List(_))
    }

    pub(crate) fn is_ctx(&self) -> bool {
        matches!(self, Val::JObj(_) | Val::Ctx(_))
    }

    pub(crate) fn is_number(&self) -> bool {
        matches!(self, Val::Int(_) | Val::Num(_) | Val::Huge(_))
    }

    /// The number as an f64 (nearest), for the functions computed in binary floating point.
    pub(crate) fn as_f64(&self) -> Option<f64> {
        match self {
            Val::Int(i) => Some(*i as f64),
            Val::Num(d) => Some(dec_to_f64(*d)),
            Val::Huge(f) => Some(*f),
            _ => None,
        }
    }

    /// The number as a decimal: None when not a number, "number too large" for a JSON number
    /// beyond the decimal range.
    pub(crate) fn to_dec(&self) -> Result<Option<Decimal>, EvalError> {
        match self {
            Val::Int(i) => Ok(Some(Decimal::from(*i))),
            Val::Num(d) => Ok(Some(*d)),
            Val::Huge(_) => too_large(),
            _ => Ok(None),
        }
    }

    /// The number as an i64 when it is a whole number in range (`3`, `3.0`).
    pub(crate) fn as_int(&self) -> Option<i64> {
        match self {
            Val::Int(i) => Some(*i),
            Val::Num(d) => dec_int(*d),
            _ => None,
        }
    }

    /// The elements of a list (None for anything else).
    pub(crate) fn items(self) -> Option<Vec<Val<'a>>> {
        match self {
            Val::JList(a) => Some(a.iter().map(Val::from_json).collect()),
            Val::List(l) => Some(l),
            _ => None,
        }
    }

    /// The entry `key` of a context (None when absent or not a context).
    pub(crate) fn get(&self, key: &str) -> Option<Val<'a>> {
        match self {
            Val::JObj(o) => o.get(key).map(Val::from_json),
            Val::Ctx(c) => c.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.clone()),
            _ => None,
        }
    }

    /// The entries of a context (None for anything else).
    pub(crate) fn entries(self) -> Option<Vec<(Cow<'a, str>, Val<'a>)>> {
        match self {
            Val::JObj(o) => Some(o.iter().map(|(k, v)| (Cow::Borrowed(k.as_str()), Val::from_json(v))).collect()),
            Val::Ctx(c) => Some(c),
            _ => None,
        }
    }
}

/// A range as FEEL text: `[1..10)`, `< 5`, `(= 5)`.
pub(crate) fn range_text(r: &RangeV) -> String {
    let show = |v: &Val| builtins::to_text(v.clone());
    let shown = |v: &Val| match v {
        Val::Str(s) => format!("\"{s}\""),
        Val::Date(_) | Val::Time(_) | Val::DateTime(_) | Val::Dur(_) => format!("@\"{}\"", show(v)),
        _ => show(v),
    };
    match r {
        RangeV::Interval { lo: None, hi: Some(h), hi_incl, .. } => {
            format!("{} {}", if *hi_incl { "<=" } else { "<" }, shown(h))
        }
        RangeV::Interval { lo: Some(l), lo_incl, hi: None, .. } => {
            format!("{} {}", if *lo_incl { ">=" } else { ">" }, shown(l))
        }
        RangeV::Interval { lo, lo_incl, hi, hi_incl } => format!(
            "{}{}..{}{}",
            if *lo_incl { "[" } else { "(" },
            lo.as_ref().map_or("null".to_string(), shown),
            hi.as_ref().map_or("null".to_string(), shown),
            if *hi_incl { "]" } else { ")" }
        ),
        RangeV::Eq(v) => format!("= {}", shown(v)),
        RangeV::Ne(v) => format!("!= {}", shown(v)),
    }
}

/// Deep equality for list membership and nested values: different kinds are simply unequal.
pub(crate) fn loose_eq(a: &Val, b: &Val) -> bool {
    match equals(a, b) {
        Ok(Some(x)) => x,
        _ => false,
    }
}

/// `a = b`: null equals only null; values of incompatible kinds are an error (a Sluice choice,
/// FEEL gives null), except inside lists and contexts where they are simply unequal.
pub(crate) fn equals(a: &Val, b: &Val) -> Result<Option<bool>, EvalError> {
    Ok(Some(match (a, b) {
        (Val::Null, Val::Null) => true,
        (Val::Null, _) | (_, Val::Null) => false,
        (Val::Bool(x), Val::Bool(y)) => x == y,
        (Val::Int(x), Val::Int(y)) => x == y,
        (Val::Str(x), Val::Str(y)) => x == y,
        (x, y) if x.is_number() && y.is_number() => num_cmp(x, y) == Some(Ordering::Equal),
        (x, y) if x.is_list() && y.is_list() => {
            let (xs, ys) = (x.clone().items(), y.clone().items());
            match (xs, ys) {
                (Some(xs), Some(ys)) => xs.len() == ys.len() && xs.iter().zip(&ys).all(|(p, q)| loose_eq(p, q)),
                _ => false,
            }
        }
        (x, y) if x.is_ctx() && y.is_ctx() => {
            let (xs, ys) = (x.clone().entries(), y.clone().entries());
            match (xs, ys) {
                (Some(xs), Some(ys)) => {
                    xs.len() == ys.len() && xs.iter().all(|(k, v)| y.get(k).is_some_and(|w| loose_eq(v, &w)))
                }
                _ => false,
            }
        }
        (Val::Dur(x), Val::Dur(y)) => {
            if (x.total_months() == 0) != (y.total_months() == 0) && !(x.is_zero() && y.is_zero()) {
                // A years-and-months duration against a days-and-time one.
                if x.total_nanos() != 0 || y.total_nanos() != 0 {
                    return err(format!(
                        "cannot compare the durations {x} and {y}: months have no fixed length in days"
                    ));
                }
            }
            return Ok(order(a, b)?.map(|o| o == Ordering::Equal));
        }
        (Val::DateTime(x), Val::DateTime(y)) => match temporal::cmp_date_time(x, y) {
            Ok(o) => o == Ordering::Equal,
            // A zoned and a local value are simply not the same (FEEL).
            Err(_) if x.zone.is_local() != y.zone.is_local() => false,
            Err(m) => return err(m),
        },
        (Val::Time(x), Val::Time(y)) => match temporal::cmp_time(x, y) {
            Ok(o) => o == Ordering::Equal,
            Err(_) if x.zone.is_local() != y.zone.is_local() => false,
            Err(m) => return err(m),
        },
        (Val::Date(_), Val::Date(_)) => return Ok(order(a, b)?.map(|o| o == Ordering::Equal)),
        (Val::Range(x), Val::Range(y)) => range_eq(x, y),
        (Val::Func(x), Val::Func(y)) => Rc::ptr_eq(x, y),
        _ => {
            return err(format!("cannot compare {} with {}", a.kind(), b.kind()));
        }
    }))
}

fn range_eq(x: &RangeV, y: &RangeV) -> bool {
    let end = |a: &Option<Val>, b: &Option<Val>| match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => loose_eq(a, b),
        _ => false,
    };
    match (x, y) {
        (
            RangeV::Interval { lo: l1, lo_incl: li1, hi: h1, hi_incl: hi1 },
            RangeV::Interval { lo: l2, lo_incl: li2, hi: h2, hi_incl: hi2 },
        ) => end(l1, l2) && end(h1, h2) && (l1.is_none() || li1 == li2) && (h1.is_none() || hi1 == hi2),
        (RangeV::Eq(a), RangeV::Eq(b)) | (RangeV::Ne(a), RangeV::Ne(b)) => loose_eq(a, b),
        _ => false,
    }
}

/// Whether `v` is in the range: Some(true/false), None when an end is null (unknown).
pub(crate) fn in_range(v: &Val, r: &RangeV) -> Result<Option<bool>, EvalError> {
    match r {
        RangeV::Interval { lo, lo_incl, hi, hi_incl } => {
            let lo_ok = match lo {
                None => Some(true),
                Some(l) => order(v, l)?.map(|o| o == Ordering::Greater || (*lo_incl && o == Ordering::Equal)),
            };
            let hi_ok = match hi {
                None => Some(true),
                Some(h) => order(v, h)?.map(|o| o == Ordering::Less || (*hi_incl && o == Ordering::Equal)),
            };
            Ok(match (lo_ok, hi_ok) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            })
        }
        RangeV::Eq(x) => equals(v, x),
        RangeV::Ne(x) => Ok(equals(v, x)?.map(|b| !b)),
    }
}

/// Ordering for `<`, `<=`, `>`, `>=`: None (null result) when either side is null.
pub(crate) fn order(a: &Val, b: &Val) -> Result<Option<Ordering>, EvalError> {
    Ok(match (a, b) {
        (Val::Null, _) | (_, Val::Null) => None,
        (Val::Int(x), Val::Int(y)) => Some(x.cmp(y)),
        (Val::Str(x), Val::Str(y)) => Some(x.cmp(y)),
        (Val::DateTime(x), Val::DateTime(y)) => match temporal::cmp_date_time(x, y) {
            Ok(o) => Some(o),
            Err(m) => return err(m),
        },
        (Val::Date(x), Val::Date(y)) => Some(x.cmp(y)),
        (Val::Time(x), Val::Time(y)) => match temporal::cmp_time(x, y) {
            Ok(o) => Some(o),
            Err(m) => return err(m),
        },
        (Val::Dur(x), Val::Dur(y)) => {
            let ym = |d: &IsoDuration| d.total_nanos() == 0;
            let dt = |d: &IsoDuration| d.total_months() == 0;
            if dt(x) && dt(y) {
                Some(x.total_nanos().cmp(&y.total_nanos()))
            } else if ym(x) && ym(y) {
                Some(x.total_months().cmp(&y.total_months()))
            } else {
                return err(format!("cannot compare the durations {x} and {y}: months have no fixed length in days"));
            }
        }
        (x, y) => match num_cmp(x, y) {
            Some(o) => Some(o),
            _ if matches!((x, y), (Val::Bool(_), Val::Bool(_))) => {
                return err("booleans cannot be ordered with `<` or `>`");
            }
            _ if x.is_list() || x.is_ctx() || y.is_list() || y.is_ctx() => {
                return err(format!("cannot order {} and {} with `<` or `>`", x.kind(), y.kind()));
            }
            _ => return err(format!("cannot compare {} with {}", x.kind(), y.kind())),
        },
    })
}

/// Exact ordering of two numbers; None when either is not a number.
fn num_cmp(a: &Val, b: &Val) -> Option<Ordering> {
    Some(match (a, b) {
        (Val::Int(x), Val::Int(y)) => x.cmp(y),
        (Val::Int(x), Val::Num(y)) => Decimal::from(*x).cmp(y),
        (Val::Num(x), Val::Int(y)) => x.cmp(&Decimal::from(*y)),
        (Val::Num(x), Val::Num(y)) => dec_cmp(x, y),
        (Val::Huge(x), Val::Huge(y)) => x.total_cmp(y),
        // A huge number is beyond every decimal: its sign decides.
        (Val::Huge(x), y) if y.is_number() => huge_vs_dec(*x),
        (x, Val::Huge(y)) if x.is_number() => huge_vs_dec(*y).reverse(),
        _ => return None,
    })
}

fn huge_vs_dec(x: f64) -> Ordering {
    if x > 0.0 { Ordering::Greater } else { Ordering::Less }
}

/// The error with `offset` when it has none yet (the innermost position wins).
fn with_offset(mut e: EvalError, offset: usize) -> EvalError {
    e.offset.get_or_insert(offset);
    e
}

fn too_big<T>(limit: usize) -> Result<T, EvalError> {
    err(format!(
        "the expression builds values larger than the limit of {limit} bytes (max_value_bytes, SLUICE_MAX_VALUE_BYTES)"
    ))
}

/// A three-valued condition result, or `Other` for a value that is not a boolean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tri {
    True,
    False,
    Null,
    Other,
}

impl Tri {
    fn from(b: bool) -> Tri {
        if b { Tri::True } else { Tri::False }
    }

    fn of(v: &Val) -> Tri {
        match v {
            Val::Bool(b) => Tri::from(*b),
            Val::Null => Tri::Null,
            _ => Tri::Other,
        }
    }
}

/// An operand of a fast-path comparison.
#[derive(Clone, Copy)]
enum Scalar<'a> {
    Json(&'a Value),
    Lit(&'a Lit),
    Missing,
    /// A computed number.
    Int(i64),
    Num(Decimal),
}

impl Scalar<'_> {
    /// The operand as a computed number, when it is a (non-null) number.
    #[inline]
    fn number(self) -> Option<Scalar<'static>> {
        match self {
            Scalar::Json(Value::Number(n)) => Some(match n.as_i64() {
                Some(i) => Scalar::Int(i),
                None => match json_num(n) {
                    Val::Num(d) => Scalar::Num(d),
                    _ => return None,
                },
            }),
            Scalar::Lit(Lit::Int(i)) => Some(Scalar::Int(*i)),
            Scalar::Int(i) => Some(Scalar::Int(i)),
            Scalar::Lit(Lit::Num(d)) => Some(Scalar::Num(*d)),
            Scalar::Num(d) => Some(Scalar::Num(d)),
            _ => None,
        }
    }
}

/// Number arithmetic for the fast path; None (use the general path) on overflow, division
/// by zero, `**` and `%`, so those keep their one definition in `arith`.
#[inline]
fn num_op(op: ArOp, a: Scalar<'static>, b: Scalar<'static>) -> Option<Scalar<'static>> {
    if let (Scalar::Int(x), Scalar::Int(y)) = (a, b) {
        return match op {
            ArOp::Add => x.checked_add(y).map(Scalar::Int),
            ArOp::Sub => x.checked_sub(y).map(Scalar::Int),
            ArOp::Mul => x.checked_mul(y).map(Scalar::Int),
            ArOp::Div if y != 0 && x.checked_rem(y) == Some(0) => x.checked_div(y).map(Scalar::Int),
            ArOp::Div if y != 0 => int_div(x, y).map(Scalar::Num),
            _ => None,
        };
    }
    num_op_dec(op, a, b)
}

#[inline(never)]
fn num_op_dec(op: ArOp, a: Scalar<'static>, b: Scalar<'static>) -> Option<Scalar<'static>> {
    let d = |s: Scalar| match s {
        Scalar::Int(i) => Some(Decimal::from(i)),
        Scalar::Num(d) => Some(d),
        _ => None,
    };
    let (x, y) = (d(a)?, d(b)?);
    match op {
        ArOp::Add => x.checked_add(y),
        ArOp::Sub => x.checked_sub(y),
        ArOp::Mul => x.checked_mul(y),
        ArOp::Div if !y.is_zero() => x.checked_div(y),
        _ => None,
    }
    .map(Scalar::Num)
}

/// Compares two scalars of the common kinds (numbers, strings, booleans, null); None for
/// anything needing the general rules (temporal values, lists, errors for mismatched kinds).
/// Whole numbers and strings are compared inline without touching decimals.
#[inline]
fn scalar_cmp(op: CmpOp, x: Scalar, y: Scalar) -> Option<Tri> {
    #[inline]
    fn int(s: Scalar) -> Option<i64> {
        match s {
            Scalar::Json(Value::Number(n)) => n.as_i64(),
            Scalar::Lit(Lit::Int(i)) => Some(*i),
            Scalar::Int(i) => Some(i),
            _ => None,
        }
    }
    #[inline]
    fn text(s: Scalar<'_>) -> Option<&str> {
        match s {
            Scalar::Json(Value::String(s)) | Scalar::Lit(Lit::Str(s)) => Some(s),
            _ => None,
        }
    }
    if let (Some(a), Some(b)) = (int(x), int(y)) {
        return Some(Tri::from(holds(op, a.cmp(&b))));
    }
    if let (Some(a), Some(b)) = (text(x), text(y)) {
        return Some(Tri::from(holds(op, a.cmp(b))));
    }
    scalar_cmp_other(op, x, y)
}

/// `scalar_cmp` for everything but two whole numbers or two strings.
#[inline(never)]
fn scalar_cmp_other(op: CmpOp, x: Scalar, y: Scalar) -> Option<Tri> {
    #[derive(Clone, Copy)]
    enum K<'s> {
        Null,
        Int(i64),
        Num(Decimal),
        Str(&'s str),
        Bool(bool),
    }
    fn kind<'s>(s: Scalar<'s>) -> Option<K<'s>> {
        Some(match s {
            Scalar::Missing | Scalar::Json(Value::Null) | Scalar::Lit(Lit::Null) => K::Null,
            Scalar::Json(Value::Number(n)) => match n.as_i64() {
                Some(i) => K::Int(i),
                None => match json_num(n) {
                    Val::Num(d) => K::Num(d),
                    _ => return None,
                },
            },
            Scalar::Json(Value::String(s)) => K::Str(s),
            Scalar::Json(Value::Bool(b)) | Scalar::Lit(Lit::Bool(b)) => K::Bool(*b),
            Scalar::Lit(Lit::Int(i)) => K::Int(*i),
            Scalar::Int(i) => K::Int(i),
            Scalar::Lit(Lit::Num(d)) => K::Num(*d),
            Scalar::Num(d) => K::Num(d),
            Scalar::Lit(Lit::Str(s)) => K::Str(s),
            Scalar::Json(_) | Scalar::Lit(_) => return None,
        })
    }
    let ord = match (kind(x)?, kind(y)?) {
        (K::Null, K::Null) if matches!(op, CmpOp::Eq | CmpOp::Ne) => Ordering::Equal,
        (K::Null, _) | (_, K::Null) => {
            return Some(match op {
                CmpOp::Eq => Tri::False,
                CmpOp::Ne => Tri::True,
                _ => Tri::Null,
            });
        }
        (K::Int(a), K::Int(b)) => a.cmp(&b),
        (K::Int(a), K::Num(b)) => Decimal::from(a).cmp(&b),
        (K::Num(a), K::Int(b)) => a.cmp(&Decimal::from(b)),
        (K::Num(a), K::Num(b)) => dec_cmp(&a, &b),
        (K::Str(a), K::Str(b)) => a.cmp(b),
        (K::Bool(a), K::Bool(b)) if matches!(op, CmpOp::Eq | CmpOp::Ne) => a.cmp(&b),
        _ => return None,
    };
    Some(Tri::from(holds(op, ord)))
}

/// Whether an ordering satisfies the comparison.
fn holds(op: CmpOp, o: Ordering) -> bool {
    match op {
        CmpOp::Eq => o == Ordering::Equal,
        CmpOp::Ne => o != Ordering::Equal,
        CmpOp::Lt => o == Ordering::Less,
        CmpOp::Le => o != Ordering::Greater,
        CmpOp::Gt => o == Ordering::Greater,
        CmpOp::Ge => o != Ordering::Less,
    }
}

fn lit(l: &Lit) -> Val<'_> {
    match l {
        Lit::Null => Val::Null,
        Lit::Bool(b) => Val::Bool(*b),
        Lit::Int(i) => Val::Int(*i),
        Lit::Num(d) => Val::Num(*d),
        Lit::Str(s) => Val::Str(Cow::Borrowed(s)),
        Lit::Pattern(p) => Val::Str(Cow::Borrowed(&p.text)),
        Lit::Date(d) => Val::Date(*d),
        Lit::Time(t) => Val::Time(t.clone()),
        Lit::DateTime(t) => Val::DateTime(t.clone()),
        Lit::Dur(d) => Val::Dur(*d),
    }
}

#[inline(never)]
pub(crate) fn compare<'a>(op: CmpOp, a: &Val, b: &Val) -> Result<Val<'a>, EvalError> {
    let r = match op {
        CmpOp::Eq => equals(a, b)?,
        CmpOp::Ne => equals(a, b)?.map(|x| !x),
        _ => order(a, b)?.map(|o| holds(op, o)),
    };
    Ok(r.map_or(Val::Null, Val::Bool))
}

fn verb(op: ArOp) -> &'static str {
    match op {
        ArOp::Add => "add",
        ArOp::Sub => "subtract",
        ArOp::Mul => "multiply",
        ArOp::Div => "divide",
        ArOp::Pow => "raise to a power",
        ArOp::Rem => "take the remainder of",
    }
}

/// A duration times (or divided by) a number, exactly, then rounded half away from zero to
/// whole months and nanoseconds.
fn dur_scale(d: &IsoDuration, f: Decimal, divide: bool) -> Option<IsoDuration> {
    let m = Decimal::from(d.total_months());
    let n = Decimal::try_from_i128_with_scale(d.total_nanos(), 0).ok()?;
    let (m, n) = if divide { (m.checked_div(f)?, n.checked_div(f)?) } else { (m.checked_mul(f)?, n.checked_mul(f)?) };
    let whole = |x: Decimal, mode| crate::num::round(x, 0, mode).map(dec_trunc_i128);
    // Whole months toward zero (`2.5 * P1Y11M` is P4Y9M), nanoseconds to the nearest.
    let (m, n) = (whole(m, crate::num::Round::Down)?, whole(n, crate::num::Round::HalfUp)?);
    if m.abs() > 1_000_000_000 {
        return None;
    }
    IsoDuration::from_parts(m as i64, n)
}

/// Exact decimal arithmetic; "number too large" when the result is beyond the range.
fn dec_arith(op: ArOp, p: Decimal, q: Decimal) -> Result<Val<'static>, EvalError> {
    use ArOp::*;
    let r = match op {
        Add => p.checked_add(q),
        Sub => p.checked_sub(q),
        Mul => p.checked_mul(q),
        Div | Rem if q.is_zero() => return Ok(Val::Null),
        Div => p.checked_div(q),
        Rem => p.checked_rem(q),
        Pow => return dec_pow(p, q),
    };
    match r {
        Some(d) => Ok(Val::Num(d)),
        None => too_large(),
    }
}

/// `p ** q`: exact (repeated multiplication, rounded to the decimal's precision like any product)
/// for a whole exponent; through f64 otherwise. `0 ** -1` is null (division by zero), as is a
/// result that is not a real number (`(-8) ** 0.5`).
fn dec_pow(p: Decimal, q: Decimal) -> Result<Val<'static>, EvalError> {
    if let Some(e) = dec_int(q) {
        let mut base = p;
        let mut left = e.unsigned_abs();
        let mut acc = Decimal::ONE;
        let mut overflow = false;
        while left > 0 {
            if left & 1 == 1 {
                match acc.checked_mul(base) {
                    Some(v) => acc = v,
                    None => {
                        overflow = true;
                        break;
                    }
                }
            }
            left >>= 1;
            if left > 0 {
                match base.checked_mul(base) {
                    Some(v) => base = v,
                    None => {
                        overflow = true;
                        break;
                    }
                }
            }
        }
        return match (e < 0, overflow) {
            // |p ** -e| beyond 7.9e28: its reciprocal rounds to 0 at 28 decimal places.
            (true, true) => Ok(Val::Num(Decimal::ZERO)),
            (false, true) => too_large(),
            (true, false) if acc.is_zero() => Ok(Val::Null),
            (true, false) => match Decimal::ONE.checked_div(acc) {
                Some(d) => Ok(Val::Num(d)),
                None => too_large(),
            },
            (false, false) => Ok(Val::Num(acc)),
        };
    }
    let r = dec_to_f64(p).powf(dec_to_f64(q));
    if r.is_nan() {
        return Ok(Val::Null);
    }
    match dec_from_f64(r) {
        Some(d) => Ok(Val::Num(d)),
        None => too_large(),
    }
}

fn delta_dur(d: TimeDelta) -> Option<IsoDuration> {
    let n = i128::from(d.num_seconds()) * 1_000_000_000 + i128::from(d.subsec_nanos());
    IsoDuration::from_parts(0, n)
}

fn nanos_dur(n: i128) -> Option<IsoDuration> {
    IsoDuration::from_parts(0, n)
}

/// A date as a date and time: midnight UTC (FEEL, when it meets a date and time).
fn date_midnight(d: NaiveDate) -> DateTime {
    DateTime::utc(d.and_time(chrono::NaiveTime::MIN))
}

/// A time plus a duration: only the day-and-time part counts, around the clock.
fn time_plus(t: &Time, d: &IsoDuration) -> Option<Time> {
    let n = d.total_nanos().rem_euclid(86_400 * 1_000_000_000);
    let delta = TimeDelta::new(i64::try_from(n / 1_000_000_000).ok()?, (n % 1_000_000_000) as u32)?;
    Some(Time { local: t.local.overflowing_add_signed(delta).0, zone: t.zone.clone() })
}

/// Binary arithmetic: null in, null out; division by zero gives null (FEEL); incompatible kinds
/// are an error (a Sluice choice, FEEL gives null).
pub(crate) fn arith<'a>(op: ArOp, a: Val<'a>, b: Val<'a>) -> Result<Val<'a>, EvalError> {
    use ArOp::*;
    let out_of_range = || err("the resulting date or duration is out of range");
    Ok(match (op, a, b) {
        (_, Val::Null, _) | (_, _, Val::Null) => Val::Null,
        (op, Val::Int(x), Val::Int(y)) => {
            // i64 while the result is a whole i64, exact decimals past that.
            let int = match op {
                Add => x.checked_add(y),
                Sub => x.checked_sub(y),
                Mul => x.checked_mul(y),
                Div if y == 0 => return Ok(Val::Null),
                Div if x.checked_rem(y) == Some(0) => x.checked_div(y),
                Div => None,
                Pow => u32::try_from(y).ok().and_then(|e| x.checked_pow(e)),
                Rem if y == 0 => return Ok(Val::Null),
                Rem => Some(x.checked_rem(y).unwrap_or(0)),
            };
            match int {
                Some(v) => Val::Int(v),
                None if op == Div => match int_div(x, y) {
                    Some(d) => Val::Num(d),
                    None => return too_large(),
                },
                None => dec_arith(op, Decimal::from(x), Decimal::from(y))?,
            }
        }
        (op, x, y) if x.is_number() && y.is_number() => match (x.to_dec()?, y.to_dec()?) {
            (Some(p), Some(q)) => dec_arith(op, p, q)?,
            _ => Val::Null,
        },
        (Add, Val::Str(x), Val::Str(y)) => {
            let mut s = x.into_owned();
            s.push_str(&y);
            Val::Str(Cow::Owned(s))
        }
        (Add | Sub, Val::Dur(x), Val::Dur(y)) => {
            let ym = |d: &IsoDuration| d.total_nanos() == 0 && d.total_months() != 0;
            let dt = |d: &IsoDuration| d.total_months() == 0 && d.total_nanos() != 0;
            if (ym(&x) && dt(&y)) || (dt(&x) && ym(&y)) {
                return err(format!(
                    "cannot {} the durations {x} and {y}: one is in years and months, the other in days and time",
                    verb(op)
                ));
            }
            let y = if op == Sub { y.negated() } else { y };
            let m = x.total_months().checked_add(y.total_months());
            let n = x.total_nanos().checked_add(y.total_nanos());
            match m.zip(n).and_then(|(m, n)| IsoDuration::from_parts(m, n)) {
                Some(d) => Val::Dur(d),
                None => {
                    return err(format!(
                        "cannot {} the durations {x} and {y}: the result mixes months and days of opposite signs",
                        verb(op)
                    ));
                }
            }
        }
        (Mul, Val::Dur(d), n) | (Mul, n, Val::Dur(d)) if n.is_number() => {
            match dur_scale(&d, n.to_dec()?.unwrap_or_default(), false) {
                Some(d) => Val::Dur(d),
                None => return out_of_range(),
            }
        }
        (Div, Val::Dur(d), n) if n.is_number() => {
            let f = n.to_dec()?.unwrap_or_default();
            if f.is_zero() {
                Val::Null
            } else {
                match dur_scale(&d, f, true) {
                    Some(d) => Val::Dur(d),
                    None => return out_of_range(),
                }
            }
        }
        (Div, Val::Dur(x), Val::Dur(y)) => {
            let ratio = |p: i128, q: i128| -> Result<Val<'a>, EvalError> {
                match (Decimal::try_from_i128_with_scale(p, 0), Decimal::try_from_i128_with_scale(q, 0)) {
                    (Ok(p), Ok(q)) => Ok(match dec_arith(Div, p, q)? {
                        Val::Num(d) => dec_val(d),
                        v => v,
                    }),
                    _ => out_of_range(),
                }
            };
            if x.total_months() == 0 && y.total_months() == 0 {
                ratio(x.total_nanos(), y.total_nanos())?
            } else if x.total_nanos() == 0 && y.total_nanos() == 0 && y.total_months() != 0 {
                ratio(i128::from(x.total_months()), i128::from(y.total_months()))?
            } else {
                return err(format!("cannot divide the durations {x} and {y}"));
            }
        }
        (Add, Val::DateTime(t), Val::Dur(d)) | (Add, Val::Dur(d), Val::DateTime(t)) => match t.plus(&d) {
            Some(t) => Val::DateTime(t),
            None => return out_of_range(),
        },
        (Sub, Val::DateTime(t), Val::Dur(d)) => match t.plus(&d.negated()) {
            Some(t) => Val::DateTime(t),
            None => return out_of_range(),
        },
        (Sub, Val::DateTime(x), Val::DateTime(y)) => match temporal::sub_date_time(&x, &y).map(nanos_dur) {
            Ok(Some(d)) => Val::Dur(d),
            Ok(None) => return out_of_range(),
            Err(m) => return err(m),
        },
        (Sub, Val::DateTime(x), Val::Date(y)) => match temporal::sub_date_time(&x, &date_midnight(y)).map(nanos_dur) {
            Ok(Some(d)) => Val::Dur(d),
            Ok(None) => return out_of_range(),
            Err(m) => return err(m),
        },
        (Sub, Val::Date(x), Val::DateTime(y)) => match temporal::sub_date_time(&date_midnight(x), &y).map(nanos_dur) {
            Ok(Some(d)) => Val::Dur(d),
            Ok(None) => return out_of_range(),
            Err(m) => return err(m),
        },
        (Add, Val::Date(t), Val::Dur(d)) | (Add, Val::Dur(d), Val::Date(t)) => match d.add_to_date(t) {
            Some(t) => Val::Date(t),
            None => return out_of_range(),
        },
        (Sub, Val::Date(t), Val::Dur(d)) => match d.negated().add_to_date(t) {
            Some(t) => Val::Date(t),
            None => return out_of_range(),
        },
        (Sub, Val::Date(x), Val::Date(y)) => match delta_dur(x - y) {
            Some(d) => Val::Dur(d),
            None => return out_of_range(),
        },
        (Add | Sub, Val::Time(t), Val::Dur(d)) | (Add, Val::Dur(d), Val::Time(t)) => {
            if d.total_months() != 0 {
                return err("cannot add a years and months duration to a time");
            }
            let d = if op == Sub { d.negated() } else { d };
            match time_plus(&t, &d) {
                Some(t) => Val::Time(t),
                None => return out_of_range(),
            }
        }
        (Sub, Val::Time(x), Val::Time(y)) => match temporal::sub_time(&x, &y).map(nanos_dur) {
            Ok(Some(d)) => Val::Dur(d),
            Ok(None) => return out_of_range(),
            Err(m) => return err(m),
        },
        (op, x, y) => {
            return err(format!("cannot {} {} and {}", verb(op), x.kind(), y.kind()));
        }
    })
}

#[derive(Debug, Clone)]
enum Local<'a> {
    Named(&'a str, Val<'a>),
    /// The fields of a filtered element, visible by bare name.
    Fields(Val<'a>),
}

/// How deeply user-defined functions may call each other (recursion included): keeps a
/// runaway recursion from the end of the stack.
const MAX_CALL_DEPTH: u32 = 24;

pub(crate) struct Env<'a> {
    vars: &'a dyn Variables,
    /// Typed values given besides the JSON variables (see `Variables::values`).
    typed: &'a [(String, FeelValue)],
    locals: Vec<Local<'a>>,
    steps: u64,
    /// Bytes of values built so far (see [`max_value_bytes`]).
    built: usize,
    /// User-defined functions being called, innermost last.
    calls: u32,
}

impl<'a> Env<'a> {
    pub(crate) fn new(vars: &'a dyn Variables) -> Env<'a> {
        Env { vars, typed: vars.values(), locals: Vec::new(), steps: 0, built: 0, calls: 0 }
    }

    /// Counts a value this evaluation built against [`max_value_bytes`].
    fn charge(&mut self, v: &Val<'a>) -> Result<(), EvalError> {
        let limit = max_value_bytes();
        self.built = self.built.saturating_add(approx_size(v, limit.saturating_sub(self.built).saturating_add(1)));
        if self.built > limit {
            return too_big(limit);
        }
        Ok(())
    }

    /// Bytes this evaluation may still build.
    pub(crate) fn room(&self) -> usize {
        max_value_bytes().saturating_sub(self.built)
    }

    /// The error for a value that would not fit in [`Env::room`].
    pub(crate) fn no_room<T>(&self) -> Result<T, EvalError> {
        too_big(max_value_bytes())
    }

    /// The size of `v` when it fits in what may still be built; the limit's error otherwise.
    pub(crate) fn fits(&self, bytes: usize) -> Result<(), EvalError> {
        if bytes > self.room() { self.no_room() } else { Ok(()) }
    }

    pub(crate) fn tick(&mut self) -> Result<(), EvalError> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return err(format!("the expression runs too long (more than {MAX_STEPS} loop steps)"));
        }
        Ok(())
    }

    /// Counts `n` steps of work at once (a built-in's inner loop).
    pub(crate) fn ticks(&mut self, n: u64) -> Result<(), EvalError> {
        self.steps = self.steps.saturating_add(n);
        if self.steps > MAX_STEPS {
            return err(format!("the expression runs too long (more than {MAX_STEPS} loop steps)"));
        }
        Ok(())
    }

    /// The time `now()` gives.
    pub(crate) fn now(&self) -> Result<chrono::DateTime<Utc>, EvalError> {
        match self.vars.now() {
            Some(t) => Ok(t),
            None => err("`now()` and `today()` need the current time, and this evaluation was not given one"),
        }
    }

    #[inline]
    fn lookup(&self, n: &str) -> Option<Val<'a>> {
        if self.locals.is_empty() && self.typed.is_empty() {
            return self.vars.get(n).map(Val::from_json);
        }
        for l in self.locals.iter().rev() {
            match l {
                Local::Named(k, v) if *k == n => return Some(v.clone()),
                Local::Fields(v) => {
                    if let Some(x) = v.get(n) {
                        return Some(x);
                    }
                }
                Local::Named(..) => {}
            }
        }
        if let Some((_, v)) = self.typed.iter().find(|(k, _)| k == n) {
            return Some(v.0.clone());
        }
        self.vars.get(n).map(Val::from_json)
    }

    /// Calls a function value with positional or named arguments.
    pub(crate) fn apply(&mut self, f: &Val<'a>, args: Vec<(Option<&str>, Val<'a>)>) -> Result<Val<'a>, EvalError> {
        let Val::Func(func) = f else {
            return err(format!("cannot call {}: it is not a function", f.kind()));
        };
        let func = Rc::clone(func);
        let mut bound: Vec<Val<'a>> = vec![Val::Null; func.params.len()];
        let mut positional = 0;
        for (name, v) in args {
            match name {
                None => {
                    if positional >= bound.len() {
                        return err(format!(
                            "the function takes {} argument{} but was given more",
                            bound.len(),
                            if bound.len() == 1 { "" } else { "s" }
                        ));
                    }
                    bound[positional] = v;
                    positional += 1;
                }
                Some(n) => match func.params.iter().position(|p| p == n) {
                    Some(i) => bound[i] = v,
                    None => return err(format!("the function has no parameter `{n}`")),
                },
            }
        }
        if positional > 0 && positional != bound.len() {
            return err(format!(
                "the function takes {} argument{} but was given {positional}",
                bound.len(),
                if bound.len() == 1 { "" } else { "s" }
            ));
        }
        if self.calls >= MAX_CALL_DEPTH {
            return err(format!("functions call each other too deeply (more than {MAX_CALL_DEPTH} calls)"));
        }
        self.tick()?;
        self.calls += 1;
        let mark = self.locals.len();
        self.locals.extend(func.captured.iter().cloned());
        for (p, v) in func.params.iter().zip(bound) {
            self.locals.push(Local::Named(p, v));
        }
        let r = self.eval(func.body);
        self.pop_to(mark);
        self.calls -= 1;
        r
    }

    fn push_item(&mut self, item: Val<'a>) {
        // The element's own fields come first: `[{item: 1}][item > 0]` reads the field.
        let ctx = item.is_ctx();
        self.locals.push(Local::Named("item", item.clone()));
        if ctx {
            self.locals.push(Local::Fields(item));
        }
    }

    fn pop_to(&mut self, len: usize) {
        self.locals.truncate(len);
    }

    /// Evaluates a condition to a three-valued boolean. Conditions over variables and
    /// literals (`amount > 100 and status = "open"`) are answered straight from the borrowed
    /// JSON without building `Val`s, which keeps the engine's hottest path to a few dozen
    /// nanoseconds; anything else goes through `eval`.
    pub(crate) fn cond(&mut self, e: &'a Expr) -> Result<Tri, EvalError> {
        match e {
            Expr::At(at, x) => self.cond(x).map_err(|err| with_offset(err, *at)),
            Expr::Lit(Lit::Bool(b)) => Ok(Tri::from(*b)),
            Expr::Cmp(op, a, b) => {
                if let (Some(x), Some(y)) = (self.scalar(a), self.scalar(b))
                    && let Some(t) = scalar_cmp(*op, x, y)
                {
                    return Ok(t);
                }
                let x = self.eval(a)?;
                let y = self.eval(b)?;
                Ok(Tri::of(&compare(*op, &x, &y)?))
            }
            Expr::And(all) => {
                let mut saw_null = false;
                for x in all {
                    match self.cond(x)? {
                        Tri::False => return Ok(Tri::False),
                        Tri::True => {}
                        Tri::Null => saw_null = true,
                        Tri::Other => return self.and(all).map(|v| Tri::of(&v)),
                    }
                }
                Ok(if saw_null { Tri::Null } else { Tri::True })
            }
            Expr::Or(all) => {
                let mut saw_null = false;
                for x in all {
                    match self.cond(x)? {
                        Tri::True => return Ok(Tri::True),
                        Tri::False => {}
                        Tri::Null => saw_null = true,
                        Tri::Other => return self.or(all).map(|v| Tri::of(&v)),
                    }
                }
                Ok(if saw_null { Tri::Null } else { Tri::False })
            }
            Expr::Name(_) | Expr::Path(..) => match self.scalar(e) {
                Some(Scalar::Json(Value::Bool(b))) => Ok(Tri::from(*b)),
                Some(Scalar::Json(Value::Null) | Scalar::Missing) => Ok(Tri::Null),
                _ => Ok(Tri::of(&self.eval(e)?)),
            },
            _ => Ok(Tri::of(&self.eval(e)?)),
        }
    }

    /// A variable, path or literal operand read without conversion; None when the operand has
    /// another shape (or local names are in scope) and must be evaluated in full.
    #[inline]
    fn scalar(&self, e: &'a Expr) -> Option<Scalar<'a>> {
        match e {
            Expr::At(_, x) => self.scalar(x),
            Expr::Lit(l) => Some(Scalar::Lit(l)),
            Expr::Name(n) if self.locals.is_empty() && self.typed.is_empty() => {
                Some(self.vars.get(n).map_or(Scalar::Missing, Scalar::Json))
            }
            Expr::Path(base, key) => match self.scalar(base)? {
                Scalar::Json(Value::Object(o)) => Some(o.get(key.as_str()).map_or(Scalar::Missing, Scalar::Json)),
                Scalar::Json(Value::Null) | Scalar::Missing => Some(Scalar::Missing),
                _ => None,
            },
            // Plain number arithmetic such as `nrOfCompletedInstances / nrOfInstances`.
            Expr::Arith(first, rest) => {
                let mut acc = self.scalar(first)?.number()?;
                for (op, x) in rest {
                    acc = num_op(*op, acc, self.scalar(x)?.number()?)?;
                }
                Some(acc)
            }
            _ => None,
        }
    }

    /// Evaluates `e`. The common condition shapes (names, paths, literals, comparisons, `and`,
    /// `or`) are handled here; everything else is in `eval_more`, kept out of line so this
    /// function's stack frame stays small: it is the hot path of every token move.
    pub(crate) fn eval(&mut self, e: &'a Expr) -> Result<Val<'a>, EvalError> {
        match e {
            Expr::Lit(l) => Ok(lit(l)),
            Expr::Name(n) => Ok(self.lookup(n).unwrap_or(Val::Null)),
            Expr::Path(base, key) => {
                let b = self.eval(base)?;
                match b {
                    Val::JObj(o) => Ok(o.get(key.as_str()).map_or(Val::Null, Val::from_json)),
                    Val::Null => Ok(Val::Null),
                    b => path(b, key),
                }
            }
            Expr::Cmp(op, a, b) => {
                let x = self.eval(a)?;
                let y = self.eval(b)?;
                match (&x, &y) {
                    (Val::Int(p), Val::Int(q)) => Ok(Val::Bool(holds(*op, p.cmp(q)))),
                    _ => compare(*op, &x, &y),
                }
            }
            Expr::And(all) => self.and(all),
            Expr::Or(all) => self.or(all),
            _ => self.eval_more(e),
        }
    }

    fn and(&mut self, all: &'a [Expr]) -> Result<Val<'a>, EvalError> {
        let mut saw_null = false;
        for x in all {
            match self.eval(x)? {
                Val::Bool(false) => return Ok(Val::Bool(false)),
                Val::Bool(true) => {}
                Val::Null => saw_null = true,
                other => return err(format!("`and` needs booleans but got {}", other.kind())),
            }
        }
        Ok(if saw_null { Val::Null } else { Val::Bool(true) })
    }

    fn or(&mut self, all: &'a [Expr]) -> Result<Val<'a>, EvalError> {
        let mut saw_null = false;
        for x in all {
            match self.eval(x)? {
                Val::Bool(true) => return Ok(Val::Bool(true)),
                Val::Bool(false) => {}
                Val::Null => saw_null = true,
                other => return err(format!("`or` needs booleans but got {}", other.kind())),
            }
        }
        Ok(if saw_null { Val::Null } else { Val::Bool(false) })
    }

    #[inline(never)]
    fn eval_more(&mut self, e: &'a Expr) -> Result<Val<'a>, EvalError> {
        Ok(match e {
            // Handled by `eval`; listed so the match stays exhaustive.
            Expr::Lit(_) | Expr::Name(_) | Expr::Path(..) | Expr::Cmp(..) | Expr::And(_) | Expr::Or(_) => {
                return self.eval(e);
            }
            Expr::Filter(base, f) => {
                let b = self.eval(base)?;
                self.filter(b, f)?
            }
            Expr::JuelIndex(base, idx) => {
                let b = self.eval(base)?;
                let i = self.eval(idx)?;
                match (&b, &i) {
                    (Val::Null, _) | (_, Val::Null) => Val::Null,
                    (Val::Str(_), _) | (_, Val::Str(_)) if b.is_ctx() => match &i {
                        Val::Str(k) => b.get(k).unwrap_or(Val::Null),
                        _ => Val::Null,
                    },
                    _ if b.is_list() => match i.as_int() {
                        Some(n) if n >= 0 => b
                            .items()
                            .and_then(|v| v.into_iter().nth(usize::try_from(n).unwrap_or(usize::MAX)))
                            .unwrap_or(Val::Null),
                        _ if i.is_number() => Val::Null,
                        _ => {
                            return err(format!("a list index must be a number, not {}", i.kind()));
                        }
                    },
                    _ => return err(format!("cannot index {} with {}", b.kind(), i.kind())),
                }
            }
            Expr::At(at, x) => return self.eval(x).map_err(|e| with_offset(e, *at)),
            Expr::Call(f, args, at) => {
                let mut vals = Vec::with_capacity(args.len());
                for a in args {
                    vals.push(match a {
                        Some(a) => Some(self.eval(a)?),
                        None => None,
                    });
                }
                let pattern = match args.get(1) {
                    Some(Some(Expr::Lit(Lit::Pattern(p)))) => Some(&**p),
                    _ => None,
                };
                let v = builtins::call(self, *f, vals, pattern).map_err(|e| with_offset(e, *at))?;
                self.charge(&v)?;
                v
            }
            Expr::Invoke(callee, args, at) => {
                let f = self.eval(callee)?;
                let mut vals = Vec::with_capacity(args.len());
                for (n, a) in args {
                    vals.push((n.as_deref(), self.eval(a)?));
                }
                let v = self.apply(&f, vals).map_err(|e| with_offset(e, *at))?;
                self.charge(&v)?;
                v
            }
            Expr::FuncDef(params, body) => Val::Func(Rc::new(Func { params, body, captured: self.locals.clone() })),
            Expr::Range { lo, lo_incl, hi, hi_incl } => {
                let lo = match lo {
                    Some(x) => Some(self.eval(x)?),
                    None => None,
                };
                let hi = match hi {
                    Some(x) => Some(self.eval(x)?),
                    None => None,
                };
                range_value(lo, *lo_incl, hi, *hi_incl)?
            }
            Expr::UnaryTest(op, x) => {
                let v = self.eval(x)?;
                Val::Range(Rc::new(if *op == CmpOp::Eq { RangeV::Eq(v) } else { RangeV::Ne(v) }))
            }
            Expr::IsDefined(x) => Val::Bool(self.defined(x)?),
            Expr::Neg(x) => match self.eval(x)? {
                Val::Null => Val::Null,
                Val::Int(i) => i.checked_neg().map_or_else(|| Val::Num(-Decimal::from(i)), Val::Int),
                Val::Num(d) => Val::Num(-d),
                Val::Huge(f) => Val::Huge(-f),
                Val::Dur(d) => Val::Dur(d.negated()),
                other => return err(format!("cannot negate {}", other.kind())),
            },
            Expr::Not(x) => builtins::not(self.eval(x)?)?,
            Expr::Empty(x) => match self.eval(x)? {
                Val::Null => Val::Bool(true),
                Val::Str(s) => Val::Bool(s.is_empty()),
                Val::JList(a) => Val::Bool(a.is_empty()),
                Val::List(a) => Val::Bool(a.is_empty()),
                Val::JObj(o) => Val::Bool(o.is_empty()),
                Val::Ctx(c) => Val::Bool(c.is_empty()),
                _ => Val::Bool(false),
            },
            Expr::Arith(first, rest) => {
                let mut acc = self.eval(first)?;
                for (op, x) in rest {
                    let v = self.eval(x)?;
                    acc = arith(*op, acc, v)?;
                    // A concatenation builds a string.
                    if let Val::Str(Cow::Owned(_)) = &acc {
                        self.charge(&acc)?;
                    }
                }
                acc
            }
            Expr::Between(x, lo, hi) => {
                let v = self.eval(x)?;
                let l = self.eval(lo)?;
                let h = self.eval(hi)?;
                match (order(&v, &l)?, order(&v, &h)?) {
                    (Some(a), Some(b)) => Val::Bool(a != Ordering::Less && b != Ordering::Greater),
                    _ => Val::Null,
                }
            }
            Expr::In(x, tests) => {
                let v = self.eval(x)?;
                let mut saw_null = false;
                for t in tests {
                    match self.test(&v, t)? {
                        Some(true) => return Ok(Val::Bool(true)),
                        Some(false) => {}
                        None => saw_null = true,
                    }
                }
                if saw_null { Val::Null } else { Val::Bool(false) }
            }
            Expr::InstanceOf(x, t) => {
                let v = self.eval(x)?;
                Val::Bool(instance_of(&v, t))
            }
            Expr::If(c, a, b) => match self.eval(c)? {
                Val::Bool(true) => self.eval(a)?,
                Val::Bool(false) | Val::Null => self.eval(b)?,
                other => {
                    return err(format!("the `if` condition must be a boolean but it gave {}", other.kind()));
                }
            },
            Expr::For(iters, body) => {
                let mut out = Vec::new();
                self.for_rec(iters, body, &mut out)?;
                Val::List(out)
            }
            Expr::Quant { every, iters, cond } => {
                let found = self.quant_rec(*every, iters, cond)?;
                Val::Bool(if *every { !found } else { found })
            }
            Expr::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for x in items {
                    let v = self.eval(x)?;
                    self.charge(&v)?;
                    out.push(v);
                }
                Val::List(out)
            }
            Expr::Context(entries) => {
                // Later entries may refer to earlier ones by name.
                let mark = self.locals.len();
                let mut out: Vec<(Cow<'a, str>, Val<'a>)> = Vec::with_capacity(entries.len());
                for (k, x) in entries {
                    let v = match self.eval(x) {
                        Ok(v) => v,
                        Err(e) => {
                            self.pop_to(mark);
                            return Err(e);
                        }
                    };
                    if let Err(e) = self.charge(&v) {
                        self.pop_to(mark);
                        return Err(e);
                    }
                    self.locals.push(Local::Named(k, v.clone()));
                    match out.iter_mut().find(|(ek, _)| ek == k) {
                        Some(slot) => slot.1 = v,
                        None => out.push((Cow::Borrowed(k.as_str()), v)),
                    }
                }
                self.pop_to(mark);
                Val::Ctx(out)
            }
        })
    }

    /// `is defined(x)`: true when the variable (or path) exists, even with a null value.
    fn defined(&mut self, e: &'a Expr) -> Result<bool, EvalError> {
        Ok(match e {
            Expr::Name(n) => self.lookup(n).is_some(),
            Expr::Path(base, key) => {
                if !self.defined(base)? {
                    return Ok(false);
                }
                self.eval(base)?.get(key).is_some()
            }
            other => !matches!(self.eval(other)?, Val::Null),
        })
    }

    /// Evaluates `e` with `name` bound to `v` (the `?` of a unary test).
    pub(crate) fn eval_with(&mut self, name: &'a str, v: Val<'a>, e: &'a Expr) -> Result<Val<'a>, EvalError> {
        let mark = self.locals.len();
        self.locals.push(Local::Named(name, v));
        let r = self.eval(e);
        self.pop_to(mark);
        r
    }

    pub(crate) fn test(&mut self, v: &Val<'a>, t: &'a Test) -> Result<Option<bool>, EvalError> {
        Ok(match t {
            Test::Value(x) => {
                let w = self.eval(x)?;
                match w {
                    Val::Range(r) => in_range(v, &r)?,
                    w if w.is_list() && !(v.is_list() && w.is_list() && list_of_scalars(&w)) => {
                        // Membership; a range in the list is a test of its own.
                        let items = w.items().unwrap_or_default();
                        let mut saw_null = false;
                        for i in &items {
                            match i {
                                Val::Range(r) => match in_range(v, r)? {
                                    Some(true) => return Ok(Some(true)),
                                    Some(false) => {}
                                    None => saw_null = true,
                                },
                                i => {
                                    if loose_eq(v, i) {
                                        return Ok(Some(true));
                                    }
                                }
                            }
                        }
                        if saw_null { None } else { Some(false) }
                    }
                    w => equals(v, &w)?,
                }
            }
            Test::Cmp(op, x) => {
                let w = self.eval(x)?;
                match compare(*op, v, &w)? {
                    Val::Bool(b) => Some(b),
                    _ => None,
                }
            }
            Test::Range { lo, lo_incl, hi, hi_incl } => {
                let l = self.eval(lo)?;
                let h = self.eval(hi)?;
                match (order(v, &l)?, order(v, &h)?) {
                    (Some(a), Some(b)) => Some(
                        (a == Ordering::Greater || (*lo_incl && a == Ordering::Equal))
                            && (b == Ordering::Less || (*hi_incl && b == Ordering::Equal)),
                    ),
                    _ => None,
                }
            }
        })
    }

    fn filter(&mut self, base: Val<'a>, f: &'a Expr) -> Result<Val<'a>, EvalError> {
        if matches!(base, Val::Null) {
            return Ok(Val::Null);
        }
        // A non-list is filtered as a one-element list (FEEL).
        let items = if base.is_list() { base.items().unwrap_or_default() } else { vec![base] };
        let mark = self.locals.len();
        if items.is_empty() {
            let r = self.eval(f)?;
            return Ok(if r.is_number() { Val::Null } else { Val::List(Vec::new()) });
        }
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            self.tick()?;
            self.push_item(item.clone());
            let r = self.eval(f);
            self.pop_to(mark);
            match r? {
                // A number (decided by the first element) makes the filter an index.
                n if i == 0 && n.is_number() => {
                    return Ok(index(items, &n));
                }
                Val::Bool(true) => out.push(item.clone()),
                Val::Bool(false) | Val::Null => {}
                other => {
                    return err(format!(
                        "a filter must be a condition or a number (index), but it gave {}",
                        other.kind()
                    ));
                }
            }
        }
        Ok(Val::List(out))
    }

    fn bind_list(&mut self, e: &'a Expr) -> Result<Vec<Val<'a>>, EvalError> {
        let v = self.eval(e)?;
        match v {
            Val::Null => Ok(Vec::new()),
            v if v.is_list() => Ok(v.items().unwrap_or_default()),
            // A range of whole numbers: its numbers.
            Val::Range(r) => match &*r {
                RangeV::Interval { lo: Some(l), lo_incl, hi: Some(h), hi_incl } => match (l.as_int(), h.as_int()) {
                    (Some(a), Some(b)) => {
                        let a = if *lo_incl { a } else { a.saturating_add(1) };
                        let b = if *hi_incl { b } else { b.saturating_sub(1) };
                        if a <= b && b.abs_diff(a) >= MAX_STEPS {
                            return err(format!("the range {a}..{b} is too long"));
                        }
                        Ok((a..=b).map(Val::Int).collect())
                    }
                    _ => err("only a range of whole numbers can be iterated"),
                },
                _ => err("only a range of whole numbers with both ends can be iterated"),
            },
            other => Ok(vec![other]),
        }
    }

    fn for_rec(
        &mut self,
        iters: &'a [(String, IterSrc)],
        body: &'a Expr,
        out: &mut Vec<Val<'a>>,
    ) -> Result<(), EvalError> {
        let Some(((name, src), rest)) = iters.split_first() else {
            self.tick()?;
            let v = self.eval(body)?;
            self.charge(&v)?;
            out.push(v);
            return Ok(());
        };
        let values: Vec<Val<'a>> = match src {
            IterSrc::List(e) => self.bind_list(e)?,
            IterSrc::Range(a, b) => {
                let (x, y) = (self.eval(a)?, self.eval(b)?);
                if let (Val::Date(p), Val::Date(q)) = (&x, &y) {
                    // Dates, a day at a time, either direction.
                    let days = (*q - *p).num_days();
                    if days.unsigned_abs() >= MAX_STEPS {
                        return err("the range of dates is too long");
                    }
                    let step = if days >= 0 { 1 } else { -1 };
                    (0..=days.abs())
                        .filter_map(|k| p.checked_add_signed(TimeDelta::days(k * step)).map(Val::Date))
                        .collect()
                } else {
                    let (Some(x), Some(y)) = (x.as_int(), y.as_int()) else {
                        return err(format!(
                            "a `for` range needs whole numbers but got {} and {}",
                            describe_num(&x),
                            describe_num(&y)
                        ));
                    };
                    let len = x.abs_diff(y);
                    if len >= MAX_STEPS {
                        return err(format!("the range {x}..{y} is too long"));
                    }
                    if x <= y { (x..=y).map(Val::Int).collect() } else { (y..=x).rev().map(Val::Int).collect() }
                }
            }
        };
        let mark = self.locals.len();
        for v in values {
            self.tick()?;
            self.locals.push(Local::Named(name, v));
            let r = self.for_rec(rest, body, out);
            self.pop_to(mark);
            r?;
        }
        Ok(())
    }

    /// Looks for a witness: for `some`, an element satisfying the condition; for `every`, one
    /// that does not.
    fn quant_rec(&mut self, every: bool, iters: &'a [(String, Expr)], cond: &'a Expr) -> Result<bool, EvalError> {
        let Some(((name, src), rest)) = iters.split_first() else {
            return match self.eval(cond)? {
                Val::Bool(b) => Ok(if every { !b } else { b }),
                Val::Null => Ok(every),
                other => err(format!("the `satisfies` condition must be a boolean but it gave {}", other.kind())),
            };
        };
        let values = self.bind_list(src)?;
        let mark = self.locals.len();
        for v in values {
            self.tick()?;
            self.locals.push(Local::Named(name, v));
            let r = self.quant_rec(every, rest, cond);
            self.pop_to(mark);
            if r? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// True for a list none of whose items is a list or range (`[1, 2]`): `[1, 2] in [1, 2]` then
/// compares the lists rather than looking for the list among the items.
fn list_of_scalars(w: &Val) -> bool {
    match w {
        Val::JList(a) => a.iter().all(|x| !x.is_array()),
        Val::List(l) => l.iter().all(|x| !x.is_list() && !matches!(x, Val::Range(_))),
        _ => false,
    }
}

/// A range from its ends; the ends must be of one kind that can be ordered.
pub(crate) fn range_value<'a>(
    lo: Option<Val<'a>>,
    lo_incl: bool,
    hi: Option<Val<'a>>,
    hi_incl: bool,
) -> Result<Val<'a>, EvalError> {
    if let (Some(l), Some(h)) = (&lo, &hi)
        && !matches!(l, Val::Null)
        && !matches!(h, Val::Null)
    {
        let o = order(l, h).map_err(|_| EvalError {
            message: format!("the ends of a range must be of one kind, not {} and {}", l.kind(), h.kind()),
            offset: None,
        })?;
        if o == Some(Ordering::Greater) {
            return err("a range must go up: its start is after its end");
        }
    }
    for end in [&lo, &hi].into_iter().flatten() {
        if !matches!(
            end,
            Val::Null
                | Val::Int(_)
                | Val::Num(_)
                | Val::Huge(_)
                | Val::Str(_)
                | Val::Date(_)
                | Val::Time(_)
                | Val::DateTime(_)
                | Val::Dur(_)
        ) {
            return err(format!("a range cannot end at {}", end.kind()));
        }
    }
    Ok(Val::Range(Rc::new(RangeV::Interval { lo, lo_incl, hi, hi_incl })))
}

/// `list[n]`: 1-based, negative counts from the end; out of range (or not whole) gives null.
fn index<'a>(items: Vec<Val<'a>>, n: &Val) -> Val<'a> {
    let Some(n) = n.as_int() else {
        return Val::Null;
    };
    let len = items.len() as i64;
    let i = if n > 0 && n <= len {
        n - 1
    } else if n < 0 && n >= -len {
        len + n
    } else {
        return Val::Null;
    };
    items.into_iter().nth(i as usize).unwrap_or(Val::Null)
}

/// "a number (2.5)" for a number that is not whole, else the kind.
fn describe_num(v: &Val) -> String {
    match v {
        Val::Num(_) | Val::Huge(_) => format!("{} ({})", v.kind(), v.clone().into_json()),
        _ => v.kind().to_string(),
    }
}

fn path<'a>(b: Val<'a>, key: &str) -> Result<Val<'a>, EvalError> {
    Ok(match &b {
        Val::Null => Val::Null,
        Val::JObj(_) | Val::Ctx(_) => b.get(key).unwrap_or(Val::Null),
        Val::JList(_) | Val::List(_) => {
            // `orders.total` reads the key of every element (FEEL).
            let items = b.items().unwrap_or_default();
            let mut out = Vec::with_capacity(items.len());
            for i in items {
                out.push(match i {
                    i if i.is_ctx() => i.get(key).unwrap_or(Val::Null),
                    _ => Val::Null,
                });
            }
            Val::List(out)
        }
        Val::DateTime(t) => match key {
            "year" => Val::Int(i64::from(t.local.year())),
            "month" => Val::Int(i64::from(t.local.month())),
            "day" => Val::Int(i64::from(t.local.day())),
            "hour" => Val::Int(i64::from(t.local.hour())),
            "minute" => Val::Int(i64::from(t.local.minute())),
            "second" => Val::Int(i64::from(t.local.second())),
            "weekday" => Val::Int(i64::from(t.local.weekday().number_from_monday())),
            "time offset" => offset_of(&t.zone),
            "timezone" => zone_name(&t.zone),
            _ => return no_prop(&b, key),
        },
        Val::Date(t) => match key {
            "year" => Val::Int(i64::from(t.year())),
            "month" => Val::Int(i64::from(t.month())),
            "day" => Val::Int(i64::from(t.day())),
            "weekday" => Val::Int(i64::from(t.weekday().number_from_monday())),
            _ => return no_prop(&b, key),
        },
        Val::Time(t) => match key {
            "hour" => Val::Int(i64::from(t.local.hour())),
            "minute" => Val::Int(i64::from(t.local.minute())),
            "second" => Val::Int(i64::from(t.local.second())),
            "time offset" => offset_of(&t.zone),
            "timezone" => zone_name(&t.zone),
            _ => return no_prop(&b, key),
        },
        Val::Range(r) => {
            let (lo, lo_incl, hi, hi_incl) = match &**r {
                RangeV::Interval { lo, lo_incl, hi, hi_incl } => (lo.clone(), *lo_incl, hi.clone(), *hi_incl),
                RangeV::Eq(v) => (Some(v.clone()), true, Some(v.clone()), true),
                RangeV::Ne(_) => return no_prop(&b, key),
            };
            match key {
                "start" => lo.unwrap_or(Val::Null),
                "end" => hi.unwrap_or(Val::Null),
                "start included" => Val::Bool(lo.is_some() && lo_incl),
                "end included" => Val::Bool(hi.is_some() && hi_incl),
                _ => return no_prop(&b, key),
            }
        }
        Val::Dur(d) => {
            let sign = if d.is_negative() { -1 } else { 1 };
            let m = d.total_months().abs();
            let s = d.total_seconds().abs();
            // A years-and-months duration has no days, a days-and-time one no years (DMN).
            let ym = d.total_nanos() == 0 && d.total_months() != 0;
            let dt = d.total_months() == 0 && d.total_nanos() != 0;
            let v = match key {
                "years" if !dt => m / 12,
                "months" if !dt => m % 12,
                "days" if !ym => s / 86_400,
                "hours" if !ym => s % 86_400 / 3600,
                "minutes" if !ym => s % 3600 / 60,
                "seconds" if !ym => s % 60,
                _ => return no_prop(&b, key),
            };
            Val::Int(sign * v)
        }
        other => {
            return err(format!("cannot read `{key}` of {}: only contexts have entries", other.kind()));
        }
    })
}

/// `.time offset`: a days-and-time duration, null for a local value or an unknown zone.
fn offset_of(z: &Zone) -> Val<'static> {
    match z.offset().and_then(|s| IsoDuration::from_parts(0, i128::from(s) * 1_000_000_000)) {
        Some(d) if !z.is_local() => Val::Dur(d),
        _ => Val::Null,
    }
}

/// `.timezone`: the zone's name, null unless the value has a named zone.
fn zone_name(z: &Zone) -> Val<'static> {
    match z {
        Zone::Named(n) => Val::Str(Cow::Owned(n.to_string())),
        _ => Val::Null,
    }
}

fn no_prop<'a>(b: &Val, key: &str) -> Result<Val<'a>, EvalError> {
    err(format!("{} has no property `{key}`", b.kind()))
}

pub(crate) fn instance_of(v: &Val, t: &TypeExpr) -> bool {
    match t {
        TypeExpr::Named(t) => instance_of_name(v, *t),
        TypeExpr::List(inner) => match v {
            Val::JList(a) => a.iter().all(|x| instance_of(&Val::from_json(x), inner) || x.is_null()),
            Val::List(l) => l.iter().all(|x| matches!(x, Val::Null) || instance_of(x, inner)),
            _ => false,
        },
        TypeExpr::Context(entries) => {
            v.is_ctx()
                && entries.iter().all(|(k, t)| match v.get(k) {
                    Some(Val::Null) => true,
                    Some(x) => instance_of(&x, t),
                    None => false,
                })
        }
        TypeExpr::Range(inner) => match v {
            Val::Range(r) => match &**r {
                RangeV::Interval { lo, hi, .. } => {
                    [lo, hi].into_iter().flatten().all(|e| matches!(e, Val::Null) || instance_of(e, inner))
                }
                RangeV::Eq(x) | RangeV::Ne(x) => instance_of(x, inner),
            },
            _ => false,
        },
        TypeExpr::Function(params, _) => match v {
            Val::Func(f) => f.params.len() == params.len(),
            _ => false,
        },
    }
}

fn instance_of_name(v: &Val, t: TypeName) -> bool {
    match t {
        TypeName::Any => !matches!(v, Val::Null),
        TypeName::Null => matches!(v, Val::Null),
        TypeName::Number => v.is_number(),
        TypeName::String => matches!(v, Val::Str(_)),
        TypeName::Boolean => matches!(v, Val::Bool(_)),
        TypeName::List => v.is_list(),
        TypeName::Context => v.is_ctx(),
        TypeName::Date => matches!(v, Val::Date(_)),
        TypeName::Time => matches!(v, Val::Time(_)),
        TypeName::DateTime => matches!(v, Val::DateTime(_)),
        TypeName::Duration => matches!(v, Val::Dur(_)),
        TypeName::DaysTimeDuration => matches!(v, Val::Dur(d) if d.total_months() == 0),
        TypeName::YearsMonthsDuration => matches!(v, Val::Dur(d) if d.total_nanos() == 0),
        TypeName::Range => matches!(v, Val::Range(_)),
        TypeName::Function => matches!(v, Val::Func(_)),
    }
}
