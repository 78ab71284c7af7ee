//! Dates: strict parsing of the `YYYY-MM-DD` parameters and RFC 3339 times, and formatting
//! in the language (month and weekday names, event times with MEZ/MESZ or CET/CEST;
//! see [`Texts`]).

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Offset, Timelike};
use chrono_tz::{OffsetName, Tz};

use crate::texts::Texts;

pub fn parse_ymd(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let digits = |r: core::ops::Range<usize>| -> Option<u32> {
        let part = &s[r];
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let (y, m, d) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    NaiveDate::from_ymd_opt(y as i32, m, d)
}

/// An RFC 3339 time with its offset (e.g. `2026-10-29T15:00:00+01:00`, `…Z`).
pub fn parse_time(s: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(s.trim()).ok()
}

fn month(d: NaiveDate, t: &Texts) -> &'static str {
    t.months[d.month0() as usize]
}

/// `November 2026`.
pub fn month_year(d: NaiveDate, t: &Texts) -> String {
    format!("{} {}", month(d, t), d.year())
}

/// `29. Oktober 2026` / `29 October 2026`.
pub fn date_long(d: NaiveDate, t: &Texts) -> String {
    format!("{}{} {} {}", d.day(), t.day_suffix, month(d, t), d.year())
}

/// `Donnerstag, 29. Oktober 2026` / `Thursday, 29 October 2026`.
pub fn date_weekday(d: NaiveDate, t: &Texts) -> String {
    format!(
        "{}, {}",
        t.weekdays[d.weekday().num_days_from_monday() as usize],
        date_long(d, t)
    )
}

/// `1. bis 22. November 2026`, `28. Oktober bis 22. November 2026`, or with both years
/// (English: `1 to 22 November 2026`, …).
pub fn period(since: NaiveDate, until: NaiveDate, t: &Texts) -> String {
    let to = t.until;
    if since == until {
        date_long(since, t)
    } else if since.year() != until.year() {
        format!("{} {to} {}", date_long(since, t), date_long(until, t))
    } else if since.month() != until.month() {
        format!(
            "{}{} {} {to} {}",
            since.day(),
            t.day_suffix,
            month(since, t),
            date_long(until, t)
        )
    } else {
        format!(
            "{}{} {to} {}",
            since.day(),
            t.day_suffix,
            date_long(until, t)
        )
    }
}

/// The name of the time at an event: `MEZ`/`MESZ` (English `CET`/`CEST`) where the zone
/// keeps Central European (summer) time then, `UTC` for offset zero, else `UTC+hh:mm` /
/// `UTC-hh:mm`.
pub fn zone_label(at: &DateTime<Tz>, t: &Texts) -> String {
    match at.offset().abbreviation() {
        Some("CET") => return t.cet.into(),
        Some("CEST") => return t.cest.into(),
        _ => {}
    }
    offset_label(at.offset().fix().local_minus_utc())
}

