//! The caller's side of an append: queue the record, then wait for it at most the call's
//! bound, and say what became of it ([`Appended`]) by the mode's rules.

use std::sync::PoisonError;
use std::time::{Duration, Instant};

use record::Event;

use super::{Appended, Job, SpoolWorker};
use crate::error::SpiError;

impl SpoolWorker {
    /// Appends `event`, waiting at most `bound` for it to be durable; `relaxed` says what to
    /// do when it is not (see [`Appended`]).
    pub fn append(&self, event: &Event, relaxed: bool, bound: Duration) -> Appended {
        let payload = match postcard::to_stdvec(event) {
            Ok(p) => p,
            Err(e) if relaxed => {
                let reason = format!("record not encodable: {e}");
                self.shared
                    .lock()
                    .episode(&reason)
                    .drop_record(event.time_ns, &event.conversation);
                return Appended::Dropped(reason);
            }
            Err(e) => return Appended::Refused(SpiError::Encoding(e)),
        };
        let deadline = Instant::now() + bound;
        let mut state = self.shared.lock();
        let stuck = state
            .in_flight
            .is_some_and(|since| since.elapsed() >= bound);
        // Relaxed, while the spool fails: held at once, not after a wait for a retry that
        // comes only after the failure's interval.
        let failing = state.retry_at.is_some_and(|at| at > Instant::now());
        if stuck && !relaxed {
            return Appended::Refused(self.busy(bound));
        }
        // Strict, while records held for relaxed mode (before a repeated Init switched the
        // mode) wait for a retry: this record could only be written after them, so it is
        // refused now, with the disk's reason, rather than after the whole bound.
        if failing && !relaxed {
            return Appended::Refused(SpiError::SpoolUnavailable {
                path: self.spool.dir().to_owned(),
                reason: state.last_error.clone().unwrap_or_default(),
            });
        }
        if relaxed
            && (state.queue.len() >= self.limits.max_held_records
                || state.queued_bytes + payload.len() > self.limits.max_held_bytes)
        {
            let reason = format!(
                "relaxed mode's memory is full ({} records held); this record is dropped and \
                 counted in a capture_gap record",
                state.queue.len()
            );
            state
                .episode(&reason)
                .drop_record(event.time_ns, &event.conversation);
            return Appended::Dropped(reason);
        }
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.queued_bytes += payload.len();
        state.queue.push_back(Job {
            ticket,
            payload,
            keep: relaxed,
            time_ns: event.time_ns,
            conversation: event.conversation.clone(),
        });
        self.shared.wake.notify_all();
        if relaxed && failing {
            let reason = state
                .episode
                .as_ref()
                .and_then(|e| e.first_error.clone())
                .unwrap_or_else(|| "the spool is failing".into());
            state.episode(&reason).delayed += 1;
            return Appended::Held(reason);
        }
        if stuck {
            let reason = self.busy(bound).to_string();
            state.episode(&reason).delayed += 1;
            return Appended::Held(reason);
        }
        state.waiting.insert(ticket);
        loop {
            if let Some(outcome) = state.outcomes.remove(&ticket) {
                state.waiting.remove(&ticket);
                return match (outcome, relaxed) {
                    (Ok(()), _) => Appended::Durable,
                    (Err(e), false) => Appended::Refused(e),
                    (Err(e), true) => {
                        let reason = e.to_string();
                        state.episode(&reason).delayed += 1;
                        Appended::Held(reason)
                    }
                };
            }
            let now = Instant::now();
            if now >= deadline {
                state.waiting.remove(&ticket);
                let reason = self.busy(bound);
                if relaxed {
                    let text = reason.to_string();
                    state.episode(&text).delayed += 1;
                    return Appended::Held(text);
                }
                // Still queued: take it out, so the refused record is never written.
                if let Some(at) = state.queue.iter().position(|j| j.ticket == ticket)
                    && let Some(job) = state.queue.remove(at)
                {
                    state.queued_bytes = state.queued_bytes.saturating_sub(job.payload.len());
                }
                return Appended::Refused(reason);
            }
            state = self
                .shared
                .settled
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    fn busy(&self, bound: Duration) -> SpiError {
        SpiError::SpoolBusy {
            path: self.spool.dir().to_owned(),
            waited_ms: u64::try_from(bound.as_millis()).unwrap_or(u64::MAX),
        }
    }
}
