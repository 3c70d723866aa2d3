//! The HTTPS login API on the relay's ports (oscar.md §2.5): `clientLogin` and
//! `startOSCARSession`, reached through the TLS the session terminated. Each request is
//! forwarded to the real API host unchanged (its signature covers the URL with the host
//! name), over TLS verified for that host. Answers pass back unchanged except
//! startOSCARSession's, whose BOS address is rewritten to the gateway and whose cookie is
//! routed, so the BOS connection comes back through the relay.
//!
//! Only the API hosts the gateway intercepts are forwarded to (`api_host.rs`): a request
//! naming any other host, in its Host header or its URL, is answered 421 by the gateway
//! itself, and nothing is looked up or connected, so the relay port is no open proxy.

mod api_host;
mod body_format;
pub(crate) mod client_login;
pub(crate) mod session_start;
mod tokens;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, HOST, HeaderValue, TRANSFER_ENCODING};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use oscar::{Family, ServerAddress};
use settings::HostPort;
use tokio::io::{AsyncRead, AsyncWrite};
use tracing::Instrument;

use crate::cookies::Route;
use crate::error::{ApiFailure, SessionError};
use crate::relay::Relay;
use crate::upstream::{Origin, check_literal_target, connect_from};
use crate::upstream_tls::connect_tls;

pub(crate) use tokens::TokenNames;

/// Largest request or answer body handled; the API's are a few hundred bytes.
const MAX_BODY: usize = 1 << 20;
/// How long a client may take to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Which API call a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    ClientLogin,
    StartSession,
    Other,
}

impl Call {
    fn of(path: &str) -> Self {
        if path.ends_with("/auth/clientLogin") {
            Self::ClientLogin
        } else if path.ends_with("/aim/startOSCARSession") {
            Self::StartSession
        } else {
            Self::Other
        }
    }
}

/// Serves HTTP/1.x on `io` (the client's decrypted stream, which named `sni`) until the
/// client closes, or for at most the relay's idle timeout: API connections are short.
pub(crate) async fn serve<IO>(
    relay: Arc<Relay>,
    io: IO,
    client: SocketAddr,
    advertised: ServerAddress,
    sni: Option<String>,
) -> Result<(), SessionError>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let idle = relay.config.idle_timeout;
    let shared = Arc::new((advertised, sni));
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let relay = relay.clone();
        let shared = shared.clone();
        async move {
            let (advertised, sni) = &*shared;
            Ok::<_, Infallible>(handle(&relay, req, client, advertised, sni.as_deref()).await)
        }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(io), service);
    match tokio::time::timeout(idle, connection).await {
        Ok(done) => done.map_err(|e| ApiFailure::Serve(e).into()),
        Err(_) => Err(SessionError::Idle {
            side: crate::error::Side::Client,
            secs: idle.as_secs(),
        }),
    }
}

/// The API host a request is for: its Host header, else the host of an absolute URL (both
/// as libpurple's own HTTP/1.0 requests send), else the TLS server name.
fn request_host(parts: &hyper::http::request::Parts, sni: Option<&str>) -> Option<String> {
    parts
        .headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(host_of)
        .or_else(|| parts.uri.host().map(host_of))
        .or_else(|| sni.map(host_of))
        .filter(|h| !h.is_empty())
}

