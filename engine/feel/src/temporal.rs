//! FEEL's dates and times with their time zones: a date and time or a time is either *local*
//! (no zone: `2026-01-01T09:00:00`), at a fixed *offset* (`…+02:00`, `…Z`) or in a *named zone*
//! (`…@Europe/Paris`). Values keep the zone they were written with, so `string()` and JSON show
//! it back; comparisons and subtraction of zoned values use the instant.
//!
//! Named zones: Sluice carries no time-zone database (the engine does no IO, and a bundled
//! database would be a large dependency), so only the zones whose offset never changes are
//! known: `UTC`, `Z`, `GMT`, `Etc/UTC`, `Etc/GMT`, `Etc/GMT±N`, `Etc/Universal`, `Etc/Zulu`.
//! Any other zone name (`Europe/Paris`) is kept as written (equal to the same name, printed
//! back, `.timezone`), but anything that needs its offset (comparing with another zone,
//! subtracting) is an error that says so.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Timelike};

use crate::iso8601::IsoDuration;

/// The zone of a date and time or a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Zone {
    /// No zone (a local date and time).
    Local,
    /// A fixed offset east of UTC, in seconds; `Z` when zero.
    Offset(i32),
    /// A zone by name (IANA), as written.
    Named(Arc<str>),
}

impl Zone {
    /// The offset in seconds, when known (None for local values and unknown zone names).
    pub(crate) fn offset(&self) -> Option<i32> {
        match self {
            Zone::Local => None,
            Zone::Offset(s) => Some(*s),
            Zone::Named(n) => named_offset(n),
        }
    }

    pub(crate) fn is_local(&self) -> bool {
        matches!(self, Zone::Local)
    }
}

/// The offset of the zone names whose offset never changes.
fn named_offset(name: &str) -> Option<i32> {
    match name {
        "UTC" | "Z" | "GMT" | "UCT" | "Zulu" | "Universal" | "Etc/UTC" | "Etc/GMT" | "Etc/UCT" | "Etc/Universal"
        | "Etc/Zulu" | "Etc/GMT0" | "Etc/GMT+0" | "Etc/GMT-0" | "Etc/Greenwich" | "Greenwich" | "GMT0" => Some(0),
        _ => {
            // `Etc/GMT+5` is five hours *behind* UTC (POSIX sign).
            let rest = name.strip_prefix("Etc/GMT")?;
            let (sign, h) = match rest.as_bytes().first()? {
                b'+' => (-1, &rest[1..]),
                b'-' => (1, &rest[1..]),
                _ => return None,
            };
            let h: i32 = h.parse().ok().filter(|h| (0..=14).contains(h))?;
            Some(sign * h * 3600)
        }
    }
}

/// The areas of the IANA zone names (`Europe/Paris`).
const AREAS: &[&str] = &[
    "Africa",
    "America",
    "Antarctica",
    "Arctic",
    "Asia",
    "Atlantic",
    "Australia",
    "Europe",
    "Indian",
    "Pacific",
    "Etc",
];

/// Whether `name` looks like a zone name (`Area/Location` of an IANA area, or one of the fixed
/// names).
fn plausible_zone(name: &str) -> bool {
    named_offset(name).is_some()
        || (name.split('/').next().is_some_and(|a| AREAS.contains(&a))
            && name.contains('/')
            && name
                .split('/')
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'))))
}

fn fmt_zone(z: &Zone, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match z {
        Zone::Local => Ok(()),
        Zone::Offset(0) => f.write_str("Z"),
        Zone::Offset(s) => {
            let sign = if *s < 0 { '-' } else { '+' };
            let a = s.unsigned_abs();
            write!(f, "{sign}{:02}:{:02}", a / 3600, a % 3600 / 60)?;
            if a % 60 != 0 {
                write!(f, ":{:02}", a % 60)?;
            }
            Ok(())
        }
        Zone::Named(n) => write!(f, "@{n}"),
    }
}

fn fmt_time(t: &NaiveTime, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write!(f, "{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())?;
    let n = t.nanosecond() % 1_000_000_000;
    if n != 0 {
        let frac = format!("{n:09}");
        write!(f, ".{}", frac.trim_end_matches('0'))?;
    }
    Ok(())
}

/// A FEEL date and time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DateTime {
    /// The wall-clock date and time in its zone.
    pub local: NaiveDateTime,
    pub zone: Zone,
}

/// A FEEL time of day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Time {
    pub local: NaiveTime,
    pub zone: Zone,
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_date(&self.local.date(), f)?;
        f.write_str("T")?;
        fmt_time(&self.local.time(), f)?;
        fmt_zone(&self.zone, f)
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_time(&self.local, f)?;
        fmt_zone(&self.zone, f)
    }
}

/// `2026-01-02`, a year beyond four digits with its sign.
pub(crate) fn fmt_date(d: &NaiveDate, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let y = d.year();
    if y >= 0 {
        write!(f, "{y:04}-{:02}-{:02}", d.month(), d.day())
    } else {
        write!(f, "-{:04}-{:02}-{:02}", y.unsigned_abs(), d.month(), d.day())
    }
}

