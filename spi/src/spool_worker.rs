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

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use record::Event;

use crate::capture_gap::Episode;
use crate::config::RelaxedConfig;
use crate::error::SpiError;
use crate::shipper::ShipNotifier;
use crate::spool::{REOPEN_INTERVAL, Spool};

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

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    /// The worker waits on this for jobs.
    wake: Condvar,
    /// Callers wait on this for outcomes.
    settled: Condvar,
}

impl Shared {
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

/// What the thread writes next.
enum Work {
    Records(Vec<Job>),
    Gap(Vec<u8>, Episode),
}

/// How the thread writes encoded records: how many were written (a prefix), and the error
/// that stopped the rest ([`Spool::append_batch`]).
type WriteFn = Box<dyn Fn(&Spool, &[&[u8]]) -> (usize, Option<SpiError>) + Send>;

/// Records handed to one write, at most (group commit: what queued up during the last sync).
const BATCH_RECORDS: usize = 64;
/// Encoded bytes handed to one write, roughly (a batch always takes its first record).
const BATCH_BYTES: usize = 4 << 20;

fn run(shared: &Shared, spool: &Spool, node: &str, write: &WriteFn) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::test_event;
    use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

    /// What the fake disk does with the next write.
    const WORKS: u8 = 0;
    const FULL: u8 = 1;
    const FROZEN: u8 = 2;

    const BOUND: Duration = Duration::from_millis(100);

