//! The one thread that writes the spool, so that no call of the Sametime server waits on
//! the disk longer than its bound (`call_timeout_ms`).
//!
//! A write can block in the kernel for as long as the disk likes (a frozen file system
//! blocks it until thawed; a dying disk retries for minutes), and the server calls us
//! synchronously on its chat threads. So every append is a job for this thread, and the
//! caller waits for its outcome at most its bound:
//!
//! * strict mode: a record not durable within the bound is refused, and if it was still
//!   queued it is taken out again, so the server is never told "failed" for a record that
//!   then appears in the spool. Only a record whose write had already begun when the bound
//!   passed may still land (the kernel cannot be told to forget it): refused but recorded,
//!   never the other way round.
//! * relaxed mode: the record stays queued, in order, and the caller is told OK with a
//!   warning; the queue is relaxed mode's memory, bounded by `[relaxed]`, and a record
//!   beyond it is dropped and counted. Either way the stretch of trouble is recorded as a
//!   `capture_gap` ([`crate::capture_gap`]) once the held records are written.
//!
//! A caller never queues up behind a stuck write: once the write in progress has taken
//! longer than the bound, strict calls are refused at once and relaxed records are held at
//! once, without waiting. A failed write is retried (relaxed) every
//! [`crate::spool::REOPEN_INTERVAL`]; the spool itself reopens its segment after a failure.
//!
//! [`SpoolWorker::stop`] gives the thread a bound to write what is held; what it cannot
//! write is said on stderr with the count (there is no other place left), and a thread
//! still stuck in the kernel is detached with the library pinned in memory, so a later
//! `dlclose` cannot unmap code it will return to.

mod append;
mod shutdown;
#[cfg(test)]
mod tests;
mod writer_thread;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Instant;

use crate::capture_gap::Episode;
use crate::config::RelaxedConfig;
use crate::error::SpiError;
use crate::shipper::ShipNotifier;
use crate::spool::Spool;
use writer_thread::{WriteFn, run};

/// What became of one append.
#[derive(Debug)]
pub enum Appended {
    /// Durable in the spool.
    Durable,
    /// Strict: not durable, refused (see the module documentation for a write in progress).
    Refused(SpiError),
    /// Relaxed: not durable yet; held in memory and written when the disk answers.
    Held(String),
    /// Relaxed: relaxed mode's memory is full; dropped and counted for the gap record.
    Dropped(String),
}

/// One record waiting to be written.
#[derive(Debug)]
struct Job {
    ticket: u64,
    payload: Vec<u8>,
    /// Relaxed: keep it and retry after a failure, rather than fail it.
    keep: bool,
    time_ns: i64,
    conversation: String,
}

/// The queue and what the writer thread and its callers know of each other, behind one
/// lock ([`Shared::state`]).
#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Job>,
    queued_bytes: usize,
    next_ticket: u64,
    /// Tickets whose caller still waits; only their outcomes are kept.
    waiting: HashSet<u64>,
    outcomes: HashMap<u64, Result<(), SpiError>>,
    /// Since when the write in progress runs.
    in_flight: Option<Instant>,
    /// No write before this (after a failure).
    retry_at: Option<Instant>,
    /// Relaxed mode's current stretch of trouble, until its gap record is written.
    episode: Option<Episode>,
    /// The last write failure, for callers told about it without a write of their own.
    last_error: Option<String>,
    /// The records dropped in the episode whose gap record is being written now.
    writing_gap: Option<u64>,
    /// Write what is held, the gap record, then exit.
    stopping: bool,
    /// Exit now, whatever is left.
    stop_now: bool,
    notifier: Option<ShipNotifier>,
}

impl State {
    /// The episode, started with `reason` if none is open.
    fn episode(&mut self, reason: &str) -> &mut Episode {
        self.episode.get_or_insert_with(|| Episode::start(reason))
    }
}

/// The state and the two condition variables the writer thread and its callers wait on.
#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    /// The worker waits on this for jobs.
    wake: Condvar,
    /// Callers wait on this for outcomes.
    settled: Condvar,
}

impl Shared {
    /// The state, even after a thread panicked holding it.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The spool's writer thread and the queue in front of it.
#[derive(Debug)]
pub struct SpoolWorker {
    shared: Arc<Shared>,
    spool: Arc<Spool>,
    limits: RelaxedConfig,
    handle: Mutex<Option<(JoinHandle<()>, mpsc::Receiver<()>)>>,
}

impl SpoolWorker {
    /// Starts the thread writing to `spool`; gap records name `node`; `limits` bound what
    /// relaxed mode holds.
    pub fn start(spool: Arc<Spool>, limits: RelaxedConfig, node: String) -> Result<Self, SpiError> {
        Self::start_with(
            spool,
            limits,
            node,
            Box::new(|spool, payloads| spool.append_batch(payloads)),
        )
    }

    /// As [`SpoolWorker::start`], each record written by `write`: the unit tests' way to
    /// make a write block or fail on cue, as a frozen or full disk does.
    fn start_with(
        spool: Arc<Spool>,
        limits: RelaxedConfig,
        node: String,
        write: WriteFn,
    ) -> Result<Self, SpiError> {
        let shared = Arc::new(Shared::default());
        let (done_tx, done) = mpsc::channel();
        let thread_shared = Arc::clone(&shared);
        let thread_spool = Arc::clone(&spool);
        let handle = std::thread::Builder::new()
            .name("imtegrity-spi-spool".into())
            .spawn(move || {
                run(&thread_shared, &thread_spool, &node, &write);
                drop(thread_spool);
                let _ = done_tx.send(());
            })
            .map_err(SpiError::Thread)?;
        Ok(Self {
            shared,
            spool,
            limits,
            handle: Mutex::new(Some((handle, done))),
        })
    }

    /// The spool written to.
    pub fn spool(&self) -> &Arc<Spool> {
        &self.spool
    }

    /// Wakes `notifier` (the shipper) after every durable record.
    pub fn set_notifier(&self, notifier: Option<ShipNotifier>) {
        self.shared.lock().notifier = notifier;
    }

    /// How many records wait in memory, a pending gap record included.
    pub fn held(&self) -> usize {
        let state = self.shared.lock();
        state.queue.len()
            + usize::from(state.in_flight.is_some())
            + usize::from(state.episode.is_some())
    }
}
