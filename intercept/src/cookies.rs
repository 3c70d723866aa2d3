//! Cookie routing: every redirect the gateway rewrites is remembered as
//! `cookie → real upstream`, so the client's follow-on connection (which presents only the
//! cookie) can be sent to the host the server meant (oscar.md §3.4).

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use lru::LruCache;
use oscar::Family;
use oscar::message::RoomInfo;

/// Where a cookie leads, and what the gateway knew when it was issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The real `host:port` the server handed out.
    pub upstream: String,
    /// The local user the cookie belongs to, carried from the login.
    pub local_user: Option<String>,
    /// The service family (BOS for login replies).
    pub family: Option<Family>,
    /// The chat room, for chat service redirects.
    pub room: Option<RoomInfo>,
    /// The upstream leg's TLS name (SNI and verification), or `None` for plain TCP.
    pub tls_name: Option<String>,
}

/// Remembered routes, expiring after a fixed time; reconnects may reuse a cookie.
///
/// At most `max` are held, so a flood of logins (or a hostile upstream handing out cookies)
/// cannot grow the table without bound. Every route lives the same `ttl`, so insertion
/// order is expiry order: the table is kept in insertion order (lookups do not reorder
/// it), expired routes are dropped from its old end, and when it is full the oldest live
/// route makes room. Both are O(1) per route.
#[derive(Debug)]
pub struct CookieRoutes {
    ttl: Duration,
    map: Mutex<LruCache<Bytes, (Route, Instant)>>,
    evicted_live: AtomicU64,
}

impl CookieRoutes {
    /// Routes remembered for `ttl`, at most `max` at a time (0 counts as 1).
    pub fn new(ttl: Duration, max: usize) -> Self {
        Self {
            ttl,
            map: Mutex::new(LruCache::new(
                NonZeroUsize::new(max).unwrap_or(NonZeroUsize::MIN),
            )),
            evicted_live: AtomicU64::new(0),
        }
    }

    /// Remembers `cookie → route`, dropping expired routes first and, when the table is
    /// full, the oldest live one (counted in [`CookieRoutes::evicted_live`]).
    pub fn insert(&self, cookie: Bytes, route: Route) {
        let now = Instant::now();
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        while map
            .peek_lru()
            .is_some_and(|(_, (_, at))| now.duration_since(*at) >= self.ttl)
        {
            map.pop_lru();
        }
        // `push` moves a cookie seen again to the new end with its new time, keeping the
        // order; it hands back the replaced entry (same key) or the evicted oldest one.
        if let Some((old, _)) = map.push(cookie.clone(), (route, now))
            && old != cookie
        {
            let evicted = self.evicted_live.fetch_add(1, Ordering::Relaxed) + 1;
            // Logged at the 1st, 2nd, 4th, 8th, ... eviction: a flood cannot flood the log.
            if evicted.is_power_of_two() {
                tracing::warn!(
                    max = map.cap().get(),
                    evicted,
                    "cookie route table full: dropped the oldest live route (its client must log \
                 in again); raise relay.max_cookie_routes if this repeats"
                );
            }
        }
    }

    /// The route for `cookie`, if it is known and not expired.
    pub fn get(&self, cookie: &Bytes) -> Option<Route> {
        let map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        map.peek(cookie)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(route, _)| route.clone())
    }

    /// How many routes are held (expired ones linger until the next insert).
    pub fn len(&self) -> usize {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether none are held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Routes dropped before they expired because the table was full.
    pub fn evicted_live(&self) -> u64 {
        self.evicted_live.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route() -> Route {
        Route {
            upstream: "10.0.0.1:5191".into(),
            local_user: Some("alice".into()),
            family: None,
            room: None,
            tls_name: None,
        }
    }

    #[test]
    fn routes_expire() {
        let routes = CookieRoutes::new(Duration::from_millis(30), 16);
        routes.insert(Bytes::from_static(b"c1"), route());
        assert_eq!(routes.get(&Bytes::from_static(b"c1")), Some(route()));
        assert_eq!(routes.get(&Bytes::from_static(b"nope")), None);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(routes.get(&Bytes::from_static(b"c1")), None);
        routes.insert(Bytes::from_static(b"c2"), route());
        assert_eq!(routes.len(), 1, "expired entries are dropped on insert");
    }

    #[test]
    fn a_full_table_drops_its_oldest_route_and_counts_it() {
        let routes = CookieRoutes::new(Duration::from_secs(300), 3);
        let cookie = |i: u8| Bytes::from(vec![i; 4]);
        for i in 0..3 {
            routes.insert(cookie(i), route());
        }
        // Looking a route up does not make it younger: order is insertion (expiry) order.
        assert_eq!(routes.get(&cookie(0)), Some(route()));
        // The same cookie again is a refresh, not an eviction.
        routes.insert(cookie(1), route());
        assert_eq!((routes.len(), routes.evicted_live()), (3, 0));
        routes.insert(cookie(3), route());
        assert_eq!((routes.len(), routes.evicted_live()), (3, 1));
        assert_eq!(routes.get(&cookie(0)), None, "the oldest went");
        routes.insert(cookie(4), route());
        assert_eq!(routes.get(&cookie(2)), None, "then the next oldest");
        assert_eq!(routes.get(&cookie(1)), Some(route()), "refreshed, so kept");
        assert_eq!((routes.len(), routes.evicted_live()), (3, 2));
    }

    #[test]
    fn expired_routes_make_room_without_counting_as_evicted() {
        let routes = CookieRoutes::new(Duration::from_millis(30), 2);
        routes.insert(Bytes::from_static(b"a"), route());
        routes.insert(Bytes::from_static(b"b"), route());
        std::thread::sleep(Duration::from_millis(40));
        routes.insert(Bytes::from_static(b"c"), route());
        routes.insert(Bytes::from_static(b"d"), route());
        assert_eq!((routes.len(), routes.evicted_live()), (2, 0));
    }
}
