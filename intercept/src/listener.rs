//! Accepting client connections: one task per session; a session's error ends that
//! session only. Before a connection gets a session the relay's gate decides whether to
//! take it (per-address limits, the descriptor budget); a refused one is closed at once,
//! before TLS, and counted rather than logged one by one.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::error::SessionError;
use crate::relay::Relay;
use crate::session::{Outcome, run_session};

/// How long accepting pauses after `accept` itself failed (out of descriptors despite the
/// reserve, and the like): the condition lasts, and retrying at once would spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Longest the listener waits at shutdown for signed-on sessions to end themselves (and
/// record their end) before cutting them.
const SESSION_END_GRACE: Duration = Duration::from_secs(2);

/// How often the listener asks whether a summary of refusals is due: a summary is told at
/// most this long after its interval ended.
const SUMMARY_CHECK: Duration = Duration::from_secs(1);

/// Relays every connection accepted on `listener` until `shutdown` is cancelled; then
/// stops accepting and ends the open sessions.
pub async fn serve(listener: TcpListener, relay: Arc<Relay>, shutdown: CancellationToken) {
    let mut sessions = JoinSet::new();
    // The summary of refusals is also told when they stop, not only at the next one; the
    // gate's log decides whether one is due, so checking often costs nothing.
    let mut summary = tokio::time::interval(SUMMARY_CHECK);
    summary.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => admit(&relay, &mut sessions, stream, peer),
                Err(e) => {
                    relay.gate.accept_failed(&e);
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
            _ = summary.tick() => relay.gate.log_summary(Instant::now()),
        }
    }
    // Sessions relaying frames (BOS, chat) end themselves and record their end (a chat
    // connection its user's leave); then the rest are cut.
    relay.closing.cancel();
    let grace = tokio::time::Instant::now() + SESSION_END_GRACE;
    while (relay.has_local_sessions() || relay.has_sessions_relaying())
        && tokio::time::Instant::now() < grace
    {
        tokio::select! {
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
            () = tokio::time::sleep(Duration::from_millis(10)) => {}
        }
    }
    sessions.shutdown().await;
    relay.gate.flush_summary();
}

/// Gives an accepted connection its session, or closes it at once if the gate refuses it.
fn admit(relay: &Arc<Relay>, sessions: &mut JoinSet<()>, stream: TcpStream, peer: SocketAddr) {
    let Some(ticket) = relay.gate.admit(peer.ip()) else {
        // Dropped unread: the descriptor is free again before the next accept.
        drop(stream);
        return;
    };
    let relay = relay.clone();
    relay.stats.sessions_total.fetch_add(1, Ordering::Relaxed);
    let open = OpenSession::count(&relay);
    sessions.spawn(async move {
        match run_session(relay.clone(), stream, peer).await {
            // A refused sign-on was logged and recorded where it was decided.
            Ok(Outcome::Relayed | Outcome::Refused) => {}
            // Not a session after all: counted apart so health checks do not inflate the
            // session figures.
            Ok(Outcome::Silent) => {
                relay.stats.sessions_total.fetch_sub(1, Ordering::Relaxed);
                relay
                    .stats
                    .silent_connections
                    .fetch_add(1, Ordering::Relaxed);
            }
            // Never signed on: a flood of these is summarised, not logged one by one.
            Err(SessionError::SignonTimeout { .. }) => {
                relay.stats.sessions_total.fetch_sub(1, Ordering::Relaxed);
                relay.gate.missed_signon();
            }
            Err(e) => {
                relay.stats.sessions_failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(client = %peer, error = %e, "session ended with an error");
            }
        }
        drop(open);
        drop(ticket);
    });
}

/// One session counted in `sessions_open` for as long as it lives: released when dropped,
/// so a task cancelled at shutdown or a panic leaves the figure right too.
struct OpenSession(Arc<Relay>);

impl OpenSession {
    fn count(relay: &Arc<Relay>) -> Self {
        relay.stats.sessions_open.fetch_add(1, Ordering::Relaxed);
        Self(relay.clone())
    }
}

impl Drop for OpenSession {
    fn drop(&mut self) {
        self.0.stats.sessions_open.fetch_sub(1, Ordering::Relaxed);
    }
}
