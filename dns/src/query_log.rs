//! The query log's `first` mode: whether a redirected answer to this client, for this name
//! and view, was already logged within the TTL (the client has it cached until then, so a
//! repeat is a retry or another program on the same host, not news).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

use crate::per_client::PerClient;

/// Names remembered per (client, view): far more than the built-in list, which a client
/// cycles through at most.
const NAMES_PER_CLIENT: usize = 64;

/// Remembers when each (client, view) last had each name logged. Names are looked up by
/// `&str`, so only a name's first answer allocates.
#[derive(Debug)]
pub(crate) struct SeenAnswers {
    started: Instant,
    logged: PerClient<(IpAddr, usize), HashMap<Box<str>, u64>>,
}

impl SeenAnswers {
    /// A memory of at most `clients` (client, view) pairs.
    pub(crate) fn new(clients: usize) -> Self {
        Self {
            started: Instant::now(),
            logged: PerClient::new(clients),
        }
    }

    /// Forgets answers whose TTL has passed (`ttl` the longest in force) and frees memory.
    pub(crate) fn sweep(&self, ttl: u32) {
        let now = self.started.elapsed().as_secs();
        let ttl = u64::from(ttl.max(1));
        self.logged.sweep(|names| {
            names.retain(|_, logged| now < *logged + ttl);
            names.shrink_to_fit();
            !names.is_empty()
        });
    }

    /// (client, view) pairs remembered now.
    pub(crate) fn clients(&self) -> usize {
        self.logged.len()
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
                        // A client asking ever new names under a wildcard must not grow
                        // its entry without bound.
                        if names.len() >= NAMES_PER_CLIENT {
                            names.retain(|_, logged| fresh(logged));
                            if names.len() >= NAMES_PER_CLIENT {
                                names.clear();
                            }
                        }
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
        let seen = SeenAnswers::new(1024);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(seen.first_at(a, "login.oscar.aol.com", 0, 30, 100));
        assert!(!seen.first_at(a, "login.oscar.aol.com", 0, 30, 129));
        assert!(seen.first_at(b, "login.oscar.aol.com", 0, 30, 129));
        assert!(seen.first_at(a, "slogin.oscar.aol.com", 0, 30, 129));
        assert!(seen.first_at(a, "login.oscar.aol.com", 1, 30, 129));
        assert!(seen.first_at(a, "login.oscar.aol.com", 0, 30, 130));
    }

    #[test]
    fn a_client_asking_endless_names_stays_bounded() {
        let seen = SeenAnswers::new(1024);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        for i in 0..10_000 {
            assert!(seen.first_at(a, &format!("n{i}.oscar.aol.com"), 0, 30, 100));
        }
        let held = seen.logged.with(a, |_| true, |m| m[&(a, 0)].len());
        assert!(held <= NAMES_PER_CLIENT, "{held}");
        assert_eq!(seen.clients(), 1);
    }
}
