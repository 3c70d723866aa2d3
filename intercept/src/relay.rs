//! State shared by every session of one gateway: settings, cookie routes, the archive, who
//! is signed on through us, and counters.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use archive::Archive;
use tokio_util::sync::CancellationToken;

use crate::config::RelaySettings;
use crate::connection_gate::ConnectionGate;
use crate::cookies::CookieRoutes;
use crate::local_users::LocalUsers;
use crate::recorded_icbms::RecordedIcbms;

/// Counters for `status` and the benchmarks.
#[derive(Debug, Default)]
pub struct RelayStats {
    /// Records written to the archive, shared with appends still in flight.
    pub records: Arc<AtomicU64>,
    /// Sessions accepted (connections that sent at least one frame, or are still open).
    pub sessions_total: AtomicU64,
    /// Connections closed without sending a frame: health checks and scans.
    pub silent_connections: AtomicU64,
    /// Sessions open now.
    pub sessions_open: AtomicU64,
    /// Sessions that ended with an error.
    pub sessions_failed: AtomicU64,
    /// Typing notifications seen (counted, not archived).
    pub typing: AtomicU64,
    /// Redirects rewritten (OSCAR carriers and startOSCARSession answers).
    pub rewrites: AtomicU64,
    /// HTTPS login API requests relayed.
    pub api_requests: AtomicU64,
    /// Sign-ons refused by policy (screen names not in the directory).
    pub refused: AtomicU64,
}

/// One gateway's relay.
#[derive(Debug)]
pub struct Relay {
    /// Settings.
    pub config: RelaySettings,
    /// Cookie → real upstream.
    pub cookies: CookieRoutes,
    /// Where captured events go; `None` relays without capture (benchmarks only).
    pub archive: Option<Archive>,
    /// Counters.
    pub stats: RelayStats,
    /// Which client connections are taken, and what was refused.
    pub gate: Arc<ConnectionGate>,
    /// How upstream names are resolved.
    pub resolver: crate::resolver::UpstreamResolver,
    /// How upstream TLS is verified.
    pub(crate) upstream_tls: Arc<rustls::ClientConfig>,
    /// clientLogin token → screen name.
    pub(crate) api_tokens: crate::api::TokenNames,
    /// The compliance policy applied to messages; `None` relays without one.
    policy: Option<crate::enforce::PolicyRuntime>,
    /// Open sessions per egress address, to spread sessions (AOL limited sessions per IP).
    egress_load: Vec<AtomicUsize>,
    /// Normalised screen names with a proven BOS session through this gateway.
    locals: LocalUsers,
    /// IMs between local users that the sending session recorded.
    pub(crate) recorded_icbms: RecordedIcbms,
    /// Recently recorded chat events, so a room's message seen by several local members is
    /// archived once.
    recent: Mutex<RecentKeys>,
    /// Cancelled when the gateway stops: signed-on sessions then end themselves, so their
    /// `session_end` records are written before the listener cuts what is left.
    pub(crate) closing: CancellationToken,
    /// Sessions relaying frames (BOS, chat, any service), until they have written their last
    /// records: the listener's stop waits for them, not only for the proven BOS sessions, so
    /// a chat connection's leave record is not cut off by the stop.
    relaying: AtomicUsize,
}

/// One session relaying frames, counted until dropped ([`Relay::relaying`]).
#[derive(Debug)]
pub(crate) struct Relaying<'a>(&'a Relay);

impl Drop for Relaying<'_> {
    fn drop(&mut self) {
        self.0.relaying.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How long a chat event is remembered for de-duplication.
const RECENT_WINDOW: Duration = Duration::from_secs(30);
/// Most chat events remembered.
const RECENT_MAX: usize = 4096;

/// A session counted on one egress address ([`Relay::take_egress`]). The count is released
/// when the lease is dropped, whichever way the session ends: an error, a failed TLS
/// handshake, a panic or a task cancelled at shutdown all leave the load figures right.
#[derive(Debug)]
pub(crate) struct EgressLease<'a> {
    relay: &'a Relay,
    index: usize,
    ip: IpAddr,
}

impl EgressLease<'_> {
    /// The egress address connections of this session are bound to.
    pub(crate) fn ip(&self) -> IpAddr {
        self.ip
    }
}

