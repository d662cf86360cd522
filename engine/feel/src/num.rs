//! Exact decimal numbers: conversions between `rust_decimal::Decimal`, JSON and `f64`, and
//! exact rounding. See "Numbers" in the crate documentation for the design.

use std::fmt::{self, Write};

use rust_decimal::Decimal;

use crate::EvalError;

/// The error for a number outside the decimal range.
pub(crate) fn too_large<T>() -> Result<T, EvalError> {
    Err(EvalError {
        message: "number too large: FEEL numbers are decimals of at most 28 digits (up to about ±7.9e28)".to_string(),
        offset: None,
    })
}

/// 10^n for n in 0..=38.
fn pow10(n: u32) -> i128 {
    10i128.pow(n)
}

/// A few bytes of text on the stack, so converting a number allocates nothing.
struct Buf {
    bytes: [u8; 64],
    len: usize,
}

impl Buf {
    fn new() -> Buf {
        Buf { bytes: [0; 64], len: 0 }
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }
}

impl Write for Buf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        if end > self.bytes.len() {
            return Err(fmt::Error);
        }
        self.bytes[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Builds a decimal from `mantissa * 10^-scale` (scale possibly negative or above 28),
/// rounding half to even to 28 decimal places; None when the value is beyond the range.
fn from_parts(mantissa: i128, scale: i64) -> Option<Decimal> {
    if mantissa == 0 {
        return Some(Decimal::ZERO);
    }
    if scale < 0 {
        let shift = u32::try_from(scale.unsigned_abs()).ok().filter(|&s| s <= 38)?;
        let v = mantissa.checked_mul(pow10(shift))?;
        return Decimal::try_from_i128_with_scale(v, 0).ok();
    }
    if scale <= 28 {
        return Decimal::try_from_i128_with_scale(mantissa, scale as u32).ok();
    }
    // More than 28 decimal places: drop the extra digits, rounding half to even.
    let drop = scale - 28;
    if drop > 38 {
        return Some(Decimal::ZERO);
    }
    let q = div_round(mantissa, pow10(drop as u32), Round::HalfEven);
    Decimal::try_from_i128_with_scale(q, 28).ok()
}

/// The decimal with the shortest text that reads back as `f` (so the JSON `0.1` is exactly
/// 0.1), rounded to 28 decimal places; None when beyond the decimal range or not finite.
pub(crate) fn dec_from_f64(f: f64) -> Option<Decimal> {
    if !f.is_finite() {
        return None;
    }
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        return Some(Decimal::from(f as i64));
    }
    // `{:e}` prints the shortest digits that read back as the same f64: `1.5e-7`.
    let mut buf = Buf::new();
    write!(buf, "{f:e}").ok()?;
    let (digits, exp) = buf.text().split_once('e')?;
    let exp: i64 = exp.parse().ok()?;
    let (neg, digits) = match digits.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, digits),
    };
    let mut mantissa: i128 = 0;
    let mut frac_digits: i64 = 0;
    let mut after_point = false;
    for b in digits.bytes() {
        match b {
            b'.' => after_point = true,
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + i128::from(b - b'0');
                frac_digits += i64::from(after_point);
            }
            _ => return None,
        }
    }
    if neg {
        mantissa = -mantissa;
    }
    // value = mantissa * 10^(exp - frac_digits)
    from_parts(mantissa, frac_digits - exp)
}

/// The f64 nearest to `d`: every decimal is within the f64 range.
pub(crate) fn dec_to_f64(d: Decimal) -> f64 {
    let (m, s) = (d.mantissa(), d.scale());
    // Both exactly representable: one correctly rounded division.
    if m.unsigned_abs() < (1u128 << 53) && s <= 22 {
        return m as f64 / 10f64.powi(s as i32);
    }
    let mut buf = Buf::new();
    match write!(buf, "{d}") {
        Ok(()) => buf.text().parse().unwrap_or(0.0),
        Err(_) => 0.0,
    }
}

/// Parses plain decimal text (`12`, `0.1`, `.5`, digits and at most one `.`); None when it is
/// not such text or is beyond the range. Digits past the 28th decimal place (or past the
/// mantissa's 28-29 significant digits) are rounded half away from zero.
pub(crate) fn parse_dec(text: &str) -> Option<Decimal> {
    let mut points = 0;
    let mut digits = 0;
    for b in text.bytes() {
        match b {
            b'0'..=b'9' => digits += 1,
            b'.' => points += 1,
            _ => return None,
        }
    }
    if digits == 0 || points > 1 {
        return None;
    }
    text.parse::<Decimal>().ok()
}

