//! The relay loop: read from both legs, observe each frame (`observe.rs`), queue it behind
//! the archive gate (`archive_gate.rs`), write out what is released. No decision is made
//! here; the loop only moves frames and ends the session when told.
//!
//! An idle session spends its life waiting in this loop, and its task holds the loop's
//! future all the while, so the loop is cut to keep that small: one poll says what happens
//! next ([`Pump::poll_step`]: both legs, the gate, the gateway's stop, one timer), a plain
//! function does it ([`Pump::handle`]), and what has to wait (a frame's archive appends, a
//! policy refusal, the end of the session) comes back boxed; the loop itself awaits only
//! the next step and the writes.

use std::future::{Future, poll_fn};
use std::ops::ControlFlow;
use std::pin::{Pin, pin};
use std::task::{Context, Poll};

use oscar::Flap;
use tokio::time::{Instant, Sleep, sleep_until};
use tokio_util::sync::WaitForCancellationFuture;

use super::archive_gate::{ArchiveGate, MAX_PENDING, append_now};
use super::chat_room;
use super::legs::{Leg, Reader};
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
    /// The sign-on deadline or the idle timeout passed.
    TimedOut,
}

/// What is left of a step once it has done what it can without waiting.
enum Then<'a> {
    /// Nothing: write out and take the next step.
    Next,
    /// This, which waits (for the archive, a refusal's record, the end of the session):
    /// boxed, as most steps need none, so the loop's future stays the size of the wait for
    /// the next step. `Break`: the session ends well.
    Wait(Pin<Box<dyn Future<Output = Result<ControlFlow<()>, SessionError>> + Send + 'a>>),
}

/// Connects upstream as `connect` says and relays until either side closes.
pub(super) async fn relay_frames(
    relay: &Relay,
    state: &mut State,
    connect: Box<Connect>,
    client_rx: &mut Reader,
    client_tx: &mut Leg,
) -> Result<(), SessionError> {
    // Boxed: connecting (a name looked up, a proxy, TLS) and the hellos happen once.
    let Some(mut upstream) =
        Box::pin(upstream_leg::open(relay, state, *connect, client_tx)).await?
    else {
        return Ok(());
    };
    let mut pump = Pump {
        relay,
        state: &mut *state,
        client_rx,
        client_tx,
        up_rx: &mut upstream.rx,
        up_tx: &mut upstream.tx,
        gate: ArchiveGate::default(),
        last_step: Instant::now(),
        client_first: true,
    };
    let result = pump.run().await;
    // Before the upstream leg closes (as this function returns): the server tells the rest
    // of the room only then, and their connections find this leave already recorded.
    if let Some(event) = chat_room::own_leave(relay, state) {
        Box::pin(append_now(relay, event)).await;
    }
    // The session's upstream leg is done: its egress address counts one session fewer.
    drop(upstream);
    result
}

/// What the loop keeps between frames.
struct Pump<'a> {
    relay: &'a Relay,
    state: &'a mut State,
    client_rx: &'a mut Reader,
    client_tx: &'a mut Leg,
    up_rx: &'a mut Reader,
    up_tx: &'a mut Leg,
    /// Frames waiting for their records, per direction.
    gate: ArchiveGate,
    /// When the last step happened: the idle timeout counts from it.
    last_step: Instant,
    /// Which leg is read first next time: each in turn, so neither starves the other.
    client_first: bool,
}