/// One request: forward, then read and adjust the answer.
async fn handle(
    relay: &Relay,
    req: Request<Incoming>,
    client: SocketAddr,
    advertised: &ServerAddress,
    sni: Option<&str>,
) -> Response<Full<Bytes>> {
    relay.stats.api_requests.fetch_add(1, Ordering::Relaxed);
    let (parts, body) = req.into_parts();
    let call = Call::of(parts.uri.path());
    let Some(host) = request_host(&parts, sni) else {
        return plain(
            StatusCode::BAD_REQUEST,
            "no Host header, URL host or TLS name",
        );
    };
    let span = tracing::info_span!("api", client = %client, host = %host, path = parts.uri.path());
    if let Some(foreign) = api_host::foreign_host(&relay.config, &parts, &host) {
        span.in_scope(|| {
            tracing::warn!(
                asked = %foreign,
                "login API request for a host the gateway does not intercept: refused with \
                 421, nothing looked up or connected"
            );
        });
        return plain(
            StatusCode::MISDIRECTED_REQUEST,
            "imtegrity: this gateway forwards login API requests only to the AIM/ICQ API hosts it intercepts",
        );
    }
    if is_kerberos_host(&host) {
        // Its answer carries the BOS address inside a Kerberos ticket (oscar.md §3.1 E),
        // which the gateway does not rewrite: relayed, the client would reach BOS around
        // the gateway, unrecorded. Refusing keeps the record complete.
        span.in_scope(|| {
            tracing::warn!(
                "Kerberos login (AIM 6.2+, libpurple kerberos_login) is not relayed; \
                 clients must use BUCP (md5_login) or clientLogin"
            );
        });
        return plain(
            StatusCode::FORBIDDEN,
            "imtegrity: Kerberos login is not supported through this gateway; use MD5 or clientLogin",
        );
    }
    async {
        let Ok(body) = Limited::new(body, MAX_BODY)
            .collect()
            .await
            .map(|b| b.to_bytes())
        else {
            return plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large or cut short",
            );
        };
        let login_name = (call == Call::ClientLogin)
            .then(|| client_login::screen_name(&body))
            .flatten();
        let token = (call == Call::StartSession)
            .then(|| parts.uri.query().and_then(client_login::token_of_query))
            .flatten();
        let target = match &relay.config.upstream_api {
            Some(api) => api.clone(),
            // The host the request is for (checked above), on the HTTPS port; a name the
            // intercepted names' wildcards let through is still checked as a host name.
            None => match HostPort::new(&host, 443) {
                Ok(target) => target,
                Err(e) => return plain(StatusCode::BAD_REQUEST, &format!("imtegrity: {e}")),
            },
        };
        let request = Request::from_parts(parts, Full::new(body));
        let (mut head, answer) = match forward(relay, &target, &host, request).await {
            Ok(ok) => ok,
            Err(e) => {
                tracing::warn!(error = %e, "the upstream API is unreachable");
                return plain(StatusCode::BAD_GATEWAY, &format!("imtegrity: {e}"));
            }
        };
        let answer = match call {
            Call::ClientLogin => {
                note_login(relay, login_name, &answer);
                answer
            }
            Call::StartSession if head.status == StatusCode::OK => {
                let user = token.and_then(|t| relay.api_tokens.get(&t));
                match start_session(relay, &answer, advertised, user) {
                    Ok(Some(RewrittenStart {
                        body: new,
                        cookie,
                        route,
                    })) => {
                        // An address outside the redirect scope is refused now, with no
                        // cookie route; a name is checked when the client comes back.
                        if let Err(e) = check_literal_target(relay, &route.upstream).await {
                            return plain(StatusCode::BAD_GATEWAY, &format!("imtegrity: {e}"));
                        }
                        tracing::info!(real = %route.upstream,
                            sn = route.local_user.as_deref().unwrap_or(""),
                            tls = route.tls_name.as_deref().unwrap_or("-"),
                            "startOSCARSession rewritten");
                        relay.stats.rewrites.fetch_add(1, Ordering::Relaxed);
                        relay.cookies.insert(cookie, route, client.ip());
                        Bytes::from(new)
                    }
                    Ok(None) => answer,
                    // Relayed as is, the answer would send the client around the gateway.
                    Err(e) => {
                        tracing::warn!(error = e, "unreadable startOSCARSession answer; refused");
                        return plain(
                            StatusCode::BAD_GATEWAY,
                            &format!("imtegrity: unreadable startOSCARSession answer: {e}"),
                        );
                    }
                }
            }
            _ => answer,
        };
        head.headers.remove(TRANSFER_ENCODING);
        head.headers
            .insert(CONTENT_LENGTH, HeaderValue::from(answer.len()));
        Response::from_parts(head, Full::new(answer))
    }
    .instrument(span)
    .await
}

/// Logs who logged in and how it went (never the password), and remembers the token.
fn note_login(relay: &Relay, form_name: Option<String>, answer: &[u8]) {
    let Some(login) = client_login::answer(answer) else {
        tracing::warn!("unreadable clientLogin answer; relayed as is");
        return;
    };
    let sn = login.screen_name.or(form_name);
    tracing::info!(
        sn = sn.as_deref().unwrap_or(""),
        status = login.status.unwrap_or(0),
        detail = login.detail.unwrap_or(0),
        "clientLogin"
    );
    if let (Some(token), Some(sn)) = (login.token, sn) {
        relay.api_tokens.insert(token, sn);
    }
}

/// A startOSCARSession answer pointed at the gateway, and where its cookie is to lead.
struct RewrittenStart {
    body: Vec<u8>,
    cookie: Bytes,
    route: Route,
}

/// Rewrites a startOSCARSession answer (`None`: nothing to rewrite).
fn start_session(
    relay: &Relay,
    answer: &[u8],
    advertised: &ServerAddress,
    user: Option<String>,
) -> Result<Option<RewrittenStart>, &'static str> {
    let cert_name = |name: &str| crate::tls_route::presentable(name, relay.config.tls.as_ref());
    let Some((body, start)) = session_start::rewrite(answer, advertised, cert_name)? else {
        return Ok(None);
    };
    // libpurple connects to the default port of its connection mode when none is given.
    let port = start.port.unwrap_or(if start.tls_cert_name.is_some() {
        443
    } else {
        5190
    });
    // Checked here, where it arrives; the route carries the checked value to the connect.
    let upstream =
        HostPort::new(&start.host, port).map_err(|_| "its host is not a host name or address")?;
    let route = Route {
        upstream,
        local_user: user,
        family: Some(Family::OSERVICE),
        room: None,
        tls_name: start.tls_cert_name,
    };
    Ok(Some(RewrittenStart {
        body,
        cookie: start.cookie,
        route,
    }))
}

