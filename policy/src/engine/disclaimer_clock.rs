//! When a conversation's disclaimer is due: at its first message, and again after the
//! profile's `disclaimer_every` of silence.

use std::time::{Duration, Instant};

use super::recent::{DEFAULT_CAPACITY, Recent};

/// Per-session state: when each conversation last had a message, either way. Time is passed
/// in; nothing here reads a clock.
#[derive(Debug, Clone)]
pub struct DisclaimerClock(Recent);

impl Default for DisclaimerClock {
    fn default() -> Self {
        Self::new()
    }
}

impl DisclaimerClock {
    /// Remembers up to 1024 conversations.
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }

    /// Remembers up to `capacity` conversations (at least one). Conversations silent for
    /// `every` are forgotten first (they are due anyway); past that, the longest silent one
    /// is forgotten and gets the disclaimer again at its next message: memory is bounded by
    /// erring towards telling users they are recorded.
    pub fn with_capacity(capacity: usize) -> Self {
        Self(Recent::with_capacity(capacity))
    }

    /// Call for every message of `conversation` (any stable key; both directions count as
    /// activity) at `now`: whether the disclaimer is due before it, given the profile's
    /// `every` (zero: before every message).
    pub fn due(&mut self, conversation: &str, every: Duration, now: Instant) -> bool {
        let due = self
            .0
            .get(conversation)
            .is_none_or(|last| now.saturating_duration_since(last) >= every);
        self.0.insert(conversation, now, every);
        due
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

    const DAY: Duration = Duration::from_secs(24 * 3600);

    #[test]
    fn due_at_the_first_message_and_after_silence() {
        let t0 = Instant::now();
        let mut clock = DisclaimerClock::new();
        assert!(clock.due("bob", DAY, t0));
        assert!(!clock.due("bob", DAY, t0 + Duration::from_secs(60)));
        // Each message restarts the silence.
        assert!(!clock.due("bob", DAY, t0 + DAY));
        assert!(clock.due("bob", DAY, t0 + DAY + DAY + Duration::from_secs(60)));
        assert!(clock.due("carol", DAY, t0 + DAY));
    }

    #[test]
    fn zero_means_every_message() {
        let t0 = Instant::now();
        let mut clock = DisclaimerClock::new();
        assert!(clock.due("bob", Duration::ZERO, t0));
        assert!(clock.due("bob", Duration::ZERO, t0));
    }

    #[test]
    fn memory_is_bounded_and_forgetting_errs_towards_a_disclaimer() {
        let t0 = Instant::now();
        let mut clock = DisclaimerClock::with_capacity(2);
        let s = Duration::from_secs;
        assert!(clock.due("a", DAY, t0));
        assert!(clock.due("b", DAY, t0 + s(1)));
        assert!(!clock.due("a", DAY, t0 + s(2)));
        assert!(clock.due("c", DAY, t0 + s(3))); // "b" is the longest silent: forgotten
        assert_eq!(clock.len(), 2);
        assert!(!clock.due("a", DAY, t0 + s(4)));
        assert!(clock.due("b", DAY, t0 + s(5)));
        // Silent ones are dropped before any live one.
        let mut clock = DisclaimerClock::with_capacity(2);
        assert!(clock.due("old", DAY, t0));
        assert!(clock.due("live", DAY, t0 + DAY));
        assert!(clock.due("new", DAY, t0 + DAY + s(1)));
        assert!(!clock.due("live", DAY, t0 + DAY + s(2)));
    }
}
