//! Part 3, bulk bytes: one session streams 8 KiB frames to a sink, directly or through a
//! relay. Every relay runs in a process of its own, as HAProxy does (the IMtegrity relay
//! and the copy relay are this binary re-executed, `memory.rs`'s `ChildRelay`): in this
//! process they would share the runtime's workers with the client and the sink, which
//! HAProxy does not, and measure the harness's scheduling as much as themselves.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::memory::{ChildRelay, Host};
use crate::peers::Haproxy;
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
    /// CPU seconds of this process (client and sink), and of the relay's own process.
    pub(crate) cpu: f64,
    pub(crate) relay_cpu: Option<f64>,
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
    let mut child = None;
    let mut haproxy = None;
    let front = match via {
        Bulk::Direct => sink_addr,
        Bulk::Imtegrity | Bulk::Copy => {
            let kind = match via {
                Bulk::Imtegrity => Host::Imtegrity,
                _ => Host::Copy,
            }
            .child_kind();
            let base = s.base.clone();
            let c = tokio::task::spawn_blocking(move || {
                ChildRelay::start(kind, sink_addr, base.as_deref())
            })
            .await
            .map_err(|e| e.to_string())??;
            let addr = c.addr;
            child = Some(c);
            addr
        }
        Bulk::Haproxy => {
            let h = Haproxy::start(&s.haproxy, sink_addr, 1000)?;
            let addr = h.addr;
            haproxy = Some(h);
            addr
        }
    };
    let relay_pid = child
        .as_ref()
        .map(|c| c.child.id())
        .or(haproxy.as_ref().map(Haproxy::pid));
    let cpu0 = cpu_secs(None);
    let relay_cpu0 = relay_pid.map(|pid| cpu_secs(Some(pid)));
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
    let relay_cpu = relay_pid
        .zip(relay_cpu0)
        .map(|(pid, c0)| cpu_secs(Some(pid)) - c0);
    client.abort();
    let _ = client.await;
    stop.cancel();
    let bytes = received
        .load(Ordering::Relaxed)
        .saturating_sub(HELLO_LEN as u64);
    // A child relay stops (and closes its archive) as it is dropped.
    if let Some(c) = child {
        let _ = tokio::task::spawn_blocking(move || drop(c)).await;
    }
    drop(haproxy);
    Ok(BulkRow {
        bytes: bytes.min(total),
        secs,
        cpu,
        relay_cpu,
        complete,
    })
}
