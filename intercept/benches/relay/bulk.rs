//! Part 3, bulk bytes: one session streams 8 KiB frames to a sink, directly or through a
//! relay.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use intercept::CaptureMode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::gateway::{Gateway, wait_closed_async};
use crate::peers::{Haproxy, copy_relay};
use crate::settings::Settings;
use crate::system::cpu_secs;
use crate::upstreams::sink_upstream;
use crate::wire::{HELLO_LEN, bulk_chunk, plain_hello};
use crate::{BULK_CHUNK_FRAMES, BULK_LIMIT, BULK_PAYLOAD, STALL};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bulk {
    Direct,
    Imtegrity,
    Copy,
    Haproxy,
}

impl Bulk {
    pub(crate) const ALL: [Self; 4] = [Self::Direct, Self::Imtegrity, Self::Copy, Self::Haproxy];

    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Direct => "direct (no relay)",
            Self::Imtegrity => "IMtegrity relay (strict, archive open)",
            Self::Copy => "tokio `copy_bidirectional` relay",
            Self::Haproxy => "HAProxy `mode tcp`, `nbthread 1`",
        }
    }
}

pub(crate) struct BulkRow {
    pub(crate) bytes: u64,
    pub(crate) secs: f64,
    /// CPU seconds of this process, and of HAProxy when it ran.
    pub(crate) cpu: f64,
    pub(crate) haproxy_cpu: Option<f64>,
    pub(crate) complete: bool,
}

/// Connects, exchanges hellos, streams `total` bytes of bulk frames; returns when written.
pub(crate) async fn bulk_client(
    addr: SocketAddr,
    total: u64,
    chunk: Arc<Vec<u8>>,
) -> Result<(), String> {
    let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let mut hello = [0u8; HELLO_LEN];
    tokio::time::timeout(STALL, stream.read_exact(&mut hello))
        .await
        .map_err(|_| "no server hello".to_owned())?
        .map_err(|e| e.to_string())?;
    stream
        .write_all(&plain_hello())
        .await
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + BULK_LIMIT;
    let mut left = total;
    while left > 0 && Instant::now() < deadline {
        let n = left.min(chunk.len() as u64) as usize;
        stream
            .write_all(&chunk[..n])
            .await
            .map_err(|e| e.to_string())?;
        left -= n as u64;
    }
    // Keep the connection open until the sink has counted everything (the caller stops us).
    tokio::time::sleep(BULK_LIMIT).await;
    Ok(())
}

pub(crate) async fn bulk(via: Bulk, s: &Settings) -> Result<BulkRow, String> {
    let chunk = Arc::new(bulk_chunk(BULK_CHUNK_FRAMES));
    let frames = (s.bulk_bytes / chunk.len() as u64).max(1) * BULK_CHUNK_FRAMES as u64;
    let total = frames * (BULK_PAYLOAD as u64 + 6);
    let stop = CancellationToken::new();
    let sink = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sink_addr = sink.local_addr().unwrap();
    let received = Arc::new(AtomicU64::new(0));
    let (done_tx, mut done_rx) = mpsc::channel(4);
    tokio::spawn(sink_upstream(
        sink,
        total + HELLO_LEN as u64,
        received.clone(),
        done_tx,
        stop.clone(),
    ));
    let mut gateway = None;
    let mut haproxy = None;
    let front = match via {
        Bulk::Direct => sink_addr,
        Bulk::Imtegrity => {
            let g = Gateway::start(
                sink_addr,
                Some(CaptureMode::Strict),
                s.base.as_deref(),
                None,
            )
            .await;
            let addr = g.addr;
            gateway = Some(g);
            addr
        }
        Bulk::Copy => {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = l.local_addr().unwrap();
            tokio::spawn(copy_relay(l, sink_addr, stop.clone()));
            addr
        }
        Bulk::Haproxy => {
            let h = Haproxy::start(&s.haproxy, sink_addr, 1000)?;
            let addr = h.addr;
            haproxy = Some(h);
            addr
        }
    };
    let cpu0 = cpu_secs(None);
    let hcpu0 = haproxy.as_ref().map(|h| cpu_secs(Some(h.pid())));
    let started = Instant::now();
    let mut client = tokio::spawn(bulk_client(front, total, chunk));
    let finished = tokio::time::timeout(BULK_LIMIT + STALL, async {
        tokio::select! {
            at = done_rx.recv() => Ok(at),
            ended = &mut client => Err(match ended {
                Ok(Err(e)) => e,
                Ok(Ok(())) => "the client ended before the sink had everything".to_owned(),
                Err(e) => e.to_string(),
            }),
        }
    })
    .await;
    let (secs, complete) = match finished {
        Ok(Ok(Some(at))) => (at.duration_since(started).as_secs_f64(), true),
        Ok(Err(e)) => {
            stop.cancel();
            return Err(e);
        }
        _ => (started.elapsed().as_secs_f64(), false),
    };
    let cpu = cpu_secs(None) - cpu0;
    let haproxy_cpu = haproxy
        .as_ref()
        .zip(hcpu0)
        .map(|(h, c0)| cpu_secs(Some(h.pid())) - c0);
    client.abort();
    let _ = client.await;
    stop.cancel();
    let bytes = received
        .load(Ordering::Relaxed)
        .saturating_sub(HELLO_LEN as u64);
    if let Some(g) = gateway {
        wait_closed_async(g.shutdown().await).await;
    }
    drop(haproxy);
    Ok(BulkRow {
        bytes: bytes.min(total),
        secs,
        cpu,
        haproxy_cpu,
        complete,
    })
}
