//! One request of the shipper: `POST /ingest/v1` through ureq, over plain TCP or rustls
//! ([`crate::ship_tls`]), and what the gateway answered.
//!
//! Three things are ours rather than ureq's defaults, each for the library's place inside
//! the Sametime server:
//!
//! - Where to connect ([`GatewayAddress`]): always `[gateway] address`, resolved as
//!   `host:port` on the shipper's own thread. The URL names `server_name` under TLS, since
//!   ureq checks the certificate (and sends SNI) for the URL's host, while the address may
//!   be an IP or another name. ureq's own resolver would also spawn a thread per lookup
//!   once a timeout is set, a thread that could outlive the library.
//! - The connection ([`GatewayConnector`]): ureq's TCP and rustls connectors, chained by
//!   hand so that a failure says which step failed ("connect ADDR: ...", "TLS handshake
//!   (as NAME): ..."), as the shipper's status and stderr have always said.
//! - Stopping: the TCP connector registers each socket with the agent, and
//!   [`Shipper::stop`](crate::shipper::Shipper::stop) calls [`ureq::Agent::shutdown`] on a
//!   clone of it, which shuts the socket down under a TLS handshake, a write or a read in
//!   flight; a connection made after that fails at once.
//!
//! No SIGPIPE: the Sametime server, being C, does not ignore it, and Rust only ignores it
//! for its own binaries, not for a library loaded into a C process; a write to a
//! connection the gateway reset, or that `stop` shut down, would kill the server. ureq's
//! TCP transport writes with `write_all` on the `TcpStream` (TLS records too: rustls writes
//! through ureq's adapter, which calls the same transport), and std's `TcpStream::write`
//! is `send(MSG_NOSIGNAL)` on Linux; only std's `write_vectored` (`writev`) raises
//! SIGPIPE, and ureq 3.5.2 never calls it. The version is pinned, and
//! `spi/tests/stop_in_flight.rs` stops writes on both paths under the default disposition.

use std::error::Error as StdError;
use std::fmt;
use std::io::Read as _;
use std::net::ToSocketAddrs as _;

use ureq::Agent;
use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    ConnectionDetails, Connector, NextTimeout, RustlsConnector, TcpConnector, Transport,
};

use crate::shipper::{INGEST_PATH, ShipperConfig};

/// The most of an answer that is read.
pub(crate) const MAX_ANSWER: u64 = 64 * 1024;

/// Where and how one shipper sends its requests.
pub(crate) struct GatewayClient {
    agent: Agent,
    url: String,
    /// `[gateway] address`, the prefix of most error texts.
    gateway: String,
    token: Option<String>,
}

impl GatewayClient {
    /// The client for `config`. Nothing is checked or connected yet: a bad address fails
    /// each request with its reason, as the shipper reports any other failure.
    pub(crate) fn new(config: &ShipperConfig) -> Self {
        let builder = Agent::config_builder()
            // Straight to the gateway, as always: ureq would otherwise take a proxy from
            // the server's environment (`ALL_PROXY`, `HTTPS_PROXY`, `http_proxy`...), and
            // then skip the resolver that names the gateway's address.
            .proxy(None)
            // Every answer is read and judged here, a 401 or 503 included.
            .http_status_as_error(false)
            // A redirect is an answer like any other: the batch goes where it was sent.
            .max_redirects(0)
            .max_redirects_will_error(false)
            // One connection per request, closed after it (as the hand-written client did
            // with `Connection: close`): no idle socket the gateway may close under the
            // next batch, and none left open in a library about to be unloaded.
            .max_idle_connections(0)
            .max_idle_connections_per_host(0)
            // `io_timeout` bounds the connection (TCP and TLS handshake together) and each
            // read and write, not a whole body: a large batch on a slow link is not cut
            // short while it moves.
            .timeout_connect(Some(config.io_timeout))
            .timeout_per_read(Some(config.io_timeout))
            .timeout_per_write(Some(config.io_timeout))
            .user_agent(concat!("imtegrity_stchatlog/", env!("CARGO_PKG_VERSION")));
        let (builder, url) = match &config.tls {
            Some(tls) => (
                builder.tls_config(tls.ureq_config()),
                format!(
                    "https://{}{}{INGEST_PATH}",
                    tls.url_host(),
                    port_of(&config.gateway)
                ),
            ),
            None => (builder, format!("http://{}{INGEST_PATH}", config.gateway)),
        };
        let connector = GatewayConnector {
            tcp: TcpConnector::default(),
            tls: RustlsConnector::default(),
            gateway: config.gateway.clone(),
            server_name: config
                .tls
                .as_ref()
                .map(crate::ship_tls::ShipTls::server_name),
        };
        let resolver = GatewayAddress(config.gateway.clone());
        Self {
            agent: Agent::with_parts(builder.build(), connector, resolver),
            url,
            gateway: config.gateway.clone(),
            token: config.token.clone(),
        }
    }

    /// A handle on the agent whose [`Agent::shutdown`] ends this client's request in
    /// flight, and any after it.
    pub(crate) fn agent(&self) -> Agent {
        self.agent.clone()
    }

