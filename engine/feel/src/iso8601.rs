//! ISO 8601 durations, date-times and repeating intervals, as used by BPMN timer definitions
//! (`timeDuration`, `timeDate`, `timeCycle`) and by FEEL's `duration(..)` / `date and time(..)`.
//!
//! Everything is in UTC: a date-time with an offset is converted to UTC, and one without a zone
//! is read as UTC (the engine has no time-zone database, and a server's local zone must not
//! change when a timer fires). Durations keep months apart from seconds because months have no
//! fixed length: `P1M` added to Jan 31 gives the last day of February.

use std::fmt;

use chrono::{DateTime, Months, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc};

/// A timer value that could not be read; the message says what was wrong and what was expected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct TimerParseError(pub String);

/// An ISO 8601 duration such as `P1Y2M3DT4H5M6.5S`.
///
/// Stored normalized: years and months as a month count, weeks, days, hours, minutes and seconds
/// as a second count (days are exactly 24 hours: all times are UTC). So `PT90M` displays as
/// `PT1H30M` and `P2W` as `P14D`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IsoDuration {
    negative: bool,
    months: u32,
    seconds: u64,
    nanos: u32,
}

/// Limits keep every later multiplication and chrono conversion in range.
const MAX_MONTHS: u64 = 12 * 100_000;
const MAX_SECONDS: u64 = 100_000 * 366 * 86_400;

impl IsoDuration {
    /// The zero duration (`PT0S`).
    pub const ZERO: IsoDuration = IsoDuration { negative: false, months: 0, seconds: 0, nanos: 0 };

    /// Builds a duration from signed parts; None when the parts have different signs (such a
    /// duration has no ISO 8601 form) or are out of range (about 100,000 years).
    pub fn from_parts(months: i64, nanos: i128) -> Option<IsoDuration> {
        if (months < 0 && nanos > 0) || (months > 0 && nanos < 0) {
            return None;
        }
        let negative = months < 0 || nanos < 0;
        let m = months.unsigned_abs();
        let n = nanos.unsigned_abs();
        let seconds = u64::try_from(n / 1_000_000_000).ok()?;
        if m > MAX_MONTHS || seconds > MAX_SECONDS {
            return None;
        }
        Some(IsoDuration {
            negative: negative && (m != 0 || n != 0),
            months: m as u32,
            seconds,
            nanos: (n % 1_000_000_000) as u32,
        })
    }

    /// Signed month count (years * 12 + months).
    pub fn total_months(&self) -> i64 {
        let m = i64::from(self.months);
        if self.negative { -m } else { m }
    }

    /// Signed length of the day-and-time part, in nanoseconds.
    pub fn total_nanos(&self) -> i128 {
        let n = i128::from(self.seconds) * 1_000_000_000 + i128::from(self.nanos);
        if self.negative { -n } else { n }
    }

    /// Signed length of the day-and-time part, in whole seconds (fraction dropped).
    pub fn total_seconds(&self) -> i64 {
        let s = self.seconds as i64;
        if self.negative { -s } else { s }
    }

    /// True for a negative duration such as `-PT5M`.
    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// True for a zero duration.
    pub fn is_zero(&self) -> bool {
        self.months == 0 && self.seconds == 0 && self.nanos == 0
    }

    /// The same duration with the opposite sign.
    pub fn negated(&self) -> IsoDuration {
        IsoDuration { negative: !self.negative && !self.is_zero(), ..*self }
    }

    /// This duration repeated `n` times; None on overflow.
    pub fn times(&self, n: u32) -> Option<IsoDuration> {
        IsoDuration::from_parts(
            self.total_months().checked_mul(i64::from(n))?,
            self.total_nanos().checked_mul(i128::from(n))?,
        )
    }

    /// Adds this duration to a UTC date-time: months first (calendar-aware, clamping to the end
    /// of a shorter month), then the exact day-and-time part. None when out of chrono's range.
    pub fn add_to(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let t = if self.negative {
            t.checked_sub_months(Months::new(self.months))?
        } else {
            t.checked_add_months(Months::new(self.months))?
        };
        let delta = TimeDelta::new(self.seconds as i64, self.nanos)?;
        if self.negative { t.checked_sub_signed(delta) } else { t.checked_add_signed(delta) }
    }

    /// Adds this duration to a calendar date; the day-and-time part counts whole days only.
    pub(crate) fn add_to_date(&self, d: NaiveDate) -> Option<NaiveDate> {
        let t = self.add_to(Utc.from_utc_datetime(&d.and_time(NaiveTime::MIN)))?;
        Some(t.date_naive())
    }
}

