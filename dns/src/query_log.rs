//! The query log's `first` mode: whether a redirected answer to this client, for this name
//! and view, was already logged within the TTL (the client has it cached until then, so a
//! repeat is a retry or another program on the same host, not news).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

use crate::per_client::PerClient;

/// Remembers when each (client, view) last had each name logged. Names are looked up by
/// `&str`, so only a name's first answer allocates.
#[derive(Debug)]
pub(crate) struct SeenAnswers {
    started: Instant,
    logged: PerClient<(IpAddr, usize), HashMap<Box<str>, u64>>,
}

impl SeenAnswers {
    pub(crate) fn new() -> Self {
        Self {
            started: Instant::now(),
            logged: PerClient::new(),
        }
    }

    /// Whether this answer should be logged: the first in `ttl` seconds for the key.
    pub(crate) fn first(&self, client: IpAddr, name: &str, view: usize, ttl: u32) -> bool {
        self.first_at(client, name, view, ttl, self.started.elapsed().as_secs())
    }

    fn first_at(&self, client: IpAddr, name: &str, view: usize, ttl: u32, now: u64) -> bool {
        let ttl = u64::from(ttl.max(1));
        let fresh = move |logged: &u64| now < *logged + ttl;
        self.logged.with(
            client,
            |names| {
                names.retain(|_, logged| fresh(logged));
                !names.is_empty()
            },
            |map| {
                let names = map.entry((client, view)).or_default();
                match names.get_mut(name) {
                    Some(logged) if fresh(logged) => false,
                    Some(logged) => {
                        *logged = now;
                        true
                    }
                    None => {
                        names.insert(Box::from(name), now);
                        true
                    }
                }
            },
        )
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