impl Pump<'_> {
    /// Relays frames until a side closes, the gateway stops, a deadline passes, or a frame
    /// ends the session.
    async fn run(&mut self) -> Result<(), SessionError> {
        let mut closing = pin!(self.relay.closing.cancelled());
        // One timer for the session, moved only when it fires: a step only notes the time.
        let mut timer = pin!(sleep_until(self.due()));
        loop {
            let step = poll_fn(|cx| self.poll_step(cx, closing.as_mut(), timer.as_mut())).await;
            self.last_step = Instant::now();
            let then = match self.handle(step)? {
                Then::Next => ControlFlow::Continue(()),
                Then::Wait(waits) => waits.await?,
            };
            if then.is_break() {
                return Ok(());
            }
            self.write_out().await?;
        }
    }

    /// Before sign-on the deadline from the accept; after, the idle timeout.
    fn due(&self) -> Instant {
        let idle = self.relay.config.idle_timeout;
        self.state.login.deadline().unwrap_or(self.last_step + idle)
    }

    /// What happens next: the gateway's stop, a released frame (those leave before more is
    /// read), a frame read, or the deadline.
    fn poll_step(
        &mut self,
        cx: &mut Context<'_>,
        closing: Pin<&mut WaitForCancellationFuture<'_>>,
        timer: Pin<&mut Sleep>,
    ) -> Poll<Step> {
        if closing.poll(cx).is_ready() {
            return Poll::Ready(Step::Closing);
        }
        if let Poll::Ready((side, done)) = self.gate.poll_release(cx) {
            return Poll::Ready(Step::Release(side, done));
        }
        self.client_first = !self.client_first;
        let sides = match self.client_first {
            true => [Side::Client, Side::Upstream],
            false => [Side::Upstream, Side::Client],
        };
        for side in sides {
            let reader = match side {
                Side::Client => &mut *self.client_rx,
                Side::Upstream => &mut *self.up_rx,
            };
            // A side whose frames wait for the archive is not read until they move on.
            if self.gate.waiting(side.other()) < MAX_PENDING
                && let Poll::Ready(frame) = reader.poll_next(cx, side)
            {
                return Poll::Ready(Step::Read(side, frame));
            }
        }
        poll_deadline(timer, self.due(), cx).map(|()| Step::TimedOut)
    }

    /// Carries out one step as far as it can without waiting; what waits comes back boxed.
    fn handle(&mut self, step: Step) -> Result<Then<'_>, SessionError> {
        match step {
            Step::TimedOut => Err(match self.state.login.deadline() {
                Some(_) => SessionError::SignonTimeout {
                    secs: self.relay.config.signon_timeout.as_secs(),
                },
                None => SessionError::Idle {
                    side: Side::Client,
                    secs: self.relay.config.idle_timeout.as_secs(),
                },
            }),
            Step::Closing => {
                tracing::debug!("the gateway is stopping");
                self.state.closed_by_gateway = true;
                Ok(self.end())
            }
            Step::Read(side, frame) => match frame? {
                Some(flap) => self.relay_frame(side, flap),
                None => {
                    tracing::debug!(%side, "closed");
                    Ok(self.end())
                }
            },
            Step::Release(side, done) => {
                self.tx(side).queue_some(done?)?;
                Ok(Then::Next)
            }
        }
    }

    /// The session ends: whatever is still waiting for the archive is released first, then
    /// both sockets close as the session returns.
    fn end(&mut self) -> Then<'_> {
        Then::Wait(Box::pin(async move {
            self.gate.release_all(self.up_tx, self.client_tx).await?;
            Ok(ControlFlow::Break(()))
        }))
    }

    /// Observes a frame read from `side` and sends it on its way.
    fn relay_frame(&mut self, side: Side, flap: Flap) -> Result<Then<'_>, SessionError> {
        Ok(match observe(self.relay, self.state, side, flap)? {
            Observation::Relay {
                dest,
                frame,
                handled,
            } if handled.is_plain_forward() && self.gate.is_clear(dest) => {
                // Nothing to record, nothing added, nothing ahead of it in line: straight
                // to its leg, as the bytes it arrived in.
                self.tx(dest).queue(frame)?;
                Then::Next
            }
            Observation::Relay {
                dest,
                frame,
                handled,
            } => Then::Wait(Box::pin(async move {
                self.gate.dispatch(self.relay, dest, frame, handled).await;
                Ok(ControlFlow::Continue(()))
            })),
            // It goes no further, and the client is told; the session ends.
            Observation::Refused(reason) => Then::Wait(Box::pin(async move {
                self.refuse(reason).await?;
                Ok(ControlFlow::Break(()))
            })),
        })
    }

    /// Records that the policy refused the session's user and tells the client.
    async fn refuse(&mut self, reason: String) -> Result<(), SessionError> {
        refusal::record(self.relay, self.state, &reason).await;
        self.client_tx
            .send(refusal::sign_off(refusal::POLICY_REFUSED)?)
            .await
    }

    /// Releases frames whose records are already settled (no archive wait), then writes
    /// out once nothing more is ready to relay (one system call for a burst), or once a leg
    /// has as much queued as it may hold.
    async fn write_out(&mut self) -> Result<(), SessionError> {
        self.gate.release_ready(self.up_tx, self.client_tx)?;
        let burst_over = !self.client_rx.has_buffered_frame() && !self.up_rx.has_buffered_frame();
        if burst_over || self.up_tx.is_full() {
            self.up_tx.flush().await?;
        }
        if burst_over || self.client_tx.is_full() {
            self.client_tx.flush().await?;
        }
        Ok(())
    }

    /// The writer of `side`'s leg.
    fn tx(&mut self, side: Side) -> &mut Leg {
        match side {
            Side::Upstream => self.up_tx,
            Side::Client => self.client_tx,
        }
    }
}

/// Ready once `due` has passed. The timer is moved only when it fires early (the session
/// stepped since it was set), so a busy session does not touch the timer wheel per frame.
fn poll_deadline(mut timer: Pin<&mut Sleep>, due: Instant, cx: &mut Context<'_>) -> Poll<()> {
    loop {
        if timer.deadline() > due {
            // Earlier than the timer is set for (a sign-on deadline can be): move it now.
            timer.as_mut().reset(due);
        }
        if timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        if Instant::now() >= due {
            return Poll::Ready(());
        }
        timer.as_mut().reset(due);
    }
}