impl fmt::Display for IsoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_zero() {
            return f.write_str("PT0S");
        }
        if self.negative {
            f.write_str("-")?;
        }
        f.write_str("P")?;
        let (y, m) = (self.months / 12, self.months % 12);
        if y > 0 {
            write!(f, "{y}Y")?;
        }
        if m > 0 {
            write!(f, "{m}M")?;
        }
        let days = self.seconds / 86_400;
        let rest = self.seconds % 86_400;
        if days > 0 {
            write!(f, "{days}D")?;
        }
        if rest > 0 || self.nanos > 0 {
            f.write_str("T")?;
            let (h, mi, s) = (rest / 3600, rest % 3600 / 60, rest % 60);
            if h > 0 {
                write!(f, "{h}H")?;
            }
            if mi > 0 {
                write!(f, "{mi}M")?;
            }
            if self.nanos > 0 {
                let frac = format!("{:09}", self.nanos);
                write!(f, "{s}.{}S", frac.trim_end_matches('0'))?;
            } else if s > 0 {
                write!(f, "{s}S")?;
            }
        }
        Ok(())
    }
}

fn dur_err(s: &str, why: &str) -> TimerParseError {
    TimerParseError(format!("`{s}` is not an ISO 8601 duration: {why} (expected e.g. PT5M, P1D or P1Y2M3DT4H)"))
}

/// Parses an ISO 8601 duration: `P1Y2M3W4DT5H6M7.5S` (any subset of the parts, in that order),
/// `P2W`, `PT0S`, with an optional leading `-`. Only seconds may have a fraction (`.` or `,`).
pub fn parse_duration(s: &str) -> Result<IsoDuration, TimerParseError> {
    let text = s.trim();
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let Some(body) = body.strip_prefix(['P', 'p']) else {
        return Err(dur_err(text, "it must start with P"));
    };
    if body.is_empty() {
        return Err(dur_err(text, "it has no parts after P"));
    }
    let mut months: u64 = 0;
    let mut nanos: u128 = 0;
    let mut in_time = false;
    let mut any_part = false;
    let mut time_part = false;
    // Units must appear in order; `rank` is the position of the last unit seen.
    let mut rank = 0u8;
    let bytes = body.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'T' || c == b't' {
            if in_time {
                return Err(dur_err(text, "T appears twice"));
            }
            in_time = true;
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let int_part = &body[start..i];
        let mut frac_part = "";
        if i < bytes.len() && (bytes[i] == b'.' || bytes[i] == b',') {
            let fs = i + 1;
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            frac_part = &body[fs..i];
            if frac_part.is_empty() {
                return Err(dur_err(text, "a decimal point must be followed by digits"));
            }
        }
        if int_part.is_empty() {
            let found = body[start..].chars().next().unwrap_or(' ');
            return Err(dur_err(text, &format!("expected a number but found `{found}`")));
        }
        let number_text = &body[start..i];
        let Some(&unit) = bytes.get(i) else {
            return Err(dur_err(text, &format!("the number {number_text} has no unit")));
        };
        i += 1;
        let unit = unit.to_ascii_uppercase();
        let (unit_rank, factor_months, factor_secs) = match (in_time, unit) {
            (false, b'Y') => (1, 12u64, 0u64),
            (false, b'M') => (2, 1, 0),
            (false, b'W') => (3, 0, 7 * 86_400),
            (false, b'D') => (4, 0, 86_400),
            (true, b'H') => (5, 0, 3600),
            (true, b'M') => (6, 0, 60),
            (true, b'S') => (7, 0, 1),
            (false, b'H' | b'S') => {
                return Err(dur_err(
                    text,
                    &format!("hours, minutes and seconds must come after T (e.g. PT{number_text}{})", unit as char),
                ));
            }
            (true, b'Y' | b'W' | b'D') => {
                return Err(dur_err(text, "years, months, weeks and days must come before T"));
            }
            _ => {
                return Err(dur_err(text, &format!("`{}` is not a duration unit", unit as char)));
            }
        };
        if unit_rank <= rank {
            return Err(dur_err(text, "the parts are out of order or repeated"));
        }
        rank = unit_rank;
        if !frac_part.is_empty() && unit != b'S' {
            return Err(dur_err(text, "only seconds may have a fraction"));
        }
        let value: u64 = int_part.parse().map_err(|_| dur_err(text, &format!("the number {int_part} is too large")))?;
        if factor_months > 0 {
            months = value
                .checked_mul(factor_months)
                .and_then(|v| v.checked_add(months))
                .filter(|v| *v <= MAX_MONTHS)
                .ok_or_else(|| dur_err(text, "it is too long"))?;
        } else {
            let secs = value
                .checked_mul(factor_secs)
                .filter(|v| *v <= MAX_SECONDS)
                .ok_or_else(|| dur_err(text, "it is too long"))?;
            nanos += u128::from(secs) * 1_000_000_000;
            if !frac_part.is_empty() {
                let digits: String = frac_part.chars().take(9).collect();
                let scale = 10u128.pow(9 - digits.len() as u32);
                let frac: u128 = digits.parse().unwrap_or(0);
                nanos += frac * scale;
            }
        }
        any_part = true;
        if in_time {
            time_part = true;
        }
    }
    if in_time && !time_part {
        return Err(dur_err(text, "it has no parts after T"));
    }
    if !any_part {
        return Err(dur_err(text, "it has no parts"));
    }
    let m = months as i64;
    let n = nanos as i128;
    IsoDuration::from_parts(if negative { -m } else { m }, if negative { -n } else { n })
        .ok_or_else(|| dur_err(text, "it is too long"))
}

