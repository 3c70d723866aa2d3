//! When each conversation was last seen, in bounded memory: the state behind
//! [`NoticeLimiter`](super::NoticeLimiter) and [`DisclaimerClock`](super::DisclaimerClock).

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Conversations kept by default: far more than one user holds open at once.
pub(super) const DEFAULT_CAPACITY: usize = 1024;

/// Conversation key → instant, at most `capacity` of them.
#[derive(Debug, Clone)]
pub(super) struct Recent {
    last: HashMap<String, Instant>,
    capacity: usize,
}

impl Recent {
    pub(super) fn with_capacity(capacity: usize) -> Self {
        Self {
            last: HashMap::new(),
            capacity: capacity.max(1),
        }
    }

    pub(super) fn get(&self, key: &str) -> Option<Instant> {
        self.last.get(key).copied()
    }

    /// Remembers `now` for `key`. When full, first forgets the entries at least `expiry`
    /// old (forgetting them changes nothing: they are due anyway), then, if still full, the
    /// oldest one.
    pub(super) fn insert(&mut self, key: &str, now: Instant, expiry: Duration) {
        if let Some(at) = self.last.get_mut(key) {
            *at = now;
            return;
        }
        if self.last.len() >= self.capacity {
            self.last
                .retain(|_, at| now.saturating_duration_since(*at) < expiry);
            if self.last.len() >= self.capacity
                && let Some(oldest) = self
                    .last
                    .iter()
                    .min_by_key(|(_, at)| **at)
                    .map(|(k, _)| k.clone())
            {
                self.last.remove(&oldest);
            }
        }
        self.last.insert(key.to_owned(), now);
    }

    pub(super) fn len(&self) -> usize {
        self.last.len()
    }
}
