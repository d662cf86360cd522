//! Tests of ISO 8601 durations, date-times and repeating intervals for BPMN timers.
#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Utc};
use sluice_feel::iso8601::{Cycle, parse_cycle, parse_date_time, parse_duration};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[test]
fn durations_display_normalized() {
    for (src, shown) in [
        ("PT5M", "PT5M"),
        ("PT0S", "PT0S"),
        ("P2W", "P14D"),
        ("P1Y2M3W4DT5H6M7.5S", "P1Y2M25DT5H6M7.5S"),
        ("P1Y", "P1Y"),
        ("P14M", "P1Y2M"),
        ("PT36H", "P1DT12H"),
        ("PT90M", "PT1H30M"),
        ("PT0.001S", "PT0.001S"),
        ("PT1,5S", "PT1.5S"),
        ("-PT5M", "-PT5M"),
        ("P1D", "P1D"),
        ("p1dt1h", "P1DT1H"),
        (" PT1H ", "PT1H"),
    ] {
        assert_eq!(parse_duration(src).unwrap().to_string(), shown, "{src}");
    }
}

#[test]
fn duration_rejects() {
    for (src, needle) in [
        ("P", "no parts after P"),
        ("PT", "no parts after T"),
        ("P1DT", "no parts after T"),
        ("", "must start with P"),
        ("5M", "must start with P"),
        ("PT5", "`PT5` is not an ISO 8601 duration: the number 5 has no unit (expected e.g. PT5M"),
        ("P5H", "must come after T"),
        ("PT1D", "must come before T"),
        ("P1M1Y", "out of order"),
        ("PT1M1M", "out of order"),
        ("P1.5D", "only seconds may have a fraction"),
        ("PT1.S", "followed by digits"),
        ("P1X", "not a duration unit"),
        ("PTM", "expected a number"),
        ("P99999999999999999999Y", "too large"),
        ("P999999999Y", "too long"),
        ("garbage", "must start with P"),
    ] {
        let err = parse_duration(src).unwrap_err();
        assert!(err.0.contains(needle), "{src}: {}", err.0);
    }
}

#[test]
fn duration_add_to_is_calendar_aware() {
    let d = |s: &str| parse_duration(s).unwrap();
    assert_eq!(d("P1M").add_to(t("2026-01-31T10:00:00Z")), Some(t("2026-02-28T10:00:00Z")));
    assert_eq!(d("P1M").add_to(t("2028-01-31T10:00:00Z")), Some(t("2028-02-29T10:00:00Z")));
    assert_eq!(d("P1Y").add_to(t("2028-02-29T00:00:00Z")), Some(t("2029-02-28T00:00:00Z")));
    assert_eq!(d("P1DT1H").add_to(t("2026-12-31T23:00:00Z")), Some(t("2027-01-02T00:00:00Z")));
    assert_eq!(d("PT0.5S").add_to(t("2026-01-01T00:00:00Z")), Some(t("2026-01-01T00:00:00.5Z")));
    assert_eq!(d("-P1M").add_to(t("2026-03-31T00:00:00Z")), Some(t("2026-02-28T00:00:00Z")));
    assert_eq!(d("P99999Y").times(3), None);
    assert_eq!(d("PT1H").times(3), Some(d("PT3H")));
    assert_eq!(d("P2W").total_seconds(), 14 * 86_400);
    assert_eq!(d("P1Y2M").total_months(), 14);
    assert_eq!(d("PT0S"), sluice_feel::iso8601::IsoDuration::ZERO);
}