/// `x / y` (y != 0) as a decimal: computed directly when the quotient has at most 28 decimal
/// places and `y` is of the form 2^a * 5^b (`3 / 5`, `7 / 8`, the common case), else by
/// `Decimal` division; None when beyond the range.
#[inline]
pub(crate) fn int_div(x: i64, y: i64) -> Option<Decimal> {
    let mut rest = y.unsigned_abs();
    let twos = rest.trailing_zeros();
    rest >>= twos;
    let mut fives = 0;
    while fives <= 28 && (rest / 5) * 5 == rest && rest != 0 {
        rest /= 5;
        fives += 1;
    }
    let places = twos.max(fives);
    if rest == 1 && places <= 28 {
        // x * 10^places / y is a whole number: exact in i64 or i128 when the product fits.
        if let Some(q) = 10i64.checked_pow(places).and_then(|p| x.checked_mul(p)).and_then(|n| n.checked_div(y)) {
            return Decimal::try_from_i128_with_scale(i128::from(q), places).ok();
        }
        if let Some(n) = i128::from(x).checked_mul(pow10(places)) {
            let q = n / i128::from(y);
            return Decimal::try_from_i128_with_scale(q, places).ok();
        }
    }
    Decimal::from(x).checked_div(Decimal::from(y))
}

/// Exact order of two decimals, quickly when they have the same scale.
#[inline]
pub(crate) fn dec_cmp(a: &Decimal, b: &Decimal) -> std::cmp::Ordering {
    if a.scale() == b.scale() { a.mantissa().cmp(&b.mantissa()) } else { a.cmp(b) }
}

/// The decimal as an i64 when it is a whole number in range.
#[inline]
pub(crate) fn dec_int(d: Decimal) -> Option<i64> {
    let (m, s) = (d.mantissa(), d.scale());
    if s == 0 {
        return i64::try_from(m).ok();
    }
    let p = pow10(s);
    if m % p != 0 {
        return None;
    }
    i64::try_from(m / p).ok()
}

/// The integer part of `d`, toward zero.
pub(crate) fn dec_trunc_i128(d: Decimal) -> i128 {
    d.mantissa() / pow10(d.scale())
}

/// How `round` treats the digits it drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Round {
    /// Away from zero.
    Up,
    /// Toward zero.
    Down,
    HalfUp,
    HalfDown,
    HalfEven,
    /// Toward −∞.
    Floor,
    /// Toward +∞.
    Ceiling,
}

/// `n / d` (d > 0) rounded as `mode` says.
fn div_round(n: i128, d: i128, mode: Round) -> i128 {
    let (q, r) = (n / d, n % d);
    if r == 0 {
        return q;
    }
    let neg = n < 0;
    // Compare twice the remainder with the divisor; d <= 10^38 / 2 keeps this in range, and
    // callers only pass d <= 10^38 with |n| < 2^127 / 2.
    let twice = r.unsigned_abs() * 2;
    let half = twice.cmp(&d.unsigned_abs());
    let away = match mode {
        Round::Up => true,
        Round::Down => false,
        Round::HalfUp => half.is_ge(),
        Round::HalfDown => half.is_gt(),
        Round::HalfEven => half.is_gt() || (half.is_eq() && q % 2 != 0),
        Round::Floor => neg,
        Round::Ceiling => !neg,
    };
    if !away {
        q
    } else if neg {
        q - 1
    } else {
        q + 1
    }
}

/// Rounds `x` to `scale` decimal places (negative: to tens, hundreds, ...), exactly; None when
/// the result is beyond the decimal range (`round up(7e28, -29)`).
pub(crate) fn round(x: Decimal, scale: i64, mode: Round) -> Option<Decimal> {
    let (m, s) = (x.mantissa(), i64::from(x.scale()));
    if scale >= s {
        return Some(x);
    }
    // Drop `s - scale` digits from the mantissa.
    let drop = s.saturating_sub(scale);
    let q = if drop > 38 {
        // |m| < 2^96 < 10^29: the whole mantissa is below half a unit of the last kept place.
        match mode {
            _ if m == 0 => 0,
            Round::Up => m.signum(),
            Round::Floor if m < 0 => -1,
            Round::Ceiling if m > 0 => 1,
            _ => 0,
        }
    } else {
        div_round(m, pow10(drop as u32), mode)
    };
    // The result is q * 10^-scale.
    let out = from_parts(q, scale)?;
    // Normalise a negative zero.
    Some(if out.is_zero() { Decimal::ZERO } else { out })
}
