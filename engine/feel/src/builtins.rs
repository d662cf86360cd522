//! The built-in FEEL functions. A null argument gives a null result (FEEL); an argument of the
//! wrong kind is an error naming the function and what it expected.

use std::borrow::Cow;

use chrono::{Datelike, NaiveTime, TimeZone, Timelike, Utc};
use rust_decimal::Decimal;

use crate::EvalError;
use crate::ast::Builtin;
use crate::eval::{Val, dec_val, err, loose_eq, order};
use crate::iso8601::{IsoDuration, parse_date, parse_date_time, parse_duration, parse_time};
use crate::num::{Round, dec_from_f64, dec_int, parse_dec, round, too_large};

type R<'a> = Result<Val<'a>, EvalError>;

pub(crate) fn not(v: Val) -> R<'static> {
    match v {
        Val::Bool(b) => Ok(Val::Bool(!b)),
        Val::Null => Ok(Val::Null),
        other => err(format!("`not` needs a boolean but got {}", other.kind())),
    }
}

/// The arguments of one call, with the function's name for messages.
struct Args<'a> {
    f: Builtin,
    args: Vec<Option<Val<'a>>>,
}

impl<'a> Args<'a> {
    fn take(&mut self, i: usize) -> Val<'a> {
        self.args.get_mut(i).and_then(Option::take).unwrap_or(Val::Null)
    }

    fn given(&self, i: usize) -> bool {
        self.args.get(i).is_some_and(Option::is_some)
    }

    fn wrong<T>(&self, what: &str, got: &Val) -> Result<T, EvalError> {
        err(format!("`{}` expects {what} but got {}", self.f.name(), got.kind()))
    }

    fn string(&mut self, i: usize) -> Result<Option<Cow<'a, str>>, EvalError> {
        match self.take(i) {
            Val::Null => Ok(None),
            Val::Str(s) => Ok(Some(s)),
            other => self.wrong("a string", &other),
        }
    }

    fn number(&mut self, i: usize) -> Result<Option<Val<'a>>, EvalError> {
        match self.take(i) {
            Val::Null => Ok(None),
            v if v.is_number() => Ok(Some(v)),
            other => self.wrong("a number", &other),
        }
    }

    /// A whole number argument (positions, lengths, scales).
    fn int(&mut self, i: usize) -> Result<Option<i64>, EvalError> {
        match self.number(i)? {
            None => Ok(None),
            Some(v) => match v.as_int() {
                Some(n) => Ok(Some(n)),
                None => err(format!("`{}` expects a whole number but got {}", self.f.name(), to_text(v))),
            },
        }
    }

    fn list(&mut self, i: usize) -> Result<Option<Vec<Val<'a>>>, EvalError> {
        match self.take(i) {
            Val::Null => Ok(None),
            v if v.is_list() => Ok(v.items()),
            other => self.wrong("a list", &other),
        }
    }

    /// `count(list)` or `count(a, b, c)`: list functions accept either form (FEEL).
    fn list_or_varargs(&mut self) -> Result<Option<Vec<Val<'a>>>, EvalError> {
        if self.args.len() == 1 {
            return match self.take(0) {
                Val::Null => Ok(None),
                v if v.is_list() => Ok(v.items()),
                other => Ok(Some(vec![other])),
            };
        }
        Ok(Some(std::mem::take(&mut self.args).into_iter().map(|a| a.unwrap_or(Val::Null)).collect()))
    }
}

/// Renders a value as FEEL's `string(..)` does; numbers without trailing zeros (`110`, `0.3`).
pub(crate) fn to_text(v: Val) -> String {
    match v {
        Val::Str(s) => s.into_owned(),
        Val::Int(i) => i.to_string(),
        Val::Num(d) => d.normalize().to_string(),
        other => match other.into_json() {
            serde_json::Value::String(s) => s,
            j => j.to_string(),
        },
    }
}

