//! What the types do not already guarantee. The first problem found is reported.

use std::net::SocketAddr;

use super::{
    ArchiveConfig, Config, ConfigError, DnsConfig, GroupRef, IngestAuthMode, IngestConfig,
    RelayConfig, TlsConfig, UpstreamConfig, defaults,
};
use crate::host_port::HostPort;

pub(super) fn check(config: &Config) -> Result<(), ConfigError> {
    relay(&config.relay)?;
    upstream(&config.upstream)?;
    archive(&config.archive)?;
    view_groups(config)?;
    dns(&config.effective_dns())?;
    tls(&config.tls)?;
    ingest(&config.ingest)?;
    super::sensor::check(&config.sensor)?;
    // The engine's own checks, without a directory (the binary reads that file later).
    crate::PolicyEngine::compile(&config.policy, crate::Directory::default()).map(drop)
}

/// `[ingest]`: senders must authenticate, and each way they can needs what it rests on.
fn ingest(ingest: &IngestConfig) -> Result<(), ConfigError> {
    if let Some(name) = &ingest.name {
        tls_name(name).map_err(|e| ConfigError::invalid("ingest.name", e))?;
    }
    if ingest.listen.is_empty() {
        return Ok(());
    }
    super::ingest::check_clients(ingest)?;
    let token_file = ingest
        .token_file
        .as_ref()
        .filter(|p| !p.as_os_str().is_empty());
    match ingest.auth {
        IngestAuthMode::Token | IngestAuthMode::Both
            if token_file.is_none() && ingest.clients.is_empty() =>
        {
            Err(ConfigError::invalid(
                "ingest.token_file",
                "required when ingest.listen is set and ingest.auth is \"token\" or \"both\": \
             senders must authenticate (or list [[ingest.clients]] with their token_file, or \
             set ingest.auth = \"client_cert\" with ingest.tls)",
            ))
        }
        IngestAuthMode::ClientCert if token_file.is_some() => Err(ConfigError::invalid(
            "ingest.token_file",
            "set, but ingest.auth = \"client_cert\" uses no token: remove it, or set \
             ingest.auth = \"both\" to require the token and the certificate",
        )),
        IngestAuthMode::ClientCert | IngestAuthMode::Both if !ingest.tls => {
            Err(ConfigError::invalid(
                "ingest.auth",
                "client certificates are checked in the TLS handshake: set ingest.tls = true",
            ))
        }
        _ => Ok(()),
    }
}

/// A DNS view may take its clients from a policy group: the group must exist and name
/// subnets (a group of employees or screen names says nothing about where queries come
/// from).
fn view_groups(config: &Config) -> Result<(), ConfigError> {
    for (i, view) in config.dns.views.iter().enumerate() {
        let Some(name) = view.group.as_deref() else {
            continue;
        };
        let key = format!("dns.views[{i}].group");
        let Some(group) = config.policy.groups.iter().find(|g| g.name == name) else {
            let known: Vec<&str> = config
                .policy
                .groups
                .iter()
                .map(|g| g.name.as_str())
                .collect();
            return Err(ConfigError::invalid(
                key,
                format!("no [[policy.groups]] entry is named {name:?} (there are: {known:?})"),
            ));
        };
        if group.subnets.is_empty() {
            return Err(ConfigError::invalid(
                key,
                format!("policy group {name:?} has no subnets: a view needs client networks"),
            ));
        }
    }
    Ok(())
}

/// A group's subnet entry: a network, or a single address as its host network.
pub(crate) fn subnet(text: &str) -> Option<ipnet::IpNet> {
    text.parse::<ipnet::IpNet>().ok().or_else(|| {
        text.parse::<std::net::IpAddr>()
            .ok()
            .map(ipnet::IpNet::from)
    })
}