/// `UTC`, `UTC+hh:mm` or `UTC-hh:mm`.
fn offset_label(offset_seconds: i32) -> String {
    if offset_seconds == 0 {
        return "UTC".into();
    }
    let sign = if offset_seconds < 0 { '-' } else { '+' };
    let a = offset_seconds.unsigned_abs();
    format!("UTC{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60)
}

/// `at` in the zone `timezone` (any IANA name) with its label; a name that is no IANA zone
/// leaves the time at its own offset.
fn local(at: &DateTime<FixedOffset>, timezone: &str, t: &Texts) -> (DateTime<FixedOffset>, String) {
    match timezone.parse::<Tz>() {
        Ok(tz) => {
            let there = at.with_timezone(&tz);
            (there.fixed_offset(), zone_label(&there, t))
        }
        Err(_) => (*at, offset_label(at.offset().local_minus_utc())),
    }
}

fn hm(at: &DateTime<FixedOffset>) -> String {
    format!("{:02}:{:02}", at.hour(), at.minute())
}

/// When an event takes place, in the language, in the local time of its zone
/// `timezone` (any IANA name; times given with another offset are converted):
///
/// - same day: `Donnerstag, 29. Oktober 2026, 15:00–19:30 Uhr (MEZ)`
///   (`Thursday, 29 October 2026, 15:00–19:30 (CET)`)
/// - several days: `Freitag, 30. Oktober 2026, 09:00 Uhr – Samstag, 31. Oktober 2026,
///   16:00 Uhr (MEZ)` (each time with its own zone when the offsets differ)
/// - no (valid) end: `Donnerstag, 29. Oktober 2026, 15:00 Uhr (MEZ)`
pub fn event_when(
    starts: &DateTime<FixedOffset>,
    ends: Option<&DateTime<FixedOffset>>,
    timezone: &str,
    t: &Texts,
) -> String {
    let uhr = t.clock_suffix;
    let (starts, zs) = local(starts, timezone, t);
    let starts = &starts;
    let day_s = date_weekday(starts.date_naive(), t);
    let Some((ends, ze)) = ends.filter(|e| *e > starts).map(|e| local(e, timezone, t)) else {
        return format!("{day_s}, {}{uhr} ({zs})", hm(starts));
    };
    let ends = &ends;
    let same_day = starts.date_naive() == ends.date_naive();
    match (same_day, zs == ze) {
        (true, true) => format!("{day_s}, {}–{}{uhr} ({zs})", hm(starts), hm(ends)),
        (true, false) => format!(
            "{day_s}, {}{uhr} ({zs}) – {}{uhr} ({ze})",
            hm(starts),
            hm(ends)
        ),
        (false, true) => format!(
            "{day_s}, {}{uhr} – {}, {}{uhr} ({zs})",
            hm(starts),
            date_weekday(ends.date_naive(), t),
            hm(ends)
        ),
        (false, false) => format!(
            "{day_s}, {}{uhr} ({zs}) – {}, {}{uhr} ({ze})",
            hm(starts),
            date_weekday(ends.date_naive(), t),
            hm(ends)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::texts::{DE, EN};

    fn t(s: &str) -> DateTime<FixedOffset> {
        parse_time(s).unwrap()
    }

    #[test]
    fn ymd_is_strict() {
        assert_eq!(
            parse_ymd("2026-11-01"),
            NaiveDate::from_ymd_opt(2026, 11, 1)
        );
        for bad in [
            "2026-11-1",
            "2026-02-30",
            "26-11-01",
            "2026/11/01",
            "2026-11-01T00:00:00Z",
            "",
            "+026-11-01",
            "2026-1a-01",
            " 2026-11-01",
        ] {
            assert_eq!(parse_ymd(bad), None, "{bad}");
        }
    }

    #[test]
    fn german_names() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 10).unwrap();
        assert_eq!(month_year(d, &DE), "März 2026");
        assert_eq!(date_long(d, &DE), "10. März 2026");
        assert_eq!(date_weekday(d, &DE), "Dienstag, 10. März 2026");
        let n = |m, d| NaiveDate::from_ymd_opt(2026, m, d).unwrap();
        assert_eq!(period(n(11, 1), n(11, 22), &DE), "1. bis 22. November 2026");
        assert_eq!(
            period(n(10, 28), n(11, 22), &DE),
            "28. Oktober bis 22. November 2026"
        );
        assert_eq!(period(n(11, 22), n(11, 22), &DE), "22. November 2026");
        assert_eq!(
            period(NaiveDate::from_ymd_opt(2025, 12, 15).unwrap(), n(1, 5), &DE),
            "15. Dezember 2025 bis 5. Januar 2026"
        );
    }

    #[test]
    fn english_names() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 10).unwrap();
        assert_eq!(month_year(d, &EN), "March 2026");
        assert_eq!(date_long(d, &EN), "10 March 2026");
        assert_eq!(date_weekday(d, &EN), "Tuesday, 10 March 2026");
        let n = |m, d| NaiveDate::from_ymd_opt(2026, m, d).unwrap();
        assert_eq!(period(n(11, 1), n(11, 22), &EN), "1 to 22 November 2026");
        assert_eq!(
            period(n(10, 28), n(11, 22), &EN),
            "28 October to 22 November 2026"
        );
        assert_eq!(period(n(11, 22), n(11, 22), &EN), "22 November 2026");
        assert_eq!(
            period(NaiveDate::from_ymd_opt(2025, 12, 15).unwrap(), n(1, 5), &EN),
            "15 December 2025 to 5 January 2026"
        );
    }

    #[test]
    fn english_event_times() {
        assert_eq!(
            event_when(
                &t("2026-10-29T15:00:00+01:00"),
                Some(&t("2026-10-29T19:30:00+01:00")),
                "Europe/Berlin",
                &EN
            ),
            "Thursday, 29 October 2026, 15:00–19:30 (CET)"
        );
        assert_eq!(
            event_when(
                &t("2027-03-27T10:00:00+01:00"),
                Some(&t("2027-03-28T14:00:00+02:00")),
                "Europe/Berlin",
                &EN
            ),
            "Saturday, 27 March 2027, 10:00 (CET) – Sunday, 28 March 2027, 14:00 (CEST)"
        );
        assert_eq!(
            event_when(
                &t("2027-03-05T09:00:00+01:00"),
                Some(&t("2027-03-06T16:00:00+01:00")),
                "Europe/Berlin",
                &EN
            ),
            "Friday, 5 March 2027, 09:00 – Saturday, 6 March 2027, 16:00 (CET)"
        );
        assert_eq!(
            event_when(&t("2027-04-12T01:00:00Z"), None, "Asia/Tokyo", &EN),
            "Monday, 12 April 2027, 10:00 (UTC+09:00)"
        );
    }

    #[test]
    fn zones() {
        let label = |at: &str, zone: &str| local(&t(at), zone, &DE).1;
        assert_eq!(label("2026-12-01T12:00:00+01:00", "Europe/Berlin"), "MEZ");
        assert_eq!(label("2026-07-01T12:00:00+02:00", "Europe/Berlin"), "MESZ");
        // Any zone that keeps Central European time, not only a list of them.
        assert_eq!(label("2026-12-01T12:00:00+01:00", "Europe/Oslo"), "MEZ");
        assert_eq!(label("2026-07-01T12:00:00+02:00", "Africa/Ceuta"), "MESZ");
        assert_eq!(label("2026-12-01T12:00:00Z", "UTC"), "UTC");
        assert_eq!(label("2026-12-01T12:00:00Z", "Europe/London"), "UTC");
        assert_eq!(label("2026-07-01T12:00:00Z", "Europe/London"), "UTC+01:00");
        assert_eq!(
            label("2026-12-01T12:00:00Z", "America/New_York"),
            "UTC-05:00"
        );
        assert_eq!(label("2026-12-01T12:00:00Z", "Asia/Kolkata"), "UTC+05:30");
        assert_eq!(label("2026-12-01T12:00:00Z", "Asia/Kathmandu"), "UTC+05:45");
        // Not an IANA zone: the offset as it is.
        assert_eq!(
            label("2026-12-01T12:00:00+03:00", "Mars/Olympus"),
            "UTC+03:00"
        );
    }

    #[test]
    fn times_are_shown_in_the_zone_of_the_event() {
        // Stored in UTC, shown in Berlin time.
        assert_eq!(
            event_when(
                &t("2026-12-10T15:00:00Z"),
                Some(&t("2026-12-10T16:30:00Z")),
                "Europe/Berlin",
                &DE
            ),
            "Donnerstag, 10. Dezember 2026, 16:00–17:30 Uhr (MEZ)"
        );
        // Tokyo, for a delegation trip.
        assert_eq!(
            event_when(&t("2027-04-12T01:00:00Z"), None, "Asia/Tokyo", &DE),
            "Montag, 12. April 2027, 10:00 Uhr (UTC+09:00)"
        );
    }

    #[test]
    fn event_times_in_local_time() {
        assert_eq!(
            event_when(
                &t("2026-10-29T15:00:00+01:00"),
                Some(&t("2026-10-29T19:30:00+01:00")),
                "Europe/Berlin",
                &DE
            ),
            "Donnerstag, 29. Oktober 2026, 15:00–19:30 Uhr (MEZ)"
        );
        assert_eq!(
            event_when(
                &t("2026-06-18T09:30:00+02:00"),
                Some(&t("2026-06-18T12:00:00+02:00")),
                "Europe/Berlin",
                &DE
            ),
            "Donnerstag, 18. Juni 2026, 09:30–12:00 Uhr (MESZ)"
        );
        // Several days.
        assert_eq!(
            event_when(
                &t("2027-03-05T09:00:00+01:00"),
                Some(&t("2027-03-06T16:00:00+01:00")),
                "Europe/Berlin",
                &DE
            ),
            "Freitag, 5. März 2027, 09:00 Uhr – Samstag, 6. März 2027, 16:00 Uhr (MEZ)"
        );
        // Across the change to summer time: each time with its zone.
        assert_eq!(
            event_when(
                &t("2027-03-27T10:00:00+01:00"),
                Some(&t("2027-03-28T14:00:00+02:00")),
                "Europe/Berlin",
                &DE
            ),
            "Samstag, 27. März 2027, 10:00 Uhr (MEZ) – Sonntag, 28. März 2027, 14:00 Uhr (MESZ)"
        );
        // No end, or an end before the start: only the start.
        assert_eq!(
            event_when(&t("2026-12-01T18:00:00Z"), None, "UTC", &DE),
            "Dienstag, 1. Dezember 2026, 18:00 Uhr (UTC)"
        );
        assert_eq!(
            event_when(
                &t("2026-12-01T18:00:00-05:00"),
                Some(&t("2026-12-01T17:00:00-05:00")),
                "America/New_York",
                &DE
            ),
            "Dienstag, 1. Dezember 2026, 18:00 Uhr (UTC-05:00)"
        );
    }
}
