//! The archive gate: a frame leaves only once the records it produced are settled (strict:
//! durable; relaxed: queued), and frames leave each leg in the order they arrived. Each
//! direction is a queue of futures that yield their frame once its records are in, so a
//! session keeps reading while earlier records commit.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;

use archive::Event;
use futures_util::stream::FuturesOrdered;
use futures_util::{FutureExt, StreamExt};
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
    pub(super) to_upstream: FuturesOrdered<Pending>,
    /// Frames bound for the client.
    pub(super) to_client: FuturesOrdered<Pending>,
}

impl ArchiveGate {
    fn toward(&mut self, side: Side) -> &mut FuturesOrdered<Pending> {
        match side {
            Side::Upstream => &mut self.to_upstream,
            Side::Client => &mut self.to_client,
        }
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
    pub(super) async fn release_ready(
        &mut self,
        up_tx: &mut Leg,
        client_tx: &mut Leg,
    ) -> Result<(), SessionError> {
        while let Some(Some(done)) = self.to_upstream.next().now_or_never() {
            up_tx.queue_some(done?).await?;
        }
        while let Some(Some(done)) = self.to_client.next().now_or_never() {
            client_tx.queue_some(done?).await?;
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
            up_tx.queue_some(done?).await?;
        }
        while let Some(done) = self.to_client.next().await {
            client_tx.queue_some(done?).await?;
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

    fn take(queue: &mut FuturesOrdered<Pending>) -> Vec<Option<Flap>> {
        let mut out = Vec::new();
        while let Some(Some(done)) = queue.next().now_or_never() {
            out.push(done.unwrap());
        }
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