fn relay(relay: &RelayConfig) -> Result<(), ConfigError> {
    if relay.listen.is_empty() {
        return Err(ConfigError::invalid(
            "relay.listen",
            "no listen address: the relay would accept no connections (default: [\"0.0.0.0:5190\", \"0.0.0.0:443\"])",
        ));
    }
    for (i, addr) in relay.listen.iter().enumerate() {
        if let Some(message) = relay.listen[..i]
            .iter()
            .find_map(|earlier| overlap(*earlier, *addr))
        {
            return Err(ConfigError::invalid(format!("relay.listen[{i}]"), message));
        }
    }
    if relay.advertise.is_none()
        && let Some((i, addr)) = relay.listen.iter().enumerate().find(|(_, a)| a.is_ipv6())
    {
        return Err(ConfigError::invalid(
            format!("relay.listen[{i}]"),
            format!(
                "{addr} is IPv6, and the `host:port` in OSCAR redirects cannot carry an IPv6 \
                 literal: set relay.advertise to a name or IPv4 address clients can reach"
            ),
        ));
    }
    if let Some(advertise) = &relay.advertise {
        if advertise.contains('[') || advertise.matches(':').count() > 1 {
            return Err(ConfigError::invalid(
                "relay.advertise",
                "an IPv6 literal cannot be written into OSCAR redirects; use a name or IPv4 address",
            ));
        }
        match HostPort::parse_with_default_port(advertise, defaults::OSCAR_PORT) {
            Err(e) => return Err(ConfigError::invalid("relay.advertise", e.to_string())),
            Ok(hp) if hp.port() == 0 => {
                return Err(ConfigError::invalid(
                    "relay.advertise",
                    "port 0: clients cannot connect to it",
                ));
            }
            Ok(_) => {}
        }
    }
    if relay.max_cookie_routes == 0 {
        return Err(ConfigError::invalid(
            "relay.max_cookie_routes",
            format!(
                "0 would route no follow-on connection (default: {})",
                defaults::MAX_COOKIE_ROUTES
            ),
        ));
    }
    if let Some(everything) = relay
        .client_nat_networks
        .iter()
        .find(|net| net.prefix_len() == 0)
    {
        return Err(ConfigError::invalid(
            "relay.client_nat_networks",
            format!(
                "{everything} would let any address present any client's cookie; list the NAT \
                 pools' own networks"
            ),
        ));
    }
    if relay.max_frame == 0 {
        return Err(ConfigError::invalid(
            "relay.max_frame",
            "0 bytes would reject every frame (default: 65535)",
        ));
    }
    if relay.idle_timeout_secs < defaults::MIN_IDLE_TIMEOUT_SECS {
        return Err(ConfigError::invalid(
            "relay.idle_timeout_secs",
            format!(
                "{} s is below the minimum of {} s: WinAIM sends a keepalive only every 60 s, \
                 so idle but live sessions would be cut (default: {})",
                relay.idle_timeout_secs,
                defaults::MIN_IDLE_TIMEOUT_SECS,
                defaults::IDLE_TIMEOUT_SECS,
            ),
        ));
    }
    connection_limits(relay)?;
    for (key, value, default) in [
        (
            "relay.connect_timeout_secs",
            relay.connect_timeout_secs,
            defaults::CONNECT_TIMEOUT_SECS,
        ),
        (
            "relay.cookie_ttl_secs",
            relay.cookie_ttl_secs,
            defaults::COOKIE_TTL_SECS,
        ),
    ] {
        if value == 0 {
            return Err(ConfigError::invalid(
                key,
                format!("must be at least 1 s (default: {default})"),
            ));
        }
    }
    Ok(())
}

/// The connection limits and the sign-on deadline (`relay.signon_timeout_secs` and the
/// per-address and descriptor limits).
fn connection_limits(relay: &RelayConfig) -> Result<(), ConfigError> {
    if relay.signon_timeout_secs == 0 || relay.signon_timeout_secs > relay.idle_timeout_secs {
        return Err(ConfigError::invalid(
            "relay.signon_timeout_secs",
            format!(
                "{} s: must be at least 1 s and at most relay.idle_timeout_secs ({} s) \
                 (default: {})",
                relay.signon_timeout_secs,
                relay.idle_timeout_secs,
                defaults::SIGNON_TIMEOUT_SECS,
            ),
        ));
    }
    for (key, value, default) in [
        (
            "relay.max_connections_per_address",
            relay.max_connections_per_address,
            defaults::MAX_CONNECTIONS_PER_ADDRESS,
        ),
        (
            "relay.new_connections_per_second",
            relay.new_connections_per_second,
            defaults::NEW_CONNECTIONS_PER_SECOND,
        ),
        (
            "relay.new_connections_burst",
            relay.new_connections_burst,
            defaults::NEW_CONNECTIONS_BURST,
        ),
    ] {
        if value == 0 {
            return Err(ConfigError::invalid(
                key,
                format!("0 would refuse every client (default: {default})"),
            ));
        }
    }
    if relay.descriptor_reserve < defaults::MIN_DESCRIPTOR_RESERVE {
        return Err(ConfigError::invalid(
            "relay.descriptor_reserve",
            format!(
                "{} is below the minimum of {}: the archive, listeners and DNS sockets need \
                 descriptors too (default: {})",
                relay.descriptor_reserve,
                defaults::MIN_DESCRIPTOR_RESERVE,
                defaults::DESCRIPTOR_RESERVE,
            ),
        ));
    }
    Ok(())
}

