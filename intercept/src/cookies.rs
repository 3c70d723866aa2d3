//! Cookie routing: every redirect the gateway rewrites is remembered as
//! `cookie → real upstream`, so the client's follow-on connection (which presents only the
//! cookie) can be sent to the host the server meant (oscar.md §3.4).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
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
#[derive(Debug)]
pub struct CookieRoutes {
    ttl: Duration,
    map: Mutex<HashMap<Bytes, (Route, Instant)>>,
}

impl CookieRoutes {
    /// Routes remembered for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            map: Mutex::default(),
        }
    }

    /// Remembers `cookie → route`, dropping expired entries on the way.
    pub fn insert(&self, cookie: Bytes, route: Route) {
        let now = Instant::now();
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        map.retain(|_, (_, at)| now.duration_since(*at) < self.ttl);
        map.insert(cookie, (route, now));
    }

    /// The route for `cookie`, if it is known and not expired.
    pub fn get(&self, cookie: &Bytes) -> Option<Route> {
        let map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(cookie)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(route, _)| route.clone())
    }

    /// How many routes are held.
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
        let routes = CookieRoutes::new(Duration::from_millis(30));
        routes.insert(Bytes::from_static(b"c1"), route());
        assert_eq!(routes.get(&Bytes::from_static(b"c1")), Some(route()));
        assert_eq!(routes.get(&Bytes::from_static(b"nope")), None);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(routes.get(&Bytes::from_static(b"c1")), None);
        routes.insert(Bytes::from_static(b"c2"), route());
        assert_eq!(routes.len(), 1, "expired entries are dropped on insert");
    }
}
