//! What the types do not already guarantee. The first problem found is reported.

mod dns;
mod relay;
mod tls;

use std::net::SocketAddr;

use super::{
    ArchiveConfig, Config, ConfigError, GroupRef, IngestAuthMode, IngestConfig, UpstreamConfig,
    defaults,
};
use tls::tls_name;

pub(super) fn check(config: &Config) -> Result<(), ConfigError> {
    relay::check(&config.relay)?;
    upstream(&config.upstream)?;
    archive(&config.archive)?;
    view_groups(config)?;
    dns::check(&config.effective_dns())?;
    tls::check(&config.tls)?;
    ingest(&config.ingest)?;
    console(config)?;
    super::sensor::check(&config.sensor)
}

/// `[console]`: plain HTTP only where no one else can listen in.
fn console(config: &Config) -> Result<(), ConfigError> {
    let console = &config.console;
    for (i, sample) in console.sampling.iter().enumerate() {
        let known =
            sample.group == "*" || config.policy.groups.iter().any(|g| g.name == sample.group);
        if !known {
            return Err(ConfigError::invalid(
                format!("console.sampling[{i}].group"),
                format!(
                    "{:?} is not a [[policy.groups]] name (or \"*\" for everyone)",
                    sample.group
                ),
            ));
        }
        if !(1..=1000).contains(&sample.per_mille) {
            return Err(ConfigError::invalid(
                format!("console.sampling[{i}].per_mille"),
                "1 to 1000 messages in a thousand",
            ));
        }
        if console.sampling[..i]
            .iter()
            .any(|s| s.group == sample.group)
        {
            return Err(ConfigError::invalid(
                format!("console.sampling[{i}].group"),
                format!("{:?} is sampled twice", sample.group),
            ));
        }
    }
    if let Some(name) = &console.name {
        tls_name(name).map_err(|e| ConfigError::invalid("console.name", e))?;
    }
    if !console.tls
        && let Some(addr) = console.listen.iter().find(|a| !a.ip().is_loopback())
    {
        return Err(ConfigError::invalid(
            "console.listen",
            format!(
                "{addr}: without console.tls the console serves plain HTTP, so loopback \
                 addresses only (127.0.0.1, ::1); set console.tls = true to serve HTTPS there"
            ),
        ));
    }
    if console.idle_timeout_mins == 0 {
        return Err(ConfigError::invalid(
            "console.idle_timeout_mins",
            "at least 1: a session must end some time after its last request",
        ));
    }
    Ok(())
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
