//! The writer thread itself: it takes what queued up as one batch (group commit), writes it
//! or the pending gap record, and settles each caller's outcome, putting relaxed records
//! back in order after a failure.

use std::sync::PoisonError;
use std::time::{Duration, Instant};

use super::{Job, Shared, State};
use crate::capture_gap::Episode;
use crate::error::SpiError;
use crate::spool::{REOPEN_INTERVAL, Spool};

/// What the thread writes next.
enum Work {
    Records(Vec<Job>),
    Gap(Vec<u8>, Episode),
}

/// How the thread writes encoded records: how many were written (a prefix), and the error
/// that stopped the rest ([`Spool::append_batch`]).
pub(super) type WriteFn = Box<dyn Fn(&Spool, &[&[u8]]) -> (usize, Option<SpiError>) + Send>;

/// Records handed to one write, at most (group commit: what queued up during the last sync).
const BATCH_RECORDS: usize = 64;
/// Encoded bytes handed to one write, roughly (a batch always takes its first record).
const BATCH_BYTES: usize = 4 << 20;

pub(super) fn run(shared: &Shared, spool: &Spool, node: &str, write: &WriteFn) {
    loop {
        let work = {
            let mut state = shared.lock();
            loop {
                if state.stop_now {
                    return;
                }
                let now = Instant::now();
                let ready = state.retry_at.is_none_or(|at| now >= at);
                if ready {
                    let mut jobs = Vec::new();
                    let mut bytes = 0;
                    while let Some(job) = state.queue.front() {
                        let size = job.payload.len();
                        if jobs.len() >= BATCH_RECORDS
                            || (!jobs.is_empty() && bytes + size > BATCH_BYTES)
                        {
                            break;
                        }
                        let Some(job) = state.queue.pop_front() else {
                            break;
                        };
                        bytes += size;
                        jobs.push(job);
                    }
                    if !jobs.is_empty() {
                        state.queued_bytes = state.queued_bytes.saturating_sub(bytes);
                        state.in_flight = Some(now);
                        break Work::Records(jobs);
                    }
                    if let Some(episode) = state.episode.take() {
                        match postcard::to_stdvec(&episode.record(node)) {
                            Ok(gap) => {
                                state.in_flight = Some(now);
                                state.writing_gap = Some(episode.dropped);
                                break Work::Gap(gap, episode);
                            }
                            // Cannot happen for a record we build; never spin on it.
                            Err(e) => {
                                eprintln!("imtegrity_stchatlog: capture_gap record: {e}");
                                continue;
                            }
                        }
                    }
                    if state.stopping {
                        return;
                    }
                }
                let wait = state.retry_at.map_or(Duration::from_secs(1), |at| {
                    at.saturating_duration_since(now)
                });
                state = shared
                    .wake
                    .wait_timeout(state, wait.max(Duration::from_millis(1)))
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        };
        let written = match &work {
            Work::Records(jobs) => {
                let payloads: Vec<&[u8]> = jobs.iter().map(|j| j.payload.as_slice()).collect();
                write(spool, &payloads)
            }
            Work::Gap(gap, _) => write(spool, &[gap.as_slice()]),
        };
        let mut state = shared.lock();
        state.in_flight = None;
        state.writing_gap = None;
        match (work, written) {
            (Work::Records(jobs), (written, error)) => {
                settle(&mut state, spool, jobs, written, error);
            }
            (Work::Gap(_, episode), (1, None)) => {
                eprintln!(
                    "imtegrity_stchatlog: the spool takes records again; a capture_gap record \
                     says {} were dropped and {} acknowledged before durable",
                    episode.dropped, episode.delayed
                );
                state.retry_at = None;
                if let Some(n) = &state.notifier {
                    n.notify();
                }
            }
            (Work::Gap(_, mut episode), _) => {
                // Whatever happened while it was being written joins it.
                if let Some(later) = state.episode.take() {
                    episode.absorb(later);
                }
                state.episode = Some(episode);
                state.retry_at = Some(Instant::now() + REOPEN_INTERVAL);
            }
        }
        shared.settled.notify_all();
    }
}

/// Tells the callers of a batch what became of their records: the first `written` are
/// durable; the rest failed with `error` (the first of them gets it, the others the same
/// reason), and relaxed ones go back to the front of the queue, in order, for a retry.
fn settle(
    state: &mut State,
    spool: &Spool,
    jobs: Vec<Job>,
    written: usize,
    error: Option<SpiError>,
) {
    let mut jobs = jobs.into_iter();
    for job in jobs.by_ref().take(written) {
        if state.waiting.contains(&job.ticket) {
            state.outcomes.insert(job.ticket, Ok(()));
        }
    }
    if written > 0 {
        state.retry_at = None;
        if let Some(n) = &state.notifier {
            n.notify();
        }
    }
    let failed: Vec<Job> = jobs.collect();
    if failed.is_empty() {
        return;
    }
    let error = error.unwrap_or_else(|| SpiError::SpoolUnavailable {
        path: spool.dir().to_owned(),
        reason: "the record was not written".into(),
    });
    let reason = error.to_string();
    let mut first = Some(error);
    let mut kept = Vec::new();
    for job in failed {
        let own = first.take().unwrap_or_else(|| SpiError::SpoolUnavailable {
            path: spool.dir().to_owned(),
            reason: reason.clone(),
        });
        if state.waiting.contains(&job.ticket) {
            state.outcomes.insert(job.ticket, Err(own));
        }
        if job.keep {
            kept.push(job);
        }
    }
    if !kept.is_empty() {
        // Strict records fail fast instead: the spool says "unavailable" without touching
        // the disk until its reopen interval passes.
        state.retry_at = Some(Instant::now() + REOPEN_INTERVAL);
        state.last_error = Some(reason.clone());
        state.episode(&reason);
        for job in kept.into_iter().rev() {
            state.queued_bytes += job.payload.len();
            state.queue.push_front(job);
        }
    }
}
