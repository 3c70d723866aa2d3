//! The responder's one error type.

use std::net::SocketAddr;

/// Why the responder could not start or reload.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// A listen address could not be bound.
    #[error("cannot listen on {addr} ({proto}): {source}{hint}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// `udp` or `tcp`.
        proto: &'static str,
        /// The OS error.
        source: std::io::Error,
        /// Advice for the common cases (privileged port, port in use).
        hint: &'static str,
    },
    /// The configuration's DNS part is unusable (names, upstreams).
    #[error("dns configuration: {0}")]
    Config(String),
    /// No upstream resolver is configured or found in /etc/resolv.conf.
    #[error(
        "no upstream resolver: /etc/resolv.conf lists none other than the responder itself; set dns.upstream"
    )]
    NoUpstream,
    /// The forwarder could not be built.
    #[error("cannot set up forwarding: {0}")]
    Forwarder(String),
}
