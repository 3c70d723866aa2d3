//! What to do with one query, decided once for both the fast path and hickory's path, in
//! this order: refuse clients outside `dns.allow` (before anything else, the rate limiter
//! included, so outsiders neither get answers nor spend a client's budget), rate-limit,
//! NOTIMP for other opcodes than QUERY, REFUSED for other classes than IN, RFC 8482's
//! minimal answer for ANY of a name we do not redirect (never forwarded: ANY is the
//! amplifier's favourite), then answer with the gateway, fail closed, or forward.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use arc_swap::ArcSwap;
use settings::{FailPolicy, QueryLog};

use crate::health::Health;
use crate::live::Live;
use crate::log_budget::LogBudget;
use crate::log_queue::{Line, LogQueue};
use crate::query::qtype;
use crate::query_log::SeenAnswers;
use crate::rate_limit::{RateLimiter, RateVerdict};
use crate::route::RouteCache;
use crate::stats::Counters;

/// The outcome for one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// The client is not in `dns.allow`, or the class is not IN.
    Refuse,
    /// An opcode other than QUERY (NOTIFY, UPDATE, …): not implemented.
    NotImp,
    /// ANY for a name we do not redirect: RFC 8482's HINFO, never forwarded.
    Rfc8482 {
        /// The HINFO record's TTL.
        ttl: u32,
    },
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

/// The facts of one query a decision is taken on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Asked<'a> {
    /// Who asked.
    pub(crate) client: IpAddr,
    /// The address the query reached us on, if the socket is bound to a specific one.
    pub(crate) local: Option<IpAddr>,
    /// The header's OPCODE.
    pub(crate) opcode: u8,
    /// The question's class.
    pub(crate) qclass: u16,
    /// The name, lower case, no trailing dot, in presentation form; `None` if unusable.
    pub(crate) name: Option<&'a str>,
    pub(crate) qtype: u16,
    /// Over UDP (rate-limited) rather than TCP.
    pub(crate) udp: bool,
}

/// OPCODE of a standard query.
pub(crate) const OPCODE_QUERY: u8 = 0;
/// CLASS IN.
pub(crate) const CLASS_IN: u16 = 1;
/// TTL of RFC 8482's synthesised HINFO (the RFC suggests about an hour).
pub(crate) const RFC8482_TTL: u32 = 3600;

/// Everything a decision needs, shared by every socket task.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) live: ArcSwap<Live>,
    pub(crate) counters: Counters,
    pub(crate) limiter: RateLimiter,
    /// For the query log's `first` mode.
    pub(crate) seen: SeenAnswers,
    /// The query log's lines per second.
    pub(crate) log_budget: LogBudget,
    /// Where the query log's lines go to be written.
    pub(crate) query_log: LogQueue,
    pub(crate) health: Arc<Health>,
    pub(crate) routes: RouteCache,
    /// The relay port gateways are probed on.
    pub(crate) relay_port: u16,
    /// This host's own relay, probed for views without configured gateways.
    pub(crate) local_probe: Option<SocketAddr>,
}

impl Shared {
    /// Decides for the query `q`: [`admit`](Self::admit), then
    /// [`decide_admitted`](Self::decide_admitted).
    pub(crate) fn decide(&self, q: &Asked<'_>) -> Decision {
        let live = self.live.load();
        if let Err(decision) = self.admit(&live, q.client, q.udp) {
            return decision;
        }
        self.decide_admitted(&live, q)
    }

