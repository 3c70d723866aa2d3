//! `[dns]`: the responder's listeners, upstreams, limits, names and views.

use std::net::SocketAddr;

use super::overlap;
use crate::config::{ConfigError, DnsConfig, defaults};

/// `[dns]`: listeners that can all be bound, upstreams that are not the responder itself,
/// and views that each have clients of their own.
pub(super) fn check(dns: &DnsConfig) -> Result<(), ConfigError> {
    for (i, addr) in dns.listen.iter().enumerate() {
        if let Some(message) = dns.listen[..i]
            .iter()
            .find_map(|earlier| overlap(*earlier, *addr))
        {
            return Err(ConfigError::invalid(format!("dns.listen[{i}]"), message));
        }
    }
    for (i, upstream) in dns.upstream.iter().enumerate() {
        if let Some(listen) = dns.listen.iter().find(|l| reaches(**l, upstream.address)) {
            return Err(ConfigError::invalid(
                format!("dns.upstream[{i}]"),
                format!(
                    "{}: that is the responder itself (dns.listen has {listen}); forwarding \
                     to it would loop",
                    upstream.address
                ),
            ));
        }
    }
    if !dns.listen.is_empty() && dns.allow.is_empty() {
        return Err(ConfigError::invalid(
            "dns.allow",
            "empty: every client would be REFUSED (default: loopback and private networks)",
        ));
    }
    if dns.client_table_size < 16 {
        return Err(ConfigError::invalid(
            "dns.client_table_size",
            format!(
                "{}: too small to rate-limit anyone (at least 16; default {})",
                dns.client_table_size,
                defaults::DNS_CLIENT_TABLE_SIZE
            ),
        ));
    }
    if !(1..=3600).contains(&dns.upstream_idle_secs) {
        return Err(ConfigError::invalid(
            "dns.upstream_idle_secs",
            format!(
                "{}: must be 1 to 3600 seconds (default {})",
                dns.upstream_idle_secs,
                defaults::DNS_UPSTREAM_IDLE_SECS
            ),
        ));
    }
    if dns.ttl > 86_400 {
        return Err(ConfigError::invalid(
            "dns.ttl",
            format!(
                "{} s: clients would keep a stale gateway address for over a day (default: {})",
                dns.ttl,
                defaults::DNS_TTL
            ),
        ));
    }
    for (i, name) in dns.names.iter().enumerate() {
        crate::dns::NamePattern::parse(name)
            .map_err(|e| ConfigError::invalid(format!("dns.names[{i}]"), e))?;
    }
    if !dns.builtin_names && dns.names.is_empty() && !dns.listen.is_empty() {
        return Err(ConfigError::invalid(
            "dns.builtin_names",
            "false with no dns.names: nothing would be redirected",
        ));
    }
    gateways("dns.gateway", &dns.gateway)?;
    for (i, view) in dns.views.iter().enumerate() {
        let key = |k: &str| format!("dns.views[{i}].{k}");
        if view.name.trim().is_empty() || view.name == "default" {
            return Err(ConfigError::invalid(
                key("name"),
                "a view needs a name of its own (\"default\" is the view of every other client)",
            ));
        }
        if dns.views[..i].iter().any(|v| v.name == view.name) {
            return Err(ConfigError::invalid(
                key("name"),
                format!("{:?} is used by an earlier view", view.name),
            ));
        }
        if view.subnets.is_empty() {
            return Err(ConfigError::invalid(
                key("subnets"),
                "empty: no client would be in this view (give subnets, or a policy group with subnets)",
            ));
        }
        // Longest-prefix matching cannot choose between two equal subnets: one view would
        // silently never be used.
        for (j, net) in view.subnets.iter().enumerate() {
            let earlier = dns.views[..i]
                .iter()
                .find(|v| v.subnets.iter().any(|n| n.trunc() == net.trunc()))
                .map(|v| v.name.as_str())
                .or_else(|| {
                    view.subnets[..j]
                        .iter()
                        .any(|n| n.trunc() == net.trunc())
                        .then_some(view.name.as_str())
                });
            if let Some(earlier) = earlier {
                return Err(ConfigError::invalid(
                    format!("dns.views[{i}].subnets[{j}]"),
                    format!("{net} is already in view {earlier:?}"),
                ));
            }
        }
        gateways(&key("gateway"), &view.gateway)?;
    }
    Ok(())
}

/// Whether a query sent to `upstream` would reach the responder listening on `listen`: the
/// same address, or this host's loopback (or unspecified) address on the port of a
/// wildcard listener of the same family. (Across families it depends on IPV6_V6ONLY.)
fn reaches(listen: SocketAddr, upstream: SocketAddr) -> bool {
    if listen == upstream {
        return true;
    }
    let to_this_host = upstream.ip().is_loopback() || upstream.ip().is_unspecified();
    listen.port() == upstream.port()
        && listen.ip().is_unspecified()
        && listen.is_ipv4() == upstream.is_ipv4()
        && to_this_host
}

fn gateways(key: &str, addrs: &[std::net::IpAddr]) -> Result<(), ConfigError> {
    for (i, ip) in addrs.iter().enumerate() {
        if ip.is_unspecified() || ip.is_multicast() {
            return Err(ConfigError::invalid(
                format!("{key}[{i}]"),
                format!("{ip} cannot be handed to clients as the gateway's address"),
            ));
        }
    }
    Ok(())
}