    fn must<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
        r.unwrap_or_else(|e| panic!("{e}"))
    }

    /// A worker over a real spool whose writes a test can make fail (`FULL`) or block
    /// (`FROZEN`, until `thawed` is set: at most 10 s, then the write goes ahead).
    struct FakeDisk {
        _dir: tempfile::TempDir,
        worker: SpoolWorker,
        mode: Arc<AtomicU8>,
        thawed: Arc<AtomicBool>,
    }

    fn fake_disk(max_held_records: usize) -> FakeDisk {
        let dir = must(tempfile::tempdir());
        let spool = Arc::new(must(Spool::open(dir.path())));
        let mode = Arc::new(AtomicU8::new(WORKS));
        let thawed = Arc::new(AtomicBool::new(false));
        let (m, t) = (Arc::clone(&mode), Arc::clone(&thawed));
        let write: WriteFn =
            Box::new(
                move |spool: &Spool, payloads: &[&[u8]]| match m.load(Ordering::SeqCst) {
                    FULL => {
                        let full = SpiError::SpoolFile {
                            path: spool.dir().to_owned(),
                            source: std::io::Error::other("No space left on device"),
                        };
                        (0, Some(full))
                    }
                    FROZEN => {
                        for _ in 0..1000 {
                            if t.load(Ordering::SeqCst) {
                                break;
                            }
                            std::thread::sleep(Duration::from_millis(10));
                        }
                        spool.append_batch(payloads)
                    }
                    _ => spool.append_batch(payloads),
                },
            );
        let limits = RelaxedConfig {
            max_held_records,
            max_held_bytes: 1 << 20,
        };
        let worker = must(SpoolWorker::start_with(spool, limits, "st1".into(), write));
        FakeDisk {
            _dir: dir,
            worker,
            mode,
            thawed,
        }
    }

    fn texts(worker: &SpoolWorker) -> Vec<String> {
        must(worker.spool().events())
            .into_iter()
            .map(|e| match e.kind {
                record::Kind::CaptureGap => "gap".into(),
                _ => e.text,
            })
            .collect()
    }

    #[test]
    fn strict_refuses_within_the_bound_and_a_queued_record_is_taken_back_out() {
        let disk = fake_disk(10);
        assert!(matches!(
            disk.worker.append(&test_event("before"), false, BOUND),
            Appended::Durable
        ));
        disk.mode.store(FROZEN, Ordering::SeqCst);
        std::thread::scope(|scope| {
            // A caller with a long bound whose write blocks in the "kernel".
            let patient = scope.spawn(|| {
                disk.worker
                    .append(&test_event("in the kernel"), false, Duration::from_secs(5))
            });
            std::thread::sleep(BOUND / 5);
            // Queued behind it, refused at its bound, and taken back out of the queue.
            let started = Instant::now();
            let queued = disk.worker.append(&test_event("taken back"), false, BOUND);
            assert!(
                matches!(queued, Appended::Refused(SpiError::SpoolBusy { .. })),
                "{queued:?}"
            );
            assert!(started.elapsed() < BOUND * 5, "{:?}", started.elapsed());
            // Now the write is known stuck (well past a bound): refused at once, without
            // waiting out the bound.
            std::thread::sleep(BOUND * 2);
            let at_once = Instant::now();
            let stuck = disk
                .worker
                .append(&test_event("refused at once"), false, BOUND);
            assert!(
                matches!(stuck, Appended::Refused(SpiError::SpoolBusy { .. })),
                "{stuck:?}"
            );
            assert!(at_once.elapsed() < BOUND, "{:?}", at_once.elapsed());
            disk.thawed.store(true, Ordering::SeqCst);
            let patient = patient.join().unwrap_or_else(|_| panic!("caller panicked"));
            assert!(matches!(patient, Appended::Durable), "{patient:?}");
        });
        assert!(disk.worker.drain(Instant::now() + Duration::from_secs(10)));
        assert_eq!(texts(&disk.worker), ["before", "in the kernel"]);
    }

    #[test]
    fn relaxed_holds_in_order_drops_beyond_its_memory_and_records_the_gap() {
        let disk = fake_disk(2);
        disk.mode.store(FULL, Ordering::SeqCst);
        for text in ["a", "b"] {
            let held = disk.worker.append(&test_event(text), true, BOUND);
            assert!(matches!(held, Appended::Held(_)), "{held:?}");
        }
        let dropped = disk.worker.append(&test_event("c"), true, BOUND);
        assert!(matches!(dropped, Appended::Dropped(_)), "{dropped:?}");
        assert_eq!(disk.worker.held(), 3, "two records and the pending gap");
        disk.mode.store(WORKS, Ordering::SeqCst);
        assert!(disk.worker.drain(Instant::now() + Duration::from_secs(10)));
        assert_eq!(texts(&disk.worker), ["a", "b", "gap"]);
        let events = must(disk.worker.spool().events());
        let detail: serde_json::Value =
            serde_json::from_str(events[2].detail.as_deref().unwrap_or("{}")).unwrap_or_default();
        assert_eq!(
            (detail["dropped"].as_u64(), detail["delayed"].as_u64()),
            (Some(1), Some(2))
        );
    }

    #[test]
    fn stop_turns_what_it_cannot_write_into_a_gap_or_says_it_is_lost() {
        let disk = fake_disk(10);
        disk.mode.store(FULL, Ordering::SeqCst);
        for text in ["x", "y"] {
            disk.worker.append(&test_event(text), true, BOUND);
        }
        // The disk comes back just as the bound for held records ends: the gap record
        // (two records dropped at Terminate) is still written in the last try.
        let deadline = Instant::now() + BOUND;
        let mode = Arc::clone(&disk.mode);
        let back = std::thread::spawn(move || {
            std::thread::sleep(BOUND * 2);
            mode.store(WORKS, Ordering::SeqCst);
        });
        disk.worker.stop(deadline, Duration::from_secs(5));
        must(back.join().map_err(|_| "thread"));
        assert_eq!(texts(&disk.worker), ["gap"]);
        let events = must(disk.worker.spool().events());
        let detail: serde_json::Value =
            serde_json::from_str(events[0].detail.as_deref().unwrap_or("{}")).unwrap_or_default();
        assert_eq!(detail["dropped"].as_u64(), Some(2));
    }
}
