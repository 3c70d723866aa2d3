//! The relay's runtime settings, already parsed and checked by the caller.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use settings::HostPort;

use crate::admission::ConnectionLimits;

/// How strictly messages wait for the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureMode {
    /// Forward a message only after its record is durable; end the session if it cannot be.
    Strict,
    /// Forward at once; the record is durable within the archive's group-commit bound.
    Relaxed,
}

/// Settings of a [`crate::Relay`].
///
/// # Defaults
/// `upstream_login` `login.oscar.aol.com:5190`, no egress binding, connect timeout 10 s,
/// sign-on deadline 30 s, idle timeout 600 s after sign-on (WinAIM sends a keep-alive every
/// 60 s), the [`ConnectionLimits`] defaults, cookies remembered 300 s,
/// at most 65 536 cookie routes, each taken once from its login's own address (no NAT
/// networks), redirects only to public addresses and the configured
/// upstreams' own, the login API only for the built-in AIM/ICQ names,
/// FLAP payload cap 65 535, strict capture, no client TLS, TLS logins to
/// `slogin.oscar.aol.com:5190`, upstream TLS verified against the system trust store.
#[derive(Debug, Clone)]
pub struct RelaySettings {
    /// The authorizer logins are relayed to.
    pub upstream_login: HostPort,
    /// Source addresses for upstream connections; sessions are spread across them.
    pub egress: Vec<IpAddr>,
    /// DNS servers for upstream names; empty: the system resolver.
    pub resolvers: Vec<std::net::SocketAddr>,
    /// A SOCKS5 or HTTP CONNECT proxy every upstream connection goes through.
    pub proxy: Option<settings::ProxyUrl>,
    /// Host (and port, when given) written into redirects instead of the address each
    /// client reached the gateway on; parsed once, where the configuration is read. Without
    /// a port, the port the client reached.
    pub advertise: Option<oscar::ServerAddress>,
    /// Connect timeout for upstream connections.
    pub connect_timeout: Duration,
    /// A connection that has not signed on this long after it was accepted is closed: the
    /// hello, TLS handshake, login API request and BUCP login or cookie all fall within it.
    pub signon_timeout: Duration,
    /// A signed-on session with no frame from either side for this long is closed.
    pub idle_timeout: Duration,
    /// How many client connections are taken, per address and in all.
    pub limits: ConnectionLimits,
    /// How long a cookie handed out through the gateway stays routable.
    pub cookie_ttl: Duration,
    /// Most cookie routes held at once; the oldest live one makes room past it.
    pub max_cookie_routes: usize,
    /// NAT pools whose clients' connections may leave from different addresses: a cookie
    /// handed out to a login from one address in a network is also taken from another in
    /// the same network. Empty: only from the login's own address.
    pub client_nat_networks: Vec<ipnet::IpNet>,
    /// Networks, besides public addresses and the configured upstreams' own, that an
    /// upstream redirect may send the gateway to (`upstream.redirect_allow`).
    pub redirect_allow: Vec<ipnet::IpNet>,
    /// The host names the HTTPS login API forwards to (the names the gateway intercepts);
    /// `upstream_api`'s host is allowed besides. Any other Host is refused unforwarded.
    pub api_names: settings::dns::NameSet,
    /// Largest FLAP payload accepted from either side.
    pub max_frame: usize,
    /// Strict or relaxed capture.
    pub mode: CaptureMode,
    /// This gateway's name in records.
    pub node: String,
    /// How to terminate TLS from clients (SSL login, TLS BOS): the gateway CA's leaves.
    /// `None`: a client that starts with a TLS ClientHello is refused, with a reason, and
    /// redirects tell clients to connect in plain text.
    pub tls: Option<TlsTermination>,
    /// The SSL authorizer TLS logins are relayed to, verified against its host.
    pub upstream_login_tls: HostPort,
    /// How upstream TLS is verified. `None`: against the system trust store.
    pub upstream_tls: Option<Arc<rustls::ClientConfig>>,
    /// Where HTTPS login API requests go, verified against the request's host name.
    /// `None`: that host name, port 443.
    pub upstream_api: Option<HostPort>,
    /// The compliance policy (directory, groups, rules, disclaimers). `None`: every message
    /// is relayed and recorded, nothing is injected.
    pub policy: Option<Arc<policy::PolicyEngine>>,
}

/// Terminating client TLS: the server configuration and which certificate names the gateway
/// can present, so redirects never name a certificate the client would then not get.
#[derive(Clone)]
pub struct TlsTermination {
    /// The rustls server configuration (leaves minted per SNI name).
    pub server: Arc<rustls::ServerConfig>,
    /// Whether the gateway CA can issue a leaf for a name.
    pub presentable: Arc<dyn Fn(&str) -> bool + Send + Sync>,
    /// The name a redirect's certificate name (TLV 0x008D, tlsCertName) is replaced with when
    /// the gateway cannot present the upstream's own.
    pub fallback_name: String,
}

impl fmt::Debug for TlsTermination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsTermination")
            .field("fallback_name", &self.fallback_name)
            .finish_non_exhaustive()
    }
}

impl Default for RelaySettings {
    fn default() -> Self {
        // The configuration's own defaults, so the two cannot drift apart.
        let upstream = settings::UpstreamConfig::default();
        Self {
            upstream_login: upstream.login,
            egress: Vec::new(),
            resolvers: Vec::new(),
            proxy: None,
            advertise: None,
            connect_timeout: Duration::from_secs(10),
            signon_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(600),
            limits: ConnectionLimits::default(),
            cookie_ttl: Duration::from_secs(300),
            max_cookie_routes: 65_536,
            client_nat_networks: Vec::new(),
            redirect_allow: Vec::new(),
            api_names: settings::dns::NameSet::from_config(true, &[]).unwrap_or_default(),
            max_frame: oscar::FLAP_MAX_PAYLOAD,
            mode: CaptureMode::Strict,
            node: "gateway".into(),
            tls: None,
            upstream_login_tls: upstream.login_tls,
            upstream_tls: None,
            upstream_api: None,
            policy: None,
        }
    }
}
