//! The query log's `first` mode: whether a redirected answer to this client, for this name
//! and view, was already logged within the TTL (the client has it cached until then, so a
//! repeat is a retry or another program on the same host, not news).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Entries kept per shard before expired ones are swept.
const SWEEP_AT: usize = 16_384;
const SHARDS: usize = 16;

type Key = (IpAddr, Box<str>, usize);

/// Remembers when each (client, name, view) was last logged.
#[derive(Debug)]
pub(crate) struct SeenAnswers {
    started: Instant,
    shards: Vec<Mutex<HashMap<Key, u64>>>,
}

impl SeenAnswers {
    pub(crate) fn new() -> Self {
        Self {
            started: Instant::now(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    /// Whether this answer should be logged: the first in `ttl` seconds for the key.
    pub(crate) fn first(&self, client: IpAddr, name: &str, view: usize, ttl: u32) -> bool {
        self.first_at(client, name, view, ttl, self.started.elapsed().as_secs())
    }

    fn first_at(&self, client: IpAddr, name: &str, view: usize, ttl: u32, now: u64) -> bool {
        let shard = match client {
            IpAddr::V4(v4) => usize::from(v4.octets()[3]),
            IpAddr::V6(v6) => usize::from(v6.octets()[15]),
        } % SHARDS;
        let ttl = u64::from(ttl.max(1));
        let mut map = self.shards[shard].lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= SWEEP_AT {
            map.retain(|_, logged| now < *logged + ttl);
        }
        let key = (client, Box::from(name), view);
        match map.get_mut(&key) {
            Some(logged) if now < *logged + ttl => false,
            Some(logged) => {
                *logged = now;
                true
            }
            None => {
                map.insert(key, now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_per_client_name_and_view_per_ttl() {
        let seen = SeenAnswers::new();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(seen.first_at(a, "login.oscar.aol.com", 0, 30, 100));
        assert!(!seen.first_at(a, "login.oscar.aol.com", 0, 30, 129));
        assert!(seen.first_at(b, "login.oscar.aol.com", 0, 30, 129));
        assert!(seen.first_at(a, "slogin.oscar.aol.com", 0, 30, 129));
        assert!(seen.first_at(a, "login.oscar.aol.com", 1, 30, 129));
        assert!(seen.first_at(a, "login.oscar.aol.com", 0, 30, 130));
    }
}