fn dt_err(s: &str, why: &str) -> TimerParseError {
    TimerParseError(format!("`{s}` is not an ISO 8601 date-time: {why} (expected e.g. 2026-01-01T09:00:00Z)"))
}

fn take_digits<'s>(s: &'s str, n: usize, what: &str, whole: &str) -> Result<(u32, &'s str), TimerParseError> {
    let head = s.get(..n).filter(|h| h.len() == n && h.bytes().all(|b| b.is_ascii_digit()));
    match head {
        Some(h) => Ok((h.parse().unwrap_or(0), &s[n..])),
        None => Err(dt_err(whole, &format!("expected {n} digits for the {what}"))),
    }
}

fn parse_date_prefix<'s>(s: &'s str, whole: &str) -> Result<(NaiveDate, &'s str), TimerParseError> {
    let (y, rest) = take_digits(s, 4, "year", whole)?;
    let rest = rest.strip_prefix('-').ok_or_else(|| dt_err(whole, "expected `-` after the year"))?;
    let (m, rest) = take_digits(rest, 2, "month", whole)?;
    let rest = rest.strip_prefix('-').ok_or_else(|| dt_err(whole, "expected `-` after the month"))?;
    let (d, rest) = take_digits(rest, 2, "day", whole)?;
    let date = NaiveDate::from_ymd_opt(y as i32, m, d)
        .ok_or_else(|| dt_err(whole, &format!("{y:04}-{m:02}-{d:02} is not a day of the calendar")))?;
    Ok((date, rest))
}

/// Parses a time of day `HH:MM[:SS[.fff]]`, returning what follows it.
fn parse_time_prefix<'s>(s: &'s str, whole: &str) -> Result<(NaiveTime, &'s str), TimerParseError> {
    let (h, rest) = take_digits(s, 2, "hour", whole)?;
    let rest = rest.strip_prefix(':').ok_or_else(|| dt_err(whole, "expected `:` after the hour"))?;
    let (mi, mut rest) = take_digits(rest, 2, "minute", whole)?;
    let mut sec = 0;
    let mut nanos = 0;
    if let Some(r) = rest.strip_prefix(':') {
        let (s2, r) = take_digits(r, 2, "second", whole)?;
        sec = s2;
        rest = r;
        if let Some(r) = rest.strip_prefix(['.', ',']) {
            let n = r.bytes().take_while(|b| b.is_ascii_digit()).count();
            if n == 0 {
                return Err(dt_err(whole, "a decimal point must be followed by digits"));
            }
            let digits: String = r[..n].chars().take(9).collect();
            nanos = digits.parse::<u32>().unwrap_or(0) * 10u32.pow(9 - digits.len() as u32);
            rest = &r[n..];
        }
    }
    let time = NaiveTime::from_hms_nano_opt(h, mi, sec, nanos)
        .ok_or_else(|| dt_err(whole, &format!("{h:02}:{mi:02}:{sec:02} is not a time of day")))?;
    Ok((time, rest))
}

/// Parses an ISO 8601 / RFC 3339 date-time such as `2026-01-01T09:00:00Z`,
/// `2026-01-01T09:00:00.5+02:00` or `2026-01-01T09:00Z` (seconds optional) and converts it to
/// UTC. A date-time without a zone is read as UTC; a bare date (`2026-01-01`) is midnight UTC.
pub fn parse_date_time(s: &str) -> Result<DateTime<Utc>, TimerParseError> {
    let text = s.trim();
    let (date, rest) = parse_date_prefix(text, text)?;
    if rest.is_empty() {
        return Ok(Utc.from_utc_datetime(&date.and_time(NaiveTime::MIN)));
    }
    let rest =
        rest.strip_prefix(['T', 't', ' ']).ok_or_else(|| dt_err(text, "expected `T` between the date and the time"))?;
    let (time, zone) = parse_time_prefix(rest, text)?;
    let offset_secs: i32 = match zone {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = match zone.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => {
                    return Err(dt_err(text, &format!("`{zone}` is not a zone (use Z or an offset like +02:00)")));
                }
            };
            let z = &zone[1..];
            let (h, z) = take_digits(z, 2, "offset hours", text)?;
            let z = z.strip_prefix(':').unwrap_or(z);
            let (m, z) = if z.is_empty() { (0, z) } else { take_digits(z, 2, "offset minutes", text)? };
            if !z.is_empty() || h > 23 || m > 59 {
                return Err(dt_err(text, &format!("`{zone}` is not a valid offset")));
            }
            sign * (h as i32 * 3600 + m as i32 * 60)
        }
    };
    let naive = date.and_time(time);
    let utc = naive
        .checked_sub_signed(TimeDelta::seconds(i64::from(offset_secs)))
        .ok_or_else(|| dt_err(text, "it is out of range"))?;
    Ok(Utc.from_utc_datetime(&utc))
}

