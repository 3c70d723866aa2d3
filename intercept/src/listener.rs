//! Accepting client connections: one task per session; a session's error ends that
//! session only.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::relay::Relay;
use crate::session::{Outcome, run_session};

/// Relays every connection accepted on `listener` until `shutdown` is cancelled; then
/// stops accepting and ends the open sessions.
pub async fn serve(listener: TcpListener, relay: Arc<Relay>, shutdown: CancellationToken) {
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let relay = relay.clone();
                    relay.stats.sessions_total.fetch_add(1, Ordering::Relaxed);
                    relay.stats.sessions_open.fetch_add(1, Ordering::Relaxed);
                    sessions.spawn(async move {
                        match run_session(relay.clone(), stream, peer).await {
                            Ok(Outcome::Relayed) => {}
                            // Not a session after all: counted apart so health checks do
                            // not inflate the session figures.
                            Ok(Outcome::Silent) => {
                                relay.stats.sessions_total.fetch_sub(1, Ordering::Relaxed);
                                relay.stats.silent_connections.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => {
                                relay.stats.sessions_failed.fetch_add(1, Ordering::Relaxed);
                                tracing::warn!(client = %peer, error = %e, "session ended with an error");
                            }
                        }
                        relay.stats.sessions_open.fetch_sub(1, Ordering::Relaxed);
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
    sessions.shutdown().await;
}
