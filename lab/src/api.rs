//! The lab's HTTPS clientLogin API (oscar.md §2.5), served with hyper on the API listener:
//!
//! - `POST /auth/clientLogin` (form `s`, `pwd`, `devId`, `f`): checks the lab's accounts;
//!   success is statusCode 200 with a random `token.a`, `expiresIn`, a random
//!   `sessionSecret`, `hostTime` and `screenName`; a bad password statusCode 330 with
//!   statusDetailCode 3011, as AOL answered.
//! - `GET /aim/startOSCARSession?a=…&…&sig_sha256=…`: checks the token and the signature
//!   over `https://` + the request's Host + the path and the query as sent
//!   (`api_sign.rs`); success hands out a BOS address (the TLS BOS with `tlsCertName` when
//!   `useTLS=1`) and a base64 BOS cookie registered exactly as a BUCP login registers one.
//! - Anything else: HTTP 404.
//!
//! Every API answer is HTTP 200 with the status in the document, as AOL's were; libpurple
//! reads only the document.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use oscar::ScreenName;

use crate::api_reply::{ApiFormat, Document, Field};
use crate::api_sign::{self, SIGNATURE_PARAM};
use crate::error::LabError;
use crate::state::{ApiToken, Grant, LabState};
use crate::stream::Accepted;
use crate::tls::BOS_CERT_NAME;

/// The clientLogin path.
pub const CLIENT_LOGIN_PATH: &str = "/auth/clientLogin";
/// The startOSCARSession path.
pub const START_SESSION_PATH: &str = "/aim/startOSCARSession";

/// statusDetailCode with statusCode 330: incorrect screen name or password (libpurple shows
/// "Incorrect password").
pub const DETAIL_BAD_PASSWORD: u32 = 3011;
/// statusDetailCode with statusCode 401: the signature does not match. The lab's choice:
/// libpurple shows the statusText for 1014 and "connecting too frequently" for any other
/// 401, so a bad signature reads as what it is.
pub const DETAIL_BAD_SIGNATURE: u32 = 1014;
/// statusDetailCode with statusCode 401: the token is unknown or expired (the lab's choice).
pub const DETAIL_BAD_TOKEN: u32 = 1013;

/// The largest request body read (a clientLogin form is well under 1 KiB).
const MAX_BODY: usize = 16 * 1024;

/// Serves HTTP/1.1 on one accepted (TLS) connection until the client closes it.
pub(crate) async fn serve(accepted: Accepted, state: Arc<LabState>) -> Result<(), LabError> {
    let peer = accepted.peer;
    let service = service_fn(move |request| {
        let state = state.clone();
        async move { Ok::<_, Infallible>(handle(request, &state, peer).await) }
    });
    hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(accepted.stream), service)
        .await?;
    Ok(())
}

async fn handle(
    request: Request<Incoming>,
    state: &LabState,
    peer: std::net::SocketAddr,
) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    tracing::info!(%peer, %method, %path, "lab API request");
    match (method, path.as_str()) {
        (Method::POST, CLIENT_LOGIN_PATH) => client_login(request, state).await,
        (Method::GET, START_SESSION_PATH) => start_session(&request, state),
        _ => plain(StatusCode::NOT_FOUND, "not found\n"),
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn document(doc: &Document, format: ApiFormat) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(doc.render(format))));
    response.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(format.content_type()),
    );
    response
}

/// The value of `name` among form/query pairs, decoded.
fn param(pairs: &[(String, String)], name: &str) -> Option<String> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