/// Why listening on both `earlier` and `later` cannot work, if it cannot. Port 0 (a port the
/// OS picks) never clashes.
fn overlap(earlier: SocketAddr, later: SocketAddr) -> Option<String> {
    if earlier.port() != later.port() || later.port() == 0 {
        return None;
    }
    if earlier == later {
        return Some(format!("{later} is listed twice"));
    }
    // The wildcard address of a family takes the port on every address of that family, so
    // the second bind would fail with "address in use". (Across families it depends on
    // IPV6_V6ONLY, which is the relay's business.)
    let same_family = earlier.is_ipv4() == later.is_ipv4();
    if same_family && (earlier.ip().is_unspecified() || later.ip().is_unspecified()) {
        return Some(format!(
            "{later} overlaps {earlier}: the wildcard address already listens on port {} of every address",
            later.port()
        ));
    }
    None
}

fn upstream(upstream: &UpstreamConfig) -> Result<(), ConfigError> {
    if upstream.login.port() == 0 {
        return Err(ConfigError::invalid(
            "upstream.login",
            format!(
                "{}: port 0 cannot be connected to (the OSCAR port is {})",
                upstream.login,
                defaults::OSCAR_PORT
            ),
        ));
    }
    if upstream.login_tls.port() == 0 {
        return Err(ConfigError::invalid(
            "upstream.login_tls",
            format!(
                "{}: port 0 cannot be connected to (the SSL login port is {})",
                upstream.login_tls,
                defaults::OSCAR_PORT
            ),
        ));
    }
    if upstream.api.as_ref().is_some_and(|a| a.port() == 0) {
        return Err(ConfigError::invalid(
            "upstream.api",
            "port 0 cannot be connected to (the login API is HTTPS, port 443)",
        ));
    }
    if let Some(i) = upstream
        .tls_roots
        .iter()
        .position(|p| p.as_os_str().is_empty())
    {
        return Err(ConfigError::invalid(
            format!("upstream.tls_roots[{i}]"),
            "empty path; list PEM files of CAs to trust",
        ));
    }
    if let Some(proxy) = &upstream.proxy {
        crate::proxy::ProxyUrl::parse(proxy.expose())
            .map_err(|e| ConfigError::invalid("upstream.proxy", e))?;
    }
    for (i, resolver) in upstream.resolver.iter().enumerate() {
        if resolver.port() == 0 {
            return Err(ConfigError::invalid(
                format!("upstream.resolver[{i}]"),
                format!("{resolver}: port 0 cannot be queried (DNS is port 53)"),
            ));
        }
    }
    Ok(())
}

fn archive(archive: &ArchiveConfig) -> Result<(), ConfigError> {
    if archive
        .path
        .as_ref()
        .is_some_and(|p| p.as_os_str().is_empty())
    {
        return Err(ConfigError::invalid(
            "archive.path",
            "empty; leave the key out for the default directory",
        ));
    }
    if let Some(key) = &archive.signing_key {
        let text = key.as_os_str().to_string_lossy();
        if text.is_empty() || text.ends_with('/') {
            return Err(ConfigError::invalid(
                "archive.signing_key",
                "not a file name; leave the key out for <archive.path>/signing.key",
            ));
        }
    }
    if archive.retention.interval_secs == 0 {
        return Err(ConfigError::invalid(
            "archive.retention.interval_secs",
            "0 would run retention in a busy loop (default: 3600)",
        ));
    }
    for setting in archive.retention.per_protocol() {
        if let (Some((key, days)), Some((min_key, min))) = (setting.days, setting.min_days)
            && days < min
        {
            return Err(ConfigError::invalid(
                format!("archive.retention.{key}"),
                format!(
                    "{days} days for {} is below archive.retention.{min_key} = {min}: \
                     records younger than the minimum are never purged",
                    setting.protocol
                ),
            ));
        }
    }
    if archive.node.as_ref().is_some_and(|n| n.trim().is_empty()) {
        return Err(ConfigError::invalid(
            "archive.node",
            "empty; leave the key out to use the host name",
        ));
    }
    // Whether the group exists is checked where it is used (`run`); here, its form.
    if let Some(GroupRef::Name(group)) = &archive.admin_group
        && (group.is_empty()
            || group
                .chars()
                .any(|c| c == ':' || c.is_whitespace() || c.is_control()))
    {
        return Err(ConfigError::invalid(
            "archive.admin_group",
            "not a group name or gid (empty, or with a colon, space or control character)",
        ));
    }
    Ok(())
}