    /// Sends one request; the gateway's `acked_upto`, or why not.
    pub(crate) fn post(&self, body: &[u8]) -> Result<u64, String> {
        let mut request = self
            .agent
            .post(&self.url)
            .header("content-type", "application/json")
            // Said, though ureq would close it anyway (no pool): the gateway need not keep
            // the connection waiting for a next request.
            .header("connection", "close");
        if let Some(token) = &self.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let mut response = request.send(body).map_err(|e| self.failure(e))?;
        let status = response.status().as_u16();
        // One byte past the bound tells a longer answer from one exactly at it.
        let mut answer = Vec::new();
        let read = response
            .body_mut()
            .as_reader()
            .take(MAX_ANSWER + 1)
            .read_to_end(&mut answer);
        if status != 200 {
            // What came before a failed or cut read still says why.
            let text: String = String::from_utf8_lossy(&answer).chars().take(200).collect();
            return Err(format!("gateway answered {status}: {}", text.trim()));
        }
        if let Err(e) = read {
            return Err(self.failure(ureq::Error::from(e)));
        }
        if answer.len() as u64 > MAX_ANSWER {
            return Err(format!(
                "{}: answer longer than {MAX_ANSWER} bytes",
                self.gateway
            ));
        }
        acked_upto(&answer).ok_or_else(|| {
            format!(
                "gateway answered 200 without acked_upto: {}",
                String::from_utf8_lossy(&answer)
            )
        })
    }

    /// The text of a failed request: a connect, handshake or resolve failure as its step
    /// said it, anything else after the gateway's address.
    fn failure(&self, e: ureq::Error) -> String {
        match e {
            ureq::Error::Other(step) if step.is::<StepFailed>() => step.to_string(),
            e => format!("{}: {}", self.gateway, describe(&e)),
        }
    }
}

impl fmt::Debug for GatewayClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayClient")
            .field("url", &self.url)
            .field("gateway", &self.gateway)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// The `acked_upto` of a 200's JSON body.
pub(crate) fn acked_upto(answer: &[u8]) -> Option<u64> {
    serde_json::from_slice::<serde_json::Value>(answer)
        .ok()?
        .get("acked_upto")?
        .as_u64()
}

/// `:port` of `host:port` (`[v6]:port` too), or nothing when there is no port: the URL's
/// port, only shown in the `Host` header (the connection goes to the address itself).
fn port_of(address: &str) -> String {
    match address.rsplit_once(':') {
        Some((host, port))
            if !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
                && (!host.contains(':') || host.ends_with(']')) =>
        {
            format!(":{port}")
        }
        _ => String::new(),
    }
}

/// An error as the operator reads it: the I/O error's own text rather than ureq's `io: `
/// prefix, a timeout as which one ran out.
fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Io(e) => e.to_string(),
        ureq::Error::Timeout(which) => format!("timed out ({which})"),
        ureq::Error::Other(e) => e.to_string(),
        ureq::Error::Rustls(e) => e.to_string(),
        e => e.to_string(),
    }
}

/// A step of connecting failed, with its full text (the step, the address or name, why).
#[derive(Debug)]
struct StepFailed(String);

impl fmt::Display for StepFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for StepFailed {}

fn step_failed(text: String) -> ureq::Error {
    ureq::Error::Other(Box::new(StepFailed(text)))
}

/// Resolves every URL to `[gateway] address` (see the module's documentation).
#[derive(Debug)]
struct GatewayAddress(String);

impl Resolver for GatewayAddress {
    fn resolve(
        &self,
        _uri: &Uri,
        config: &Config,
        _timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        // As std resolves a `host:port`, blocking this thread (there is no other to leave
        // behind); a name's lookup is bounded by the system resolver's own timeout.
        let found = self
            .0
            .to_socket_addrs()
            .map_err(|e| step_failed(format!("{}: {e}", self.0)))?;
        let mut addrs = self.empty();
        for addr in config.ip_family().keep_wanted(found) {
            // The rest of a long list is left untried, as ureq's own resolver does.
            if addrs.try_push(addr).is_err() {
                break;
            }
        }
        if addrs.is_empty() {
            return Err(step_failed(format!("{}: no address", self.0)));
        }
        Ok(addrs)
    }
}

/// TCP to the resolved address, then TLS for an `https` URL, each failure named by its
/// step (see the module's documentation).
#[derive(Debug)]
struct GatewayConnector {
    tcp: TcpConnector,
    tls: RustlsConnector,
    gateway: String,
    /// The name the certificate must carry, for the handshake's errors; `None`: plain.
    server_name: Option<String>,
}

impl Connector for GatewayConnector {
    type Out = Box<dyn Transport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        _chained: Option<()>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let tcp = Connector::<()>::connect(&self.tcp, details, None)
            .map_err(|e| step_failed(format!("connect {}: {}", self.gateway, describe(&e))))?;
        let Some(name) = &self.server_name else {
            return Ok(tcp.map(|t| Box::new(t) as Box<dyn Transport>));
        };
        let tls = self.tls.connect(details, tcp).map_err(|e| {
            step_failed(format!(
                "{}: TLS handshake (as {name}): {}",
                self.gateway,
                describe(&e)
            ))
        })?;
        Ok(tls.map(|t| Box::new(t) as Box<dyn Transport>))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;
    use std::net::TcpListener;
    use std::time::Duration;

