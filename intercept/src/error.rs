//! Why one relayed session ended. Never escapes the session task.

use std::fmt;

use settings::HostPort;

use crate::connect_reply::BadConnectReply;

/// Which leg of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The AIM/ICQ client.
    Client,
    /// The real OSCAR server.
    Upstream,
}

impl Side {
    /// The other leg: where a frame from this side goes.
    pub fn other(self) -> Self {
        match self {
            Self::Client => Self::Upstream,
            Self::Upstream => Self::Client,
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Client => "client",
            Self::Upstream => "upstream",
        })
    }
}

/// Why a session ended abnormally.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// A side sent bytes that are not FLAP (or an over-cap frame).
    #[error("{side} sent an invalid FLAP stream: {source}")]
    Frame {
        /// Who sent it.
        side: Side,
        /// What was wrong.
        #[source]
        source: oscar::FlapError,
    },
    /// A side broke the sign-on sequence.
    #[error("{side} broke the sign-on sequence: {detail}")]
    Protocol {
        /// Who.
        side: Side,
        /// What happened.
        detail: String,
    },
    /// The client presented a cookie no upstream handed out through this gateway.
    #[error("client presented an unknown, expired or already used cookie")]
    UnknownCookie,
    /// The client presented a cookie handed out to a login from another address.
    #[error("client presented a cookie issued to a login from {owner}")]
    CookieElsewhere {
        /// The address the login came from.
        owner: std::net::IpAddr,
    },
    /// The upstream could not be reached.
    #[error("upstream {addr} unreachable: {source}")]
    Connect {
        /// Where we tried.
        addr: HostPort,
        /// Why it failed (boxed: a resolver's error is large, and every session result
        /// carries the size of the largest variant).
        #[source]
        source: Box<ConnectFailure>,
    },
    /// An upstream's redirect named an address outside the redirect scope (not public, not
    /// a configured upstream's, not in `upstream.redirect_allow`); nothing was connected.
    #[error(
        "upstream redirect to {target} ({address}) refused: not a public address nor a \
         configured upstream's; add its network to upstream.redirect_allow to allow it"
    )]
    RedirectRefused {
        /// Where the upstream's answer sent the gateway.
        target: HostPort,
        /// The address refused (the target's own, or one its name resolved to).
        address: std::net::IpAddr,
    },
    /// Nothing arrived for too long.
    #[error("{side} idle for {secs} s")]
    Idle {
        /// Which side went quiet.
        side: Side,
        /// How long.
        secs: u64,
    },
    /// The client did not sign on within the sign-on deadline (hello, TLS, login API
    /// request, login or cookie): counted and summarised, not logged one by one.
    #[error("client did not sign on within {secs} s")]
    SignonTimeout {
        /// The deadline.
        secs: u64,
    },
    /// A side hung up while we were writing to it (a normal end, not logged as a failure).
    #[error("the {side} hung up")]
    Disconnected {
        /// Which side.
        side: Side,
    },
    /// Writing to a side failed.
    #[error("writing to the {side} failed: {source}")]
    Write {
        /// Which side.
        side: Side,
        /// The I/O error.
        #[source]
        source: oscar::FlapError,
    },
    /// The archive refused or failed: in strict mode the session ends so that nothing is
    /// relayed unrecorded.
    #[error("archive write failed; session closed so nothing goes unrecorded: {0}")]
    Archive(#[from] archive::ArchiveError),
    /// The client's TLS could not be terminated: the handshake or the first read failed.
    #[error("TLS with the client failed: {source}")]
    Tls {
        /// What rustls or the socket said.
        #[source]
        source: std::io::Error,
    },
    /// The client speaks TLS and the gateway has no CA to terminate it with.
    #[error("the client speaks TLS and the gateway has no CA (imtegrity ca init)")]
    NoCa,
    /// TLS with the upstream failed: unreachable, or its certificate does not verify for the
    /// name the client would have checked.
    #[error("TLS with upstream {addr} as {name} failed: {source}")]
    UpstreamTls {
        /// Where we connected.
        addr: HostPort,
        /// The name sent as SNI and verified.
        name: String,
        /// Why it failed: what rustls or the socket said, or a name or a time limit.
        #[source]
        source: std::io::Error,
    },
    /// The HTTPS login API connection failed (client side or upstream).
    #[error("login API: {0}")]
    Api(#[from] ApiFailure),
    /// A gateway message (a notice, a disclaimer) cannot be addressed to a party whose name
    /// is not a screen name.
    #[error("cannot address a gateway message to {name:?}: {source}")]
    Unaddressable {
        /// The name as seen.
        name: String,
        /// Why it is not a screen name.
        #[source]
        source: oscar::DecodeError,
    },
    /// The client sent a service request under the request id of one still waiting for its
    /// answer: the answer could be taken for the wrong request (a chat room hidden behind
    /// another service), so the session ends.
    #[error("client reused request id {request_id} of a service request still outstanding")]
    ReusedRequestId {
        /// The reused id.
        request_id: u32,
    },
    /// The client has more service requests outstanding than any real client.
    #[error("client has more than {max} service requests outstanding")]
    TooManyServiceRequests {
        /// The bound.
        max: usize,
    },
    /// A frame we built could not be encoded.
    #[error("cannot encode a rewritten frame: {0}")]
    Encode(#[from] oscar::EncodeError),
}

/// Why an upstream (or the proxy on the way to it) could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum ConnectFailure {
    /// Resolving the name took longer than the connect timeout.
    #[error("name resolution timed out")]
    ResolveTimeout,
    /// The system resolver failed.
    #[error("cannot resolve: {0}")]
    Resolve(#[source] std::io::Error),
    /// The configured resolver failed.
    #[error("cannot resolve {host} with the configured resolver: {source}")]
    ResolveWith {
        /// The name.
        host: String,
        /// What the resolver said.
        #[source]
        source: hickory_resolver::net::NetError,
    },
    /// The name has no address of a usable family.
    #[error("no address")]
    NoAddress,
    /// A socket could not be made.
    #[error("{0}")]
    Socket(#[source] std::io::Error),
    /// The egress address could not be bound.
    #[error("cannot bind egress {ip}: {source}")]
    Egress {
        /// The egress address.
        ip: std::net::IpAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The connection was refused or failed.
    #[error("{addr}: {source}")]
    Refused {
        /// The address tried (the last, when there were several).
        addr: std::net::SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The connection was not made within the connect timeout.
    #[error("{addr}: timed out after {secs} s")]
    TimedOut {
        /// The address tried (the last, when there were several).
        addr: std::net::SocketAddr,
        /// The timeout.
        secs: u64,
    },
    /// The proxy could not be reached.
    #[error("proxy {proxy}: {source}")]
    Proxy {
        /// The proxy, credentials left out.
        proxy: String,
        /// Why.
        #[source]
        source: Box<Self>,
    },
    /// The proxy refused to open the tunnel, or answered what is not a tunnel.
    #[error(transparent)]
    Tunnel(#[from] TunnelFailure),
    /// The proxy did not open the tunnel within the connect timeout.
    #[error("proxy {proxy} did not open the tunnel in time")]
    TunnelTimeout {
        /// The proxy, credentials left out.
        proxy: String,
    },
}

/// Why a proxy did not open a tunnel to the upstream. Each names the proxy by its address
/// only: the proxy's credentials are never in a message.
#[derive(Debug, thiserror::Error)]
pub enum TunnelFailure {
    /// The SOCKS5 exchange failed: refused, bad credentials, or not a SOCKS5 answer.
    #[error("SOCKS5 proxy {proxy} to {target}: {source}")]
    Socks5 {
        /// The proxy's address.
        proxy: HostPort,
        /// Where the tunnel was to go.
        target: HostPort,
        /// What tokio-socks said (codes and lengths, never credentials).
        #[source]
        source: tokio_socks::Error,
    },
    /// Writing the CONNECT request or reading the answer failed.
    #[error("HTTP proxy {proxy}: {source}")]
    HttpIo {
        /// The proxy's address.
        proxy: HostPort,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The proxy answered CONNECT with a status other than 2xx.
    #[error("HTTP proxy {proxy} refused CONNECT {target}: {code} {reason}")]
    HttpRefused {
        /// The proxy's address.
        proxy: HostPort,
        /// Where the tunnel was to go.
        target: HostPort,
        /// The status code.
        code: u16,
        /// The reason phrase, as the proxy wrote it (cut short).
        reason: String,
    },
    /// The proxy's answer to CONNECT is not an HTTP answer.
    #[error("HTTP proxy {proxy}: {source}")]
    HttpAnswer {
        /// The proxy's address.
        proxy: HostPort,
        /// What is wrong with it.
        #[source]
        source: BadConnectReply,
    },
}

/// Why an HTTPS login API exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiFailure {
    /// Serving the client's HTTP connection failed.
    #[error("{0}")]
    Serve(#[source] hyper::Error),
    /// The exchange with the upstream API failed.
    #[error("{target}: {source}")]
    Exchange {
        /// The upstream API.
        target: HostPort,
        /// What hyper said.
        #[source]
        source: hyper::Error,
    },
    /// The upstream's answer body could not be read, or was over the limit.
    #[error("{target}: answer body: {source}")]
    Body {
        /// The upstream API.
        target: HostPort,
        /// What the body reader said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The upstream did not answer within the idle timeout.
    #[error("{target}: no answer in time")]
    NoAnswer {
        /// The upstream API.
        target: HostPort,
    },
}
