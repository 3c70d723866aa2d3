//! The flows being tracked: a map from the connection's two ends to its state, bounded in
//! size (the least recently active flows go first when it is full) and forgetting flows
//! that fell silent.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A connection, client first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    /// The side that opened the connection (sent the SYN), or the likelier one.
    pub client: SocketAddr,
    /// The side that accepted it.
    pub server: SocketAddr,
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
