//! `[dns]`: the embedded DNS responder's configuration, edited by the network team.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::defaults;

/// `[dns]`: what the responder listens on, which names it redirects, for whom, and where it
/// forwards everything else.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DnsConfig {
    /// Addresses answered on, UDP and TCP. Default `["0.0.0.0:53"]`; empty runs no responder.
    pub listen: Vec<SocketAddr>,
    /// Resolvers every other name is forwarded to: `ip`, `ip:port`, `[v6]:port`, or
    /// `tls://ip[:port]#server-name` for DNS over TLS. Default: empty, the `nameserver` lines
    /// of /etc/resolv.conf (minus the responder's own addresses).
    pub upstream: Vec<DnsUpstream>,
    /// Client networks that may query at all; everyone else gets REFUSED. Default: loopback,
    /// RFC 1918 and IPv6 unique-local networks.
    pub allow: Vec<IpNet>,
    /// TTL of redirected answers, in seconds. Default 30: short, so clients follow a move.
    pub ttl: u32,
    /// Whether the built-in AIM/ICQ name list is redirected. Default true.
    pub builtin_names: bool,
    /// More names to redirect: exact (`login.example.net`) or a subtree (`*.example.net`).
    pub names: Vec<String>,
    /// The default view's gateway addresses. Default: empty, the address the responder
    /// itself uses to reach the asking client.
    pub gateway: Vec<IpAddr>,
    /// What the default view gets when none of its gateways answers: `closed` (SERVFAIL) or
    /// `open` (the real address). Default `closed`.
    pub fail: FailPolicy,
    /// Responses per second to one client address before answers are dropped (every second
    /// dropped answer is sent truncated instead, so a real client retries over TCP).
    /// Default 1000; 0 turns rate limiting off.
    pub rate_limit: u32,
    /// Bytes of UDP answers per second to one client address before answers are dropped or
    /// truncated as for `rate_limit`: what a forged source address can make the responder send
    /// its victim. Default 131072 (128 KiB); 0 turns it off.
    pub rate_limit_bytes: u32,
    /// The query log (one `tracing` line per redirected answer): `every` answer, only the
    /// `first` per client, name and view in each TTL, or `off`. Default `every`.
    pub query_log: QueryLog,
    /// Query log lines per second at most; the rest are counted, and a line every 10 s says
    /// how many were left out, so a flood cannot fill the disk with log lines. Default 50;
    /// 0: no limit.
    pub query_log_rate: u32,
    /// Client addresses the per-client tables (rate limiter, query log) remember at most;
    /// a flood from forged source addresses evicts entries instead of growing memory, and
    /// the tables shrink back once it ends. Default 65536. Needs a restart.
    pub client_table_size: u32,
    /// Seconds a TCP (or TLS) connection to an upstream resolver may stay idle before the
    /// responder closes it: a single-threaded resolver (dnsmasq among them) serves nothing
    /// else while it is open. Default 2; 1 to 3600. Needs a restart.
    pub upstream_idle_secs: u64,
    /// Seconds between health checks of the gateway addresses (a TCP connect to the relay
    /// port). Default 5; 0 assumes every gateway is up.
    pub health_interval_secs: u64,
    /// `[[dns.views]]`: client groups with their own gateways, by longest-prefix match.
    pub views: Vec<DnsViewConfig>,
}

impl Default for DnsConfig {
    fn default() -> Self {
        Self {
            listen: defaults::dns_listen(),
            upstream: Vec::new(),
            allow: defaults::dns_allow(),
            ttl: defaults::DNS_TTL,
            builtin_names: true,
            names: Vec::new(),
            gateway: Vec::new(),
            fail: FailPolicy::Closed,
            rate_limit: defaults::DNS_RATE_LIMIT,
            rate_limit_bytes: defaults::DNS_RATE_LIMIT_BYTES,
            query_log: QueryLog::Every,
            query_log_rate: defaults::DNS_QUERY_LOG_RATE,
            client_table_size: defaults::DNS_CLIENT_TABLE_SIZE,
            upstream_idle_secs: defaults::DNS_UPSTREAM_IDLE_SECS,
            health_interval_secs: defaults::DNS_HEALTH_INTERVAL_SECS,
            views: Vec::new(),
        }
    }
}

