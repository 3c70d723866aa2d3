//! The archive gate: a frame leaves only once the records it produced are settled (strict:
//! durable; relaxed: queued), and frames leave each leg in the order they arrived. Each
//! direction is a queue of futures that yield their frame once its records are in, so a
//! session keeps reading while earlier records commit.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use archive::Event;
use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use oscar::Flap;

use super::decide::Handled;
use super::legs::Leg;
use crate::config::CaptureMode;
use crate::error::{SessionError, Side};
use crate::plan::Fate;
use crate::relay::Relay;

/// A frame on its way to the other side, released once its records are durable; `None`
/// for a frame policy dropped, which still waits in line for its records.
pub(super) type Pending = Pin<Box<dyn Future<Output = Result<Option<Flap>, SessionError>> + Send>>;

/// Most frames per direction waiting for the archive before the session stops reading.
pub(super) const MAX_PENDING: usize = 64;

/// The two directions' queues of frames waiting for their records.
#[derive(Default)]
pub(super) struct ArchiveGate {
    /// Frames bound for the upstream.
    to_upstream: Line,
    /// Frames bound for the client.
    to_client: Line,
}

/// One direction's frames waiting for their records, in arrival order. The queue exists
/// only while something waits in it (an empty `FuturesOrdered` still holds two heap
/// blocks, and most sessions wait for nothing most of the time).
#[derive(Default)]
struct Line(Option<FuturesOrdered<Pending>>);

impl Line {
    fn len(&self) -> usize {
        self.0.as_ref().map_or(0, FuturesOrdered::len)
    }

    fn push_back(&mut self, pending: Pending) {
        self.0
            .get_or_insert_with(FuturesOrdered::new)
            .push_back(pending);
    }

    /// The next frame whose records are settled, in order; the queue goes once empty.
    fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Option<Flap>, SessionError>>> {
        let Some(queue) = &mut self.0 else {
            return Poll::Ready(None);
        };
        let next = queue.poll_next_unpin(cx);
        if queue.is_empty() {
            self.0 = None;
        }
        next
    }

    /// The next frame if its records are settled already.
    fn next_now(&mut self) -> Option<Result<Option<Flap>, SessionError>> {
        match self.poll_next(&mut Context::from_waker(std::task::Waker::noop())) {
            Poll::Ready(next) => next,
            Poll::Pending => None,
        }
    }

    /// The next frame, once its records are settled.
    async fn next(&mut self) -> Option<Result<Option<Flap>, SessionError>> {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }
}

impl ArchiveGate {
    fn toward(&mut self, side: Side) -> &mut Line {
        match side {
            Side::Upstream => &mut self.to_upstream,
            Side::Client => &mut self.to_client,
        }
    }

    /// How many frames bound for `dest` wait for their records.
    pub(super) fn waiting(&self, dest: Side) -> usize {
        match dest {
            Side::Upstream => self.to_upstream.len(),
            Side::Client => self.to_client.len(),
        }
    }

    /// Whether nothing bound for `dest` waits in line: a frame that waits for no record
    /// may then go to its leg at once and still leave in arrival order.
    pub(super) fn is_clear(&self, dest: Side) -> bool {
        self.waiting(dest) == 0
    }

