//! `[relay]`: its listen addresses, what it advertises in redirects, and its limits and
//! timeouts.

use super::overlap;
use crate::config::{ConfigError, RelayConfig, defaults};
use crate::host_port::HostPort;

/// `[relay]`: listeners that can all be bound and advertised in OSCAR redirects, and limits
/// that let clients in.
pub(super) fn check(relay: &RelayConfig) -> Result<(), ConfigError> {
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
