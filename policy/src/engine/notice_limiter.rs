//! At most one notice per conversation per interval: clients retry a blocked message, and
//! each retry must not bring another notice (IMSpector's `filtered_mins`).

use std::time::{Duration, Instant};

use super::recent::{DEFAULT_CAPACITY, Recent};

/// Per-session state: when each conversation last got a notice. Time is passed in; nothing
/// here reads a clock.
#[derive(Debug, Clone)]
pub struct NoticeLimiter(Recent);

impl Default for NoticeLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl NoticeLimiter {
    /// Remembers up to 1024 conversations.
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }

    /// Remembers up to `capacity` conversations (at least one). Past that, the one with the
    /// oldest notice is forgotten, and may get its next notice early.
    pub fn with_capacity(capacity: usize) -> Self {
        Self(Recent::with_capacity(capacity))
    }

    /// Whether a notice may be sent in `conversation` (any stable key: the normalised
    /// remote screen name, the archive's conversation key) at `now`, given the profile's
    /// `interval`; if so, it counts as sent.
    pub fn permit(&mut self, conversation: &str, interval: Duration, now: Instant) -> bool {
        let allowed = self
            .0
            .get(conversation)
            .is_none_or(|last| now.saturating_duration_since(last) >= interval);
        if allowed {
            self.0.insert(conversation, now, interval);
        }
        allowed
    }

    /// Conversations remembered.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether none is remembered.
    pub fn is_empty(&self) -> bool {
        self.0.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn one_notice_per_conversation_per_interval() {
        let t0 = Instant::now();
        let mut limiter = NoticeLimiter::new();
        assert!(limiter.permit("bob", MINUTE, t0));
        assert!(!limiter.permit("bob", MINUTE, t0 + Duration::from_secs(59)));
        assert!(limiter.permit("carol", MINUTE, t0 + Duration::from_secs(1)));
        // Refused attempts do not push the window forward.
        assert!(limiter.permit("bob", MINUTE, t0 + MINUTE));
        assert!(!limiter.permit("bob", MINUTE, t0 + MINUTE + Duration::from_secs(30)));
    }

    #[test]
    fn memory_is_bounded_and_the_oldest_goes_first() {
        let t0 = Instant::now();
        let mut limiter = NoticeLimiter::with_capacity(2);
        assert!(limiter.permit("a", MINUTE, t0));
        assert!(limiter.permit("b", MINUTE, t0 + Duration::from_secs(1)));
        assert!(limiter.permit("c", MINUTE, t0 + Duration::from_secs(2)));
        assert_eq!(limiter.len(), 2);
        // "a" was forgotten, "b" was not.
        assert!(limiter.permit("a", MINUTE, t0 + Duration::from_secs(3)));
        assert!(!limiter.permit("c", MINUTE, t0 + Duration::from_secs(3)));
    }
}