fn dns(dns: &DnsConfig) -> Result<(), ConfigError> {
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

fn tls(tls: &TlsConfig) -> Result<(), ConfigError> {
    if tls
        .ca_dir
        .as_ref()
        .is_some_and(|p| p.as_os_str().is_empty())
    {
        return Err(ConfigError::invalid(
            "tls.ca_dir",
            "empty; leave the key out for the default directory",
        ));
    }
    if tls.permitted.is_empty() {
        return Err(ConfigError::invalid(
            "tls.permitted",
            "empty: the CA could issue for no name (default: the AIM and ICQ domains)",
        ));
    }
    let mut permitted = Vec::with_capacity(tls.permitted.len());
    for (i, name) in tls.permitted.iter().enumerate() {
        let key = || format!("tls.permitted[{i}]");
        if let Some(base) = name.trim().strip_prefix("*.") {
            return Err(ConfigError::invalid(
                key(),
                format!("{name:?}: an entry already covers every name below it; write {base:?}"),
            ));
        }
        let name = tls_name(name).map_err(|e| ConfigError::invalid(key(), e))?;
        if !name.contains('.') {
            return Err(ConfigError::invalid(
                key(),
                format!(
                    "{name:?} is a whole top-level domain: the CA could sign for every name in it"
                ),
            ));
        }
        permitted.push(name);
    }
    let default_name =
        tls_name(&tls.default_name).map_err(|e| ConfigError::invalid("tls.default_name", e))?;
    if !permitted.iter().any(|base| within(&default_name, base)) {
        return Err(ConfigError::invalid(
            "tls.default_name",
            format!(
                "{default_name} is outside tls.permitted, so clients without SNI would get no \
                 certificate"
            ),
        ));
    }
    if tls.leaf_hours == 0 || tls.leaf_hours > defaults::TLS_MAX_LEAF_HOURS {
        return Err(ConfigError::invalid(
            "tls.leaf_hours",
            format!(
                "{} h: between 1 and {} (397 days, the most clients accept) (default: {})",
                tls.leaf_hours,
                defaults::TLS_MAX_LEAF_HOURS,
                defaults::TLS_LEAF_HOURS
            ),
        ));
    }
    if u64::from(tls.renew_before_hours) * 2 > u64::from(tls.leaf_hours) {
        return Err(ConfigError::invalid(
            "tls.renew_before_hours",
            format!(
                "{} h is more than half of tls.leaf_hours ({} h): leaves would be replaced \
                 almost as soon as they are made (default: {})",
                tls.renew_before_hours,
                tls.leaf_hours,
                defaults::TLS_RENEW_BEFORE_HOURS
            ),
        ));
    }
    if tls.cache_size == 0 {
        return Err(ConfigError::invalid(
            "tls.cache_size",
            format!(
                "0 would mint a leaf for every connection (default: {})",
                defaults::TLS_CACHE_SIZE
            ),
        ));
    }
    Ok(())
}

/// `name` as a certificate name: a DNS name, lower case, no trailing dot, no wildcard, not
/// an IP address.
fn tls_name(name: &str) -> Result<String, String> {
    match crate::dns::NamePattern::parse(name)? {
        crate::dns::NamePattern::Subtree(_) => {
            Err(format!("{name:?}: a certificate name cannot be a wildcard"))
        }
        crate::dns::NamePattern::Exact(n) => {
            if n.rsplit('.')
                .next()
                .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
            {
                return Err(format!(
                    "{name:?}: an IP address; certificates are issued for names only"
                ));
            }
            Ok(n)
        }
    }
}

/// Whether `name` is `base` or below it.
fn within(name: &str, base: &str) -> bool {
    name == base
        || name
            .strip_suffix(base)
            .is_some_and(|head| head.ends_with('.'))
}
