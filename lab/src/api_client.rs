//! The scripted client's side of the clientLogin API (oscar.md §2.5): the two HTTPS
//! requests exactly as libpurple's `clientlogin.c` builds them (form fields and query
//! parameters in its order, the signature appended raw), each to an address of its own with
//! the API host name as SNI and Host, so a test can aim them at a gateway.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;

use crate::api::{CLIENT_LOGIN_PATH, START_SESSION_PATH};
use crate::api_reply::{ApiFormat, ApiReply};
use crate::api_sign::{self, SIGNATURE_PARAM, url_encode};
use crate::client_tls::ClientTls;
use crate::error::LabError;
use crate::tls::{CLIENT_LOGIN_HOST, START_SESSION_HOST};

/// libpurple's AIM client key (`devId`, `k`).
pub const AIM_CLIENT_KEY: &str = "ma19CwYN9i9Mw5nY";
/// libpurple's AIM distribution id (`distId`).
pub const AIM_DIST_ID: u32 = 1717;

/// The largest API response the client reads.
const MAX_RESPONSE: usize = 64 * 1024;

/// How the scripted client signs on through the clientLogin API, as libpurple's
/// `client_login` does: POST clientLogin, GET a signed startOSCARSession, then BOS with the
/// cookie (TLS with SNI `tlsCertName` when the answer carries one).
#[derive(Debug, Clone)]
pub struct ClientLogin {
    /// What the client trusts for both API calls and a TLS BOS.
    pub tls: ClientTls,
    /// Where the clientLogin POST goes.
    pub login_addr: SocketAddr,
    /// Its SNI and Host name (default `api.screenname.aol.com`).
    pub login_host: String,
    /// Where the startOSCARSession GET goes.
    pub session_addr: SocketAddr,
    /// Its SNI and Host name (default `api.oscar.aol.com`), which the signature covers.
    pub session_host: String,
    /// `useTLS=1` (libpurple with encryption on, the default here) or `0`.
    pub use_tls: bool,
    /// `f=xml` (libpurple's) or `f=json`.
    pub format: ApiFormat,
    /// `devId` / `k`.
    pub dev_id: String,
    /// `distId`.
    pub dist_id: u32,
}

impl ClientLogin {
    /// Both API calls to `api` with AOL's API names, useTLS=1, XML, libpurple's AIM key.
    pub fn new(api: SocketAddr, tls: ClientTls) -> Self {
        Self {
            tls,
            login_addr: api,
            login_host: CLIENT_LOGIN_HOST.to_owned(),
            session_addr: api,
            session_host: START_SESSION_HOST.to_owned(),
            use_tls: true,
            format: ApiFormat::Xml,
            dev_id: AIM_CLIENT_KEY.to_owned(),
            dist_id: AIM_DIST_ID,
        }
    }

    /// `POST /auth/clientLogin` with libpurple's form (`devId`, `f`, `pwd`, `s`). Returns the
    /// answer whatever its statusCode.
    pub async fn login_request(
        &self,
        screen_name: &str,
        password: &str,
    ) -> Result<ApiReply, LabError> {
        let form = format!(
            "devId={}&f={}&pwd={}&s={}",
            self.dev_id,
            self.format.param(),
            url_encode(password),
            url_encode(screen_name)
        );
        let request = Request::builder()
            .method(Method::POST)
            .uri(CLIENT_LOGIN_PATH)
            .header(HOST, &self.login_host)
            .header(
                CONTENT_TYPE,
                "application/x-www-form-urlencoded; charset=UTF-8",
            )
            .body(Full::new(Bytes::from(form)))
            .map_err(|e| LabError::Protocol(format!("clientLogin request: {e}")))?;
        exchange(&self.tls, self.login_addr, &self.login_host, request).await
    }

    /// The signed startOSCARSession path and query for `token`, as libpurple builds it: `a`
    /// (URL-encoded), `distId`, `f`, `k`, `ts` (the clientLogin `hostTime`), `useTLS`, then
    /// `sig_sha256` as raw base64, signed for `https://{session_host}/aim/startOSCARSession`
    /// with the key derived from `password` and the `sessionSecret`.
    pub fn start_session_target(
        &self,
        token: &str,
        host_time: &str,
        password: &str,
        session_secret: &str,
    ) -> String {
        let query = format!(
            "a={}&distId={}&f={}&k={}&ts={}&useTLS={}",
            url_encode(token),
            self.dist_id,
            self.format.param(),
            self.dev_id,
            host_time,
            u8::from(self.use_tls)
        );
        let url = format!("https://{}{START_SESSION_PATH}", self.session_host);
        let key = api_sign::session_key(password, session_secret);
        let signature = api_sign::signature("GET", &url, &query, &key);
        format!("{START_SESSION_PATH}?{query}&{SIGNATURE_PARAM}={signature}")
    }

    /// `GET target` (a path and query, from [`start_session_target`] or tampered with) to
    /// the session address with the session Host. Returns the answer whatever its
    /// statusCode.
    ///
    /// [`start_session_target`]: Self::start_session_target
    pub async fn start_session_request(&self, target: &str) -> Result<ApiReply, LabError> {
        let request = Request::builder()
            .method(Method::GET)
            .uri(target)
            .header(HOST, &self.session_host)
            .body(Full::new(Bytes::new()))
            .map_err(|e| LabError::Protocol(format!("startOSCARSession request: {e}")))?;
        exchange(&self.tls, self.session_addr, &self.session_host, request).await
    }
}

/// One HTTP/1.1 request over a fresh TLS connection to `addr` as `host`; the body of a 2xx
/// answer read as an API document.
async fn exchange(
    tls: &ClientTls,
    addr: SocketAddr,
    host: &str,
    request: Request<Full<Bytes>>,
) -> Result<ApiReply, LabError> {
    let stream = tls.connect(&addr.to_string(), host).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let driver = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "lab API client connection ended");
        }
    });
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = Limited::new(response.into_body(), MAX_RESPONSE)
        .collect()
        .await
        .map_err(|e| LabError::ApiResponse(format!("body: {e}")))?
        .to_bytes();
    drop(sender);
    driver.abort();
    let text = String::from_utf8_lossy(&body);
    if !status.is_success() {
        return Err(LabError::ApiResponse(format!("HTTP {status}: {text}")));
    }
    ApiReply::parse(&text)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_target_is_libpurples_query_with_a_verifiable_raw_signature() {
        let pem = crate::tls::LabTls::new(&crate::tls::LabTlsConfig::ephemeral())
            .unwrap()
            .ca_pem;
        let login = ClientLogin::new(
            "127.0.0.1:443".parse().unwrap(),
            ClientTls::trusting_pem(&pem).unwrap(),
        );
        let target = login.start_session_target("to/k+en", "1700000000", "pw", "secret");
        let (path, query) = target.split_once('?').unwrap();
        assert_eq!(path, "/aim/startOSCARSession");
        assert!(query.starts_with(
            "a=to%2Fk%2Ben&distId=1717&f=xml&k=ma19CwYN9i9Mw5nY&ts=1700000000&useTLS=1&sig_sha256="
        ));
        let (sig, rest) = api_sign::split_signature(query);
        let key = api_sign::session_key("pw", "secret");
        let url = "https://api.oscar.aol.com/aim/startOSCARSession";
        assert!(api_sign::verify("GET", url, &rest, &key, &sig.unwrap()));
    }
}
