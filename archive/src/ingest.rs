//! The ingest endpoint: records shipped from elsewhere (the Sametime module's spool) over
//! HTTP/1.1, authenticated with a bearer token, stored once per (source, seq) and
//! acknowledged only once durable, so the sender may delete what was acknowledged.
//!
//! `POST /ingest/v1`, `Authorization: Bearer TOKEN`, body
//! `{"source": ID, "records": [{"seq": N, "event": EVENT}, ...]}` with seq increasing;
//! answer 200 `{"acked_upto": N}` (every record of the request is durable, resends
//! included), 401 for a wrong token, 400 for a malformed body, 503 when the archive cannot
//! store (the sender keeps its records and retries).

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::AUTHORIZATION;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Deserialize;
use tokio::net::TcpListener;

use crate::archive::Archive;
use crate::record::Event;
use crate::writer::IngestKey;

/// Largest request body accepted.
const MAX_BODY: usize = 16 << 20;
/// Most records in one request.
const MAX_RECORDS: usize = 1024;

#[derive(Deserialize)]
struct Batch {
    source: String,
    records: Vec<Shipped>,
}

#[derive(Deserialize)]
struct Shipped {
    seq: u64,
    event: Event,
}

/// Serves the ingest endpoint on `listener` until `shutdown` completes.
pub async fn serve_ingest(
    listener: TcpListener,
    archive: Archive,
    token: String,
    shutdown: impl Future<Output = ()>,
) {
    let shared = Arc::new((archive, token));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
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
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(handle(&shared.0, &shared.1, req).await) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(30))
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%peer, error = %e, "ingest connection ended");
            }
        });
    }
}

async fn handle(archive: &Archive, token: &str, req: Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() != Method::POST || req.uri().path() != "/ingest/v1" {
        return answer(
            StatusCode::NOT_FOUND,
            "{\"error\":\"POST /ingest/v1\"}".into(),
        );
    }
    let presented = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !same(presented.as_bytes(), token.as_bytes()) {
        tracing::warn!("ingest request with a wrong token refused");
        return answer(StatusCode::UNAUTHORIZED, "{\"error\":\"bad token\"}".into());
    }
    let Ok(body) = Limited::new(req.into_body(), MAX_BODY).collect().await else {
        return answer(
            StatusCode::BAD_REQUEST,
            "{\"error\":\"body too large\"}".into(),
        );
    };
    let batch: Batch = match serde_json::from_slice(&body.to_bytes()) {
        Ok(batch) => batch,
        Err(e) => return answer(StatusCode::BAD_REQUEST, error_json(&e.to_string())),
    };
    if batch.source.is_empty()
        || batch.records.len() > MAX_RECORDS
        || batch.records.windows(2).any(|w| w[0].seq >= w[1].seq)
    {
        return answer(
            StatusCode::BAD_REQUEST,
            error_json("a source, at most 1024 records, seq strictly increasing"),
        );
    }
    let Some(last) = batch.records.last().map(|r| r.seq) else {
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
            };
            (r.event, key)
        })
        .collect();
    let stored = match archive.append_keyed_all(records).await {
        Ok(receipts) => receipts.iter().filter(|r| !r.duplicate).count(),
        Err(e) => {
            tracing::error!(error = %e, %source, "ingest could not store");
            return answer(StatusCode::SERVICE_UNAVAILABLE, error_json(&e.to_string()));
        }
    };
    tracing::debug!(%source, stored, acked_upto = last, "ingested");
    answer(StatusCode::OK, format!("{{\"acked_upto\":{last}}}"))
}

/// Compares without stopping at the first difference, so timing does not reveal the token.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn error_json(message: &str) -> String {
    serde_json::json!({ "error": message }).to_string()
}

fn answer(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}
