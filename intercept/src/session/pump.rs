//! The relay loop: read from both legs, observe each frame (`observe.rs`), queue it behind
//! the archive gate (`archive_gate.rs`), write out what is released. No decision is made
//! here; the loop only moves frames and ends the session when told.

use futures_util::StreamExt;
use oscar::Flap;
use tokio::time::{Instant, timeout_at};

use super::archive_gate::{ArchiveGate, MAX_PENDING, append_now};
use super::chat_room;
use super::legs::{Leg, Reader, has_buffered_frame, next};
use super::login::Connect;
use super::observe::{Observation, observe};
use super::refusal;
use super::state::State;
use super::upstream_leg;
use crate::error::{SessionError, Side};
use crate::relay::Relay;

/// What the loop does next.
enum Step {
    /// A frame (or the end of the stream) arrived from a side.
    Read(Side, Result<Option<Flap>, SessionError>),
    /// A frame for this side is released: its records are settled.
    Release(Side, Result<Option<Flap>, SessionError>),
    /// The gateway is stopping.
    Closing,
}

/// Connects upstream as `connect` says and relays until either side closes.
pub(super) async fn relay_frames(
    relay: &Relay,
    state: &mut State,
    connect: Connect,
    client_rx: &mut Reader,
    client_tx: &mut Leg,
) -> Result<(), SessionError> {
    let (mut upstream, port) = upstream_leg::connect(relay, &connect.upstream, client_tx).await?;
    state.upstream_port = port;
    let result = async {
        if !upstream.greet(relay, connect.hello).await? {
            return Ok(());
        }
        let legs = Legs {
            client_rx,
            client_tx,
            up_rx: &mut upstream.rx,
            up_tx: &mut upstream.tx,
        };
        pump(relay, state, legs).await
    }
    .await;
    // Before the upstream leg closes (as this function returns): the server tells the rest
    // of the room only then, and their connections find this leave already recorded.
    if let Some(event) = chat_room::own_leave(relay, state) {
        append_now(relay, event).await;
    }
    // The session's upstream leg is done: its egress address counts one session fewer.
    drop(upstream);
    result
}

/// Both legs' halves.
struct Legs<'a> {
    client_rx: &'a mut Reader,
    client_tx: &'a mut Leg,
    up_rx: &'a mut Reader,
    up_tx: &'a mut Leg,
}

/// Relays frames until a side closes, the gateway stops, a deadline passes, or a frame
/// ends the session.
async fn pump(relay: &Relay, state: &mut State, legs: Legs<'_>) -> Result<(), SessionError> {
    let Legs {
        client_rx,
        client_tx,
        up_rx,
        up_tx,
    } = legs;
    let idle = relay.config.idle_timeout;
    let mut gate = ArchiveGate::default();
    loop {
        // Before sign-on the deadline from the accept; after, the idle timeout.
        let wait = state
            .login
            .deadline()
            .unwrap_or_else(|| Instant::now() + idle);
        let step = timeout_at(wait, async {
            tokio::select! {
                frame = next(client_rx, Side::Client), if gate.to_upstream.len() < MAX_PENDING => Step::Read(Side::Client, frame),
                frame = next(up_rx, Side::Upstream), if gate.to_client.len() < MAX_PENDING => Step::Read(Side::Upstream, frame),
                Some(done) = gate.to_upstream.next() => Step::Release(Side::Upstream, done),
                Some(done) = gate.to_client.next() => Step::Release(Side::Client, done),
                () = relay.closing.cancelled() => Step::Closing,
            }
        })
        .await;
        let Ok(step) = step else {
            return Err(match state.login.deadline() {
                Some(_) => SessionError::SignonTimeout {
                    secs: relay.config.signon_timeout.as_secs(),
                },
                None => SessionError::Idle {
                    side: Side::Client,
                    secs: idle.as_secs(),
                },
            });
        };
        match step {
            Step::Closing => {
                tracing::debug!("the gateway is stopping");
                state.closed_by_gateway = true;
                return gate.release_all(up_tx, client_tx).await;
            }
            Step::Read(side, frame) => {
                let Some(flap) = frame? else {
                    // One side closed. Whatever is still waiting for the archive is
                    // released first, then both sockets close as we return.
                    tracing::debug!(%side, "closed");
                    return gate.release_all(up_tx, client_tx).await;
                };
                match observe(relay, state, side, flap)? {
                    Observation::Relay {
                        dest,
                        frame,
                        handled,
                    } => gate.dispatch(relay, dest, frame, handled).await,
                    // The frame showed a user the policy refuses: it goes no further.
                    Observation::Refused(reason) => {
                        refusal::record(relay, state, &reason).await;
                        client_tx
                            .send(refusal::sign_off(refusal::POLICY_REFUSED)?)
                            .await?;
                        return Ok(());
                    }
                }
            }
            Step::Release(Side::Upstream, done) => up_tx.queue_some(done?).await?,
            Step::Release(Side::Client, done) => client_tx.queue_some(done?).await?,
        }
        // Release frames whose records are already settled (no archive wait), then write
        // out once nothing more is ready to relay: one system call for a burst.
        gate.release_ready(up_tx, client_tx).await?;
        if !has_buffered_frame(client_rx) && !has_buffered_frame(up_rx) {
            up_tx.flush().await?;
            client_tx.flush().await?;
        }
    }
}