/// Sends `request` to `target` over TLS verified for `host`; returns the answer's head and
/// whole body.
async fn forward(
    relay: &Relay,
    target: &HostPort,
    host: &str,
    request: Request<Full<Bytes>>,
) -> Result<(hyper::http::response::Parts, Bytes), SessionError> {
    // The host was checked against the intercepted names, or the target is upstream.api.
    let (stream, egress) = connect_from(relay, target, Origin::Configured).await?;
    let result = async {
        let timeout = relay.config.connect_timeout;
        let tls = connect_tls(relay.upstream_tls.clone(), host, target, stream, timeout).await?;
        let http = |source: hyper::Error| {
            SessionError::from(ApiFailure::Exchange {
                target: target.clone(),
                source,
            })
        };
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(http)?;
        let exchange = async {
            let answer = sender.send_request(request).await.map_err(http)?;
            let (head, body) = answer.into_parts();
            let body = Limited::new(body, MAX_BODY)
                .collect()
                .await
                .map_err(|source| ApiFailure::Body {
                    target: target.clone(),
                    source,
                })?
                .to_bytes();
            Ok::<_, SessionError>((head, body))
        };
        // The connection must be polled for the exchange to progress. It may finish first
        // (an HTTP/1.0 answer closes the connection): the answer is then already read.
        let exchange = tokio::time::timeout(relay.config.idle_timeout, exchange);
        let mut exchange = std::pin::pin!(exchange);
        let done = tokio::select! {
            done = &mut exchange => done,
            ended = conn => match ended {
                Ok(()) => exchange.await,
                Err(e) => return Err(http(e)),
            },
        };
        done.map_err(|_| ApiFailure::NoAnswer {
            target: target.clone(),
        })?
    }
    .await;
    // The request is answered: its egress address counts one session fewer.
    drop(egress);
    result
}

/// The host a Host header, URL host or TLS name names (`name`, `name:port`, `[v6]:port`),
/// lower case and without a trailing dot: the form the intercepted names are compared in.
/// Text that is no `host[:port]` is kept (trimmed, lower case) to be compared, and refused.
pub(crate) fn host_of(text: &str) -> String {
    let text = text.trim();
    let host = match HostPort::parse_with_default_port(text, 443) {
        Ok(parsed) => parsed.host().to_owned(),
        Err(_) => text
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// Whether `host` is a Kerberos KDC for AIM (`kdc.uas.aol.com` and the like).
fn is_kerberos_host(host: &str) -> bool {
    host.starts_with("kdc.")
}

/// A short plain-text answer from the gateway itself.
fn plain(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(format!("{text}\n"))));
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_and_hosts() {
        assert_eq!(Call::of("/auth/clientLogin"), Call::ClientLogin);
        assert_eq!(Call::of("/aim/startOSCARSession"), Call::StartSession);
        assert_eq!(Call::of("/aim/other"), Call::Other);
        assert!(is_kerberos_host("kdc.uas.aol.com"));
        assert!(!is_kerberos_host("api.oscar.aol.com"));
        assert_eq!(
            host_of("API.Screenname.aol.com:443"),
            "api.screenname.aol.com"
        );
        assert_eq!(host_of("api.oscar.aol.com."), "api.oscar.aol.com");
        assert_eq!(host_of("[::1]:8443"), "::1");
        let parts = |req: Request<()>| req.into_parts().0;
        let with_host = Request::get("/aim/startOSCARSession")
            .header(HOST, "api.oscar.aol.com")
            .body(())
            .unwrap();
        assert_eq!(
            request_host(&parts(with_host), Some("x.aol.com")).as_deref(),
            Some("api.oscar.aol.com")
        );
        let absolute = Request::get("https://API.oscar.aol.com/aim/startOSCARSession?a=1")
            .body(())
            .unwrap();
        assert_eq!(
            request_host(&parts(absolute), None).as_deref(),
            Some("api.oscar.aol.com")
        );
        let bare = Request::post("/auth/clientLogin").body(()).unwrap();
        assert_eq!(
            request_host(&parts(bare), Some("api.screenname.aol.com")).as_deref(),
            Some("api.screenname.aol.com")
        );
        let none = Request::post("/auth/clientLogin").body(()).unwrap();
        assert_eq!(request_host(&parts(none), None), None);
    }
}