pub(crate) fn call<'a>(f: Builtin, args: Vec<Option<Val<'a>>>) -> R<'a> {
    use Builtin as B;
    let mut a = Args { f, args };
    Ok(match f {
        B::Not => not(a.take(0))?,
        // Rewritten to `Expr::IsDefined` by the parser; kept for completeness.
        B::IsDefined => Val::Bool(!matches!(a.take(0), Val::Null)),
        B::String => match a.take(0) {
            Val::Null => Val::Null,
            v => Val::Str(Cow::Owned(to_text(v))),
        },
        B::Number => match a.take(0) {
            Val::Null => Val::Null,
            v if v.is_number() => v,
            Val::Str(s) => {
                let t = s.trim();
                let (neg, digits) = match t.strip_prefix('-') {
                    Some(d) => (true, d),
                    None => (false, t.strip_prefix('+').unwrap_or(t)),
                };
                match (t.parse::<i64>(), parse_dec(digits)) {
                    (Ok(i), _) => Val::Int(i),
                    (_, Some(d)) => dec_val(if neg { -d } else { d }),
                    _ if digits.bytes().any(|b| b.is_ascii_digit())
                        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                        && digits.bytes().filter(|&b| b == b'.').count() <= 1 =>
                    {
                        return err(format!("`number` cannot convert \"{s}\": number too large"));
                    }
                    _ => return err(format!("`number` cannot convert \"{s}\" to a number")),
                }
            }
            other => return a.wrong("a string", &other),
        },
        B::StringLength => match a.string(0)? {
            None => Val::Null,
            Some(s) => Val::Int(s.chars().count() as i64),
        },
        B::UpperCase => match a.string(0)? {
            None => Val::Null,
            Some(s) => Val::Str(Cow::Owned(s.to_uppercase())),
        },
        B::LowerCase => match a.string(0)? {
            None => Val::Null,
            Some(s) => Val::Str(Cow::Owned(s.to_lowercase())),
        },
        B::Trim => match a.string(0)? {
            None => Val::Null,
            Some(s) => Val::Str(Cow::Owned(s.trim().to_string())),
        },
        B::Substring => {
            let (Some(s), Some(start)) = (a.string(0)?, a.int(1)?) else {
                return Ok(Val::Null);
            };
            let has_len = a.given(2);
            let len = a.int(2)?;
            if has_len && len.is_none() {
                return Ok(Val::Null);
            }
            let chars: Vec<char> = s.chars().collect();
            let n = chars.len() as i64;
            // 1-based; negative counts from the end.
            let from = if start > 0 { start - 1 } else { (n + start).max(0) };
            let from = from.min(n);
            let to = match len {
                Some(l) if l < 0 => {
                    return err("`substring` expects a length of zero or more");
                }
                Some(l) => from.saturating_add(l).min(n),
                None => n,
            };
            Val::Str(Cow::Owned(chars[from as usize..to as usize].iter().collect()))
        }
        B::SubstringBefore | B::SubstringAfter => {
            let (Some(s), Some(m)) = (a.string(0)?, a.string(1)?) else {
                return Ok(Val::Null);
            };
            let out = match s.find(m.as_ref()) {
                Some(i) if f == B::SubstringBefore => s[..i].to_string(),
                Some(i) => s[i + m.len()..].to_string(),
                None => String::new(),
            };
            Val::Str(Cow::Owned(out))
        }
        B::Contains | B::StartsWith | B::EndsWith => {
            let (Some(s), Some(m)) = (a.string(0)?, a.string(1)?) else {
                return Ok(Val::Null);
            };
            Val::Bool(match f {
                B::Contains => s.contains(m.as_ref()),
                B::StartsWith => s.starts_with(m.as_ref()),
                _ => s.ends_with(m.as_ref()),
            })
        }
        B::Split => {
            let (Some(s), Some(d)) = (a.string(0)?, a.string(1)?) else {
                return Ok(Val::Null);
            };
            if d.is_empty() {
                return err("`split` needs a non-empty delimiter");
            }
            Val::List(s.split(d.as_ref()).map(|p| Val::Str(Cow::Owned(p.to_string()))).collect())
        }
        B::StringJoin => {
            let Some(items) = a.list(0)? else {
                return Ok(Val::Null);
            };
            let delim = a.string(1)?.unwrap_or(Cow::Borrowed(""));
            let mut parts = Vec::new();
            for i in items {
                match i {
                    Val::Null => {}
                    Val::Str(s) => parts.push(s),
                    other => return a.wrong("a list of strings", &other),
                }
            }
            Val::Str(Cow::Owned(parts.join(delim.as_ref())))
        }
        B::Count => match a.list_or_varargs()? {
            None => Val::Null,
            Some(l) => Val::Int(l.len() as i64),
        },
        B::Sum | B::Mean => {
            let Some(items) = a.list_or_varargs()? else {
                return Ok(Val::Null);
            };
            if items.is_empty() {
                return Ok(Val::Null);
            }
            let n = items.len();
            let mut acc = Val::Int(0);
            for i in items {
                if !i.is_number() {
                    if matches!(i, Val::Null) {
                        return Ok(Val::Null);
                    }
                    return a.wrong("a list of numbers", &i);
                }
                acc = crate::eval::arith(crate::ast::ArOp::Add, acc, i)?;
            }
            if f == B::Mean { crate::eval::arith(crate::ast::ArOp::Div, acc, Val::Int(n as i64))? } else { acc }
        }
        B::Min | B::Max => {
            let Some(items) = a.list_or_varargs()? else {
                return Ok(Val::Null);
            };
            let mut best: Option<Val> = None;
            for i in items {
                best = Some(match best {
                    None => i,
                    Some(b) => match order(&i, &b)? {
                        None => return Ok(Val::Null),
                        Some(o) => {
                            let better = if f == B::Min { o.is_lt() } else { o.is_gt() };
                            if better { i } else { b }
                        }
                    },
                });
            }
            best.unwrap_or(Val::Null)
        }
        B::All | B::Any => {
            let Some(items) = a.list_or_varargs()? else {
                return Ok(Val::Null);
            };
            let decisive = f == B::Any;
            let mut saw_null = false;
            for i in items {
                match i {
                    Val::Bool(b) if b == decisive => return Ok(Val::Bool(decisive)),
                    Val::Bool(_) => {}
                    Val::Null => saw_null = true,
                    other => return a.wrong("a list of booleans", &other),
                }
            }
            if saw_null { Val::Null } else { Val::Bool(!decisive) }
        }
        B::ListContains => {
            let Some(items) = a.list(0)? else {
                return Ok(Val::Null);
            };
            let x = a.take(1);
            Val::Bool(items.iter().any(|i| loose_eq(i, &x)))
        }
        B::Append => {
            let Some(mut items) = a.list(0)? else {
                return Ok(Val::Null);
            };
            for i in 1..a.args.len() {
                items.push(a.take(i));
            }
            Val::List(items)
        }
        B::Concatenate => {
            let mut out = Vec::new();
            for i in 0..a.args.len() {
                match a.list(i)? {
                    Some(l) => out.extend(l),
                    None => return Ok(Val::Null),
                }
            }
            Val::List(out)
        }
        B::DistinctValues => {
            let Some(items) = a.list(0)? else {
                return Ok(Val::Null);
            };
            let mut out: Vec<Val> = Vec::new();
            for i in items {
                if !out.iter().any(|o| loose_eq(o, &i)) {
                    out.push(i);
                }
            }
            Val::List(out)
        }
        B::Flatten => {
            let Some(items) = a.list(0)? else {
                return Ok(Val::Null);
            };
            let mut out = Vec::new();
            flatten_into(items, &mut out);
            Val::List(out)
        }
        B::IndexOf => {
            let Some(items) = a.list(0)? else {
                return Ok(Val::Null);
            };
            let x = a.take(1);
            Val::List(
                items
                    .iter()
                    .enumerate()
                    .filter(|(_, i)| loose_eq(i, &x))
                    .map(|(k, _)| Val::Int(k as i64 + 1))
                    .collect(),
            )
        }
        B::Reverse => match a.list(0)? {
            None => Val::Null,
            Some(mut l) => {
                l.reverse();
                Val::List(l)
            }
        },
        B::Sort => {
            let Some(mut items) = a.list(0)? else {
                return Ok(Val::Null);
            };
            // Check every pair the sort will meet can be ordered, so the sort itself cannot fail.
            for w in items.windows(2) {
                if order(&w[0], &w[1])?.is_none() {
                    return err("`sort` cannot order a list containing null");
                }
            }
            if let Some(first) = items.first() {
                for i in &items {
                    order(first, i)?;
                }
            }
            items.sort_by(|x, y| order(x, y).ok().flatten().unwrap_or(std::cmp::Ordering::Equal));
            Val::List(items)
        }
        B::Sublist => {
            let (Some(items), Some(start)) = (a.list(0)?, a.int(1)?) else {
                return Ok(Val::Null);
            };
            let n = items.len() as i64;
            let from = if start > 0 { start - 1 } else { n + start };
            if from < 0 || from >= n {
                return Ok(Val::Null);
            }
            let to = match a.int(2)? {
                Some(l) if l < 0 => return err("`sublist` expects a length of zero or more"),
                Some(l) => from.saturating_add(l).min(n),
                None => n,
            };
            Val::List(items.into_iter().skip(from as usize).take((to - from) as usize).collect())
        }
        B::Remove | B::InsertBefore => {
            let (Some(mut items), Some(pos)) = (a.list(0)?, a.int(1)?) else {
                return Ok(Val::Null);
            };
            let n = items.len() as i64;
            let at = if pos > 0 { pos - 1 } else { n + pos };
            if at < 0 || at >= n {
                return Ok(Val::Null);
            }
            if f == B::Remove {
                items.remove(at as usize);
            } else {
                items.insert(at as usize, a.take(2));
            }
            Val::List(items)
        }
        B::Abs => match a.number(0)? {
            Some(Val::Int(i)) => i.checked_abs().map_or_else(|| Val::Num(Decimal::from(i).abs()), Val::Int),
            Some(Val::Num(d)) => Val::Num(d.abs()),
            Some(Val::Huge(x)) => Val::Huge(x.abs()),
            _ => Val::Null,
        },
        B::Floor | B::Ceiling => match a.number(0)? {
            Some(Val::Num(d)) => {
                let mode = if f == B::Floor { Round::Floor } else { Round::Ceiling };
                match round(d, 0, mode) {
                    Some(d) => dec_val(d),
                    None => return too_large(),
                }
            }
            // Whole numbers already (every f64 beyond 2^53 is whole).
            Some(v) => v,
            None => Val::Null,
        },
        B::Decimal | B::RoundUp | B::RoundDown | B::RoundHalfUp | B::RoundHalfDown => {
            let (Some(n), Some(scale)) = (a.number(0)?, a.int(1)?) else {
                return Ok(Val::Null);
            };
            let mode = match f {
                B::RoundUp => Round::Up,
                B::RoundDown => Round::Down,
                B::RoundHalfUp => Round::HalfUp,
                B::RoundHalfDown => Round::HalfDown,
                _ => Round::HalfEven,
            };
            match n {
                Val::Int(_) | Val::Huge(_) if scale >= 0 => n,
                v => match round(v.to_dec()?.unwrap_or_default(), scale, mode) {
                    Some(d) if scale <= 0 => dec_val(d),
                    Some(d) => Val::Num(d),
                    None => return too_large(),
                },
            }
        }
        B::Modulo => {
            let (Some(x), Some(y)) = (a.number(0)?, a.number(1)?) else {
                return Ok(Val::Null);
            };
            match (x, y) {
                (Val::Int(_), Val::Int(0)) => Val::Null,
                (Val::Int(x), Val::Int(y)) => {
                    let r = x.checked_rem(y).unwrap_or(0);
                    // The result takes the divisor's sign (FEEL: modulo(-12, 5) = 3).
                    if r != 0 && (r < 0) != (y < 0) { Val::Int(r + y) } else { Val::Int(r) }
                }
                (x, y) => {
                    let (p, q) = (x.to_dec()?.unwrap_or_default(), y.to_dec()?.unwrap_or_default());
                    if q.is_zero() {
                        return Ok(Val::Null);
                    }
                    let Some(r) = p.checked_rem(q) else {
                        return too_large();
                    };
                    if !r.is_zero() && r.is_sign_negative() != q.is_sign_negative() {
                        match r.checked_add(q) {
                            Some(r) => Val::Num(r),
                            None => return too_large(),
                        }
                    } else {
                        Val::Num(if r.is_zero() { Decimal::ZERO } else { r })
                    }
                }
            }
        }
        // Through f64: 15-17 significant digits.
        B::Sqrt => match a.number(0)?.and_then(|v| v.as_f64()) {
            Some(x) if x >= 0.0 => match dec_from_f64(x.sqrt()) {
                Some(d) => dec_val(d),
                None => return too_large(),
            },
            _ => Val::Null,
        },
        B::Odd | B::Even => match a.number(0)? {
            Some(v) => {
                let odd = match v {
                    Val::Int(i) => Some(i % 2 != 0),
                    Val::Num(d) if d.fract().is_zero() => Some(dec_int(d % Decimal::TWO).is_some_and(|r| r != 0)),
                    // Every f64 beyond 2^53 is even.
                    Val::Huge(_) => Some(false),
                    _ => None,
                };
                match odd {
                    Some(odd) => Val::Bool(if f == B::Odd { odd } else { !odd }),
                    None => Val::Bool(false),
                }
            }
            None => Val::Null,
        },
        B::GetValue => {
            let m = a.take(0);
            let Some(key) = a.string(1)? else {
                return Ok(Val::Null);
            };
            match m {
                Val::Null => Val::Null,
                m if m.is_ctx() => m.get(&key).unwrap_or(Val::Null),
                other => return a.wrong("a context", &other),
            }
        }
        B::GetEntries => match a.take(0) {
            Val::Null => Val::Null,
            m if m.is_ctx() => Val::List(
                m.entries()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| Val::Ctx(vec![(Cow::Borrowed("key"), Val::Str(k)), (Cow::Borrowed("value"), v)]))
                    .collect(),
            ),
            other => return a.wrong("a context", &other),
        },
        B::DateAndTime => match a.take(0) {
            Val::Null => Val::Null,
            Val::Str(s) => match parse_date_time(&s) {
                Ok(t) => Val::DateTime(t),
                Err(e) => return err(e.0),
            },
            Val::DateTime(t) => Val::DateTime(t),
            Val::Date(d) => Val::DateTime(Utc.from_utc_datetime(&d.and_time(NaiveTime::MIN))),
            other => return a.wrong("a string", &other),
        },
        B::Date => match a.take(0) {
            Val::Null => Val::Null,
            Val::Str(s) => {
                let r =
                    if s.contains(['T', 't']) { parse_date_time(&s).map(|t| t.date_naive()) } else { parse_date(&s) };
                match r {
                    Ok(d) => Val::Date(d),
                    Err(e) => return err(e.0),
                }
            }
            Val::DateTime(t) => Val::Date(t.date_naive()),
            Val::Date(d) => Val::Date(d),
            other => return a.wrong("a string", &other),
        },
        // `date`, `time` and `duration` share this arm's shape but each calls its own parser and builds
        // its own `Val` variant (and `date` also accepts a date-time text): nothing to share but the shape.
        B::Time => match a.take(0) {
            Val::Null => Val::Null,
            Val::Str(s) => match parse_time(&s) {
                Ok(t) => Val::Time(t),
                Err(e) => return err(e.0),
            },
            Val::DateTime(t) => Val::Time(t.time()),
            Val::Time(t) => Val::Time(t),
            other => return a.wrong("a string", &other),
        },
        B::Duration => match a.take(0) {
            Val::Null => Val::Null,
            Val::Str(s) => match parse_duration(&s) {
                Ok(d) => Val::Dur(d),
                Err(e) => return err(e.0),
            },
            Val::Dur(d) => Val::Dur(d),
            other => return a.wrong("a string", &other),
        },
        B::YearsAndMonthsDuration => {
            let from = a.take(0);
            let to = a.take(1);
            // (year, month, rest-of-month position) of each end; dates are midnight.
            let parts = |v: &Val| match v {
                Val::Date(d) => Some((d.year(), d.month(), (d.day(), 0u32, 0u32))),
                Val::DateTime(t) => {
                    Some((t.year(), t.month(), (t.day(), t.num_seconds_from_midnight(), t.nanosecond())))
                }
                _ => None,
            };
            match (&from, &to) {
                (Val::Null, _) | (_, Val::Null) => Val::Null,
                _ => match (parts(&from), parts(&to)) {
                    (Some((y1, m1, r1)), Some((y2, m2, r2))) => {
                        let mut months = (i64::from(y2) - i64::from(y1)) * 12 + i64::from(m2) - i64::from(m1);
                        // Only whole months count.
                        if months > 0 && r2 < r1 {
                            months -= 1;
                        } else if months < 0 && r2 > r1 {
                            months += 1;
                        }
                        match IsoDuration::from_parts(months, 0) {
                            Some(d) => Val::Dur(d),
                            None => return err("the duration is out of range"),
                        }
                    }
                    _ => {
                        let bad = if parts(&from).is_none() { &from } else { &to };
                        return a.wrong("dates or dates and times", bad);
                    }
                },
            }
        }
    })
}

fn flatten_into<'a>(items: Vec<Val<'a>>, out: &mut Vec<Val<'a>>) {
    for i in items {
        if i.is_list() {
            flatten_into(i.items().unwrap_or_default(), out);
        } else {
            out.push(i);
        }
    }
}
