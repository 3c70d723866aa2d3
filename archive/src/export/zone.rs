//! The time zone exports and transcripts are rendered in: UTC unless `--tz` names an IANA
//! zone. Records keep UTC nanoseconds; only their rendering changes, and every rendered time
//! outside UTC carries the offset in force at that instant, so a time read from an export
//! is never ambiguous (a clock that goes back at the end of summer time shows the same
//! wall-clock hour twice, with two offsets).

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::error::ArchiveError;

/// The zone's name when none is asked for.
const UTC: &str = "UTC";

/// A time zone to render times in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    name: String,
    /// `None` is UTC, rendered with `Z` as every export was before `--tz` existed.
    tz: Option<TimeZone>,
}

impl Default for Zone {
    fn default() -> Self {
        Self::utc()
    }
}

impl Zone {
    /// UTC, the default.
    pub fn utc() -> Self {
        Self {
            name: UTC.to_owned(),
            tz: None,
        }
    }

    /// The IANA zone `name` (`Europe/London`) from the system's tz database (or, on a host
    /// without one, the copy built into the binary); `UTC` (any case) is [`Zone::utc`]. An unknown name is refused rather than taken as UTC, since an
    /// export in the wrong zone would misstate every time in it.
    pub fn named(name: &str) -> Result<Self, ArchiveError> {
        let name = name.trim();
        if name.eq_ignore_ascii_case(UTC) || name.eq_ignore_ascii_case("Z") {
            return Ok(Self::utc());
        }
        let tz = TimeZone::get(name).map_err(|e| ArchiveError::Invalid {
            what: "time zone",
            detail: format!(
                "{name:?} is not a time zone in this system's tz database ({e}); use an IANA \
                 name such as Europe/London or America/New_York"
            ),
        })?;
        Ok(Self {
            name: tz.iana_name().unwrap_or(name).to_owned(),
            tz: Some(tz),
        })
    }

    /// The zone's name as given to [`Zone::named`] (canonical case), or `UTC`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this is UTC.
    pub fn is_utc(&self) -> bool {
        self.tz.is_none()
    }

    /// The civil time and offset (seconds east of UTC) of `ns` UTC nanoseconds.
    fn civil(&self, ns: i64) -> (jiff::civil::DateTime, i32) {
        // Every i64 nanosecond count (years 1677 to 2262) is inside jiff's range.
        let ts = Timestamp::from_nanosecond(i128::from(ns)).unwrap_or(Timestamp::UNIX_EPOCH);
        match &self.tz {
            None => (TimeZone::UTC.to_datetime(ts), 0),
            Some(tz) => (tz.to_datetime(ts), tz.to_offset(ts).seconds()),
        }
    }

