//! When to log refused connections: one summary line per interval with what was refused
//! since the last one, never a line per connection (a flood of hundreds a second would
//! otherwise fill the disk with the log). Decided without I/O from the totals and the time.

use std::time::{Duration, Instant};

/// How often at most a summary of refusals is logged.
pub(crate) const SUMMARY_INTERVAL: Duration = Duration::from_secs(10);

/// Connections refused or cut, by reason: running totals, or what changed since the last
/// summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RefusalCounts {
    /// Refused: the address had the most connections open it may.
    pub per_address: u64,
    /// Refused: the address opened connections faster than its rate.
    pub rate: u64,
    /// Refused: the descriptors over the reserve were taken.
    pub descriptors: u64,
    /// Closed: not signed on within the sign-on deadline.
    pub signon_deadline: u64,
    /// `accept` itself failed (e.g. out of descriptors despite the reserve).
    pub accept_errors: u64,
}

impl RefusalCounts {
    fn since(self, earlier: Self) -> Self {
        Self {
            per_address: self.per_address.saturating_sub(earlier.per_address),
            rate: self.rate.saturating_sub(earlier.rate),
            descriptors: self.descriptors.saturating_sub(earlier.descriptors),
            signon_deadline: self.signon_deadline.saturating_sub(earlier.signon_deadline),
            accept_errors: self.accept_errors.saturating_sub(earlier.accept_errors),
        }
    }

    fn is_zero(self) -> bool {
        self == Self::default()
    }
}

/// The summary's memory: when it last spoke and the totals it had then.
#[derive(Debug, Default)]
pub(crate) struct RefusalLog {
    last: Option<Instant>,
    logged: RefusalCounts,
}

impl RefusalLog {
    /// What to log now, if anything: the counts since the last summary, when there are any
    /// and `SUMMARY_INTERVAL` has passed since it (the first refusal is told at once).
    pub(crate) fn due(&mut self, totals: RefusalCounts, now: Instant) -> Option<RefusalCounts> {
        if self
            .last
            .is_some_and(|last| now.saturating_duration_since(last) < SUMMARY_INTERVAL)
        {
            return None;
        }
        let new = totals.since(self.logged);
        if new.is_zero() {
            return None;
        }
        self.last = Some(now);
        self.logged = totals;
        Some(new)
    }

    /// What has not been told yet, whatever the time: at shutdown, so the log's summaries
    /// add up to the totals.
    pub(crate) fn flush(&mut self, totals: RefusalCounts, now: Instant) -> Option<RefusalCounts> {
        self.last = None;
        self.due(totals, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(n: u64) -> RefusalCounts {
        RefusalCounts {
            rate: n,
            ..RefusalCounts::default()
        }
    }

    #[test]
    fn the_first_refusal_is_told_at_once_and_the_rest_once_per_interval() {
        let mut log = RefusalLog::default();
        let start = Instant::now();
        assert_eq!(log.due(RefusalCounts::default(), start), None);
        assert_eq!(log.due(rate(1), start), Some(rate(1)));
        // A thousand more within the interval: silence.
        for n in 2..1000 {
            let at = start + SUMMARY_INTERVAL / 2;
            assert_eq!(log.due(rate(n), at), None);
        }
        // Then one line with all of them.
        let next = start + SUMMARY_INTERVAL;
        assert_eq!(log.due(rate(999), next), Some(rate(998)));
        // Nothing new, nothing said, however long it is.
        assert_eq!(log.due(rate(999), next + SUMMARY_INTERVAL * 10), None);
    }

    #[test]
    fn a_flush_tells_the_rest_at_once_and_only_once() {
        let mut log = RefusalLog::default();
        let start = Instant::now();
        assert_eq!(log.due(rate(1), start), Some(rate(1)));
        assert_eq!(log.due(rate(5), start), None);
        assert_eq!(log.flush(rate(5), start), Some(rate(4)));
        assert_eq!(log.flush(rate(5), start), None);
    }

    #[test]
    fn each_reason_is_counted_apart() {
        let mut log = RefusalLog::default();
        let start = Instant::now();
        let totals = RefusalCounts {
            per_address: 3,
            rate: 5,
            descriptors: 7,
            signon_deadline: 11,
            accept_errors: 13,
        };
        assert_eq!(log.due(totals, start), Some(totals));
        let more = RefusalCounts {
            signon_deadline: 12,
            ..totals
        };
        assert_eq!(
            log.due(more, start + SUMMARY_INTERVAL),
            Some(RefusalCounts {
                signon_deadline: 1,
                ..RefusalCounts::default()
            })
        );
    }
}
