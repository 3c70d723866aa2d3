//! Fake upstreams behind the relays: one that sinks and counts bulk bytes, one that holds
//! idle sessions.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::wire::plain_hello;

/// Sends each connection a hello, then reads and counts everything; reports the moment a
/// connection has received `expected` bytes.
pub(crate) async fn sink_upstream(
    listener: TcpListener,
    expected: u64,
    received: Arc<AtomicU64>,
    done: mpsc::Sender<Instant>,
    stop: CancellationToken,
) {
    let hello = plain_hello();
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => {
                let Ok((mut stream, _)) = accepted else { continue };
                let (hello, received, done) = (hello.clone(), received.clone(), done.clone());
                tasks.spawn(async move {
                    let _ = stream.set_nodelay(true);
                    if stream.write_all(&hello).await.is_err() {
                        return;
                    }
                    let mut buf = vec![0u8; 256 * 1024];
                    let mut mine = 0u64;
                    loop {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                mine += n as u64;
                                received.fetch_add(n as u64, Ordering::Relaxed);
                                if mine >= expected && mine - (n as u64) < expected {
                                    let _ = done.send(Instant::now()).await;
                                }
                            }
                        }
                    }
                });
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    tasks.shutdown().await;
}

/// Sends each connection a hello and keeps it, unread, until stopped.
pub(crate) async fn hold_upstream(
    listener: TcpListener,
    held: Arc<AtomicUsize>,
    stop: CancellationToken,
) {
    let hello = plain_hello();
    let mut streams = Vec::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((mut stream, _)) => {
                    // 10 bytes into an empty socket buffer: never waits.
                    let _ = stream.write_all(&hello).await;
                    streams.push(stream);
                    held.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
        }
    }
    drop(streams);
}
