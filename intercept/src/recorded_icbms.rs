//! IMs between two users behind the gateway that the sending session has recorded, so the
//! receiving session can skip its copy: one record per message, because the other one
//! *was* written, never because it is expected to be.
//!
//! The key is what the server keeps from the send to the delivery: the sender (named by the
//! server on delivery, so nobody outside can pose as a local sender), the recipient and the
//! 8-byte ICBM cookie. An entry lives a short while (a delivery follows its send within
//! moments) and the table is bounded; a delivery that finds nothing is recorded, so a lost
//! entry costs a duplicate record, never a missing one.

use std::num::NonZeroUsize;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use lru::LruCache;

/// How long a sent IM's record is remembered for its delivery.
pub(crate) const RECORDED_ICBM_TTL: Duration = Duration::from_secs(60);
/// Most sent IMs remembered at once.
pub(crate) const RECORDED_ICBM_MAX: usize = 65_536;

/// Sender, recipient (both normalised) and ICBM cookie of an IM.
type Key = (String, String, [u8; 8]);

/// Sent IMs whose record the sending session wrote, by [`Key`], with when.
#[derive(Debug)]
pub(crate) struct RecordedIcbms {
    ttl: Duration,
    map: Mutex<LruCache<Key, Instant>>,
}

impl Default for RecordedIcbms {
    fn default() -> Self {
        Self::new(RECORDED_ICBM_TTL, RECORDED_ICBM_MAX)
    }
}

impl RecordedIcbms {
    /// A table remembering entries for `ttl`, at most `max` (0 counts as 1).
    pub(crate) fn new(ttl: Duration, max: usize) -> Self {
        Self {
            ttl,
            map: Mutex::new(LruCache::new(
                NonZeroUsize::new(max).unwrap_or(NonZeroUsize::MIN),
            )),
        }
    }

    /// Notes that the sending session recorded the IM `cookie` from `sender` to
    /// `recipient` (normalised names) at `now`.
    pub(crate) fn note(&self, sender: &str, recipient: &str, cookie: [u8; 8], now: Instant) {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        while map
            .peek_lru()
            .is_some_and(|(_, at)| now.duration_since(*at) >= self.ttl)
        {
            map.pop_lru();
        }
        map.push((sender.to_owned(), recipient.to_owned(), cookie), now);
    }

    /// Whether the sending session recorded this IM within the window. Not taken out: a
    /// recipient signed on twice gets two deliveries of one recorded message.
    pub(crate) fn was_recorded(
        &self,
        sender: &str,
        recipient: &str,
        cookie: [u8; 8],
        now: Instant,
    ) -> bool {
        let map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        map.peek(&(sender.to_owned(), recipient.to_owned(), cookie))
            .is_some_and(|at| now.duration_since(*at) < self.ttl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_noted_im_is_found_for_its_own_pair_and_cookie_only() {
        let table = RecordedIcbms::default();
        let now = Instant::now();
        assert!(
            !table.was_recorded("alice", "bob", [1; 8], now),
            "nothing noted"
        );
        table.note("alice", "bob", [1; 8], now);
        assert!(table.was_recorded("alice", "bob", [1; 8], now));
        assert!(
            table.was_recorded("alice", "bob", [1; 8], now),
            "not used up"
        );
        assert!(
            !table.was_recorded("alice", "bob", [2; 8], now),
            "another cookie"
        );
        assert!(
            !table.was_recorded("bob", "alice", [1; 8], now),
            "the other way"
        );
        assert!(
            !table.was_recorded("eve", "bob", [1; 8], now),
            "another sender"
        );
    }

    #[test]
    fn an_entry_expires() {
        let table = RecordedIcbms::new(Duration::from_secs(60), 16);
        let then = Instant::now();
        table.note("alice", "bob", [1; 8], then);
        assert!(table.was_recorded("alice", "bob", [1; 8], then + Duration::from_secs(59)));
        assert!(!table.was_recorded("alice", "bob", [1; 8], then + Duration::from_secs(60)));
    }

    #[test]
    fn the_table_is_bounded_and_forgets_its_oldest() {
        let table = RecordedIcbms::new(Duration::from_secs(60), 2);
        let now = Instant::now();
        for i in 0..3u8 {
            table.note("alice", "bob", [i; 8], now);
        }
        assert!(!table.was_recorded("alice", "bob", [0; 8], now));
        assert!(table.was_recorded("alice", "bob", [1; 8], now));
        assert!(table.was_recorded("alice", "bob", [2; 8], now));
    }
}