pub(crate) fn date_text(d: &NaiveDate) -> String {
    struct D<'x>(&'x NaiveDate);
    impl fmt::Display for D<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            fmt_date(self.0, f)
        }
    }
    D(d).to_string()
}

impl DateTime {
    pub(crate) fn utc(local: NaiveDateTime) -> DateTime {
        DateTime { local, zone: Zone::Offset(0) }
    }

    /// The instant in UTC, when the zone's offset is known.
    pub(crate) fn instant(&self) -> Option<NaiveDateTime> {
        let off = self.zone.offset()?;
        self.local.checked_sub_signed(TimeDelta::seconds(i64::from(off)))
    }

    /// Adds a duration: months on the calendar (clamped to the month's end), then the exact
    /// day-and-time part, both on the wall clock; the zone stays.
    pub(crate) fn plus(&self, d: &IsoDuration) -> Option<DateTime> {
        Some(DateTime { local: add_dur(self.local, d)?, zone: self.zone.clone() })
    }
}

pub(crate) fn add_dur(t: NaiveDateTime, d: &IsoDuration) -> Option<NaiveDateTime> {
    let months = d.total_months();
    let t = if months >= 0 {
        t.checked_add_months(chrono::Months::new(u32::try_from(months).ok()?))?
    } else {
        t.checked_sub_months(chrono::Months::new(u32::try_from(months.unsigned_abs()).ok()?))?
    };
    let n = d.total_nanos();
    let secs = i64::try_from(n.div_euclid(1_000_000_000)).ok()?;
    let delta = TimeDelta::new(secs, n.rem_euclid(1_000_000_000) as u32)?;
    t.checked_add_signed(delta)
}

/// Why two date-times (or times) cannot be compared, for messages.
pub(crate) const MIXED_ZONES: &str =
    "cannot compare a date and time (or time) that has a time zone with one that has none";

/// Order of two date-times: by instant when both have a known offset, by wall clock when both
/// are local. `Err` with the reason otherwise.
pub(crate) fn cmp_date_time(a: &DateTime, b: &DateTime) -> Result<Ordering, String> {
    match (a.zone.is_local(), b.zone.is_local()) {
        (true, true) => Ok(a.local.cmp(&b.local)),
        (false, false) => {
            if a.zone == b.zone {
                return Ok(a.local.cmp(&b.local));
            }
            match (a.instant(), b.instant()) {
                (Some(x), Some(y)) => Ok(x.cmp(&y)),
                _ => Err(unknown_zone(&a.zone, &b.zone)),
            }
        }
        _ => Err(MIXED_ZONES.to_string()),
    }
}

fn unknown_zone(a: &Zone, b: &Zone) -> String {
    let name = match (a, b) {
        (Zone::Named(n), _) if a.offset().is_none() => n.to_string(),
        (_, Zone::Named(n)) => n.to_string(),
        _ => String::new(),
    };
    format!("the offset of the time zone `{name}` is not known to Sluice (it has no time-zone database)")
}

/// Seconds since midnight shifted to UTC (for times with a known offset), else the wall clock.
fn time_key(t: &Time) -> Option<i64> {
    let s = i64::from(t.local.num_seconds_from_midnight());
    Some(s - i64::from(t.zone.offset()?))
}

/// Order of two times (on a 24-hour circle shifted to UTC when zoned).
pub(crate) fn cmp_time(a: &Time, b: &Time) -> Result<Ordering, String> {
    match (a.zone.is_local(), b.zone.is_local()) {
        (true, true) => Ok(a.local.cmp(&b.local)),
        (false, false) => {
            if a.zone == b.zone {
                return Ok(a.local.cmp(&b.local));
            }
            match (time_key(a), time_key(b)) {
                (Some(x), Some(y)) => {
                    let (x, y) = (x.rem_euclid(86_400), y.rem_euclid(86_400));
                    Ok(x.cmp(&y).then(a.local.nanosecond().cmp(&b.local.nanosecond())))
                }
                _ => Err(unknown_zone(&a.zone, &b.zone)),
            }
        }
        _ => Err(MIXED_ZONES.to_string()),
    }
}

/// `a - b` for two date-times, as nanoseconds.
pub(crate) fn sub_date_time(a: &DateTime, b: &DateTime) -> Result<i128, String> {
    let (x, y) = match (a.zone.is_local(), b.zone.is_local()) {
        (true, true) => (a.local, b.local),
        (false, false) if a.zone == b.zone => (a.local, b.local),
        (false, false) => match (a.instant(), b.instant()) {
            (Some(x), Some(y)) => (x, y),
            _ => return Err(unknown_zone(&a.zone, &b.zone)),
        },
        _ => {
            return Err("cannot subtract a date and time that has a time zone from one that has none (or the \
                        other way round)"
                .to_string());
        }
    };
    let d = x - y;
    Ok(i128::from(d.num_seconds()) * 1_000_000_000 + i128::from(d.subsec_nanos()))
}