impl Drop for EgressLease<'_> {
    fn drop(&mut self) {
        if let Some(load) = self.relay.egress_load.get(self.index) {
            load.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Relay {
    /// A relay with `config`, capturing into `archive`. Fails only when the configured
    /// resolver cannot be set up.
    pub fn new(config: RelaySettings, archive: Option<Archive>) -> Result<Self, String> {
        let egress_load = config.egress.iter().map(|_| AtomicUsize::new(0)).collect();
        let resolver = crate::resolver::UpstreamResolver::new(
            &config.resolvers,
            config.egress.first().copied(),
        )?;
        let upstream_tls = match &config.upstream_tls {
            Some(tls) => tls.clone(),
            None => crate::upstream_tls::upstream_client_config(Vec::new(), false)?,
        };
        let policy = config
            .policy
            .clone()
            .map(|engine| crate::enforce::PolicyRuntime::new(engine, upstream_tls.clone()));
        Ok(Self {
            resolver,
            upstream_tls,
            api_tokens: crate::api::TokenNames::default(),
            policy,
            cookies: CookieRoutes::new(config.cookie_ttl, config.max_cookie_routes),
            gate: Arc::new(ConnectionGate::new(config.limits)),
            config,
            archive,
            stats: RelayStats::default(),
            egress_load,
            locals: LocalUsers::default(),
            recorded_icbms: RecordedIcbms::default(),
            recent: Mutex::default(),
            closing: CancellationToken::new(),
            relaying: AtomicUsize::new(0),
        })
    }

    /// Counts a session relaying frames until the guard is dropped.
    pub(crate) fn relaying(&self) -> Relaying<'_> {
        self.relaying.fetch_add(1, Ordering::SeqCst);
        Relaying(self)
    }

    /// Whether any session is still relaying frames or writing its last records.
    pub(crate) fn has_sessions_relaying(&self) -> bool {
        self.relaying.load(Ordering::SeqCst) > 0
    }

    /// The policy in force, if the relay applies one.
    pub fn policy(&self) -> Option<&crate::enforce::PolicyRuntime> {
        self.policy.as_ref()
    }

    /// The shared record counter, for appends that finish after the frame was handled.
    pub(crate) fn stats_records(&self) -> Arc<AtomicU64> {
        self.stats.records.clone()
    }

    /// Picks the least-loaded egress address and counts a session on it until the lease
    /// is dropped.
    pub(crate) fn take_egress(&self) -> Option<EgressLease<'_>> {
        let (index, ip) = self.config.egress.iter().enumerate().min_by_key(|(i, _)| {
            self.egress_load
                .get(*i)
                .map_or(0, |l| l.load(Ordering::Relaxed))
        })?;
        if let Some(load) = self.egress_load.get(index) {
            load.fetch_add(1, Ordering::Relaxed);
        }
        Some(EgressLease {
            relay: self,
            index,
            ip: *ip,
        })
    }

    /// Open upstream sessions per egress address.
    pub fn egress_sessions(&self) -> Vec<(IpAddr, usize)> {
        self.config
            .egress
            .iter()
            .zip(&self.egress_load)
            .map(|(ip, l)| (*ip, l.load(Ordering::Relaxed)))
            .collect()
    }

    /// Counts a BOS session of `normalized` that proved itself (see `local_users.rs`).
    pub(crate) fn sign_in(&self, normalized: &str) {
        self.locals.sign_in(normalized);
    }

    /// Counts a proven session of `normalized` ended.
    pub(crate) fn sign_out(&self, normalized: &str) {
        self.locals.sign_out(normalized);
    }

    /// Whether any proven BOS session is open through this gateway.
    pub(crate) fn has_local_sessions(&self) -> bool {
        self.locals.any()
    }

    /// Whether `normalized` has a proven BOS session through this gateway (a local user).
    pub fn is_local(&self, normalized: &str) -> bool {
        self.locals.contains(normalized)
    }

    /// Whether `name` is one of the organisation's users by the policy's one rule
    /// (`policy::PolicyEngine::is_ours`: the directory when there is one, else a proven
    /// session here); `session_user` for the user of the asking connection, who is signed on
    /// here by definition.
    pub(crate) fn is_ours(&self, name: &str, session_user: bool) -> bool {
        let here = session_user || self.is_local(&record::normalize_screen_name(name));
        self.policy
            .as_ref()
            .map_or(here, |p| p.engine().is_ours(name, here))
    }

    /// True the first time `key` is seen within the de-duplication window.
    pub(crate) fn first_sighting(&self, key: String) -> bool {
        let now = Instant::now();
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        let RecentKeys { order, seen } = &mut *recent;
        while order
            .front()
            .is_some_and(|(_, at)| now.duration_since(*at) > RECENT_WINDOW)
            || order.len() >= RECENT_MAX
        {
            if let Some((old, _)) = order.pop_front() {
                seen.remove(&old);
            }
        }
        if !seen.insert(key.clone()) {
            return false;
        }
        order.push_back((key, now));
        true
    }
}

/// The de-duplication window: keys in arrival order for expiry, and a set for lookup, so a
/// busy room costs a hash lookup per event rather than a scan of the window.
#[derive(Debug, Default)]
struct RecentKeys {
    order: VecDeque<(String, Instant)>,
    seen: std::collections::HashSet<String>,
}
