//! A BOS session waiting for its name: its sign-on presented a login cookie the sensor has
//! not tied to a name yet. With several capture threads the login's reply may be read a
//! little after its BOS connection (the two are different flows, which the kernel may give
//! to different threads, and each thread reads its ring a block at a time); so the session
//! holds its IMs, and its alert waits, until the cookie names it or [`NAME_WAIT`] has
//! passed, and then they are recorded as one thread would have recorded them.

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::flow_table::Way;

/// How long a session waits for its cookie to name it: far more than threads drift apart
/// (a block's timeout), and as long as an alert waits for a name anyway.
pub(crate) const NAME_WAIT: Duration = Duration::from_secs(2);

/// An ICBM held while waiting: its way, its SNAC body and its whole frame's payload.
#[derive(Debug)]
pub(crate) struct HeldIcbm {
    pub(crate) way: Way,
    pub(crate) body: Bytes,
    pub(crate) payload: Bytes,
}

/// The wait, and what is held during it.
#[derive(Debug)]
pub(crate) struct NameWait {
    /// The cookie the sign-on presented.
    pub(crate) cookie: Bytes,
    since: Instant,
    held: Vec<HeldIcbm>,
    held_bytes: usize,
    /// The most bytes held: one session costs no more than its flow buffer while waiting.
    max_bytes: usize,
}

impl NameWait {
    /// Waiting for `cookie` since `now`, holding at most `max_bytes` of frames.
    pub(crate) fn new(cookie: Bytes, now: Instant, max_bytes: usize) -> Self {
        Self {
            cookie,
            since: now,
            held: Vec::new(),
            held_bytes: 0,
            max_bytes,
        }
    }

    /// Holds an ICBM, or gives it back when the bound would be passed (then the wait is
    /// over: better a record without a name than none).
    pub(crate) fn hold(&mut self, icbm: HeldIcbm) -> Result<(), HeldIcbm> {
        let bytes = self.held_bytes.saturating_add(icbm.payload.len());
        if bytes > self.max_bytes {
            return Err(icbm);
        }
        self.held_bytes = bytes;
        self.held.push(icbm);
        Ok(())
    }

    /// Bytes held.
    pub(crate) fn held_bytes(&self) -> usize {
        self.held_bytes
    }

    /// Whether the wait has lasted long enough at `now`.
    pub(crate) fn is_over(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.since) >= NAME_WAIT
    }

    /// What was held, in the order it came.
    pub(crate) fn into_held(self) -> Vec<HeldIcbm> {
        self.held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn icbm(n: usize) -> HeldIcbm {
        HeldIcbm {
            way: Way::Up,
            body: Bytes::new(),
            payload: Bytes::from(vec![0; n]),
        }
    }

    #[test]
    fn holds_up_to_its_bound_in_order_and_ends_after_the_wait() {
        let t0 = Instant::now();
        let mut wait = NameWait::new(Bytes::from_static(b"c"), t0, 100);
        assert!(wait.hold(icbm(60)).is_ok());
        assert!(wait.hold(icbm(40)).is_ok());
        let refused = wait.hold(icbm(1)).unwrap_err();
        assert_eq!(refused.payload.len(), 1);
        assert!(!wait.is_over(t0 + NAME_WAIT - Duration::from_millis(1)));
        assert!(wait.is_over(t0 + NAME_WAIT));
        let held: Vec<usize> = wait.into_held().iter().map(|h| h.payload.len()).collect();
        assert_eq!(held, [60, 40]);
    }
}