async fn client_login(request: Request<Incoming>, state: &LabState) -> Response<Full<Bytes>> {
    let query: Vec<(String, String)> =
        form_urlencoded::parse(request.uri().query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let body = match Limited::new(request.into_body(), MAX_BODY).collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) => {
            tracing::info!(error = %e, "lab API: unreadable clientLogin body");
            return plain(StatusCode::BAD_REQUEST, "unreadable body\n");
        }
    };
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let field = |name| param(&form, name).or_else(|| param(&query, name));
    let format = ApiFormat::from_param(field("f").as_deref());
    let (Some(screen_name), Some(password)) = (field("s"), field("pwd")) else {
        return document(
            &Document::error(400, None, "s and pwd are required"),
            format,
        );
    };
    let name = match ScreenName::parse(screen_name.as_bytes()) {
        Ok(name) if credentials_ok(state, &name, &password) => name,
        _ => {
            tracing::info!(sn = %screen_name, "lab clientLogin refused");
            let doc = Document::error(330, Some(DETAIL_BAD_PASSWORD), "Incorrect password");
            return document(&doc, format);
        }
    };
    let (Some(token), Some(secret)) = (random_text(24), random_text(16)) else {
        return document(&Document::error(500, None, "no random source"), format);
    };
    let lifetime = LabState::API_TOKEN_LIFETIME;
    state.add_api_token(
        token.clone(),
        ApiToken {
            name: name.clone(),
            password,
            secret: secret.clone(),
            expires: Instant::now() + lifetime,
        },
    );
    tracing::info!(sn = %name, "lab clientLogin: token issued");
    let doc = Document::ok(vec![
        (
            "token",
            Field::Group(vec![
                ("a", Field::Text(token)),
                ("expiresIn", Field::Number(lifetime.as_secs())),
            ]),
        ),
        ("sessionSecret", Field::Text(secret)),
        ("hostTime", Field::Number(unix_now())),
        ("loginId", Field::Text(name.display().to_owned())),
        ("screenName", Field::Text(name.display().to_owned())),
    ]);
    document(&doc, format)
}

/// The same rule as the authorizer's plain-password check: a known account, and its
/// password (or any, for "any password" accounts).
fn credentials_ok(state: &LabState, name: &ScreenName, password: &str) -> bool {
    state.accounts.knows(name.display())
        && state
            .accounts
            .password(name.display())
            .is_none_or(|want| want == password)
}

fn start_session(request: &Request<Incoming>, state: &LabState) -> Response<Full<Bytes>> {
    let raw_query = request.uri().query().unwrap_or_default();
    let pairs: Vec<(String, String)> = form_urlencoded::parse(raw_query.as_bytes())
        .into_owned()
        .collect();
    let format = ApiFormat::from_param(param(&pairs, "f").as_deref());
    let refuse = |code, detail, text: &str| document(&Document::error(code, detail, text), format);
    let Some(token) = param(&pairs, "a").and_then(|a| state.api_token(&a)) else {
        return refuse(401, Some(DETAIL_BAD_TOKEN), "Invalid or expired token");
    };
    // The URL the client signed: libpurple's is https://HOST/aim/startOSCARSession, with
    // HOST the name it asked for, which it also sent as Host. A relay that changed the
    // Host, the order or any value breaks the signature.
    let host = request
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request.uri().authority().map(|a| a.to_string()));
    let Some(host) = host else {
        return refuse(400, None, "no Host");
    };
    let url = format!("https://{host}{START_SESSION_PATH}");
    let (signature, signed_query) = api_sign::split_signature(raw_query);
    let session_key = api_sign::session_key(&token.password, &token.secret);
    let signed = signature
        .is_some_and(|sig| api_sign::verify("GET", &url, &signed_query, &session_key, &sig));
    if !signed {
        tracing::info!(sn = %token.name, %url, "lab startOSCARSession: bad {SIGNATURE_PARAM}");
        return refuse(401, Some(DETAIL_BAD_SIGNATURE), "Signature mismatch");
    }
    let use_tls = param(&pairs, "useTLS").is_some_and(|v| v == "1");
    let (address, cert_name) = match (&state.advertised.tls, use_tls) {
        (Some(tls), true) => (&tls.bos, Some(BOS_CERT_NAME)),
        _ => (&state.advertised.bos, None),
    };
    let Some((bos_host, bos_port)) = address.rsplit_once(':') else {
        return refuse(500, None, "no BOS address");
    };
    let Ok(bos_port) = bos_port.parse::<u16>() else {
        return refuse(500, None, "no BOS port");
    };
    let cookie = state.grant(Grant::Bos(token.name.clone()));
    tracing::info!(sn = %token.name, bos = %address, use_tls, "lab startOSCARSession: BOS cookie issued");
    let mut data = vec![
        ("host", Field::Text(bos_host.to_owned())),
        ("port", Field::Number(u64::from(bos_port))),
        ("cookie", Field::Text(STANDARD.encode(&cookie))),
    ];
    if let Some(name) = cert_name {
        data.push(("tlsCertName", Field::Text(name.to_owned())));
    }
    document(&Document::ok(data), format)
}

/// `bytes` random bytes as URL-safe base64 text (no padding), or `None` without a random
/// source.
fn random_text(bytes: usize) -> Option<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).ok()?;
    Some(URL_SAFE_NO_PAD.encode(buf))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
