//! Per-client state for the rate limiter and the query log: one map split into shards by
//! client address, so the UDP reader threads rarely wait on each other, and swept when a
//! shard grows large, so a flood from forged source addresses cannot grow it without bound.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;

/// Entries a shard holds before the ones no longer needed are swept.
const SWEEP_AT: usize = 16_384;
const SHARDS: usize = 16;

/// A map keyed by something of a client's, sharded by the client's address.
#[derive(Debug)]
pub(crate) struct PerClient<K, V> {
    shards: Vec<Mutex<HashMap<K, V>>>,
}

impl<K: Eq + Hash, V> PerClient<K, V> {
    pub(crate) fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    /// Runs `f` on the shard of `client`. If that shard has reached the sweep size, the
    /// entries `keep` says no are dropped first.
    pub(crate) fn with<R>(
        &self,
        client: IpAddr,
        keep: impl FnMut(&mut V) -> bool,
        f: impl FnOnce(&mut HashMap<K, V>) -> R,
    ) -> R {
        // The address's last byte: spread evenly within a subnet, where clients are.
        let shard = match client {
            IpAddr::V4(v4) => usize::from(v4.octets()[3]),
            IpAddr::V6(v6) => usize::from(v6.octets()[15]),
        } % SHARDS;
        let mut map = self.shards[shard].lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= SWEEP_AT {
            let mut keep = keep;
            map.retain(|_, v| keep(v));
        }
        f(&mut map)
    }
}
