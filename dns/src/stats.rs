//! Counters per view, kept across reloads for views that keep their name.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;

/// One view's live counters.
#[derive(Debug, Default)]
pub(crate) struct ViewCounters {
    pub(crate) queries: AtomicU64,
    pub(crate) redirected: AtomicU64,
    pub(crate) forwarded: AtomicU64,
    pub(crate) servfail: AtomicU64,
}

/// Counters that belong to no view (the client was not let in, or not parsed).
#[derive(Debug, Default)]
pub(crate) struct GlobalCounters {
    pub(crate) refused: AtomicU64,
    pub(crate) rate_limited: AtomicU64,
    pub(crate) formerr: AtomicU64,
    pub(crate) not_implemented: AtomicU64,
    pub(crate) refused_class: AtomicU64,
    pub(crate) any_minimal: AtomicU64,
    pub(crate) truncated: AtomicU64,
    pub(crate) reloads: AtomicU64,
}

/// All counters: the registry hands the same [`ViewCounters`] to a view after a reload.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) global: GlobalCounters,
    views: Mutex<HashMap<String, Arc<ViewCounters>>>,
}

impl Counters {
    /// The counters of the view named `name`, created on first use.
    pub(crate) fn view(&self, name: &str) -> Arc<ViewCounters> {
        let mut views = self.views.lock().unwrap_or_else(|e| e.into_inner());
        views.entry(name.to_owned()).or_default().clone()
    }

    /// A snapshot for `imtegrity status`.
    pub(crate) fn snapshot(&self) -> DnsStats {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let views = self.views.lock().unwrap_or_else(|e| e.into_inner());
        let mut list: Vec<ViewStats> = views
            .iter()
            .map(|(name, c)| ViewStats {
                view: name.clone(),
                queries: load(&c.queries),
                redirected: load(&c.redirected),
                forwarded: load(&c.forwarded),
                servfail: load(&c.servfail),
            })
            .collect();
        list.sort_by(|a, b| a.view.cmp(&b.view));
        DnsStats {
            refused: load(&self.global.refused),
            rate_limited: load(&self.global.rate_limited),
            formerr: load(&self.global.formerr),
            not_implemented: load(&self.global.not_implemented),
            refused_class: load(&self.global.refused_class),
            any_minimal: load(&self.global.any_minimal),
            truncated: load(&self.global.truncated),
            reloads: load(&self.global.reloads),
            query_log_suppressed: 0,
            clients_tracked: 0,
            client_table_size: 0,
            views: list,
        }
    }
}

/// The responder's counters, as shown by `imtegrity status`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DnsStats {
    /// Queries from clients outside `dns.allow`.
    pub refused: u64,
    /// Answers dropped or truncated by the rate limit.
    pub rate_limited: u64,
    /// Malformed queries answered FORMERR.
    pub formerr: u64,
    /// NOTIFY, UPDATE and other opcodes than QUERY, answered NOTIMP.
    pub not_implemented: u64,
    /// Queries of another class than IN (CH, ANY, …), answered REFUSED.
    pub refused_class: u64,
    /// ANY queries answered with RFC 8482's minimal HINFO instead of being forwarded.
    pub any_minimal: u64,
    /// UDP answers too big for the client's buffer or 1232 bytes, sent empty with TC.
    pub truncated: u64,
    /// Query log lines left out by `dns.query_log_rate`, or because the log's writer was
    /// too far behind to take them.
    pub query_log_suppressed: u64,
    /// Entries in the per-client tables (rate limiter and query log) now.
    pub clients_tracked: u64,
    /// The most entries each per-client table holds.
    pub client_table_size: u64,
    /// Successful reloads of the name list and views.
    pub reloads: u64,
    /// Per view, sorted by name.
    pub views: Vec<ViewStats>,
}

/// One view's counters.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ViewStats {
    /// The view's name (`default` for clients in no configured view).
    pub view: String,
    /// Queries from its clients that were let in.
    pub queries: u64,
    /// Answers with a gateway address (or NODATA for a redirected name).
    pub redirected: u64,
    /// Queries forwarded upstream (including fail-open answers).
    pub forwarded: u64,
    /// SERVFAIL answers because every gateway of the view was down (fail-closed).
    pub servfail: u64,
}
