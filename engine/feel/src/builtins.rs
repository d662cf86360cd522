//! The built-in FEEL functions. A null argument gives a null result (FEEL); an argument of the
//! wrong kind is an error naming the function and what it expected.
//!
//! Why one file of this size: `call` is one exhaustive match over [`Builtin`], so a function added
//! to the enum does not compile until it is implemented here, and every arm shares the argument
//! reader (`Args`), the value limits of `Env` and the null rule; the helpers below it serve
//! several arms (sorting, ranges, date and time constructors).

use std::borrow::Cow;
use std::cmp::Ordering;

use chrono::{Datelike, NaiveDate, NaiveTime};
use rust_decimal::Decimal;

use crate::EvalError;
use crate::ast::{ArOp, Builtin, Expr, Pattern};
use crate::eval::{Env, RangeV, Val, dec_val, err, loose_eq, order};
use crate::iso8601::{IsoDuration, parse_duration};
use crate::num::{Round, dec_from_f64, dec_int, dec_to_f64, parse_dec, round, too_large};
use crate::temporal::{self, DateTime, Time, Zone};

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
        match singleton(self.take(i)) {
            Val::Null => Ok(None),
            Val::Str(s) => Ok(Some(s)),
            other => self.wrong("a string", &other),
        }
    }

    fn number(&mut self, i: usize) -> Result<Option<Val<'a>>, EvalError> {
        match singleton(self.take(i)) {
            Val::Null => Ok(None),
            v if v.is_number() => Ok(Some(v)),
            other => self.wrong("a number", &other),
        }
    }

    /// A whole number argument (positions, lengths, scales).
    fn int(&mut self, i: usize) -> Result<Option<i64>, EvalError> {
        match self.number(i)? {
            None => Ok(None),
            // A fraction is dropped (`substring("abc", 1.8)` is `substring("abc", 1)`), as DMN does.
            Some(v) => match v.to_dec()?.map(crate::num::dec_trunc_i128).and_then(|i| i64::try_from(i).ok()) {
                Some(n) => Ok(Some(n)),
                None => err(format!("`{}` expects a whole number but got {}", self.f.name(), to_text(v))),
            },
        }
    }

    /// A list argument; any other value is read as a list of that one value (DMN 1.5).
    fn list(&mut self, i: usize) -> Result<Option<Vec<Val<'a>>>, EvalError> {
        match self.take(i) {
            Val::Null => Ok(None),
            v if v.is_list() => Ok(v.items()),
            Val::Func(_) => self.wrong("a list", &Val::Null),
            other => Ok(Some(vec![other])),
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

/// A list of one value given where a single value is expected is that value (DMN 1.5).
fn singleton(v: Val) -> Val {
    match v {
        Val::List(mut l) if l.len() == 1 => l.pop().unwrap_or(Val::Null),
        Val::JList(a) if a.len() == 1 => Val::from_json(&a[0]),
        v => v,
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

pub(crate) fn call<'a>(env: &mut Env<'a>, f: Builtin, args: Vec<Option<Val<'a>>>, pat: Option<&'a Pattern>) -> R<'a> {
    use Builtin as B;
    let mut a = Args { f, args };
    Ok(match f {
        B::Not => not(a.take(0))?,
        B::IsDefined => Val::Bool(!matches!(a.take(0), Val::Null)),
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
        B::Abs if matches!(a.args.first(), Some(Some(Val::Dur(_)))) => match a.take(0) {
            Val::Dur(d) if d.is_negative() => Val::Dur(d.negated()),
            d => d,
        },
        B::Abs => match a.number(0)? {
            Some(Val::Int(i)) => i.checked_abs().map_or_else(|| Val::Num(Decimal::from(i).abs()), Val::Int),
            Some(Val::Num(d)) => Val::Num(d.abs()),
            Some(Val::Huge(x)) => Val::Huge(x.abs()),
            _ => Val::Null,
        },
        B::Decimal | B::RoundUp | B::RoundDown | B::RoundHalfUp | B::RoundHalfDown => {
            let (Some(n), Some(scale)) = (a.number(0)?, a.int(1)?) else {
                return Ok(Val::Null);
            };
            if !(-6111..=6176).contains(&scale) {
                return err(format!("`{}`: the scale must be between -6111 and 6176", f.name()));
            }
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
        B::GetOrElse => match a.take(0) {
            Val::Null => a.take(1),
            v => v,
        },
        B::String => match a.take(0) {
            Val::Null => Val::Null,
            v => Val::Str(Cow::Owned(to_text(v))),
        },
        B::Number => number(&mut a)?,
        B::Matches => {
            let (Some(s), Some(p)) = (a.string(0)?, a.string(1)?) else {
                return Ok(Val::Null);
            };
            let flags = a.string(2)?.unwrap_or_default();
            let re = regex(pat, &p, &flags)?;
            Val::Bool(re.is_match(&s))
        }
        B::Replace => {
            let (Some(s), Some(p), Some(r)) = (a.string(0)?, a.string(1)?, a.string(2)?) else {
                return Ok(Val::Null);
            };
            let flags = a.string(3)?.unwrap_or_default();
            let re = regex(pat, &p, &flags)?;
            if re.is_match("") {
                return err(format!("`replace` cannot use the pattern `{p}`: it matches the empty string"));
            }
            let repl = match crate::regexp::replacement(&r) {
                Ok(x) => x,
                Err(m) => return err(m),
            };
            let room = env.room();
            let mut out = String::new();
            let mut last = 0;
            for caps in re.captures_iter(&s) {
                env.tick()?;
                let Some(m) = caps.get(0) else { continue };
                out.push_str(&s[last..m.start()]);
                caps.expand(&repl, &mut out);
                last = m.end();
                if out.len() > room {
                    return env.no_room();
                }
            }
            out.push_str(&s[last..]);
            Val::Str(Cow::Owned(out))
        }
        B::Split => {
            let (Some(s), Some(p)) = (a.string(0)?, a.string(1)?) else {
                return Ok(Val::Null);
            };
            let re = regex(pat, &p, "")?;
            if re.is_match("") {
                return err(format!("`split` cannot use the delimiter `{p}`: it matches the empty string"));
            }
            let mut out = Vec::new();
            for part in re.split(&s) {
                env.tick()?;
                out.push(Val::Str(Cow::Owned(part.to_string())));
            }
            env.fits(out.len() * 8 + s.len())?;
            Val::List(out)
        }
        B::Extract => {
            let (Some(s), Some(p)) = (a.string(0)?, a.string(1)?) else {
                return Ok(Val::Null);
            };
            let re = regex(pat, &p, "")?;
            let mut out = Vec::new();
            for m in re.find_iter(&s) {
                env.tick()?;
                out.push(Val::Str(Cow::Owned(m.as_str().to_string())));
            }
            env.fits(out.len() * 8 + s.len())?;
            Val::List(out)
        }
        B::StringJoin => {
            let Some(items) = a.list(0)? else {
                return Ok(Val::Null);
            };
            let delim = a.string(1)?.unwrap_or(Cow::Borrowed(""));
            let prefix = a.string(2)?.unwrap_or(Cow::Borrowed(""));
            let suffix = a.string(3)?.unwrap_or(Cow::Borrowed(""));
            let mut parts = Vec::new();
            let mut size = prefix.len() + suffix.len();
            for i in items {
                match i {
                    Val::Null => {}
                    Val::Str(s) => {
                        size = size.saturating_add(s.len() + delim.len());
                        parts.push(s);
                    }
                    other => return a.wrong("a list of strings", &other),
                }
            }
            env.fits(size)?;
            Val::Str(Cow::Owned(format!("{prefix}{}{suffix}", parts.join(delim.as_ref()))))
        }
        B::IsBlank => match a.string(0)? {
            None => Val::Null,
            Some(s) => Val::Bool(s.trim().is_empty()),
        },
        B::ToBase64 => match a.string(0)? {
            None => Val::Null,
            Some(s) => {
                use base64::Engine;
                env.fits(s.len() / 3 * 4 + 8)?;
                Val::Str(Cow::Owned(base64::engine::general_purpose::STANDARD.encode(s.as_bytes())))
            }
        },
        B::FromBase64 => match a.string(0)? {
            None => Val::Null,
            Some(s) => {
                use base64::Engine;
                match base64::engine::general_purpose::STANDARD.decode(s.trim().as_bytes()).map(String::from_utf8) {
                    Ok(Ok(t)) => Val::Str(Cow::Owned(t)),
                    Ok(Err(_)) => return err("`from base64`: the decoded bytes are not UTF-8 text"),
                    Err(e) => return err(format!("`from base64`: not base64 ({e})")),
                }
            }
        },
        B::ToJson => match a.take(0) {
            Val::Func(_) => return a.wrong("a value", &Val::Null),
            v => {
                let room = env.room();
                let text = v.into_json().to_string();
                if text.len() > room {
                    return env.no_room();
                }
                Val::Str(Cow::Owned(text))
            }
        },
        B::FromJson => match a.string(0)? {
            None => Val::Null,
            Some(s) => match serde_json::from_str::<serde_json::Value>(&s) {
                Ok(v) => crate::FeelValue::from_json(&v).0,
                Err(e) => return err(format!("`from json`: not JSON ({e})")),
            },
        },
        B::Product => {
            let Some(items) = a.list_or_varargs()? else {
                return Ok(Val::Null);
            };
            if items.is_empty() {
                return err("`product` of an empty list");
            }
            let mut acc = Val::Int(1);
            for i in items {
                if !i.is_number() {
                    return a.wrong("a list of numbers", &i);
                }
                acc = crate::eval::arith(ArOp::Mul, acc, i)?;
            }
            acc
        }
        B::Median | B::Stddev => {
            let Some(items) = a.list_or_varargs()? else {
                return Ok(Val::Null);
            };
            let mut nums = Vec::with_capacity(items.len());
            for i in items {
                match i.to_dec()? {
                    Some(d) => nums.push(d),
                    None => return a.wrong("a list of numbers", &i),
                }
            }
            if nums.is_empty() {
                return if f == B::Median { Ok(Val::Null) } else { err("`stddev` of an empty list") };
            }
            env.ticks(nums.len() as u64)?;
            if f == B::Median {
                nums.sort();
                let n = nums.len();
                if n % 2 == 1 {
                    dec_val(nums[n / 2])
                } else {
                    crate::eval::arith(ArOp::Div, Val::Num(nums[n / 2 - 1] + nums[n / 2]), Val::Int(2))?
                }
            } else {
                if nums.len() < 2 {
                    return err("`stddev` needs at least two numbers");
                }
                let n = Decimal::from(nums.len() as i64);
                let mut sum = Decimal::ZERO;
                for x in &nums {
                    sum = sum.checked_add(*x).map_or_else(too_large, Ok)?;
                }
                let mean = sum / n;
                let mut sq = Decimal::ZERO;
                for x in &nums {
                    let d = *x - mean;
                    sq = d.checked_mul(d).and_then(|p| sq.checked_add(p)).map_or_else(too_large, Ok)?;
                }
                let var = sq / (n - Decimal::ONE);
                match dec_from_f64(dec_to_f64(var).sqrt()) {
                    Some(d) => dec_val(d),
                    None => return too_large(),
                }
            }
        }
        B::Mode => {
            let Some(items) = a.list_or_varargs()? else {
                return Ok(Val::Null);
            };
            for i in &items {
                if !i.is_number() {
                    return a.wrong("a list of numbers", i);
                }
            }
            env.ticks((items.len() as u64).saturating_mul(items.len() as u64))?;
            let mut counts: Vec<(Val, usize)> = Vec::new();
            for i in items {
                match counts.iter_mut().find(|(v, _)| loose_eq(v, &i)) {
                    Some(c) => c.1 += 1,
                    None => counts.push((i, 1)),
                }
            }
            let best = counts.iter().map(|c| c.1).max().unwrap_or(0);
            let modes: Vec<Val> = counts.into_iter().filter(|c| c.1 == best).map(|c| c.0).collect();
            Val::List(sort_natural(env, modes)?)
        }
        B::Append => {
            let Some(mut items) = a.list(0)? else {
                return Ok(Val::Null);
            };
            for i in 1..a.args.len() {
                items.push(a.take(i));
            }
            env.fits(items.len() * 8)?;
            Val::List(items)
        }
        B::Concatenate | B::Union => {
            let mut out: Vec<Val> = Vec::new();
            for i in 0..a.args.len() {
                let l = match a.take(i) {
                    v if v.is_list() => v.items().unwrap_or_default(),
                    Val::Null => return Ok(Val::Null),
                    other if f == B::Union => vec![other],
                    other => return a.wrong("lists", &other),
                };
                env.fits((out.len() + l.len()) * 8)?;
                if f == B::Union {
                    env.ticks((l.len() as u64).saturating_mul(out.len() as u64 + 1))?;
                    for x in l {
                        if !out.iter().any(|o| loose_eq(o, &x)) {
                            out.push(x);
                        }
                    }
                } else {
                    out.extend(l);
                }
            }
            Val::List(out)
        }
        B::DistinctValues | B::DuplicateValues => {
            let Some(items) = a.list(0)? else {
                return Ok(Val::Null);
            };
            env.ticks((items.len() as u64).saturating_mul(items.len() as u64) / 2)?;
            let mut seen: Vec<(Val, bool)> = Vec::new();
            for i in items {
                match seen.iter_mut().find(|(o, _)| loose_eq(o, &i)) {
                    Some(s) => s.1 = true,
                    None => seen.push((i, false)),
                }
            }
            let dup = f == B::DuplicateValues;
            Val::List(seen.into_iter().filter(|(_, twice)| !dup || *twice).map(|(v, _)| v).collect())
        }
        B::Flatten => {
            let Some(items) = a.list(0)? else {
                return Ok(Val::Null);
            };
            let mut out = Vec::new();
            flatten_into(env, items, &mut out, 0)?;
            Val::List(out)
        }
        B::Sort => {
            let Some(items) = a.list(0)? else {
                return Ok(Val::Null);
            };
            match a.take(1) {
                Val::Null => Val::List(sort_natural(env, items)?),
                f @ Val::Func(_) => Val::List(merge_sort(env, items, &mut |env, x, y| match env
                    .apply(&f, vec![(None, x.clone()), (None, y.clone())])?
                {
                    Val::Bool(b) => Ok(b),
                    other => err(format!("the `sort` function must give a boolean but gave {}", other.kind())),
                })?),
                other => return a.wrong("a function as its second argument", &other),
            }
        }
        B::ListReplace => {
            let Some(mut items) = a.list(0)? else {
                return Ok(Val::Null);
            };
            let new = a.take(2);
            match a.take(1) {
                Val::Func(m) => {
                    let m = Val::Func(m);
                    for item in &mut items {
                        match env.apply(&m, vec![(None, item.clone()), (None, new.clone())])? {
                            Val::Bool(true) => *item = new.clone(),
                            Val::Bool(false) | Val::Null => {}
                            other => {
                                return err(format!(
                                    "the `list replace` function must give a boolean but gave {}",
                                    other.kind()
                                ));
                            }
                        }
                    }
                }
                Val::Null => return Ok(Val::Null),
                p => {
                    let Some(pos) = p.to_dec()?.map(crate::num::dec_trunc_i128).and_then(|i| i64::try_from(i).ok())
                    else {
                        return a.wrong("a position or a function", &p);
                    };
                    let n = items.len() as i64;
                    let at = if pos > 0 { pos - 1 } else { n + pos };
                    if pos == 0 || at < 0 || at >= n {
                        return err(format!("`list replace`: position {pos} is outside the list of {n}"));
                    }
                    items[at as usize] = new;
                }
            }
            Val::List(items)
        }
        B::IsEmpty => match a.list(0)? {
            None => Val::Null,
            Some(l) => Val::Bool(l.is_empty()),
        },
        B::Partition => {
            let (Some(items), Some(size)) = (a.list(0)?, a.int(1)?) else {
                return Ok(Val::Null);
            };
            if size <= 0 {
                return err("`partition` needs a size above zero");
            }
            env.fits(items.len() * 8)?;
            let size = usize::try_from(size).unwrap_or(usize::MAX);
            let mut out = Vec::new();
            let mut cur = Vec::new();
            for i in items {
                cur.push(i);
                if cur.len() == size {
                    out.push(Val::List(std::mem::take(&mut cur)));
                }
            }
            if !cur.is_empty() {
                out.push(Val::List(cur));
            }
            Val::List(out)
        }
        B::Floor | B::Ceiling => {
            let n = a.number(0)?;
            let scale = if a.given(1) {
                match a.int(1)? {
                    Some(s) => s,
                    None => return Ok(Val::Null),
                }
            } else {
                0
            };
            let mode = if f == B::Floor { Round::Floor } else { Round::Ceiling };
            match n {
                None => Val::Null,
                Some(Val::Int(i)) if scale >= 0 => Val::Int(i),
                Some(Val::Huge(x)) => Val::Huge(x),
                Some(v) => match round(v.to_dec()?.unwrap_or_default(), scale, mode) {
                    Some(d) if scale <= 0 => dec_val(d),
                    Some(d) => Val::Num(d),
                    None => return too_large(),
                },
            }
        }
        B::Log | B::Exp => match a.number(0)?.and_then(|v| v.as_f64()) {
            None => Val::Null,
            Some(x) => {
                let r = if f == B::Log {
                    if x <= 0.0 {
                        return err("`log` needs a number above zero");
                    }
                    x.ln()
                } else {
                    x.exp()
                };
                match dec_from_f64(r) {
                    Some(d) => dec_val(d),
                    None => return too_large(),
                }
            }
        },
        B::Context => {
            let entries = match a.take(0) {
                Val::Null => return Ok(Val::Null),
                v if v.is_list() => v.items().unwrap_or_default(),
                v if v.is_ctx() => vec![v],
                other => return a.wrong("a list of contexts with `key` and `value`", &other),
            };
            let mut out: Vec<(Cow<'a, str>, Val<'a>)> = Vec::with_capacity(entries.len());
            for e in entries {
                let (Some(Val::Str(k)), Some(v)) = (e.get("key"), e.get("value")) else {
                    return a.wrong("a list of contexts with `key` and `value`", &e);
                };
                if out.iter().any(|(o, _)| *o == k) {
                    return err(format!("`context`: the key `{k}` is given twice"));
                }
                out.push((k, v));
            }
            Val::Ctx(out)
        }
        B::ContextPut => {
            let ctx = a.take(0);
            let keys: Vec<Cow<'a, str>> = match a.take(1) {
                Val::Str(k) => vec![k],
                l if l.is_list() => {
                    let mut ks = Vec::new();
                    for k in l.items().unwrap_or_default() {
                        match k {
                            Val::Str(k) => ks.push(k),
                            other => return a.wrong("a key or a list of keys (strings)", &other),
                        }
                    }
                    if ks.is_empty() {
                        return err("`context put` needs at least one key");
                    }
                    ks
                }
                Val::Null => return err("`context put` needs a key"),
                other => return a.wrong("a key or a list of keys (strings)", &other),
            };
            let v = a.take(2);
            match ctx {
                Val::Null => Val::Null,
                c if c.is_ctx() => context_put(c, &keys, v)?,
                other => return a.wrong("a context", &other),
            }
        }
        B::ContextMerge => {
            let Some(list) = a.list(0)? else {
                return Ok(Val::Null);
            };
            let mut out: Vec<(Cow<'a, str>, Val<'a>)> = Vec::new();
            for c in list {
                let Some(entries) = (if c.is_ctx() { c.clone().entries() } else { None }) else {
                    return a.wrong("a list of contexts", &c);
                };
                env.ticks(entries.len() as u64)?;
                for (k, v) in entries {
                    match out.iter_mut().find(|(o, _)| *o == k) {
                        Some(slot) => slot.1 = v,
                        None => out.push((k, v)),
                    }
                }
            }
            Val::Ctx(out)
        }
        B::DateAndTime => date_and_time(&mut a)?,
        B::Date => date(&mut a)?,
        B::Time => time(&mut a)?,
        B::Duration => match a.take(0) {
            Val::Null => Val::Null,
            Val::Str(s) => match parse_duration(&s) {
                Ok(d) if !s.trim().starts_with('+') && !s.contains(',') && s.trim() == s.as_ref() => Val::Dur(d),
                Ok(_) => return err(format!("`duration`: `{s}` is not an ISO 8601 duration")),
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
                // Only the dates count (`2014-12-31T23:59:59` to `2016-12-31T00:00:01` is P2Y).
                Val::Date(d) => Some((d.year(), d.month(), d.day())),
                Val::DateTime(t) => Some((t.local.year(), t.local.month(), t.local.day())),
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
        B::Now => {
            let t = env.now()?;
            Val::DateTime(DateTime::utc(t.naive_utc()))
        }
        B::Today => Val::Date(env.now()?.date_naive()),
        B::DayOfYear | B::DayOfWeek | B::MonthOfYear | B::WeekOfYear | B::LastDayOfMonth => {
            let d = match a.take(0) {
                Val::Null => return Ok(Val::Null),
                Val::Date(d) => d,
                Val::DateTime(t) => t.local.date(),
                other => return a.wrong("a date", &other),
            };
            match f {
                B::DayOfYear => Val::Int(i64::from(d.ordinal())),
                B::DayOfWeek => Val::Str(Cow::Borrowed(
                    ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
                        [d.weekday().num_days_from_monday() as usize],
                )),
                B::MonthOfYear => Val::Str(Cow::Borrowed(
                    [
                        "January",
                        "February",
                        "March",
                        "April",
                        "May",
                        "June",
                        "July",
                        "August",
                        "September",
                        "October",
                        "November",
                        "December",
                    ][d.month0() as usize],
                )),
                B::WeekOfYear => Val::Int(i64::from(d.iso_week().week())),
                _ => {
                    let next = if d.month() == 12 {
                        NaiveDate::from_ymd_opt(d.year() + 1, 1, 1)
                    } else {
                        NaiveDate::from_ymd_opt(d.year(), d.month() + 1, 1)
                    };
                    match next.and_then(|n| n.pred_opt()) {
                        Some(l) => Val::Date(l),
                        None => return err("the date is out of range"),
                    }
                }
            }
        }
        B::Is => {
            let (x, y) = (a.take(0), a.take(1));
            Val::Bool(is_same(&x, &y))
        }
        B::Range => match a.string(0)? {
            None => Val::Null,
            Some(s) => parse_range(&s)?,
        },
        B::Before
        | B::After
        | B::Meets
        | B::MetBy
        | B::Overlaps
        | B::OverlapsBefore
        | B::OverlapsAfter
        | B::Finishes
        | B::FinishedBy
        | B::Includes
        | B::During
        | B::Starts
        | B::StartedBy
        | B::Coincides => {
            let (x, y) = (a.take(0), a.take(1));
            range_fn(f, &x, &y)?
        }
    })
}

/// The compiled pattern: the one compiled at parse time when the call gave a literal, else
/// compiled now.
fn regex<'p>(pre: Option<&'p Pattern>, text: &str, flags: &str) -> Result<Cow<'p, regex::Regex>, EvalError> {
    if let Some(p) = pre
        && p.text == text
        && p.flags == flags
    {
        return Ok(Cow::Borrowed(&p.re));
    }
    match crate::regexp::compile(text, flags) {
        Ok(re) => Ok(Cow::Owned(re)),
        Err(m) => err(m),
    }
}

/// `number(from)` and `number(from, grouping separator, decimal separator)`.
fn number<'a>(a: &mut Args<'a>) -> R<'a> {
    let v = a.take(0);
    let grouping = a.take(1);
    let decimal = a.take(2);
    let s = match v {
        Val::Null => return Ok(Val::Null),
        Val::Str(s) => s,
        v if v.is_number() && matches!((&grouping, &decimal), (Val::Null, Val::Null)) => return Ok(v),
        other => return a.wrong("a string", &other),
    };
    let mut text = s.trim().to_string();
    let sep = |v: &Val, allowed: &[&str], what: &str| -> Result<Option<String>, EvalError> {
        match v {
            Val::Null => Ok(None),
            Val::Str(x) if allowed.contains(&x.as_ref()) => Ok(Some(x.to_string())),
            _ => err(format!("`number`: the {what} separator must be one of {}", allowed.join(" "))),
        }
    };
    let g = sep(&grouping, &[" ", ",", "."], "grouping")?;
    let d = sep(&decimal, &[",", "."], "decimal")?;
    if g.is_some() && g == d {
        return err("`number`: the grouping and decimal separators must differ");
    }
    if let Some(g) = &g {
        text = text.replace(g.as_str(), "");
    }
    if let Some(d) = &d {
        if d != "." && text.contains('.') {
            return err(format!("`number` cannot convert \"{s}\" to a number"));
        }
        text = text.replace(d.as_str(), ".");
    }
    let (neg, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text.strip_prefix('+').unwrap_or(&text)),
    };
    // An exponent (`1.2e3`) is allowed.
    let (mant, exp) = match digits.split_once(['e', 'E']) {
        Some((m, e)) => match e.parse::<i32>() {
            Ok(e) if (-40..=40).contains(&e) => (m, e),
            _ => return err(format!("`number` cannot convert \"{s}\" to a number")),
        },
        None => (digits, 0),
    };
    match parse_dec(mant) {
        Some(d) => {
            let mut d = if neg { -d } else { d };
            let ten = Decimal::TEN;
            for _ in 0..exp.unsigned_abs() {
                d = if exp > 0 { d.checked_mul(ten).map_or_else(too_large, Ok)? } else { d / ten };
            }
            Ok(dec_val(d))
        }
        None if mant.bytes().any(|b| b.is_ascii_digit())
            && mant.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && mant.bytes().filter(|&b| b == b'.').count() <= 1 =>
        {
            err(format!("`number` cannot convert \"{s}\": number too large"))
        }
        None => err(format!("`number` cannot convert \"{s}\" to a number")),
    }
}

