//! The flows being tracked: a map from the connection's two ends to its state, bounded in
//! size (the least recently active flows go first when it is full) and forgetting flows
//! that fell silent.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A connection, client first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowKey {
    /// The side that opened the connection (sent the SYN), or the likelier one.
    pub client: SocketAddr,
    /// The side that accepted it.
    pub server: SocketAddr,
}

impl Hash for FlowKey {
    /// The two ends' addresses and ports in one write: every packet is looked up by its
    /// key, and the table's (DoS-resistant, keyed) hasher costs a good deal per write call,
    /// which a derived hash makes about a dozen of. Equal keys give equal bytes (an IPv6
    /// end's flow label and scope, which also take part in equality, are left out: that
    /// only makes keys that differ in them share a hash).
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut bytes = [0u8; 2 * (1 + 16 + 2)];
        let mut at = 0;
        for end in [self.client, self.server] {
            let (tag, ip) = match end {
                SocketAddr::V4(a) => (4u8, a.ip().to_ipv6_mapped().octets()),
                SocketAddr::V6(a) => (6u8, a.ip().octets()),
            };
            bytes[at] = tag;
            bytes[at + 1..at + 17].copy_from_slice(&ip);
            bytes[at + 17..at + 19].copy_from_slice(&end.port().to_be_bytes());
            at += 19;
        }
        state.write(&bytes);
    }
}

/// Which way a segment travels within its flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    /// Client to server.
    Up,
    /// Server to client.
    Down,
}

#[derive(Debug)]
struct Entry<F> {
    last: Instant,
    value: F,
}

/// Flows by key, at most `max`, each forgotten after `idle` without a packet.
#[derive(Debug)]
pub struct FlowTable<F> {
    map: HashMap<FlowKey, Entry<F>>,
    max: usize,
    idle: Duration,
}

impl<F> FlowTable<F> {
    /// An empty table.
    pub fn new(max: usize, idle: Duration) -> Self {
        Self {
            map: HashMap::new(),
            max: max.max(1),
            idle,
        }
    }

    /// Flows tracked now.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no flow is tracked.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The flow a segment from `src` to `dst` belongs to, and which way it travels; marks
    /// the flow active at `now`.
    pub fn find(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        now: Instant,
    ) -> Option<(FlowKey, Way, &mut F)> {
        let up = FlowKey {
            client: src,
            server: dst,
        };
        let (key, way) = if self.map.contains_key(&up) {
            (up, Way::Up)
        } else {
            (
                FlowKey {
                    client: dst,
                    server: src,
                },
                Way::Down,
            )
        };
        let entry = self.map.get_mut(&key)?;
        entry.last = now;
        Some((key, way, &mut entry.value))
    }

    /// The flow `key` (whose direction is known), marked active at `now`: one lookup.
    pub fn get_mut(&mut self, key: &FlowKey, now: Instant) -> Option<&mut F> {
        let entry = self.map.get_mut(key)?;
        entry.last = now;
        Some(&mut entry.value)
    }

    /// Adds a flow. When the table is full, the least recently active sixteenth (at least
    /// one) is evicted first and returned, so a full table costs one scan per many inserts.
    pub fn insert(&mut self, key: FlowKey, value: F, now: Instant) -> Vec<(FlowKey, F)> {
        let mut evicted = Vec::new();
        if self.map.len() >= self.max && !self.map.contains_key(&key) {
            let n = (self.max / 16).max(1);
            let mut ages: Vec<(Instant, FlowKey)> =
                self.map.iter().map(|(k, e)| (e.last, *k)).collect();
            if n < ages.len() {
                ages.select_nth_unstable_by_key(n, |(at, _)| *at);
                ages.truncate(n);
            }
            for (_, k) in ages {
                if let Some(e) = self.map.remove(&k) {
                    evicted.push((k, e.value));
                }
            }
        }
        self.map.insert(key, Entry { last: now, value });
        evicted
    }

    /// Removes a flow (it ended).
    pub fn remove(&mut self, key: &FlowKey) -> Option<F> {
        self.map.remove(key).map(|e| e.value)
    }

