//! Login throttling, decided without I/O: after [`MAX_FAILURES`] failed logins within
//! [`WINDOW`] from one client address, or for one account name, further attempts are
//! refused until the window has passed, whatever the password. Guessing is then a handful of
//! tries per quarter hour, and a name under attack cannot be told apart from a wrong password.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Failures allowed per key within [`WINDOW`].
pub(crate) const MAX_FAILURES: usize = 5;
/// How long a failure counts.
pub(crate) const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Keys remembered at most: past it the oldest are forgotten, so a flood of made-up names
/// cannot grow the table without bound.
const MAX_KEYS: usize = 10_000;

/// Recent failures per key (a client address, or an account name).
#[derive(Debug, Default)]
pub struct Throttle {
    failures: HashMap<String, Vec<Instant>>,
}

impl Throttle {
    /// Whether an attempt under every one of `keys` may be checked now.
    pub fn allows(&mut self, keys: &[&str], now: Instant) -> bool {
        keys.iter().all(|key| self.recent(key, now) < MAX_FAILURES)
    }

    /// Counts a failed attempt against each of `keys`.
    pub fn failed(&mut self, keys: &[&str], now: Instant) {
        if self.failures.len() >= MAX_KEYS {
            self.failures
                .retain(|_, times| times.iter().any(|t| now.duration_since(*t) < WINDOW));
        }
        for key in keys {
            self.failures
                .entry((*key).to_owned())
                .or_default()
                .push(now);
        }
    }

    /// A successful login forgets the account's failures (not the address's).
    pub fn succeeded(&mut self, name_key: &str) {
        self.failures.remove(name_key);
    }

    fn recent(&mut self, key: &str, now: Instant) -> usize {
        let Some(times) = self.failures.get_mut(key) else {
            return 0;
        };
        times.retain(|t| now.duration_since(*t) < WINDOW);
        times.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_lock_the_key_until_the_window_passes() {
        let mut throttle = Throttle::default();
        let start = Instant::now();
        for _ in 0..MAX_FAILURES {
            assert!(throttle.allows(&["ip:1", "name:rita"], start));
            throttle.failed(&["ip:1", "name:rita"], start);
        }
        assert!(!throttle.allows(&["ip:1"], start));
        assert!(
            !throttle.allows(&["ip:2", "name:rita"], start),
            "the name is locked from anywhere"
        );
        assert!(throttle.allows(&["ip:2", "name:al"], start));
        assert!(throttle.allows(&["ip:1", "name:rita"], start + WINDOW));
    }

    #[test]
    fn success_clears_the_name_but_not_the_address() {
        let mut throttle = Throttle::default();
        let now = Instant::now();
        for _ in 0..MAX_FAILURES {
            throttle.failed(&["ip:1", "name:rita"], now);
        }
        throttle.succeeded("name:rita");
        assert!(throttle.allows(&["ip:2", "name:rita"], now));
        assert!(!throttle.allows(&["ip:1"], now));
    }
}
