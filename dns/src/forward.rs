//! Forwarding: hickory's `ForwardZoneHandler` at the root of a `Catalog`, over the
//! configured upstreams (UDP and TCP, or DNS over TLS), bound to the egress address, with
//! TCP connections closed when idle ([`crate::idle_tcp`]).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolverOpts};
use hickory_server::proto::rr::{LowerName, Name};
use hickory_server::store::forwarder::{ForwardConfig, ForwardZoneHandler};
use hickory_server::zone_handler::{Catalog, ZoneHandler};
use settings::DnsUpstream;

use crate::DnsError;
use crate::idle_tcp::IdleClosing;

/// The catalog that forwards every name to `upstreams`, with upstream sockets bound to
/// the first `egress` address of the upstream's family, closing TCP connections idle for
/// `idle`.
pub(crate) fn catalog(
    upstreams: &[DnsUpstream],
    egress: &[IpAddr],
    idle: Duration,
) -> Result<Catalog, DnsError> {
    if upstreams.is_empty() {
        return Err(DnsError::NoUpstream);
    }
    let name_servers = upstreams
        .iter()
        .map(|u| {
            let ip = u.address.ip();
            let mut ns = match &u.tls_name {
                Some(name) => NameServerConfig::tls(ip, Arc::from(name.as_str())),
                None => NameServerConfig::udp_and_tcp(ip),
            };
            let bind = egress
                .iter()
                .find(|e| e.is_ipv4() == ip.is_ipv4())
                .map(|e| SocketAddr::new(*e, 0));
            for c in &mut ns.connections {
                c.port = u.address.port();
                c.bind_addr = bind;
            }
            ns
        })
        .collect();
    let mut options = ResolverOpts::default();
    // A client waits about 5 s before retrying; answer (or fail) well before that.
    options.timeout = Duration::from_secs(2);
    options.attempts = 2;
    options.cache_size = 10_000;
    // Hand CNAME chains to clients whole, as the upstream gave them.
    options.preserve_intermediates = true;
    let forwarder = ForwardZoneHandler::builder_with_config(
        ForwardConfig {
            name_servers,
            options: Some(options),
        },
        IdleClosing::new(idle),
    )
    .build()
    .map_err(DnsError::Forwarder)?;
    let mut catalog = Catalog::new();
    catalog.upsert(
        LowerName::from(Name::root()),
        vec![Arc::new(forwarder) as Arc<dyn ZoneHandler>],
    );
    Ok(catalog)
}

/// The `nameserver` lines of `resolv_conf` (the text of /etc/resolv.conf), minus any
/// address in `own` (the responder must not forward to itself) and minus loopback
/// addresses on the responder's port when it listens on a wildcard address.
pub fn system_upstreams(resolv_conf: &str, own: &[SocketAddr]) -> Vec<DnsUpstream> {
    resolv_conf
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("nameserver"))
                .then(|| words.next())
                .flatten()
        })
        // A scoped IPv6 address (fe80::1%eth0) cannot be written as a SocketAddr here.
        .filter_map(|ip| ip.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .filter(|addr| {
            !own.iter().any(|o| {
                o.port() == addr.port()
                    && (o.ip() == addr.ip()
                        || (o.ip().is_unspecified() && (addr.ip().is_loopback())))
            })
        })
        .map(|address| DnsUpstream {
            address,
            tls_name: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_minus_ourselves() {
        let text = "# generated\nsearch example.com\nnameserver 127.0.0.1\nnameserver 192.0.2.53\nnameserver fe80::1%eth0\nnameserver 2001:db8::53\n";
        let own: Vec<SocketAddr> = vec!["0.0.0.0:53".parse().unwrap()];
        let got: Vec<String> = system_upstreams(text, &own)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(got, ["192.0.2.53:53", "[2001:db8::53]:53"]);
        // On another port, a local resolver is a fine upstream.
        let own: Vec<SocketAddr> = vec!["0.0.0.0:5353".parse().unwrap()];
        assert_eq!(system_upstreams(text, &own).len(), 3);
    }
}
