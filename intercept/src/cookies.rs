//! Cookie routing: every redirect the gateway rewrites is remembered as
//! `cookie → real upstream`, so the client's follow-on connection (which presents only the
//! cookie) can be sent to the host the server meant (oscar.md §3.4).
//!
//! A cookie is the client's proof of a login, so it stays with that client: it is taken
//! only from the address the login came from (or the same configured NAT network), and
//! only once, so a cookie seen on the wire or replayed later signs nobody on.

use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use lru::LruCache;
use oscar::Family;
use oscar::message::RoomInfo;
use settings::HostPort;

/// Where a cookie leads, and what the gateway knew when it was issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The real server the upstream's answer named, checked where it arrived.
    pub upstream: HostPort,
    /// The local user the cookie belongs to, carried from the login.
    pub local_user: Option<String>,
    /// The service family (BOS for login replies).
    pub family: Option<Family>,
    /// The chat room, for chat service redirects.
    pub room: Option<RoomInfo>,
    /// The upstream leg's TLS name (SNI and verification), or `None` for plain TCP.
    pub tls_name: Option<String>,
}

/// Why a presented cookie was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieRefusal {
    /// No such cookie: never handed out through this gateway, expired, or already used.
    Unknown,
    /// The cookie was handed out to a login from `owner`, and another client presented it.
    /// The route stays for its owner: a thief must not be able to use it up.
    Elsewhere {
        /// The address the login came from.
        owner: IpAddr,
    },
}

/// Whether a cookie handed out to a login from `owner` may be presented from `from`: the
/// same address, or both within one of `nat` (a NAT pool whose clients' connections may
/// leave from different addresses).
pub fn same_client(owner: IpAddr, from: IpAddr, nat: &[ipnet::IpNet]) -> bool {
    let (owner, from) = (owner.to_canonical(), from.to_canonical());
    owner == from
        || nat
            .iter()
            .any(|net| net.contains(&owner) && net.contains(&from))
}

/// A remembered route: where it leads, whose login it came from, and since when.
#[derive(Debug)]
struct Entry {
    route: Route,
    owner: IpAddr,
    at: Instant,
}

/// Remembered routes, expiring after a fixed time, each taken once by its own client.
///
/// At most `max` are held, so a flood of logins (or a hostile upstream handing out cookies)
/// cannot grow the table without bound. Every route lives the same `ttl`, so insertion
/// order is expiry order: the table is kept in insertion order (lookups do not reorder
/// it), expired routes are dropped from its old end, and when it is full the oldest live
/// route makes room. Both are O(1) per route.
#[derive(Debug)]
pub struct CookieRoutes {
    ttl: Duration,
    map: Mutex<LruCache<Bytes, Entry>>,
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