    /// Decides for a query from a client [`admit`](Self::admit) has let in.
    pub(crate) fn decide_admitted(&self, live: &Live, q: &Asked<'_>) -> Decision {
        let global = &self.counters.global;
        if q.opcode != OPCODE_QUERY {
            global.not_implemented.fetch_add(1, Relaxed);
            return Decision::NotImp;
        }
        // CH (version.bind, id.server) and the rest are not ours to answer, nor to pass on.
        if q.qclass != CLASS_IN {
            global.refused_class.fetch_add(1, Relaxed);
            return Decision::Refuse;
        }
        let (client, qtype) = (q.client, q.qtype);
        let (index, view) = live.views.lookup(client);
        let counters = &live.counters[index];
        counters.queries.fetch_add(1, Relaxed);
        let not_ours = || {
            if qtype == qtype::ANY {
                global.any_minimal.fetch_add(1, Relaxed);
                Decision::Rfc8482 { ttl: RFC8482_TTL }
            } else {
                counters.forwarded.fetch_add(1, Relaxed);
                Decision::Forward
            }
        };
        let matched = match q.name.and_then(|n| live.names.lookup(n)) {
            Some(m) if view.redirect => m,
            _ => return not_ours(),
        };
        // The gateways that are up, and of those the ones of the asked type, in one pass:
        // the configured ones, or (for a view without any) this host's own address.
        let local = if view.gateway.is_empty() {
            let up = self.local_probe.is_none_or(|p| self.health.is_up(p));
            up.then(|| q.local.or_else(|| self.routes.local_towards(client)))
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
                FailPolicy::Open => not_ours(),
            };
        }
        counters.redirected.fetch_add(1, Relaxed);
        let name = q.name.unwrap_or_default();
        let log = match live.query_log {
            QueryLog::Every => true,
            QueryLog::First => self.seen.first(client, name, index, live.ttl),
            QueryLog::Off => false,
        };
        // Formatting and writing the line happen in the query log's own task; a line that
        // finds it behind is counted as suppressed, as one over the rate is.
        if log && self.log_budget.allow(live.query_log_rate) && self.query_log.enabled() {
            let line = Line {
                client,
                name: name.into(),
                qtype,
                view: view.name.as_str().into(),
                answer: addrs.clone(),
            };
            if !self.query_log.push(line) {
                self.log_budget.suppress();
            }
        }
        Decision::Redirect(Redirect {
            addrs,
            ttl: live.ttl,
            zone_labels: matched.zone.split('.').count(),
            serial: live.serial,
        })
    }

    /// The checks every answer passes first, malformed queries' FORMERR included: the allow
    /// list, then the rate limit (UDP only). `Err` is the answer instead. The allow list
    /// comes first so that an outsider is refused without touching the limiter: it can
    /// neither grow its table nor spend the budget of a client it forges.
    pub(crate) fn admit(&self, live: &Live, client: IpAddr, udp: bool) -> Result<(), Decision> {
        if !live.allowed(client) {
            self.counters.global.refused.fetch_add(1, Relaxed);
            return Err(Decision::Refuse);
        }
        if udp {
            match self.limiter.check(client, live.rates) {
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
        Ok(())
    }

    /// Whether a UDP answer of `bytes` may go to `client` under its byte rate (counted if
    /// so); `Drop` and `Slip` are counted as rate-limited.
    /// An outsider's REFUSED is not counted: it must not get an entry in the limiter.
    pub(crate) fn spend(&self, client: IpAddr, bytes: usize) -> RateVerdict {
        let live = self.live.load();
        if !live.allowed(client) {
            return RateVerdict::Answer;
        }
        let verdict = self.limiter.spend(client, bytes, live.rates);
        if verdict != RateVerdict::Answer {
            self.counters.global.rate_limited.fetch_add(1, Relaxed);
        }
        verdict
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

#[cfg(test)]
pub(crate) mod tests {
    use settings::DnsConfig;

    use super::*;

    pub(crate) const INSIDE: &str = "10.0.0.1";
    pub(crate) const OUTSIDE: &str = "192.0.2.99";
    pub(crate) const GATEWAY: &str = "10.9.9.9";

    /// A responder's shared state: clients in 10/8, 2 answers a second, one gateway.
    pub(crate) fn shared() -> Shared {
        let config = DnsConfig {
            allow: vec!["10.0.0.0/8".parse().unwrap()],
            rate_limit: 2,
            gateway: vec![GATEWAY.parse().unwrap()],
            query_log: QueryLog::Off,
            ..DnsConfig::default()
        };
        let counters = Counters::default();
        let live = Live::from_config(&config, &counters, 1).unwrap();
        Shared {
            live: ArcSwap::from_pointee(live),
            counters,
            limiter: RateLimiter::new(1024),
            seen: SeenAnswers::new(1024),
            log_budget: LogBudget::new(),
            query_log: LogQueue::new().0,
            health: Arc::new(Health::default()),
            routes: RouteCache::default(),
            relay_port: 5190,
            local_probe: None,
        }
    }

    fn asked<'a>(client: &str, name: &'a str, qtype: u16) -> Asked<'a> {
        Asked {
            client: client.parse().unwrap(),
            local: None,
            opcode: OPCODE_QUERY,
            qclass: CLASS_IN,
            name: Some(name),
            qtype,
            udp: true,
        }
    }

    fn redirect_to_gateway() -> Decision {
        Decision::Redirect(Redirect {
            addrs: vec![GATEWAY.parse().unwrap()],
            ttl: 30,
            zone_labels: 4,
            serial: 1,
        })
    }

    /// An outsider is refused however often it asks, and spends nothing of the budget of
    /// the client whose address it is not: the allow list comes before the rate limit.
    #[test]
    fn the_allow_list_comes_before_the_rate_limit() {
        let s = shared();
        for _ in 0..50 {
            assert_eq!(
                s.decide(&asked(OUTSIDE, "login.oscar.aol.com", qtype::A)),
                Decision::Refuse
            );
        }
        // Nor does sending it the REFUSED answers.
        for _ in 0..50 {
            assert_eq!(s.spend(OUTSIDE.parse().unwrap(), 1232), RateVerdict::Answer);
        }
        assert_eq!(s.limiter.clients(), 0);
        assert_eq!(s.counters.global.rate_limited.load(Relaxed), 0);
        assert_eq!(s.counters.global.refused.load(Relaxed), 50);
        let inside: Vec<Decision> = (0..4)
            .map(|_| s.decide(&asked(INSIDE, "login.oscar.aol.com", qtype::A)))
            .collect();
        assert_eq!(
            inside,
            [
                redirect_to_gateway(),
                redirect_to_gateway(),
                Decision::Drop,
                Decision::Slip
            ]
        );
    }

    #[test]
    fn other_opcodes_are_not_implemented_and_other_classes_refused() {
        let s = shared();
        for opcode in [1, 2, 4, 5, 6, 15] {
            let q = Asked {
                opcode,
                udp: false,
                ..asked(INSIDE, "login.oscar.aol.com", qtype::A)
            };
            assert_eq!(s.decide(&q), Decision::NotImp, "opcode {opcode}");
        }
        for qclass in [3, 4, 254, 255] {
            let q = Asked {
                qclass,
                udp: false,
                ..asked(INSIDE, "version.bind", 16)
            };
            assert_eq!(s.decide(&q), Decision::Refuse, "class {qclass}");
        }
        let g = &s.counters.global;
        assert_eq!(g.not_implemented.load(Relaxed), 6);
        assert_eq!(g.refused_class.load(Relaxed), 4);
        // An outsider is refused before its opcode is looked at.
        let q = Asked {
            opcode: 4,
            ..asked(OUTSIDE, "x.example", qtype::A)
        };
        assert_eq!(s.decide(&q), Decision::Refuse);
        assert_eq!(g.not_implemented.load(Relaxed), 6);
    }

    /// ANY is never forwarded: a redirected name gets its gateway, any other name RFC
    /// 8482's HINFO, also when a fail-open view would forward.
    #[test]
    fn any_gets_a_minimal_answer() {
        let s = shared();
        let tcp = |name| Asked {
            udp: false,
            ..asked(INSIDE, name, qtype::ANY)
        };
        assert_eq!(
            s.decide(&tcp("www.example.test")),
            Decision::Rfc8482 { ttl: RFC8482_TTL }
        );
        assert_eq!(s.decide(&tcp("login.oscar.aol.com")), redirect_to_gateway());
        assert_eq!(s.counters.global.any_minimal.load(Relaxed), 1);
        let txt = Asked {
            udp: false,
            ..asked(INSIDE, "www.example.test", 16)
        };
        assert_eq!(s.decide(&txt), Decision::Forward);
    }

    /// The name matcher's label rule, as the decision sees it: an escaped dot (hickory's
    /// presentation form) is not a label boundary.
    #[test]
    fn a_dotted_label_is_forwarded_not_redirected() {
        let s = shared();
        let q = Asked {
            udp: false,
            ..asked(INSIDE, "login\\.oscar.aol.com", qtype::A)
        };
        assert_eq!(s.decide(&q), Decision::Forward);
    }

    /// Every redirected answer the budget lets through is logged or counted: a line the
    /// query log's writer cannot take (here it is gone) is counted as suppressed, as a
    /// line over the rate is, and the answer is not held up.
    #[test]
    fn a_line_the_writer_cannot_take_counts_as_suppressed() {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(std::io::sink)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let s = shared();
            let config = DnsConfig {
                allow: vec!["10.0.0.0/8".parse().unwrap()],
                rate_limit: 0,
                gateway: vec![GATEWAY.parse().unwrap()],
                query_log: QueryLog::Every,
                query_log_rate: 3,
                ..DnsConfig::default()
            };
            s.live.store(Arc::new(
                Live::from_config(&config, &s.counters, 1).unwrap(),
            ));
            for _ in 0..5 {
                let q = asked(INSIDE, "login.oscar.aol.com", qtype::A);
                assert_eq!(s.decide(&q), redirect_to_gateway());
            }
            // 3 within the rate but refused by the writer, 2 over the rate.
            assert_eq!(s.log_budget.suppressed(), 5);
        });
    }
}