    /// Removes and returns every flow idle for longer than the table's idle time.
    pub fn expire(&mut self, now: Instant) -> Vec<(FlowKey, F)> {
        let idle = self.idle;
        let old: Vec<FlowKey> = self
            .map
            .iter()
            .filter(|(_, e)| now.saturating_duration_since(e.last) > idle)
            .map(|(k, _)| *k)
            .collect();
        old.into_iter()
            .filter_map(|k| self.map.remove(&k).map(|e| (k, e.value)))
            .collect()
    }

    /// Every flow, for periodic work (pending alerts).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&FlowKey, &mut F)> {
        self.map.iter_mut().map(|(k, e)| (k, &mut e.value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u16) -> FlowKey {
        FlowKey {
            client: SocketAddr::from(([10, 0, 0, 2], 40_000 + n)),
            server: SocketAddr::from(([10, 0, 1, 2], 5190)),
        }
    }

    #[test]
    fn keys_hash_apart_by_every_address_and_port_and_alike_when_equal() {
        use std::collections::hash_map::RandomState;
        use std::hash::BuildHasher;
        let state = RandomState::new();
        let k = |c: &str, s: &str| FlowKey {
            client: c.parse().unwrap(),
            server: s.parse().unwrap(),
        };
        let base = k("10.0.0.2:40000", "203.0.113.5:5190");
        let h = |key: FlowKey| state.hash_one(key);
        assert_eq!(h(base), h(k("10.0.0.2:40000", "203.0.113.5:5190")));
        for other in [
            k("10.0.0.3:40000", "203.0.113.5:5190"),
            k("10.0.0.2:40001", "203.0.113.5:5190"),
            k("10.0.0.2:40000", "203.0.113.6:5190"),
            k("10.0.0.2:40000", "203.0.113.5:5191"),
            k("203.0.113.5:5190", "10.0.0.2:40000"),
            k("[::ffff:10.0.0.2]:40000", "203.0.113.5:5190"),
        ] {
            assert_ne!(other, base);
            assert_ne!(h(other), h(base), "{other:?}");
        }
    }

    #[test]
    fn both_ways_find_the_flow() {
        let now = Instant::now();
        let mut t = FlowTable::new(10, Duration::from_secs(5));
        t.insert(key(1), "a", now);
        let k = key(1);
        let (_, way, _) = t.find(k.client, k.server, now).unwrap();
        assert_eq!(way, Way::Up);
        let (found, way, _) = t.find(k.server, k.client, now).unwrap();
        assert_eq!((found, way), (k, Way::Down));
        assert!(t.find(key(2).client, key(2).server, now).is_none());
    }

    #[test]
    fn idle_flows_expire_and_active_ones_stay() {
        let t0 = Instant::now();
        let mut t = FlowTable::new(10, Duration::from_secs(5));
        t.insert(key(1), 1, t0);
        t.insert(key(2), 2, t0);
        let k = key(2);
        t.find(k.server, k.client, t0 + Duration::from_secs(4));
        let gone = t.expire(t0 + Duration::from_secs(6));
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].0, key(1));
        assert_eq!(t.len(), 1);
        assert_eq!(t.expire(t0 + Duration::from_secs(10)).len(), 1);
        assert!(t.is_empty());
    }

    #[test]
    fn a_full_table_evicts_the_least_recently_active() {
        let t0 = Instant::now();
        let mut t = FlowTable::new(4, Duration::from_secs(60));
        for n in 0..4 {
            t.insert(key(n), n, t0 + Duration::from_millis(u64::from(n)));
        }
        // Flow 0 is the oldest insert but was active last.
        let k = key(0);
        t.find(k.client, k.server, t0 + Duration::from_secs(1));
        let evicted = t.insert(key(9), 9, t0 + Duration::from_secs(2));
        assert_eq!(evicted.len(), 1);
        assert_eq!(evicted[0].0, key(1));
        assert_eq!(t.len(), 4);
        for n in 10..100 {
            t.insert(key(n), n, t0 + Duration::from_secs(3));
            assert!(t.len() <= 4);
        }
    }
}
