//! The ingest endpoint: records shipped from elsewhere (the Sametime module's spool) over
//! HTTP/1.1 by named clients, each known by a bearer token, a client certificate the
//! caller's TLS verified, or both ([`IngestAuth`]); stored once per (source, seq) and
//! acknowledged only once durable, so the sender may delete what was acknowledged. A
//! source belongs to the client that first wrote it (bound durably with that first
//! record); another client writing under it is refused and raises an alert.
//!
//! `POST /ingest/v1`, `Authorization: Bearer TOKEN`, body
//! `{"source": ID, "records": [{"seq": N, "event": EVENT}, ...]}` with seq increasing, and
//! optionally `"backlog": N` (records still waiting in the sender's spool) and
//! `"last_error": TEXT` (the sender's own latest trouble), which `status` shows per client;
//! answer 200 `{"acked_upto": N}` (every record of the request is durable, resends
//! included), 401 for a wrong token or a missing client certificate, 400 for a malformed
//! body, 409 for a source another client owns (nothing of the request stored), 503 when the
//! archive cannot store (the sender keeps its records and retries).
//!
//! This crate does no TLS: [`serve_ingest_with`] hands each accepted connection to the
//! caller's handshake (the binary's TLS under the gateway CA), which says who the peer is.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::AUTHORIZATION;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};

use crate::ingest_alert::ClaimAlerts;
use crate::ingest_auth::IngestAuth;
use crate::ingest_stats::{IngestSnapshot, IngestStats, Stored};
use archive::Archive;
use archive::ArchiveError;
use archive::IngestKey;
use record::Event;

/// Largest request body accepted.
const MAX_BODY: usize = 16 << 20;
/// Most records in one request.
const MAX_RECORDS: usize = 1024;
/// How long a connection may take to send its request headers, and a handshake to finish.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Deserialize)]
struct Batch {
    source: String,
    records: Vec<Shipped>,
    #[serde(default)]
    backlog: Option<u64>,
    #[serde(default)]
    last_error: Option<String>,
}

#[derive(Deserialize)]
struct Shipped {
    seq: u64,
    event: Event,
}

/// Who is at the other end of one connection, as the caller established it.
#[derive(Debug, Clone)]
pub struct IngestPeer {
    /// The peer's address.
    pub addr: SocketAddr,
    /// The subject of the client certificate the caller's TLS verified, if it asked for
    /// one and got one.
    pub certificate: Option<String>,
}

/// The endpoint: the archive records are stored in and who may send them. Cheap to clone.
#[derive(Debug, Clone)]
pub struct IngestEndpoint {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    archive: Archive,
    auth: IngestAuth,
    alerts: ClaimAlerts,
    stats: IngestStats,
}

impl IngestEndpoint {
    /// Stores into `archive` what senders authenticated as `auth` says ship.
    pub fn new(archive: Archive, auth: IngestAuth) -> Self {
        Self {
            shared: Arc::new(Shared {
                archive,
                auth,
                alerts: ClaimAlerts::default(),
                stats: IngestStats::default(),
            }),
        }
    }

    /// What the endpoint has seen so far, per client (`imtegrity status`).
    pub fn stats(&self) -> IngestSnapshot {
        self.shared.stats.snapshot()
    }

    /// Serves HTTP/1.1 on one connection the caller accepted (and, for TLS, terminated),
    /// until the peer closes it.
    pub async fn serve_connection<IO>(&self, io: IO, peer: IngestPeer)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let shared = self.shared.clone();
        let addr = peer.addr;
        let peer = Arc::new(peer);
        let service = hyper::service::service_fn(move |req| {
            let (shared, peer) = (shared.clone(), peer.clone());
            async move { Ok::<_, Infallible>(handle(&shared, &peer, req).await) }
        });
        if let Err(e) = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT)
            .serve_connection(TokioIo::new(io), service)
            .await
        {
            tracing::debug!(peer = %addr, error = %e, "ingest connection ended");
        }
    }
}

/// Serves the ingest endpoint over plain HTTP on `listener`, to the one client
/// [`crate::ingest_auth::DEFAULT_CLIENT`] known by `token`, until `shutdown` completes.
pub async fn serve_ingest(
    listener: TcpListener,
    archive: Archive,
    token: String,
    shutdown: impl Future<Output = ()>,
) {
    let endpoint = IngestEndpoint::new(archive, IngestAuth::shared_token(&token));
    serve_ingest_with(listener, endpoint, plain, shutdown).await;
}

/// The handshake of plain HTTP: none, and no certificate.
async fn plain(stream: TcpStream, addr: SocketAddr) -> std::io::Result<(TcpStream, IngestPeer)> {
    Ok((
        stream,
        IngestPeer {
            addr,
            certificate: None,
        },
    ))
}