/// Sorts in the natural order; every pair must be comparable (no null, one kind).
fn sort_natural<'a>(env: &mut Env<'a>, items: Vec<Val<'a>>) -> Result<Vec<Val<'a>>, EvalError> {
    merge_sort(env, items, &mut |_, x, y| match order(x, y)? {
        Some(o) => Ok(o == Ordering::Less),
        None => err("`sort` cannot order a list containing null"),
    })
}

/// A stable merge sort with a comparison that may fail (`precedes(x, y)`: x goes first).
/// Written out because the standard sorts may panic on a comparison that is not a total order,
/// which a user's function need not be.
fn merge_sort<'a>(
    env: &mut Env<'a>,
    mut items: Vec<Val<'a>>,
    precedes: &mut dyn FnMut(&mut Env<'a>, &Val<'a>, &Val<'a>) -> Result<bool, EvalError>,
) -> Result<Vec<Val<'a>>, EvalError> {
    if items.len() <= 1 {
        return Ok(items);
    }
    let right = items.split_off(items.len() / 2);
    let left = merge_sort(env, items, precedes)?;
    let right = merge_sort(env, right, precedes)?;
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut l = left.into_iter().peekable();
    let mut r = right.into_iter().peekable();
    loop {
        match (l.peek(), r.peek()) {
            (Some(x), Some(y)) => {
                env.tick()?;
                // Take from the right only when it strictly precedes: stable.
                if precedes(env, y, x)? {
                    out.extend(r.next());
                } else {
                    out.extend(l.next());
                }
            }
            (Some(_), None) => out.extend(l.by_ref()),
            (None, Some(_)) => out.extend(r.by_ref()),
            (None, None) => break,
        }
    }
    Ok(out)
}