/// Renders a UTC date-time as ISO 8601 text: seconds always, a fraction only when present.
pub(crate) fn format_date_time(t: &DateTime<Utc>) -> String {
    if t.timestamp_subsec_nanos() == 0 {
        t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        let s = t.format("%Y-%m-%dT%H:%M:%S%.9f").to_string();
        format!("{}Z", s.trim_end_matches('0'))
    }
}

/// A repeating interval (`timeCycle`), e.g. `R3/PT1H` or `R/2026-01-01T09:00Z/P1D`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle {
    /// How many times the timer fires; None = without end.
    pub repetitions: Option<u32>,
    /// When the first firing is due; None = one interval after the timer is armed.
    pub start: Option<DateTime<Utc>>,
    /// Time between firings (never zero or negative).
    pub interval: IsoDuration,
    /// No firing is due after this instant.
    pub end: Option<DateTime<Utc>>,
}

fn cyc_err(s: &str, why: &str) -> TimerParseError {
    TimerParseError(format!(
        "`{s}` is not an ISO 8601 repeating interval: {why} (expected e.g. R3/PT1H or R/2026-01-01T09:00:00Z/P1D)"
    ))
}

/// Parses a repeating interval: `R[n]/duration`, `R[n]/start/duration` or `R[n]/duration/end`.
pub fn parse_cycle(s: &str) -> Result<Cycle, TimerParseError> {
    let text = s.trim();
    let parts: Vec<&str> = text.split('/').collect();
    let Some(rep) = parts[0].strip_prefix(['R', 'r']) else {
        return Err(cyc_err(text, "it must start with R"));
    };
    let repetitions = if rep.is_empty() || rep == "-1" {
        None
    } else {
        Some(rep.parse::<u32>().map_err(|_| cyc_err(text, &format!("`{rep}` is not a repetition count")))?)
    };
    let (start, interval, end) = match parts.len() {
        2 => (None, parse_duration(parts[1])?, None),
        3 => {
            if parts[1].trim_start().starts_with(['P', 'p', '-']) {
                (None, parse_duration(parts[1])?, Some(parse_date_time(parts[2])?))
            } else {
                (Some(parse_date_time(parts[1])?), parse_duration(parts[2])?, None)
            }
        }
        1 => return Err(cyc_err(text, "the interval is missing")),
        _ => return Err(cyc_err(text, "it has too many `/`-separated parts")),
    };
    if interval.is_zero() || interval.is_negative() {
        return Err(cyc_err(text, "the interval must be longer than zero"));
    }
    Ok(Cycle { repetitions, start, interval, end })
}

impl Cycle {
    /// The due time of firing number `n` (0-based), for a timer armed at `armed_at`: with a
    /// start, start + n*interval; without, armed_at + (n+1)*interval. None when the repetitions
    /// are used up, the time is past `end`, or it is out of range.
    pub fn due(&self, armed_at: DateTime<Utc>, n: u32) -> Option<DateTime<Utc>> {
        if let Some(r) = self.repetitions
            && n >= r
        {
            return None;
        }
        // Multiplying the interval (rather than adding it n times) keeps month arithmetic
        // anchored: Jan 31 + 2*P1M is Mar 31, not Mar 28.
        let t = match self.start {
            Some(start) => self.interval.times(n)?.add_to(start)?,
            None => self.interval.times(n.checked_add(1)?)?.add_to(armed_at)?,
        };
        match self.end {
            Some(end) if t > end => None,
            _ => Some(t),
        }
    }
}

impl fmt::Display for Cycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("R")?;
        if let Some(r) = self.repetitions {
            write!(f, "{r}")?;
        }
        if let Some(s) = &self.start {
            write!(f, "/{}", format_date_time(s))?;
        }
        write!(f, "/{}", self.interval)?;
        if let Some(e) = &self.end {
            write!(f, "/{}", format_date_time(e))?;
        }
        Ok(())
    }
}
