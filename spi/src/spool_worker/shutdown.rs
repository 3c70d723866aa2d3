//! Ending the writer: waiting for what is held to be written, and stopping the thread within
//! a bound, leaving it behind (with the library pinned) if the disk never answers.

use std::sync::PoisonError;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use super::{Job, SpoolWorker};
use crate::spool::REOPEN_INTERVAL;

impl SpoolWorker {
    /// Waits until everything held (and the gap record) is written, at most until
    /// `deadline`; whether it was.
    pub fn drain(&self, deadline: Instant) -> bool {
        let mut state = self.shared.lock();
        // Retry at once rather than after the failure's interval: time is short now.
        state.retry_at = None;
        self.shared.wake.notify_all();
        loop {
            if state.queue.is_empty() && state.in_flight.is_none() && state.episode.is_none() {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = self
                .shared
                .settled
                .wait_timeout(state, (deadline - now).min(REOPEN_INTERVAL))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Stops the thread: it writes what is held, then the gap record, until `deadline`;
    /// past it, what is left is dropped into the gap record, which gets until
    /// `deadline + last_try` to be written. Whatever is still unwritten then is said on
    /// stderr. Idempotent.
    pub fn stop(&self, deadline: Instant, last_try: Duration) {
        let Some((handle, done)) = self
            .handle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            return;
        };
        self.shared.lock().stopping = true;
        self.shared.wake.notify_all();
        let mut finished = wait_done(&done, deadline);
        if !finished {
            {
                let mut state = self.shared.lock();
                let left: Vec<Job> = state.queue.drain(..).collect();
                state.queued_bytes = 0;
                if !left.is_empty() {
                    let reason = "Terminate came before the spool could take them".to_owned();
                    let episode = state.episode(&reason);
                    for job in &left {
                        episode.drop_record(job.time_ns, &job.conversation);
                    }
                }
                state.retry_at = None;
            }
            self.shared.wake.notify_all();
            finished = wait_done(&done, Instant::now() + last_try);
        }
        let state = self.shared.lock();
        if finished {
            drop(state);
            let _ = handle.join();
            return;
        }
        let lost = state.episode.as_ref().map_or(0, |e| e.dropped) + state.writing_gap.unwrap_or(0);
        let in_flight = if state.in_flight.is_some() {
            "; a record being written may yet land"
        } else {
            ""
        };
        if lost > 0 {
            eprintln!(
                "imtegrity_stchatlog: the spool {} did not answer at Terminate: {lost} records \
                 held in memory were never written and are lost, and no capture_gap record \
                 could be written for them{in_flight}; the writer thread is left behind",
                self.spool.dir().display(),
            );
        } else {
            eprintln!(
                "imtegrity_stchatlog: the spool {} did not answer at Terminate{in_flight}; \
                 the writer thread is left behind",
                self.spool.dir().display(),
            );
        }
        drop(state);
        self.shared.lock().stop_now = true;
        self.shared.wake.notify_all();
        crate::library_pin::pin_library();
        drop(handle);
    }
}

impl Drop for SpoolWorker {
    fn drop(&mut self) {
        self.stop(
            Instant::now() + Duration::from_secs(1),
            Duration::from_millis(250),
        );
    }
}

/// Waits for the thread's "done" until `deadline`.
fn wait_done(done: &mpsc::Receiver<()>, deadline: Instant) -> bool {
    let left = deadline.saturating_duration_since(Instant::now());
    !matches!(done.recv_timeout(left), Err(RecvTimeoutError::Timeout))
}