fn flatten_into<'a>(
    env: &mut Env<'a>,
    items: Vec<Val<'a>>,
    out: &mut Vec<Val<'a>>,
    depth: u32,
) -> Result<(), EvalError> {
    if depth > 64 {
        return err("`flatten`: the list is nested too deeply");
    }
    for i in items {
        env.tick()?;
        if i.is_list() {
            flatten_into(env, i.items().unwrap_or_default(), out, depth + 1)?;
        } else {
            out.push(i);
        }
    }
    env.fits(out.len() * 8)
}

/// `context put(c, keys, v)`: sets the entry at the path of keys, creating contexts on the way.
fn context_put<'a>(c: Val<'a>, keys: &[Cow<'a, str>], v: Val<'a>) -> R<'a> {
    let Some((first, rest)) = keys.split_first() else { return Ok(v) };
    let mut entries = c.entries().unwrap_or_default();
    let inner = if rest.is_empty() {
        v
    } else {
        match entries.iter().find(|(k, _)| k == first).map(|(_, x)| x.clone()) {
            Some(x) if x.is_ctx() => context_put(x, rest, v)?,
            Some(Val::Null) | None => context_put(Val::Ctx(Vec::new()), rest, v)?,
            Some(other) => {
                return err(format!("`context put`: the entry `{first}` is {}, not a context", other.kind()));
            }
        }
    };
    match entries.iter_mut().find(|(k, _)| k == first) {
        Some(slot) => slot.1 = inner,
        None => entries.push((first.clone(), inner)),
    }
    Ok(Val::Ctx(entries))
}