    /// Remembers `cookie → route` for the client at `owner` (the address the login or the
    /// session that was redirected came from), dropping expired routes first and, when the
    /// table is full, the oldest live one (counted in [`CookieRoutes::evicted_live`]).
    pub fn insert(&self, cookie: Bytes, route: Route, owner: IpAddr) {
        let now = Instant::now();
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        while map
            .peek_lru()
            .is_some_and(|(_, entry)| now.duration_since(entry.at) >= self.ttl)
        {
            map.pop_lru();
        }
        // `push` moves a cookie seen again to the new end with its new time, keeping the
        // order; it hands back the replaced entry (same key) or the evicted oldest one.
        let entry = Entry {
            route,
            owner,
            at: now,
        };
        if let Some((old, _)) = map.push(cookie.clone(), entry)
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

    /// The route for `cookie`, if it is known and not expired, without taking it.
    pub fn get(&self, cookie: &Bytes) -> Option<Route> {
        let map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        map.peek(cookie)
            .filter(|entry| entry.at.elapsed() < self.ttl)
            .map(|entry| entry.route.clone())
    }

    /// Takes the route for `cookie` presented by the client at `from`: out of the table, so
    /// it routes once. A cookie from another client (outside `nat`, see [`same_client`]) is
    /// refused and left for its owner.
    pub fn take(
        &self,
        cookie: &Bytes,
        from: IpAddr,
        nat: &[ipnet::IpNet],
    ) -> Result<Route, CookieRefusal> {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = map
            .peek(cookie)
            .filter(|entry| entry.at.elapsed() < self.ttl)
            .ok_or(CookieRefusal::Unknown)?;
        if !same_client(entry.owner, from, nat) {
            return Err(CookieRefusal::Elsewhere { owner: entry.owner });
        }
        map.pop(cookie)
            .map(|entry| entry.route)
            .ok_or(CookieRefusal::Unknown)
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
            upstream: "10.0.0.1:5191".parse().unwrap(),
            local_user: Some("alice".into()),
            family: None,
            room: None,
            tls_name: None,
        }
    }

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1));
    const AWAY: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 9));

    #[test]
    fn a_cookie_is_taken_once_and_only_by_its_own_client() {
        let routes = CookieRoutes::new(Duration::from_secs(300), 16);
        let cookie = Bytes::from_static(b"bos");
        routes.insert(cookie.clone(), route(), HOME);
        assert_eq!(
            routes.take(&cookie, AWAY, &[]),
            Err(CookieRefusal::Elsewhere { owner: HOME })
        );
        assert_eq!(
            routes.take(&cookie, HOME, &[]),
            Ok(route()),
            "left for its owner"
        );
        assert_eq!(
            routes.take(&cookie, HOME, &[]),
            Err(CookieRefusal::Unknown),
            "used up"
        );
        assert!(routes.is_empty());
    }

    #[test]
    fn an_expired_cookie_is_not_taken() {
        let routes = CookieRoutes::new(Duration::from_millis(20), 16);
        routes.insert(Bytes::from_static(b"c"), route(), HOME);
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(
            routes.take(&Bytes::from_static(b"c"), HOME, &[]),
            Err(CookieRefusal::Unknown)
        );
    }

    #[test]
    fn a_nat_network_lets_its_addresses_share_cookies_and_no_others() {
        let pool: ipnet::IpNet = "198.51.100.0/28".parse().unwrap();
        let a: IpAddr = "198.51.100.1".parse().unwrap();
        let b: IpAddr = "198.51.100.14".parse().unwrap();
        let outside: IpAddr = "198.51.100.16".parse().unwrap();
        assert!(same_client(a, b, &[pool]));
        assert!(!same_client(a, b, &[]), "no NAT network: the exact address");
        assert!(!same_client(a, outside, &[pool]));
        assert!(!same_client(outside, a, &[pool]));
        let mapped: IpAddr = "::ffff:198.51.100.1".parse().unwrap();
        assert!(
            same_client(a, mapped, &[]),
            "an IPv4-mapped address is the same client"
        );
    }

    #[test]
    fn routes_expire() {
        let routes = CookieRoutes::new(Duration::from_millis(30), 16);
        routes.insert(Bytes::from_static(b"c1"), route(), HOME);
        assert_eq!(routes.get(&Bytes::from_static(b"c1")), Some(route()));
        assert_eq!(routes.get(&Bytes::from_static(b"nope")), None);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(routes.get(&Bytes::from_static(b"c1")), None);
        routes.insert(Bytes::from_static(b"c2"), route(), HOME);
        assert_eq!(routes.len(), 1, "expired entries are dropped on insert");
    }

    #[test]
    fn a_full_table_drops_its_oldest_route_and_counts_it() {
        let routes = CookieRoutes::new(Duration::from_secs(300), 3);
        let cookie = |i: u8| Bytes::from(vec![i; 4]);
        for i in 0..3 {
            routes.insert(cookie(i), route(), HOME);
        }
        // Looking a route up does not make it younger: order is insertion (expiry) order.
        assert_eq!(routes.get(&cookie(0)), Some(route()));
        // The same cookie again is a refresh, not an eviction.
        routes.insert(cookie(1), route(), HOME);
        assert_eq!((routes.len(), routes.evicted_live()), (3, 0));
        routes.insert(cookie(3), route(), HOME);
        assert_eq!((routes.len(), routes.evicted_live()), (3, 1));
        assert_eq!(routes.get(&cookie(0)), None, "the oldest went");
        routes.insert(cookie(4), route(), HOME);
        assert_eq!(routes.get(&cookie(2)), None, "then the next oldest");
        assert_eq!(routes.get(&cookie(1)), Some(route()), "refreshed, so kept");
        assert_eq!((routes.len(), routes.evicted_live()), (3, 2));
    }

    #[test]
    fn expired_routes_make_room_without_counting_as_evicted() {
        let routes = CookieRoutes::new(Duration::from_millis(30), 2);
        routes.insert(Bytes::from_static(b"a"), route(), HOME);
        routes.insert(Bytes::from_static(b"b"), route(), HOME);
        std::thread::sleep(Duration::from_millis(40));
        routes.insert(Bytes::from_static(b"c"), route(), HOME);
        routes.insert(Bytes::from_static(b"d"), route(), HOME);
        assert_eq!((routes.len(), routes.evicted_live()), (2, 0));
    }
}
