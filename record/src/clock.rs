//! Wall-clock time in the archive's unit, UTC nanoseconds since the Unix epoch.

/// Now, in UTC nanoseconds since the Unix epoch (0 if the clock is before 1970).
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}