fn date_and_time<'a>(a: &mut Args<'a>) -> R<'a> {
    if a.args.len() >= 2 {
        let (d, t) = (a.take(0), a.take(1));
        let date = match d {
            Val::Null => return Ok(Val::Null),
            Val::Date(d) => d,
            Val::DateTime(t) => t.local.date(),
            other => return a.wrong("a date", &other),
        };
        return match t {
            Val::Null => Ok(Val::Null),
            Val::Time(t) => Ok(Val::DateTime(DateTime { local: date.and_time(t.local), zone: t.zone })),
            other => a.wrong("a time", &other),
        };
    }
    Ok(match a.take(0) {
        Val::Null => Val::Null,
        Val::Str(s) => match temporal::parse_date_time(&s) {
            Some(t) => Val::DateTime(t),
            None => return err(format!("`date and time`: `{s}` is not a date and time (e.g. 2026-01-31T09:00:00)")),
        },
        Val::DateTime(t) => Val::DateTime(t),
        Val::Date(d) => Val::DateTime(DateTime { local: d.and_time(NaiveTime::MIN), zone: Zone::Local }),
        other => return a.wrong("a string", &other),
    })
}

fn date<'a>(a: &mut Args<'a>) -> R<'a> {
    if a.args.len() >= 3 {
        let (Some(y), Some(m), Some(d)) = (a.int(0)?, a.int(1)?, a.int(2)?) else {
            return Ok(Val::Null);
        };
        let date = i32::try_from(y)
            .ok()
            .zip(u32::try_from(m).ok())
            .zip(u32::try_from(d).ok())
            .and_then(|((y, m), d)| NaiveDate::from_ymd_opt(y, m, d));
        return match date {
            Some(d) => Ok(Val::Date(d)),
            None => err(format!("`date`: {y}-{m}-{d} is not a day of the calendar")),
        };
    }
    Ok(match a.take(0) {
        Val::Null => Val::Null,
        // A date and time's text gives its date (a Sluice leniency).
        Val::Str(s) => match temporal::parse_date(&s).or_else(|| temporal::parse_date_time(&s).map(|t| t.local.date()))
        {
            Some(d) => Val::Date(d),
            None => return err(format!("`date`: `{s}` is not a date (e.g. 2026-01-31)")),
        },
        Val::DateTime(t) => Val::Date(t.local.date()),
        Val::Date(d) => Val::Date(d),
        other => return a.wrong("a string", &other),
    })
}