/// Accepts on `listener` until `shutdown` completes; each connection, in a task of its
/// own, goes through `handshake` (TLS, say, which also says who the peer is; given
/// `HEADER_TIMEOUT` to finish) and is then served by `endpoint`.
pub async fn serve_ingest_with<H, F, IO>(
    listener: TcpListener,
    endpoint: IngestEndpoint,
    handshake: H,
    shutdown: impl Future<Output = ()>,
) where
    H: Fn(TcpStream, SocketAddr) -> F + Send + Sync + 'static,
    F: Future<Output = std::io::Result<(IO, IngestPeer)>> + Send + 'static,
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    tokio::pin!(shutdown);
    loop {
        let (stream, addr) = tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(ok) => ok,
                Err(e) => {
                    tracing::warn!(error = %e, "ingest accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let handshake = handshake(stream, addr);
        let endpoint = endpoint.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(HEADER_TIMEOUT, handshake).await {
                Ok(Ok((io, peer))) => endpoint.serve_connection(io, peer).await,
                // A sender with the wrong CA, certificate or name, or no certificate: the
                // operator should see why a Sametime server cannot ship.
                Ok(Err(e)) => tracing::info!(peer = %addr, error = %e, "ingest handshake failed"),
                Err(_) => tracing::info!(peer = %addr, "ingest handshake timed out"),
            }
        });
    }
}

async fn handle(
    shared: &Shared,
    peer: &IngestPeer,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let (archive, auth, alerts, stats) =
        (&shared.archive, &shared.auth, &shared.alerts, &shared.stats);
    if req.method() != Method::POST || req.uri().path() != "/ingest/v1" {
        return answer(
            StatusCode::NOT_FOUND,
            "{\"error\":\"POST /ingest/v1\"}".into(),
        );
    }
    let bearer = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let client = match auth.identify(bearer, peer.certificate.as_deref()) {
        Ok(client) => client,
        Err(refused) => {
            tracing::warn!(peer = %peer.addr, certificate = ?peer.certificate, reason = refused.as_str(), "ingest request refused");
            stats.refused(peer.addr, refused.as_str());
            return answer(StatusCode::UNAUTHORIZED, error_json(refused.as_str()));
        }
    };
    // A named client's request that is not stored: counted against it, then answered.
    let fail = |status: StatusCode, why: &str| {
        stats.failed(&client, peer.addr, &format!("{} {why}", status.as_u16()));
        answer(status, error_json(why))
    };
    let Ok(body) = Limited::new(req.into_body(), MAX_BODY).collect().await else {
        return fail(StatusCode::BAD_REQUEST, "body too large");
    };
    let batch: Batch = match serde_json::from_slice(&body.to_bytes()) {
        Ok(batch) => batch,
        Err(e) => return fail(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    if batch.source.is_empty()
        || batch.records.len() > MAX_RECORDS
        || batch.records.windows(2).any(|w| w[0].seq >= w[1].seq)
    {
        return fail(
            StatusCode::BAD_REQUEST,
            "a source, at most 1024 records, seq strictly increasing",
        );
    }
    // The access trail (and the retention lock and purge records in it) is the archive's
    // own: a shipped record must not pose as one.
    if batch
        .records
        .iter()
        .any(|r| r.event.kind == record::Kind::Access)
    {
        return fail(
            StatusCode::BAD_REQUEST,
            "records of kind access are written by the archive only",
        );
    }
    // So are the reviewers' decisions: a shipped one could close a flagged message in the
    // review queue, or claim supervision that never happened.
    if batch
        .records
        .iter()
        .any(|r| r.event.kind == record::Kind::Review)
    {
        return fail(
            StatusCode::BAD_REQUEST,
            "records of kind review are written by the reviewer console only",
        );
    }
    let (backlog, reported_error) = (batch.backlog, batch.last_error.clone());
    let Some(last) = batch.records.last().map(|r| r.seq) else {
        stats.stored(
            &client,
            &Stored {
                addr: peer.addr,
                source: &batch.source,
                stored: 0,
                resent: 0,
                backlog,
                reported_error: reported_error.as_deref(),
            },
        );
        return answer(StatusCode::OK, "{\"acked_upto\":0}".into());
    };
    // Queued strictly in seq order (the once-per-seq check relies on it; polling many
    // append futures at once, as join_all does, does not keep their order) and awaited
    // together, so one group commit can serve the whole request.
    let source = batch.source.clone();
    let records = batch
        .records
        .into_iter()
        .map(|r| {
            let key = IngestKey {
                source: source.clone(),
                seq: r.seq,
                client: client.clone(),
            };
            (r.event, key)
        })
        .collect::<Vec<_>>();
    let sent = records.len();
    let stored = match archive.append_keyed_all(records).await {
        Ok(receipts) => receipts.iter().filter(|r| !r.duplicate).count(),
        Err(ArchiveError::SourceClaimed { source_id, owner }) => {
            alerts
                .source_claimed(archive, peer, &client, &source_id, &owner)
                .await;
            return fail(
                StatusCode::CONFLICT,
                &format!("source {source_id:?} belongs to another ingest client"),
            );
        }
        Err(e) => {
            tracing::error!(error = %e, %source, "ingest could not store");
            return fail(StatusCode::SERVICE_UNAVAILABLE, &e.to_string());
        }
    };
    stats.stored(
        &client,
        &Stored {
            addr: peer.addr,
            source: &source,
            stored: stored as u64,
            resent: (sent - stored) as u64,
            backlog,
            reported_error: reported_error.as_deref(),
        },
    );
    tracing::debug!(peer = %peer.addr, %client, %source, stored, acked_upto = last, "ingested");
    answer(StatusCode::OK, format!("{{\"acked_upto\":{last}}}"))
}

fn error_json(message: &str) -> String {
    serde_json::json!({ "error": message }).to_string()
}

fn answer(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}
