//! What to do with one query, decided once for both the fast path and hickory's path:
//! refuse, rate-limit, answer with the gateway, fail closed, or forward.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use arc_swap::ArcSwap;
use policy::{FailPolicy, QueryLog};

use crate::health::Health;
use crate::live::Live;
use crate::query::qtype;
use crate::query_log::SeenAnswers;
use crate::rate_limit::{RateLimiter, RateVerdict};
use crate::route::RouteCache;
use crate::stats::Counters;

/// The outcome for one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// The client is not in `dns.allow`.
    Refuse,
    /// Over the rate limit: no answer.
    Drop,
    /// Over the rate limit: an empty truncated answer.
    Slip,
    /// A redirected name: answer locally.
    Redirect(Redirect),
    /// A redirected name whose gateways are all down, fail-closed.
    ServFail,
    /// Not redirected (or fail-open): ask upstream.
    Forward,
}

/// The local answer for a redirected name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Redirect {
    /// The records of the asked type: A for IPv4 gateways, AAAA for IPv6 ones. Empty means
    /// NODATA.
    pub(crate) addrs: Vec<IpAddr>,
    pub(crate) ttl: u32,
    /// How many labels (from the right) of the asked name make the zone that owns a NODATA
    /// answer's SOA: the exact name, or the wildcard's suffix.
    pub(crate) zone_labels: usize,
    pub(crate) serial: u32,
}

/// Everything a decision needs, shared by every socket task.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) live: ArcSwap<Live>,
    pub(crate) counters: Counters,
    pub(crate) limiter: RateLimiter,
    /// For the query log's `first` mode.
    pub(crate) seen: SeenAnswers,
    pub(crate) health: Arc<Health>,
    pub(crate) routes: RouteCache,
    /// The relay port gateways are probed on.
    pub(crate) relay_port: u16,
    /// This host's own relay, probed for views without configured gateways.
    pub(crate) local_probe: Option<SocketAddr>,
}

impl Shared {
    /// Decides for a query of `qtype` for `name` (lower case, no trailing dot) from
    /// `client`, which reached us on `local` if that is a specific address.
    pub(crate) fn decide(
        &self,
        client: IpAddr,
        local: Option<IpAddr>,
        name: Option<&str>,
        qtype: u16,
        udp: bool,
    ) -> Decision {
        let live = self.live.load();
        if let Err(decision) = self.admit(&live, client, udp) {
            return decision;
        }
        let (index, view) = live.views.lookup(client);
        let counters = &live.counters[index];
        counters.queries.fetch_add(1, Relaxed);
        let matched = match name.and_then(|n| live.names.lookup(n)) {
            Some(m) if view.redirect => m,
            _ => {
                counters.forwarded.fetch_add(1, Relaxed);
                return Decision::Forward;
            }
        };
        // The gateways that are up, and of those the ones of the asked type, in one pass:
        // the configured ones, or (for a view without any) this host's own address.
        let local = if view.gateway.is_empty() {
            let up = self.local_probe.is_none_or(|p| self.health.is_up(p));
            up.then(|| local.or_else(|| self.routes.local_towards(client)))
                .flatten()
        } else {
            None
        };
        let mut any_up = false;
        let addrs: Vec<IpAddr> = view
            .gateway
            .iter()
            .copied()
            .filter(|ip| self.health.is_up(SocketAddr::new(*ip, self.relay_port)))
            .chain(local)
            .inspect(|_| any_up = true)
            .filter(|ip| match qtype {
                qtype::A => ip.is_ipv4(),
                qtype::AAAA => ip.is_ipv6(),
                qtype::ANY => true,
                _ => false,
            })
            .collect();
        if !any_up {
            tracing::warn!(
                target: "imtegrity::dns::query",
                %client, name = matched.zone, view = %view.name, fail = ?view.fail,
                "no gateway of the view is up"
            );
            return match view.fail {
                FailPolicy::Closed => {
                    counters.servfail.fetch_add(1, Relaxed);
                    Decision::ServFail
                }
                FailPolicy::Open => {
                    counters.forwarded.fetch_add(1, Relaxed);
                    Decision::Forward
                }
            };
        }
        counters.redirected.fetch_add(1, Relaxed);
        let name = name.unwrap_or_default();
        let log = match live.query_log {
            QueryLog::Every => true,
            QueryLog::First => self.seen.first(client, name, index, live.ttl),
            QueryLog::Off => false,
        };
        if log {
            tracing::info!(
                target: "imtegrity::dns::query",
                %client, name, qtype, view = %view.name, answer = ?addrs,
                "redirected"
            );
        }
        Decision::Redirect(Redirect {
            addrs,
            ttl: live.ttl,
            zone_labels: matched.zone.split('.').count(),
            serial: live.serial,
        })
    }

    /// The checks every answer passes first, malformed queries' FORMERR included: the rate
    /// limit (UDP only), then the allow list. `Err` is the answer instead.
    pub(crate) fn admit(&self, live: &Live, client: IpAddr, udp: bool) -> Result<(), Decision> {
        if udp {
            match self.limiter.check(client, live.rate_limit) {
                RateVerdict::Answer => {}
                verdict => {
                    self.counters.global.rate_limited.fetch_add(1, Relaxed);
                    return Err(if verdict == RateVerdict::Slip {
                        Decision::Slip
                    } else {
                        Decision::Drop
                    });
                }
            }
        }
        if !live.allowed(client) {
            self.counters.global.refused.fetch_add(1, Relaxed);
            return Err(Decision::Refuse);
        }
        Ok(())
    }

    /// Whether a malformed query from `client` may be told FORMERR: only a client we serve,
    /// within its rate. Nobody else learns anything from us, not even that the query was bad.
    pub(crate) fn may_formerr(&self, client: IpAddr, udp: bool) -> bool {
        let live = self.live.load();
        let admitted = self.admit(&live, client, udp).is_ok();
        if admitted {
            self.counters.global.formerr.fetch_add(1, Relaxed);
        }
        admitted
    }

    /// Every address the health checker should probe under the current policy.
    pub(crate) fn health_targets(&self) -> BTreeSet<SocketAddr> {
        let live = self.live.load();
        let mut targets: BTreeSet<SocketAddr> = live
            .views
            .views()
            .iter()
            .flat_map(|v| v.gateway.iter())
            .map(|ip| SocketAddr::new(*ip, self.relay_port))
            .collect();
        if live.views.views().iter().any(|v| v.gateway.is_empty()) {
            targets.extend(self.local_probe);
        }
        targets
    }
}