fn time<'a>(a: &mut Args<'a>) -> R<'a> {
    if a.args.len() >= 3 {
        let (Some(h), Some(m)) = (a.int(0)?, a.int(1)?) else {
            return Ok(Val::Null);
        };
        let s = match a.number(2)? {
            Some(s) => s.to_dec()?.unwrap_or_default(),
            None => return Ok(Val::Null),
        };
        let zone = if a.given(3) {
            match a.take(3) {
                Val::Null => Zone::Local,
                Val::Dur(d) if d.total_months() == 0 && d.total_nanos() % 1_000_000_000 == 0 => {
                    match i32::try_from(d.total_seconds()).ok().filter(|s| s.abs() <= 14 * 3600) {
                        Some(s) => Zone::Offset(s),
                        None => return err("`time`: the offset must be within 14 hours"),
                    }
                }
                other => return a.wrong("a duration as the offset", &other),
            }
        } else {
            Zone::Local
        };
        let whole = crate::num::dec_trunc_i128(s);
        let nanos = dec_int((s - Decimal::from_i128_with_scale(whole, 0)) * Decimal::from(1_000_000_000)).unwrap_or(0);
        let t = u32::try_from(h)
            .ok()
            .zip(u32::try_from(m).ok())
            .zip(u32::try_from(whole).ok())
            .and_then(|((h, m), s)| NaiveTime::from_hms_nano_opt(h, m, s, u32::try_from(nanos).ok()?));
        return match t {
            Some(t) if s >= Decimal::ZERO => Ok(Val::Time(Time { local: t, zone })),
            _ => err(format!("`time`: {h}:{m}:{s} is not a time of day")),
        };
    }
    Ok(match a.take(0) {
        Val::Null => Val::Null,
        Val::Str(s) => match temporal::parse_time(&s) {
            Some(t) => Val::Time(t),
            None => return err(format!("`time`: `{s}` is not a time (e.g. 09:30:00)")),
        },
        Val::DateTime(t) => Val::Time(Time { local: t.local.time(), zone: t.zone }),
        Val::Date(_) => Val::Time(Time { local: NaiveTime::MIN, zone: Zone::Offset(0) }),
        Val::Time(t) => Val::Time(t),
        other => return a.wrong("a string", &other),
    })
}

