//! How many query log lines may be written: at most `dns.query_log_rate` a second, the rest
//! counted. A flood of queries would otherwise become a flood of log lines and fill the
//! disk; the count says how much was left out.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

/// The per-second line budget and what it left out.
#[derive(Debug)]
pub(crate) struct LogBudget {
    started: Instant,
    /// The current second and the lines written in it.
    window: Mutex<(u64, u32)>,
    /// Lines left out since start, for `imtegrity status`.
    suppressed: AtomicU64,
    /// Lines left out since the last [`take_unreported`](Self::take_unreported).
    unreported: AtomicU64,
}

impl LogBudget {
    pub(crate) fn new() -> Self {
        Self {
            started: Instant::now(),
            window: Mutex::new((0, 0)),
            suppressed: AtomicU64::new(0),
            unreported: AtomicU64::new(0),
        }
    }

    /// Whether one more line may be written under `rate` lines a second (0: no limit);
    /// if not, it is counted as suppressed.
    pub(crate) fn allow(&self, rate: u32) -> bool {
        if rate == 0 {
            return true;
        }
        self.allow_at(rate, self.started.elapsed().as_secs())
    }

    fn allow_at(&self, rate: u32, second: u64) -> bool {
        let mut window = self.window.lock().unwrap_or_else(|e| e.into_inner());
        if window.0 != second {
            *window = (second, 0);
        }
        if window.1 < rate {
            window.1 += 1;
            return true;
        }
        drop(window);
        self.suppressed.fetch_add(1, Relaxed);
        self.unreported.fetch_add(1, Relaxed);
        false
    }

    /// Lines left out since the last call: what the periodic "suppressed" line reports.
    pub(crate) fn take_unreported(&self) -> u64 {
        self.unreported.swap(0, Relaxed)
    }

    /// Lines left out since start.
    pub(crate) fn suppressed(&self) -> u64 {
        self.suppressed.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_lines_a_second_and_the_rest_counted() {
        let budget = LogBudget::new();
        let written = (0..10).filter(|_| budget.allow_at(4, 7)).count();
        assert_eq!(written, 4);
        assert_eq!(budget.suppressed(), 6);
        assert_eq!(budget.take_unreported(), 6);
        assert_eq!(budget.take_unreported(), 0);
        // The next second has a fresh budget.
        assert!(budget.allow_at(4, 8));
        assert!((0..100).all(|_| budget.allow(0)));
        assert_eq!(budget.suppressed(), 6);
    }
}
