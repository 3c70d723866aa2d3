//! Times on the command line: RFC 3339 (`2026-11-25T09:00:00Z`), a date (`2026-11-25`, UTC
//! midnight), or relative to now (`7d`, `12h`, `30m`, `2w`, `90s`: that long ago); and the
//! zone `--tz` shows them in.

use archive::export::Zone;
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime, Time};

use crate::exit::UsageError;

const NS_PER_S: i64 = 1_000_000_000;

/// Parses a `--since`/`--until` value into UTC nanoseconds, relative to `now_ns`.
pub(crate) fn parse(value: &str, now_ns: i64) -> Result<i64, UsageError> {
    let bad = || {
        UsageError(format!(
            "{value:?} is not a time: use RFC 3339 (2026-11-25T09:00:00Z), a date (2026-11-25) or an age (7d, 12h, 30m, 2w)"
        ))
    };
    // Split before the last character (a char boundary, whatever the input).
    let split = value.char_indices().last().map_or(0, |(i, _)| i);
    let (number, unit) = value.split_at(split);
    if let Ok(n) = number.parse::<i64>() {
        let seconds = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3_600,
            "d" => 86_400,
            "w" => 7 * 86_400,
            _ => return Err(bad()),
        };
        let ago = n
            .checked_mul(seconds)
            .and_then(|s| s.checked_mul(NS_PER_S))
            .ok_or_else(bad)?;
        return Ok(now_ns.saturating_sub(ago));
    }
    let parsed = OffsetDateTime::parse(value, &Rfc3339).or_else(|_| {
        Date::parse(
            value,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .map(|d| d.with_time(Time::MIDNIGHT).assume_utc())
    });
    let t = parsed.map_err(|_| bad())?;
    i64::try_from(t.unix_timestamp_nanos()).map_err(|_| bad())
}

/// UTC nanoseconds as RFC 3339 with second precision, for people.
pub(crate) fn format(ns: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&Rfc3339)
        .unwrap_or_else(|_| ns.to_string())
}

/// The zone `--tz` names, UTC without it; an unknown zone is a usage error.
pub(crate) fn zone(tz: Option<&str>) -> Result<Zone, UsageError> {
    tz.map_or_else(
        || Ok(Zone::utc()),
        |name| Zone::named(name).map_err(|e| UsageError(e.to_string())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_764_000_000 * NS_PER_S;

    #[test]
    fn relative_absolute_and_dates() {
        assert_eq!(parse("7d", NOW).unwrap(), NOW - 7 * 86_400 * NS_PER_S);
        assert_eq!(parse("90s", NOW).unwrap(), NOW - 90 * NS_PER_S);
        assert_eq!(
            parse("2026-11-25T09:00:00Z", NOW).unwrap(),
            1_795_597_200 * NS_PER_S
        );
        assert_eq!(parse("2026-11-25", NOW).unwrap(), 1_795_564_800 * NS_PER_S);
        assert_eq!(format(1_795_597_200 * NS_PER_S + 5), "2026-11-25T09:00:00Z");
    }

    #[test]
    fn rejects_nonsense() {
        for bad in [
            "",
            "d",
            "7y",
            "yesterday",
            "2026-13-01",
            "99999999999999999d",
        ] {
            assert!(parse(bad, NOW).is_err(), "{bad}");
        }
    }
}
