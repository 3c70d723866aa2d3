//! Resolving upstream host names: with the system resolver, or with the DNS servers in
//! `upstream.resolver` (hickory). Never the gateway's own DNS responder: it answers the AIM
//! names with the gateway itself, and the relay would connect to itself.

use std::net::{IpAddr, SocketAddr};

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use settings::HostPort;

use crate::error::ConnectFailure;

/// How the relay turns `host:port` into addresses.
pub struct UpstreamResolver {
    /// `None`: the system resolver.
    configured: Option<TokioResolver>,
}

impl std::fmt::Debug for UpstreamResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.configured.is_some() {
            "UpstreamResolver(configured)"
        } else {
            "UpstreamResolver(system)"
        })
    }
}

impl UpstreamResolver {
    /// The system resolver when `servers` is empty; otherwise those servers (UDP, falling back
    /// to TCP), queried from `bind` when an egress address is configured.
    pub fn new(servers: &[SocketAddr], bind: Option<IpAddr>) -> Result<Self, String> {
        if servers.is_empty() {
            return Ok(Self { configured: None });
        }
        let name_servers = servers
            .iter()
            .map(|server| {
                let connection = |mut c: ConnectionConfig| {
                    c.port = server.port();
                    c.bind_addr = bind
                        .filter(|ip| ip.is_ipv4() == server.is_ipv4())
                        .map(|ip| SocketAddr::new(ip, 0));
                    c
                };
                NameServerConfig::new(
                    server.ip(),
                    true,
                    vec![
                        connection(ConnectionConfig::udp()),
                        connection(ConnectionConfig::tcp()),
                    ],
                )
            })
            .collect();
        let resolver = TokioResolver::builder_with_config(
            ResolverConfig::from_name_servers(name_servers),
            TokioRuntimeProvider::default(),
        )
        .build()
        .map_err(|e| format!("cannot set up the upstream resolver: {e}"))?;
        Ok(Self {
            configured: Some(resolver),
        })
    }

    /// The addresses of `target`.
    pub async fn resolve(&self, target: &HostPort) -> Result<Vec<SocketAddr>, ConnectFailure> {
        let (host, port) = (target.host(), target.port());
        let Some(resolver) = &self.configured else {
            return tokio::net::lookup_host((host, port))
                .await
                .map(Iterator::collect)
                .map_err(ConnectFailure::Resolve);
        };
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let answer =
            resolver
                .lookup_ip(host)
                .await
                .map_err(|source| ConnectFailure::ResolveWith {
                    host: host.to_owned(),
                    source,
                })?;
        Ok(answer.iter().map(|ip| SocketAddr::new(ip, port)).collect())
    }
}