/// `is(a, b)`: the same type and the same value, zones included (`@"10:00@Etc/UTC"` is not
/// `@"10:00Z"`).
fn is_same(x: &Val, y: &Val) -> bool {
    match (x, y) {
        (Val::DateTime(p), Val::DateTime(q)) => p == q,
        (Val::Time(p), Val::Time(q)) => p == q,
        _ => x.type_name() == y.type_name() && loose_eq(x, y),
    }
}

/// `range("[1..10)")`: the text of a range literal or unary test, read as FEEL.
fn parse_range<'a>(s: &str) -> R<'a> {
    use Builtin as B;
    let bad = || err(format!("`range`: `{s}` is not a range such as [1..10] or < 5"));
    let Ok(expr) = crate::parser::parse_source(s, &[]) else { return bad() };
    // Only a range of literals: `[1..10]`, `("a".."z")`, `[@"2026-01-01"..@"2026-12-31"]`.
    // Or a date, time or duration built from a string literal: `date("2026-01-01")`.
    let literal = |e: &Option<Box<Expr>>| match e.as_deref() {
        Some(Expr::Lit(crate::ast::Lit::Null)) | None => false,
        Some(Expr::Lit(_)) => true,
        Some(Expr::Call(B::Date | B::Time | B::DateAndTime | B::Duration, args, _)) => {
            matches!(args.as_slice(), [Some(Expr::Lit(crate::ast::Lit::Str(_)))])
        }
        _ => false,
    };
    match &expr {
        Expr::Range { lo, hi, .. } if literal(lo) && literal(hi) => {}
        _ => return bad(),
    }
    let mut env = Env::new(&crate::NoVariables);
    let v = match env.eval(&expr) {
        Ok(v) => v.into_static(),
        Err(_) => return bad(),
    };
    match v {
        Some(v @ Val::Range(_)) => Ok(v),
        _ => bad(),
    }
}

