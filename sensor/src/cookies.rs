//! Login cookies seen in login replies, to name the BOS connection that presents one
//! (oscar.md §4.1: the authorizer's reply carries the BOS address and a cookie, the client
//! presents the cookie on its BOS connection's sign-on).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;

/// Login cookies seen in login replies, to name the BOS connection that presents one.
/// Shared by the capture threads (the login and the BOS connection are two flows, which
/// may be read by two threads), behind a lock taken only for a login reply or a BOS
/// sign-on.
#[derive(Debug)]
pub(crate) struct CookieNames {
    names: Mutex<HashMap<Bytes, (String, Instant)>>,
    max: usize,
    ttl: Duration,
}

impl CookieNames {
    /// At most `max` cookies, each kept `ttl`.
    pub(crate) fn new(max: usize, ttl: Duration) -> Self {
        Self {
            names: Mutex::new(HashMap::new()),
            max,
            ttl,
        }
    }

    fn names(&self) -> MutexGuard<'_, HashMap<Bytes, (String, Instant)>> {
        // A thread that panicked holding the lock left a map that is still a map: at worst
        // a cookie is missing, and a BOS connection goes unnamed.
        self.names.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn insert(&self, cookie: Bytes, name: String, now: Instant) {
        let mut names = self.names();
        if names.len() >= self.max {
            let ttl = self.ttl;
            names.retain(|_, (_, at)| now.saturating_duration_since(*at) < ttl);
            if names.len() >= self.max {
                names.clear(); // a flood of logins: start over rather than grow
            }
        }
        names.insert(cookie, (name, now));
    }

    pub(crate) fn get(&self, cookie: &[u8], now: Instant) -> Option<String> {
        self.names()
            .get(cookie)
            .filter(|(_, at)| now.saturating_duration_since(*at) < self.ttl)
            .map(|(n, _)| n.clone())
    }
}
