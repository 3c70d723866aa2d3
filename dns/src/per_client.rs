//! Per-client state for the rate limiter and the query log: one map split into shards by
//! client address, so the UDP reader threads rarely wait on each other, and capped: a flood
//! from forged source addresses evicts entries rather than growing memory, and a periodic
//! sweep drops stale entries and gives the memory back once the flood is over.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;

const SHARDS: usize = 16;

/// A map keyed by something of a client's, sharded by the client's address, holding at
/// most about `capacity` entries in all.
#[derive(Debug)]
pub(crate) struct PerClient<K, V> {
    shards: Vec<Mutex<HashMap<K, V>>>,
    shard_cap: usize,
}

impl<K: Eq + Hash, V> PerClient<K, V> {
    /// A map of at most `capacity` entries (rounded up to a multiple of the shard count).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            shard_cap: capacity.div_ceil(SHARDS).max(1),
        }
    }

    /// Runs `f` on the shard of `client`. If that shard is full, the entries `keep` says
    /// no are dropped first, and if it is still full, half of it is evicted: under a flood
    /// of new addresses the table forgets rather than grows.
    pub(crate) fn with<R>(
        &self,
        client: IpAddr,
        keep: impl FnMut(&mut V) -> bool,
        f: impl FnOnce(&mut HashMap<K, V>) -> R,
    ) -> R {
        let mut map = self.shards[shard_of(client)]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if map.len() >= self.shard_cap {
            let mut keep = keep;
            map.retain(|_, v| keep(v));
            if map.len() >= self.shard_cap {
                // HashMap order is arbitrary (randomly seeded): a sender cannot choose
                // which entries go.
                let mut evict = map.len() - self.shard_cap / 2;
                map.retain(|_, _| {
                    let gone = evict > 0;
                    evict = evict.saturating_sub(1);
                    !gone
                });
            }
        }
        // Below the cap here; f adds at most one entry.
        f(&mut map)
    }

    /// Drops every entry `keep` says no to and returns unused memory: run periodically, so
    /// the tables shrink back after a flood.
    pub(crate) fn sweep(&self, mut keep: impl FnMut(&mut V) -> bool) {
        for shard in &self.shards {
            let mut map = shard.lock().unwrap_or_else(|e| e.into_inner());
            map.retain(|_, v| keep(v));
            if map.capacity() > 2 * map.len() + 16 {
                let len = map.len();
                map.shrink_to(len);
            }
        }
    }

    /// Entries held now, across shards.
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }

    /// The most entries the table holds.
    pub(crate) fn capacity(&self) -> usize {
        self.shard_cap * SHARDS
    }
}

/// The shard of an address: every byte counts, so neither a subnet's clients nor a
/// flood's varied source bytes pile into one shard.
fn shard_of(client: IpAddr) -> usize {
    let fold = |bytes: &[u8]| {
        bytes
            .iter()
            .fold(0usize, |h, b| h.wrapping_mul(31) ^ usize::from(*b))
    };
    let h = match client.to_canonical() {
        IpAddr::V4(v4) => fold(&v4.octets()),
        IpAddr::V6(v6) => fold(&v6.octets()),
    };
    h % SHARDS
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    /// A flood of distinct addresses leaves the table at or under its cap, even when every
    /// entry is still wanted; a sweep after the flood empties it and frees the memory.
    #[test]
    fn a_flood_stays_under_the_cap_and_a_sweep_shrinks_it() {
        let table: PerClient<IpAddr, u64> = PerClient::new(256);
        assert_eq!(table.capacity(), 256);
        for i in 0..100_000u32 {
            let [_, b, c, d] = i.to_be_bytes();
            let ip = IpAddr::from(Ipv4Addr::new(127, b, c, d));
            table.with(ip, |_| true, |m| m.insert(ip, 1));
            assert!(table.len() <= 256, "{} after {i}", table.len());
        }
        assert!(table.len() >= 128, "{}", table.len());
        table.sweep(|_| false);
        assert_eq!(table.len(), 0);
        for shard in &table.shards {
            assert!(shard.lock().unwrap().capacity() <= 16);
        }
    }

    #[test]
    fn stale_entries_go_before_live_ones() {
        let table: PerClient<IpAddr, bool> = PerClient::new(128);
        let live = IpAddr::from([10, 0, 0, 1]);
        table.with(live, |_| true, |m| m.insert(live, true));
        for i in 0..1000u16 {
            let [c, d] = i.to_be_bytes();
            let ip = IpAddr::from([10, 1, c, d]);
            table.with(ip, |stale| *stale, |m| m.insert(ip, false));
        }
        // Looked up as the flood's entries were: a full shard sheds the stale ones first.
        let kept = table.with(live, |stale| *stale, |m| m.get(&live).copied());
        assert_eq!(kept, Some(true));
    }
}
