//! How many query log lines may be written: at most `dns.query_log_rate` a second, the rest
//! counted. A flood of queries would otherwise become a flood of log lines and fill the
//! disk; the count says how much was left out.
//!
//! Every redirected answer asks the budget, from every UDP reader thread at once, so it is
//! one atomic word (the second and the lines written in it) rather than a lock.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

/// The per-second line budget and what it left out.
#[derive(Debug)]
pub(crate) struct LogBudget {
    started: Instant,
    /// The current second (high 32 bits) and the lines written in it (low 32 bits).
    window: AtomicU64,
    /// Lines left out since start, for `imtegrity status`.
    suppressed: AtomicU64,
    /// `suppressed` as of the last [`take_unreported`](Self::take_unreported): one counter
    /// on the answer path, not two.
    reported: AtomicU64,
}

impl LogBudget {
    pub(crate) fn new() -> Self {
        Self {
            started: Instant::now(),
            window: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
            reported: AtomicU64::new(0),
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
        // Seconds wrap after 136 years of uptime; the window only needs to tell them apart.
        let second = second & u64::from(u32::MAX);
        let mut current = self.window.load(Relaxed);
        loop {
            let (at, written) = (current >> 32, current & u64::from(u32::MAX));
            let written = if at == second { written } else { 0 };
            if written >= u64::from(rate) {
                self.suppress();
                return false;
            }
            let next = (second << 32) | (written + 1);
            match self
                .window
                .compare_exchange_weak(current, next, Relaxed, Relaxed)
            {
                Ok(_) => return true,
                Err(now) => current = now,
            }
        }
    }

    /// Counts one line left out for another reason than the rate (the writer was behind),
    /// so it is reported with the rest.
    pub(crate) fn suppress(&self) {
        self.suppressed.fetch_add(1, Relaxed);
    }

    /// Lines left out since the last call: what the periodic "suppressed" line reports.
    pub(crate) fn take_unreported(&self) -> u64 {
        let total = self.suppressed.load(Relaxed);
        total.saturating_sub(self.reported.swap(total, Relaxed))
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
        budget.suppress();
        assert_eq!((budget.suppressed(), budget.take_unreported()), (7, 1));
    }

    /// Threads racing for one second's budget get exactly `rate` lines between them.
    #[test]
    fn racing_threads_share_one_budget() {
        let budget = LogBudget::new();
        let written: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..1000).filter(|_| budget.allow_at(100, 3)).count()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(written, 100);
        assert_eq!(budget.suppressed(), 3900);
    }
}
