//! Posting policy alerts to the profile's `alert_webhook` (an `http://` or `https://` URL)
//! as one JSON object each, off the session's path: a slow or dead webhook delays no
//! message. At most [`IN_FLIGHT`] posts run at once; beyond that an alert is logged as not
//! posted (it is in the archive and the log either way).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use settings::SecretUrl;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// Most alert posts in flight at once.
const IN_FLIGHT: usize = 16;
/// How long one post may take, connect to answer.
const POST_TIMEOUT: Duration = Duration::from_secs(10);

/// Posts alerts; cheap to share.
#[derive(Debug, Clone)]
pub(crate) struct Webhooks {
    slots: Arc<Semaphore>,
    tls: Arc<rustls::ClientConfig>,
}

impl Webhooks {
    /// Webhooks over TLS verified with `tls` (the relay's upstream verification).
    pub(crate) fn new(tls: Arc<rustls::ClientConfig>) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(IN_FLIGHT)),
            tls,
        }
    }

    /// Posts `body` to `url` in the background. Log lines show `url` as its `Display`
    /// does: scheme and host only (a webhook's path or query often is its secret).
    pub(crate) fn post(&self, url: &SecretUrl, body: String) {
        let Ok(permit) = self.slots.clone().try_acquire_owned() else {
            tracing::warn!(%url, "alert webhook busy; this alert was not posted (it is archived)");
            return;
        };
        let (url, tls) = (url.clone(), self.tls.clone());
        tokio::spawn(async move {
            let _permit = permit;
            match tokio::time::timeout(POST_TIMEOUT, post(url.expose(), body, tls)).await {
                Ok(Ok(status)) if status.is_success() => {
                    tracing::debug!(%url, %status, "alert posted");
                }
                Ok(Ok(status)) => tracing::warn!(%url, %status, "alert webhook refused the alert"),
                Ok(Err(e)) => tracing::warn!(%url, error = %e, "alert webhook unreachable"),
                Err(_) => tracing::warn!(%url, "alert webhook did not answer in time"),
            }
        });
    }
}

/// The parts of a webhook URL.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    tls: bool,
    host: String,
    port: u16,
    /// Path and query, at least `/`.
    path: String,
}

/// Errors name the URL redacted (scheme and host): its path or query may be a secret.
fn parse(url: &str) -> Result<Target, String> {
    let shown = settings::redact(url);
    let uri: hyper::Uri = url.parse().map_err(|e| format!("{shown}: {e}"))?;
    let tls = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(format!("{shown}: not an http:// or https:// URL")),
    };
    let authority = uri
        .authority()
        .filter(|a| !a.host().is_empty())
        .ok_or_else(|| format!("{shown}: no host"))?;
    let host = authority.host();
    // `http` drops a port it cannot read (99999) instead of refusing the URL.
    let host_and_port = authority.as_str().rsplit('@').next().unwrap_or_default();
    if authority.port().is_none() && host_and_port.len() > host.len() {
        return Err(format!("{shown}: bad port"));
    }
    Ok(Target {
        tls,
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        port: uri.port_u16().unwrap_or(if tls { 443 } else { 80 }),
        path: uri
            .path_and_query()
            .map_or("/", hyper::http::uri::PathAndQuery::as_str)
            .to_owned(),
    })
}

async fn post(
    url: &str,
    body: String,
    tls: Arc<rustls::ClientConfig>,
) -> Result<hyper::StatusCode, String> {
    let target = parse(url)?;
    let tcp = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|e| e.to_string())?;
    let request = Request::builder()
        .method(Method::POST)
        .uri(&target.path)
        .header(HOST, &target.host)
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    if target.tls {
        let name = ServerName::try_from(target.host.clone()).map_err(|e| e.to_string())?;
        let stream = tokio_rustls::TlsConnector::from(tls)
            .connect(name, tcp)
            .await
            .map_err(|e| e.to_string())?;
        send(TokioIo::new(stream), request).await
    } else {
        send(TokioIo::new(tcp), request).await
    }
}

async fn send<IO>(io: IO, request: Request<Full<Bytes>>) -> Result<hyper::StatusCode, String>
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let answer = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = answer.status();
    // Drain the answer so the connection can close cleanly.
    let _ = answer.into_body().collect().await;
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse("https://hooks.example.com/im?x=1").unwrap(),
            Target {
                tls: true,
                host: "hooks.example.com".into(),
                port: 443,
                path: "/im?x=1".into()
            }
        );
        assert_eq!(
            parse("http://127.0.0.1:8080").unwrap(),
            Target {
                tls: false,
                host: "127.0.0.1".into(),
                port: 8080,
                path: "/".into()
            }
        );
        assert_eq!(parse("http://[::1]:81/h").unwrap().host, "::1");
        assert_eq!(parse("https://[::1]/h").unwrap().port, 443);
        assert!(parse("ftp://x").is_err());
        assert!(parse("http://h:99999/").is_err());
        assert!(parse("http:///x").is_err());
        // An error names scheme and host, never the path or query that may be the secret.
        assert_eq!(
            parse("https://hooks.example.com:99999/XyZsecret?k=XyZsecret").unwrap_err(),
            "https://hooks.example.com:99999/…: bad port"
        );
    }
}