#[test]
fn date_times() {
    for (src, exp) in [
        ("2026-01-01T09:00:00Z", "2026-01-01T09:00:00Z"),
        ("2026-01-01T09:00Z", "2026-01-01T09:00:00Z"),
        ("2026-01-01T09:00:00", "2026-01-01T09:00:00Z"),
        ("2026-01-01T09:00:00+02:00", "2026-01-01T07:00:00Z"),
        ("2026-01-01T09:00:00-0130", "2026-01-01T10:30:00Z"),
        ("2026-01-01T09:00+01", "2026-01-01T08:00:00Z"),
        ("2026-01-01T09:00:00.123Z", "2026-01-01T09:00:00.123Z"),
        ("2026-01-01", "2026-01-01T00:00:00Z"),
        ("2026-01-01t09:00:00z", "2026-01-01T09:00:00Z"),
        ("2026-01-01T00:30:00+01:00", "2025-12-31T23:30:00Z"),
    ] {
        assert_eq!(parse_date_time(src).unwrap(), t(exp), "{src}");
    }
    for (src, needle) in [
        ("2026-02-30T09:00:00Z", "not a day of the calendar"),
        ("2026-01-01T25:00:00Z", "not a time of day"),
        ("2026-01-01T09", "expected `:` after the hour"),
        ("2026-1-01T09:00Z", "2 digits for the month"),
        ("26-01-01", "4 digits for the year"),
        ("2026-01-01T09:00:00 UTC", "not a zone"),
        ("2026-01-01T09:00:00+25:00", "not a valid offset"),
        ("tomorrow", "not an ISO 8601 date-time"),
        ("", "4 digits for the year"),
        ("2026-01-01X09:00", "expected `T`"),
    ] {
        let err = parse_date_time(src).unwrap_err();
        assert!(err.0.contains(needle), "{src}: {}", err.0);
    }
}

#[test]
fn cycles() {
    let armed = t("2026-05-05T12:00:00Z");
    let c = parse_cycle("R3/PT1H").unwrap();
    assert_eq!(c.repetitions, Some(3));
    assert_eq!(c.start, None);
    assert_eq!(c.due(armed, 0), Some(t("2026-05-05T13:00:00Z")));
    assert_eq!(c.due(armed, 2), Some(t("2026-05-05T15:00:00Z")));
    assert_eq!(c.due(armed, 3), None);
    assert_eq!(c.to_string(), "R3/PT1H");

    let c = parse_cycle("R/PT1H").unwrap();
    assert_eq!(c.repetitions, None);
    assert_eq!(c.due(armed, 999), Some(t("2026-06-16T04:00:00Z")));

    let c = parse_cycle("R/2026-01-01T09:00Z/P1D").unwrap();
    assert_eq!(c.start, Some(t("2026-01-01T09:00:00Z")));
    assert_eq!(c.due(armed, 0), Some(t("2026-01-01T09:00:00Z")));
    assert_eq!(c.due(armed, 31), Some(t("2026-02-01T09:00:00Z")));

    let c = parse_cycle("R5/2026-01-01T09:00:00Z/PT10M").unwrap();
    assert_eq!(c.due(armed, 4), Some(t("2026-01-01T09:40:00Z")));
    assert_eq!(c.due(armed, 5), None);

    let c = parse_cycle("R/PT1H/2026-05-05T14:30:00Z").unwrap();
    assert_eq!(c.end, Some(t("2026-05-05T14:30:00Z")));
    assert_eq!(c.due(armed, 1), Some(t("2026-05-05T14:00:00Z")));
    assert_eq!(c.due(armed, 2), None);

    // Month intervals stay anchored to the start day.
    let c = parse_cycle("R/2026-01-31T00:00:00Z/P1M").unwrap();
    assert_eq!(c.due(armed, 1), Some(t("2026-02-28T00:00:00Z")));
    assert_eq!(c.due(armed, 2), Some(t("2026-03-31T00:00:00Z")));
    assert_eq!(c.due(armed, u32::MAX), None);

    assert_eq!(
        parse_cycle("R2/PT5M").unwrap(),
        Cycle { repetitions: Some(2), start: None, interval: parse_duration("PT5M").unwrap(), end: None }
    );
}

#[test]
fn cycle_rejects() {
    for (src, needle) in [
        ("PT1H", "must start with R"),
        ("R3", "interval is missing"),
        ("Rx/PT1H", "`x` is not a repetition count"),
        ("R3/PT0S", "longer than zero"),
        ("R3/PT1H/2026-01-01T00:00Z/x", "too many"),
        ("R3/PT5", "has no unit"),
        ("R/2026-13-01T00:00Z/PT1H", "not a day of the calendar"),
        ("", "must start with R"),
    ] {
        let err = parse_cycle(src).unwrap_err();
        assert!(err.0.contains(needle), "{src}: {}", err.0);
    }
}