/// `a - b` for two times, as nanoseconds (within a day).
pub(crate) fn sub_time(a: &Time, b: &Time) -> Result<i128, String> {
    let shift = |t: &Time| -> Result<i128, String> {
        let n = i128::from(t.local.num_seconds_from_midnight()) * 1_000_000_000 + i128::from(t.local.nanosecond());
        Ok(n - i128::from(t.zone.offset().unwrap_or(0)) * 1_000_000_000)
    };
    if !a.zone.is_local() && !b.zone.is_local() && a.zone != b.zone {
        if a.zone.offset().is_none() || b.zone.offset().is_none() {
            return Err(unknown_zone(&a.zone, &b.zone));
        }
        return Ok(shift(a)? - shift(b)?);
    }
    let n =
        |t: &Time| i128::from(t.local.num_seconds_from_midnight()) * 1_000_000_000 + i128::from(t.local.nanosecond());
    Ok(n(a) - n(b))
}

// ---------------------------------------------------------------------------- parsing

fn digits(s: &str, n: usize) -> Option<(u32, &str)> {
    let h = s.get(..n)?;
    if !h.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((h.parse().ok()?, &s[n..]))
}

/// `YYYY-MM-DD` (a year of 4 or more digits, optionally negative) and what follows.
fn date_prefix(s: &str) -> Option<(NaiveDate, &str)> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let ylen = body.bytes().take_while(u8::is_ascii_digit).count();
    if ylen < 4 || (ylen > 4 && body.starts_with('0')) {
        return None;
    }
    let y: i32 = body[..ylen].parse().ok()?;
    let y = if neg { -y } else { y };
    let rest = body[ylen..].strip_prefix('-')?;
    let (m, rest) = digits(rest, 2)?;
    let rest = rest.strip_prefix('-')?;
    let (d, rest) = digits(rest, 2)?;
    Some((NaiveDate::from_ymd_opt(y, m, d)?, rest))
}

/// `HH:MM:SS[.f]` and what follows; `24:00:00` is the end of the day (midnight).
fn time_prefix(s: &str) -> Option<(NaiveTime, &str)> {
    let (h, rest) = digits(s, 2)?;
    let rest = rest.strip_prefix(':')?;
    let (mi, rest) = digits(rest, 2)?;
    // Seconds may be left out (`09:00Z`), a Sluice leniency.
    let (sec, mut rest) = match rest.strip_prefix(':') {
        Some(r) => digits(r, 2)?,
        None => (0, rest),
    };
    let mut nanos = 0;
    if let Some(r) = rest.strip_prefix('.') {
        let n = r.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        let d: String = r[..n].chars().take(9).collect();
        nanos = d.parse::<u32>().ok()? * 10u32.pow(9 - d.len() as u32);
        rest = &r[n..];
    }
    if h == 24 && mi == 0 && sec == 0 && nanos == 0 {
        return Some((NaiveTime::MIN, rest));
    }
    Some((NaiveTime::from_hms_nano_opt(h, mi, sec, nanos)?, rest))
}

/// A zone suffix: empty, `Z`, `±HH:MM`, or `@Zone/Name`.
fn zone(s: &str) -> Option<Zone> {
    if s.is_empty() {
        return Some(Zone::Local);
    }
    if s == "Z" || s == "z" {
        return Some(Zone::Offset(0));
    }
    if let Some(name) = s.strip_prefix('@') {
        return plausible_zone(name).then(|| Zone::Named(Arc::from(name)));
    }
    let sign = match s.as_bytes()[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (h, r) = digits(&s[1..], 2)?;
    let r = r.strip_prefix(':')?;
    let (m, r) = digits(r, 2)?;
    if !r.is_empty() || h > 14 || m > 59 {
        return None;
    }
    Some(Zone::Offset(sign * (h as i32 * 3600 + m as i32 * 60)))
}

/// FEEL `date("…")`: `YYYY-MM-DD`.
pub(crate) fn parse_date(s: &str) -> Option<NaiveDate> {
    match date_prefix(s)? {
        (d, "") => Some(d),
        _ => None,
    }
}

/// FEEL `time("…")`: `HH:MM:SS[.f]` with an optional zone.
pub(crate) fn parse_time(s: &str) -> Option<Time> {
    let (t, rest) = time_prefix(s)?;
    Some(Time { local: t, zone: zone(rest)? })
}

/// FEEL `date and time("…")`: `YYYY-MM-DDTHH:MM:SS[.f]` with an optional zone, or a date
/// alone (midnight, local).
pub(crate) fn parse_date_time(s: &str) -> Option<DateTime> {
    let (d, rest) = date_prefix(s)?;
    if rest.is_empty() {
        return Some(DateTime { local: d.and_time(NaiveTime::MIN), zone: Zone::Local });
    }
    let rest = rest.strip_prefix('T')?;
    let (t, rest) = time_prefix(rest)?;
    // `24:00:00` is the start of the next day.
    let local = if rest.len() < s.len() && s.contains("T24:") { d.succ_opt()?.and_time(t) } else { d.and_time(t) };
    Some(DateTime { local, zone: zone(rest)? })
}