/// `[[dns.views]]`: one group of clients, found by subnet.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DnsViewConfig {
    /// The group's name, shown in the query log and the counters.
    pub name: String,
    /// The client networks in this group.
    #[serde(default)]
    pub subnets: Vec<IpNet>,
    /// A `[[policy.groups]]` entry whose subnets are also this view's clients, so the
    /// groups the compliance policy uses drive the DNS answers too. Default: unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The gateway addresses this group is sent to. Empty: like the default view.
    #[serde(default)]
    pub gateway: Vec<IpAddr>,
    /// `closed` or `open` when this group's gateways are all down. Default: `dns.fail`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail: Option<FailPolicy>,
    /// False for a group that must not be redirected (the gateways' own subnet, say): its
    /// queries are all forwarded. Default true.
    #[serde(default = "yes")]
    pub redirect: bool,
}

fn yes() -> bool {
    true
}

/// What a redirected name resolves to while the group's gateways are all down.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FailPolicy {
    /// SERVFAIL: the client cannot sign on, and nothing bypasses the archive.
    #[default]
    Closed,
    /// The real address, forwarded: users stay online, unrecorded.
    Open,
}

/// How much of the redirected answers the query log shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum QueryLog {
    /// One line per redirected answer.
    #[default]
    Every,
    /// The first answer to a client for a name and view, then again once the TTL has
    /// passed: who was sent where, at a fraction of the cost under load.
    First,
    /// No query lines (the counters still count).
    Off,
}

/// One upstream resolver, `ip[:port]` or `tls://ip[:port]#server-name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct DnsUpstream {
    /// Where it listens.
    pub address: SocketAddr,
    /// For DNS over TLS, the name its certificate must carry; `None` for plain UDP/TCP.
    pub tls_name: Option<String>,
}

impl DnsUpstream {
    /// Parses `ip`, `ip:port`, `[v6]:port` or `tls://ip[:port]#server-name`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (tls, rest) = match text.strip_prefix("tls://") {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (addr, tls_name) = match (tls, rest.split_once('#')) {
            (true, Some((addr, name))) if !name.is_empty() => (addr, Some(name.to_owned())),
            (true, _) => {
                return Err(format!(
                    "{text:?}: DNS over TLS needs the server's certificate name: tls://ip[:port]#name"
                ));
            }
            (false, Some(_)) => {
                return Err(format!("{text:?}: a #name is only meaningful with tls://"));
            }
            (false, None) => (rest, None),
        };
        let default_port = if tls { 853 } else { 53 };
        let address = match addr.parse::<SocketAddr>() {
            Ok(a) => a,
            Err(_) => match addr.parse::<IpAddr>() {
                Ok(ip) => SocketAddr::new(ip, default_port),
                Err(_) => {
                    return Err(format!(
                        "{text:?}: expected an IP address, ip:port or [v6]:port (upstream resolvers are given by address, not name)"
                    ));
                }
            },
        };
        if address.port() == 0 {
            return Err(format!("{text:?}: port 0 cannot be queried"));
        }
        Ok(Self { address, tls_name })
    }
}

impl TryFrom<String> for DnsUpstream {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        Self::parse(&text)
    }
}

impl From<DnsUpstream> for String {
    fn from(u: DnsUpstream) -> Self {
        u.to_string()
    }
}

impl fmt::Display for DnsUpstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.tls_name {
            Some(name) => write!(f, "tls://{}#{name}", self.address),
            None => write!(f, "{}", self.address),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_forms() {
        let plain = DnsUpstream::parse("192.0.2.1").unwrap();
        assert_eq!(plain.address, "192.0.2.1:53".parse().unwrap());
        assert_eq!(plain.tls_name, None);
        assert_eq!(
            DnsUpstream::parse("[2001:db8::1]:5353").unwrap().address,
            "[2001:db8::1]:5353".parse().unwrap()
        );
        let dot = DnsUpstream::parse("tls://9.9.9.9#dns.quad9.net").unwrap();
        assert_eq!(dot.address, "9.9.9.9:853".parse().unwrap());
        assert_eq!(dot.tls_name.as_deref(), Some("dns.quad9.net"));
        assert_eq!(DnsUpstream::parse(&dot.to_string()).unwrap(), dot);
        for bad in ["tls://9.9.9.9", "1.1.1.1#x", "dns.example", "1.1.1.1:0", ""] {
            assert!(DnsUpstream::parse(bad).is_err(), "{bad}");
        }
    }
}