    /// The next frame whose records are settled, and the side it is bound for.
    pub(super) fn poll_release(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<(Side, Result<Option<Flap>, SessionError>)> {
        for side in [Side::Upstream, Side::Client] {
            if let Poll::Ready(Some(done)) = self.toward(side).poll_next(cx) {
                return Poll::Ready((side, done));
            }
        }
        Poll::Pending
    }

    /// Queues `frame` (bound for `dest`) as `handled` says. The records the frame produced
    /// travel with the frame itself, or, when it is dropped, with its empty place in line.
    pub(super) async fn dispatch(
        &mut self,
        relay: &Relay,
        dest: Side,
        frame: Flap,
        handled: Handled,
    ) {
        let Handled { plan, events } = handled;
        // A dropped frame's records wait in line ahead of the notice that tells its sender,
        // so the notice never outruns the record (nor survives a session that ends first).
        let dest = match (&plan.fate, plan.after.first()) {
            (Fate::Drop, Some((side, _))) => *side,
            _ => dest,
        };
        for (side, injected) in plan.before {
            self.toward(side)
                .push_back(Box::pin(std::future::ready(Ok(Some(injected)))));
        }
        let main = match plan.fate {
            Fate::Forward => Some(frame),
            Fate::Replace(replacement) => Some(replacement),
            Fate::Drop => None,
        };
        let settled = archived_then(relay, events, main).await;
        self.toward(dest).push_back(settled);
        for (side, injected) in plan.after {
            self.toward(side)
                .push_back(Box::pin(std::future::ready(Ok(Some(injected)))));
        }
    }

    /// Queues on their legs the frames whose records are already settled (no archive wait).
    pub(super) fn release_ready(
        &mut self,
        up_tx: &mut Leg,
        client_tx: &mut Leg,
    ) -> Result<(), SessionError> {
        while let Some(done) = self.to_upstream.next_now() {
            up_tx.queue_some(done?)?;
        }
        while let Some(done) = self.to_client.next_now() {
            client_tx.queue_some(done?)?;
        }
        Ok(())
    }

    /// Releases every frame still waiting for the archive, in order, and writes both legs
    /// out: the session is ending, and nothing it accepted is left behind.
    pub(super) async fn release_all(
        &mut self,
        up_tx: &mut Leg,
        client_tx: &mut Leg,
    ) -> Result<(), SessionError> {
        while let Some(done) = self.to_upstream.next().await {
            up_tx.queue_some(done?)?;
            if up_tx.is_full() {
                up_tx.flush().await?;
            }
        }
        while let Some(done) = self.to_client.next().await {
            client_tx.queue_some(done?)?;
            if client_tx.is_full() {
                client_tx.flush().await?;
            }
        }
        up_tx.flush().await?;
        client_tx.flush().await
    }
}

/// Returns the future that yields `flap` once `events` are archived: strict waits for
/// durability, relaxed only queues them. Frames are released in arrival order, so a
/// session keeps reading while earlier records commit.
async fn archived_then(relay: &Relay, events: Vec<Event>, flap: Option<Flap>) -> Pending {
    let Some(archive) = relay.archive.clone().filter(|_| !events.is_empty()) else {
        return Box::pin(std::future::ready(Ok(flap)));
    };
    let n = events.len() as u64;
    match relay.config.mode {
        CaptureMode::Strict => {
            let records = relay.stats_records();
            Box::pin(async move {
                for event in events {
                    archive.append(event).await?;
                }
                records.fetch_add(n, Ordering::Relaxed);
                Ok(flap)
            })
        }
        CaptureMode::Relaxed => {
            for event in events {
                if let Err(e) = archive.append_relaxed(event).await {
                    // Relaxed: keep relaying, but leave a trace of the gap.
                    tracing::error!(error = %e, "archive gap: a relaxed-mode record was lost");
                    return Box::pin(std::future::ready(Ok(flap)));
                }
            }
            relay.stats.records.fetch_add(n, Ordering::Relaxed);
            Box::pin(std::future::ready(Ok(flap)))
        }
    }
}

/// Appends a record no relayed frame waits for (a session's end, a member's own leave of a
/// room): strict waits until it is durable, relaxed queues it; a failure is logged, as the
/// session is over either way.
pub(super) async fn append_now(relay: &Relay, event: Event) {
    let Some(archive) = &relay.archive else {
        return;
    };
    let appended = match relay.config.mode {
        CaptureMode::Strict => archive.append(event).await.map(drop),
        CaptureMode::Relaxed => archive.append_relaxed(event).await,
    };
    match appended {
        Ok(()) => {
            relay.stats.records.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => tracing::error!(error = %e, "a session's closing record could not be archived"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use bytes::Bytes;
    use oscar::Channel;

    use super::*;
    use crate::plan::Plan;

    fn frame(n: u8) -> Flap {
        Flap::new(Channel::DATA, Bytes::from(vec![n]))
    }

    fn take(line: &mut Line) -> Vec<Option<Flap>> {
        let mut out = Vec::new();
        while let Some(done) = line.next_now() {
            out.push(done.unwrap());
        }
        assert!(line.0.is_none(), "an empty line holds no queue");
        out
    }

    #[tokio::test]
    async fn a_dropped_frames_place_goes_ahead_of_the_notice_to_its_sender() {
        let relay = Relay::new(crate::config::RelaySettings::default(), None).unwrap();
        let mut gate = ArchiveGate::default();
        let handled = Handled {
            plan: Plan {
                before: vec![(Side::Upstream, frame(1)), (Side::Client, frame(2))],
                fate: Fate::Drop,
                after: vec![(Side::Client, frame(3))],
            },
            events: Vec::new(),
        };
        gate.dispatch(&relay, Side::Upstream, frame(9), handled)
            .await;
        assert_eq!(take(&mut gate.to_upstream), vec![Some(frame(1))]);
        assert_eq!(
            take(&mut gate.to_client),
            vec![Some(frame(2)), None, Some(frame(3))]
        );
        let replaced = Handled {
            plan: Plan {
                before: Vec::new(),
                fate: Fate::Replace(frame(4)),
                after: Vec::new(),
            },
            events: Vec::new(),
        };
        gate.dispatch(&relay, Side::Upstream, frame(9), replaced)
            .await;
        assert_eq!(take(&mut gate.to_upstream), vec![Some(frame(4))]);
    }
}