/// The ends of a range argument, or a point as the range [p..p].
struct Span<'v, 'a> {
    lo: Option<&'v Val<'a>>,
    lo_incl: bool,
    hi: Option<&'v Val<'a>>,
    hi_incl: bool,
}

fn span<'v, 'a>(v: &'v Val<'a>) -> Result<Span<'v, 'a>, EvalError> {
    match v {
        Val::Range(r) => match &**r {
            RangeV::Interval { lo, lo_incl, hi, hi_incl } => {
                Ok(Span { lo: lo.as_ref(), lo_incl: *lo_incl, hi: hi.as_ref(), hi_incl: *hi_incl })
            }
            RangeV::Eq(p) => Ok(Span { lo: Some(p), lo_incl: true, hi: Some(p), hi_incl: true }),
            RangeV::Ne(_) => err("`!=` tests cannot be used as ranges"),
        },
        p => Ok(Span { lo: Some(p), lo_incl: true, hi: Some(p), hi_incl: true }),
    }
}

/// The range functions of DMN 1.5 (10.3.4.9), with a point read as the range [p..p]. A null
/// end makes the result null; an open end (`< 5`) is infinite.
fn range_fn<'a>(f: Builtin, x: &Val<'a>, y: &Val<'a>) -> R<'a> {
    use Builtin as B;
    if matches!(x, Val::Null) || matches!(y, Val::Null) {
        return Ok(Val::Null);
    }
    let (r1, r2) = (span(x)?, span(y)?);
    for e in [r1.lo, r1.hi, r2.lo, r2.hi].into_iter().flatten() {
        if matches!(e, Val::Null) {
            return Ok(Val::Null);
        }
    }
    // Compare two ends; `start` says which side an absent end is infinite on.
    let c = |a: (Option<&Val>, bool), b: (Option<&Val>, bool)| -> Result<Ordering, EvalError> {
        Ok(match (a.0, b.0) {
            (Some(p), Some(q)) => order(p, q)?.unwrap_or(Ordering::Equal),
            (None, None) => {
                if a.1 == b.1 {
                    Ordering::Equal
                } else if a.1 {
                    Ordering::Less
                } else {
                    Ordering::Greater
                }
            }
            (None, Some(_)) => {
                if a.1 {
                    Ordering::Less
                } else {
                    Ordering::Greater
                }
            }
            (Some(_), None) => {
                if b.1 {
                    Ordering::Greater
                } else {
                    Ordering::Less
                }
            }
        })
    };
    let (s1, e1, s2, e2) = ((r1.lo, true), (r1.hi, false), (r2.lo, true), (r2.hi, false));
    let (si1, ei1, si2, ei2) = (r1.lo_incl, r1.hi_incl, r2.lo_incl, r2.hi_incl);
    let eq = |a, b| -> Result<bool, EvalError> { Ok(c(a, b)? == Ordering::Equal) };
    let lt = |a, b| -> Result<bool, EvalError> { Ok(c(a, b)? == Ordering::Less) };
    let gt = |a, b| -> Result<bool, EvalError> { Ok(c(a, b)? == Ordering::Greater) };
    let is_range = |v: &Val| matches!(v, Val::Range(_));
    // Whether each argument must be a range for this function (points allowed otherwise).
    let needs_ranges = matches!(f, B::Meets | B::MetBy | B::Overlaps | B::OverlapsBefore | B::OverlapsAfter);
    if needs_ranges && !(is_range(x) && is_range(y)) {
        return err(format!("`{}` needs two ranges", f.name()));
    }
    let r = match f {
        B::Before => lt(e1, s2)? || ((!ei1 || !si2) && eq(e1, s2)?),
        B::After => gt(s1, e2)? || ((!si1 || !ei2) && eq(s1, e2)?),
        B::Meets => ei1 && si2 && eq(e1, s2)?,
        B::MetBy => si1 && ei2 && eq(s1, e2)?,
        B::Overlaps => (gt(e1, s2)? || (eq(e1, s2)? && ei1 && si2)) && (lt(s1, e2)? || (eq(s1, e2)? && si1 && ei2)),
        B::OverlapsBefore => {
            (lt(s1, s2)? || (eq(s1, s2)? && si1 && !si2))
                && (gt(e1, s2)? || (eq(e1, s2)? && ei1 && si2))
                && (lt(e1, e2)? || (eq(e1, e2)? && (!ei1 || ei2)))
        }
        B::OverlapsAfter => {
            (lt(s2, s1)? || (eq(s2, s1)? && si2 && !si1))
                && (gt(e2, s1)? || (eq(e2, s1)? && ei2 && si1))
                && (lt(e2, e1)? || (eq(e2, e1)? && (!ei2 || ei1)))
        }
        B::Finishes if !is_range(x) => ei2 && eq(e2, s1)?,
        B::Finishes => ei1 == ei2 && eq(e1, e2)? && (gt(s1, s2)? || (eq(s1, s2)? && (!si1 || si2))),
        B::FinishedBy if !is_range(y) => ei1 && eq(e1, s2)?,
        B::FinishedBy => ei1 == ei2 && eq(e1, e2)? && (lt(s1, s2)? || (eq(s1, s2)? && (si1 || !si2))),
        B::Includes if !is_range(y) => (lt(s1, s2)? && gt(e1, s2)?) || (eq(s1, s2)? && si1) || (eq(e1, s2)? && ei1),
        B::Includes => {
            (lt(s1, s2)? || (eq(s1, s2)? && (si1 || !si2))) && (gt(e1, e2)? || (eq(e1, e2)? && (ei1 || !ei2)))
        }
        B::During if !is_range(x) => (lt(s2, s1)? && gt(e2, s1)?) || (eq(s2, s1)? && si2) || (eq(e2, s1)? && ei2),
        B::During => (lt(s2, s1)? || (eq(s2, s1)? && (si2 || !si1))) && (gt(e2, e1)? || (eq(e2, e1)? && (ei2 || !ei1))),
        B::Starts if !is_range(x) => si2 && eq(s2, s1)?,
        B::Starts => eq(s1, s2)? && si1 == si2 && (lt(e1, e2)? || (eq(e1, e2)? && (!ei1 || ei2))),
        B::StartedBy if !is_range(y) => si1 && eq(s1, s2)?,
        B::StartedBy => eq(s1, s2)? && si1 == si2 && (lt(e2, e1)? || (eq(e2, e1)? && (!ei2 || ei1))),
        B::Coincides => eq(s1, s2)? && si1 == si2 && eq(e1, e2)? && ei1 == ei2,
        _ => return err("not a range function"),
    };
    Ok(Val::Bool(r))
}
