//! What the ingest endpoint has seen, for `imtegrity status` and the gateway's stop line:
//! each client's last request, the records it stored, the backlog it reported and its last
//! error, and the senders refused before they could be named (a wrong token, a missing
//! certificate). A Sametime administrator whose module stopped shipping looks here first.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::Serialize;

use record::now_ns;

/// Most refused addresses remembered (the oldest is forgotten first).
const REFUSED_KEPT: usize = 32;
/// Longest error text kept (a sender's own report is cut there).
const ERROR_KEPT: usize = 300;

/// One named client's traffic.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClientStats {
    /// The client's name (`[ingest]` token file or certificate subject).
    pub client: String,
    /// When it last sent a request that got past authentication (UTC ns).
    pub last_seen_ns: i64,
    /// The address of that request.
    pub last_addr: Option<SocketAddr>,
    /// Requests answered 200.
    pub batches: u64,
    /// Records stored for the first time.
    pub records: u64,
    /// Records sent again that were already stored (an earlier acknowledgement was lost).
    pub resent: u64,
    /// How many records the sender said still waited in its spool, with its last request.
    pub backlog: Option<u64>,
    /// The spools (source ids) it shipped.
    pub sources: BTreeSet<String>,
    /// The last thing that went wrong: the sender's own report, or a request refused here.
    pub last_error: Option<String>,
    /// When that was (UTC ns).
    pub last_error_ns: Option<i64>,
    /// When it last had a request answered 200 (UTC ns).
    pub last_success_ns: Option<i64>,
}

/// A sender refused before it could be named.
#[derive(Debug, Clone, Serialize)]
pub struct RefusedSender {
    /// Its address.
    pub addr: IpAddr,
    /// Requests refused from it.
    pub count: u64,
    /// The last refusal (UTC ns).
    pub last_ns: i64,
    /// Why, in words.
    pub reason: String,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestSnapshot {
    /// Records stored for the first time, every client together.
    pub records: u64,
    /// Each client that got past authentication, by name.
    pub clients: Vec<ClientStats>,
    /// Senders refused, most recent first.
    pub refused: Vec<RefusedSender>,
}

#[derive(Debug, Default)]
struct Inner {
    records: u64,
    clients: BTreeMap<String, ClientStats>,
    refused: VecDeque<RefusedSender>,
}

/// The endpoint's counters; shared by every connection.
#[derive(Debug, Default)]
pub struct IngestStats {
    inner: Mutex<Inner>,
}

/// What a stored request adds to its client's line.
#[derive(Debug)]
pub(crate) struct Stored<'a> {
    pub(crate) addr: SocketAddr,
    pub(crate) source: &'a str,
    pub(crate) stored: u64,
    pub(crate) resent: u64,
    pub(crate) backlog: Option<u64>,
    pub(crate) reported_error: Option<&'a str>,
}

fn cut(text: &str) -> String {
    let mut end = text.len().min(ERROR_KEPT);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    // One line: a sender's report must not add lines to `status`.
    text[..end]
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

impl IngestStats {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Each update is a few field writes; a panic mid-way leaves counters, not invariants.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn client<'a>(inner: &'a mut Inner, client: &str) -> &'a mut ClientStats {
        inner
            .clients
            .entry(client.to_owned())
            .or_insert_with(|| ClientStats {
                client: client.to_owned(),
                ..ClientStats::default()
            })
    }

    /// `client` had a request stored.
    pub(crate) fn stored(&self, client: &str, request: &Stored<'_>) {
        let now = now_ns();
        let mut inner = self.lock();
        inner.records += request.stored;
        let stats = Self::client(&mut inner, client);
        stats.last_seen_ns = now;
        stats.last_addr = Some(request.addr);
        stats.batches += 1;
        stats.records += request.stored;
        stats.resent += request.resent;
        stats.last_success_ns = Some(now);
        if request.backlog.is_some() {
            stats.backlog = request.backlog;
        }
        if !stats.sources.contains(request.source) {
            stats.sources.insert(request.source.to_owned());
        }
        if let Some(error) = request.reported_error {
            stats.last_error = Some(format!("reported by the sender: {}", cut(error)));
            stats.last_error_ns = Some(now);
        }
    }

    /// `client` sent a request that was not stored, for `why`.
    pub(crate) fn failed(&self, client: &str, addr: SocketAddr, why: &str) {
        let now = now_ns();
        let mut inner = self.lock();
        let stats = Self::client(&mut inner, client);
        stats.last_seen_ns = now;
        stats.last_addr = Some(addr);
        stats.last_error = Some(cut(why));
        stats.last_error_ns = Some(now);
    }

    /// A sender at `addr` was refused before it could be named.
    pub(crate) fn refused(&self, addr: SocketAddr, reason: &str) {
        let now = now_ns();
        let mut inner = self.lock();
        let ip = addr.ip();
        let previous = inner
            .refused
            .iter()
            .position(|r| r.addr == ip)
            .and_then(|at| inner.refused.remove(at));
        inner.refused.push_front(RefusedSender {
            addr: ip,
            count: previous.map_or(0, |p| p.count) + 1,
            last_ns: now,
            reason: cut(reason),
        });
        inner.refused.truncate(REFUSED_KEPT);
    }

    /// The counters now.
    pub fn snapshot(&self) -> IngestSnapshot {
        let inner = self.lock();
        IngestSnapshot {
            records: inner.records,
            clients: inner.clients.values().cloned().collect(),
            refused: inner.refused.iter().cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(last: u8) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, last], 40_000))
    }

    #[test]
    fn a_client_line_keeps_counts_backlog_and_the_last_error_in_one_line() {
        let stats = IngestStats::default();
        let request = Stored {
            addr: addr(1),
            source: "s1",
            stored: 3,
            resent: 1,
            backlog: Some(40),
            reported_error: None,
        };
        stats.stored("st1", &request);
        stats.failed("st1", addr(1), "archive full\nsecond line");
        let snapshot = stats.snapshot();
        assert_eq!(snapshot.records, 3);
        let st1 = &snapshot.clients[0];
        assert_eq!((st1.batches, st1.records, st1.resent), (1, 3, 1));
        assert_eq!(st1.backlog, Some(40));
        assert_eq!(st1.last_error.as_deref(), Some("archive full second line"));
        assert!(st1.last_success_ns.is_some());
    }

    #[test]
    fn refused_senders_are_counted_per_address_and_bounded() {
        let stats = IngestStats::default();
        stats.refused(addr(1), "wrong token");
        stats.refused(addr(1), "wrong token");
        for i in 2..40 {
            stats.refused(addr(i), "no client certificate");
        }
        let refused = stats.snapshot().refused;
        assert_eq!(refused.len(), REFUSED_KEPT);
        // The most recent first; the first address fell off the end.
        assert_eq!(refused[0].addr, addr(39).ip());
        assert!(refused.iter().all(|r| r.addr != addr(1).ip()));
        let again = IngestStats::default();
        again.refused(addr(1), "wrong token");
        again.refused(addr(1), "wrong token");
        assert_eq!(again.snapshot().refused[0].count, 2);
    }
}