    use super::*;

    /// What `post` makes of `answer`, sent by a gateway on loopback once the request's
    /// head is in (then it closes the connection).
    fn posted(answer: &[u8]) -> Result<u64, String> {
        let answer = answer.to_vec();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let gateway = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap_or_else(|e| panic!("{e}"));
            let mut request = Vec::new();
            let mut chunk = [0u8; 4096];
            while !request.ends_with(b"{}") {
                let n = stream.read(&mut chunk).unwrap_or_else(|e| panic!("{e}"));
                assert!(n > 0, "the request was cut short");
                request.extend_from_slice(&chunk[..n]);
            }
            let _ = stream.write_all(&answer);
        });
        let mut config = ShipperConfig::new(addr.to_string(), "t");
        config.io_timeout = Duration::from_secs(5);
        let outcome = GatewayClient::new(&config).post(b"{}");
        gateway
            .join()
            .unwrap_or_else(|_| panic!("the gateway panicked"));
        outcome
    }

    #[test]
    fn answers_with_length_chunks_or_close_are_read() {
        let with_length = b"HTTP/1.1 200 OK\r\ncontent-length: 16\r\n\r\n{\"acked_upto\":7}";
        assert_eq!(posted(with_length), Ok(7));
        let chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
                        4\r\n{\"ac\r\nc\r\nked_upto\":8}\r\n0\r\n\r\n";
        assert_eq!(posted(chunked), Ok(8));
        let closed = b"HTTP/1.0 200 OK\r\n\r\n{\"acked_upto\":9}";
        assert_eq!(posted(closed), Ok(9));
        let busy = b"HTTP/1.1 503 Busy\r\nTransfer-Encoding: chunked\r\n\r\n\
                     4\r\nbusy\r\n3\r\n!!!\r\n0\r\n\r\n";
        assert_eq!(posted(busy), Err("gateway answered 503: busy!!!".into()));
        let refused = b"HTTP/1.0 401 Unauthorized\r\n\r\nno";
        assert_eq!(posted(refused), Err("gateway answered 401: no".into()));
        // A redirect is not followed: the batch goes only where it was sent.
        let moved =
            b"HTTP/1.1 307 Moved\r\nlocation: http://127.0.0.1:9/\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(posted(moved), Err("gateway answered 307: ".into()));
        let without = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
        let e = posted(without).err().unwrap_or_default();
        assert!(e.contains("200 without acked_upto"), "{e}");
    }

    #[test]
    fn hostile_answers_are_refused_within_their_bounds() {
        // A body longer than any answer: refused on a 200, its start shown on a 503.
        let long_ok = [
            b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n".as_slice(),
            &[b'a'; 100_000],
        ]
        .concat();
        let e = posted(&long_ok).err().unwrap_or_default();
        assert!(e.contains("answer longer than 65536 bytes"), "{e}");
        let long_busy = [b"HTTP/1.1 503 Busy\r\n\r\n".as_slice(), &[b'b'; 100_000]].concat();
        assert_eq!(
            posted(&long_busy),
            Err(format!("gateway answered 503: {}", "b".repeat(200)))
        );
        // Headers that never end, a length that lies, chunk sizes that overflow or are
        // not hex, garbage: each an error, none a panic.
        let endless = [b"HTTP/1.1 200 OK\r\nx: ".as_slice(), &[b'a'; 100_000]].concat();
        for answer in [
            endless.as_slice(),
            b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc",
            b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nffffffffffffffffff\r\nx\r\n0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nx\r\n0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nffff\r\nxy\r\n0\r\n\r\n",
            b"garbage\r\n\r\n",
            b"",
        ] {
            assert!(posted(answer).is_err(), "{:?}", String::from_utf8_lossy(answer));
        }
    }

    #[test]
    fn the_port_is_taken_from_the_address_when_it_has_one() {
        assert_eq!(port_of("gw.example:7443"), ":7443");
        assert_eq!(port_of("127.0.0.1:7443"), ":7443");
        assert_eq!(port_of("[::1]:7443"), ":7443");
        assert_eq!(port_of("gw.example"), "");
        assert_eq!(port_of("::1"), "");
        assert_eq!(port_of("gw.example:"), "");
        assert_eq!(port_of("gw.example:https"), "");
    }

    #[test]
    fn acked_upto_is_read_from_a_json_object_only() {
        assert_eq!(acked_upto(br#"{"acked_upto":7}"#), Some(7));
        assert_eq!(acked_upto(br#"{"acked_upto":7,"x":[1]}"#), Some(7));
        for answer in [
            &b""[..],
            b"{}",
            br#"{"acked_upto":-1}"#,
            br#"{"acked_upto":"7"}"#,
            br#"[{"acked_upto":7}]"#,
            br#"{"acked_upto":7"#,
            b"\xff",
        ] {
            assert_eq!(acked_upto(answer), None, "{answer:?}");
        }
    }
}