    /// RFC 3339 with nanoseconds: `2024-05-01T12:00:00.000000001Z` in UTC (fixed width, so
    /// the strings sort as the times do), `2024-05-01T13:00:00.000000001+01:00` elsewhere.
    pub fn rfc3339(&self, ns: i64) -> String {
        let (t, offset) = self.civil(ns);
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}{}",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.subsec_nanosecond(),
            self.offset_suffix(offset)
        )
    }

    /// `HH:MM:SS` in UTC; `HH:MM:SS+01:00` elsewhere, the offset on every line because it
    /// can change within a day.
    pub fn clock(&self, ns: i64) -> String {
        let (t, offset) = self.civil(ns);
        let suffix = if self.is_utc() {
            String::new()
        } else {
            self.offset_suffix(offset)
        };
        format!(
            "{:02}:{:02}:{:02}{suffix}",
            t.hour(),
            t.minute(),
            t.second()
        )
    }

    /// The calendar day `ns` falls on in this zone.
    pub fn day(&self, ns: i64) -> Date {
        self.civil(ns).0.date()
    }

    /// A day from [`Zone::day`] as `YYYY-MM-DD`.
    pub fn day_string(day: Date) -> String {
        format!("{:04}-{:02}-{:02}", day.year(), day.month(), day.day())
    }

    /// What a reader is told times are in: `UTC`, or `Europe/London (offset on each time)`.
    pub fn statement(&self) -> String {
        if self.is_utc() {
            "Times are UTC.".to_owned()
        } else {
            format!(
                "Times are {} local time, each with its offset from UTC.",
                self.name
            )
        }
    }

    /// `Z` for UTC; `+HH:MM` (with `:SS` for the historical offsets that have seconds).
    fn offset_suffix(&self, offset: i32) -> String {
        if self.is_utc() {
            return "Z".to_owned();
        }
        let sign = if offset < 0 { '-' } else { '+' };
        let abs = offset.unsigned_abs();
        let (h, m, s) = (abs / 3600, abs / 60 % 60, abs % 60);
        if s == 0 {
            format!("{sign}{h:02}:{m:02}")
        } else {
            format!("{sign}{h:02}:{m:02}:{s:02}")
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// 2024-05-01T12:00:00.123456789Z (British Summer Time in London).
    const MAY: i64 = 1_714_564_800_123_456_789;
    /// 2024-01-15T12:00:00Z (GMT in London).
    const JAN: i64 = 1_705_320_000_000_000_000;

    #[test]
    fn utc_is_the_default_and_keeps_the_z_form() {
        let z = Zone::default();
        assert!(z.is_utc());
        assert_eq!(z.name(), "UTC");
        assert_eq!(z.rfc3339(MAY), "2024-05-01T12:00:00.123456789Z");
        assert_eq!(z.rfc3339(i64::MIN), "1677-09-21T00:12:43.145224192Z");
        assert_eq!(z.rfc3339(i64::MAX), "2262-04-11T23:47:16.854775807Z");
        assert_eq!(z.rfc3339(-1), "1969-12-31T23:59:59.999999999Z");
        assert_eq!(z.clock(MAY), "12:00:00");
        assert_eq!(Zone::day_string(z.day(-1)), "1969-12-31");
        assert_eq!(z.statement(), "Times are UTC.");
        assert_eq!(Zone::named("utc").unwrap(), z);
    }

    #[test]
    fn a_named_zone_shows_the_offset_in_force() {
        let z = Zone::named("Europe/London").unwrap();
        assert_eq!(z.name(), "Europe/London");
        assert_eq!(z.rfc3339(MAY), "2024-05-01T13:00:00.123456789+01:00");
        assert_eq!(z.rfc3339(JAN), "2024-01-15T12:00:00.000000000+00:00");
        assert_eq!(z.clock(MAY), "13:00:00+01:00");
        assert_eq!(z.clock(JAN), "12:00:00+00:00");
        let ny = Zone::named("America/New_York").unwrap();
        assert_eq!(ny.rfc3339(JAN), "2024-01-15T07:00:00.000000000-05:00");
        // 2024-05-01T02:00Z is still 30 April in New York.
        let early = MAY - 10 * 3_600_000_000_000;
        assert_eq!(Zone::day_string(ny.day(early)), "2024-04-30");
        assert_eq!(Zone::day_string(Zone::utc().day(early)), "2024-05-01");
        assert!(ny.statement().contains("America/New_York"));
    }

    #[test]
    fn historical_offsets_with_seconds_are_shown_whole() {
        // Amsterdam kept local mean time (+00:19:32, +01:19:32 in summer) until 1937.
        let z = Zone::named("Europe/Amsterdam").unwrap();
        assert_eq!(
            z.rfc3339(-1_500_000_000_000_000_000),
            "1922-06-20T22:39:32.000000000+01:19:32"
        );
    }

    #[test]
    fn unknown_and_hostile_names_are_refused() {
        for name in ["Mars/Olympus", "../../etc/passwd", "/etc/localtime", ""] {
            let err = Zone::named(name).unwrap_err();
            assert!(
                matches!(
                    err,
                    ArchiveError::Invalid {
                        what: "time zone",
                        ..
                    }
                ),
                "{name}: {err}"
            );
        }
    }
}
