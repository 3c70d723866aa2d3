//! The group-commit writer: one thread takes every queued append, writes as many as are
//! waiting (up to `max_batch`) to sled, extends the hash chain, signs the new head, flushes
//! to disk, and only then answers the appenders. One fsync serves the whole batch.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use crate::chain::{Hash, Stored, hash, id_key};
use crate::error::ArchiveError;
use crate::index::{IndexKeys, id_of};
use crate::ingest_batch::{Admission, IngestBatch};
use crate::signing::CheckpointReason;
use crate::store::Store;
use crate::store::journal::Frame;
use record::Event;
use record::now_ns;

/// What an append returns once the record is durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    /// The record's id (0 for a duplicate, which was stored earlier under its own id).
    pub id: u64,
    /// How many records shared the flush that made it durable.
    pub batch: usize,
    /// A keyed append whose key the archive already holds: nothing was stored again.
    pub duplicate: bool,
}

/// Where a record shipped from elsewhere (the Sametime module's spool) came from: its
/// source, its sequence number there, and the client that shipped it. The archive stores
/// each (source, seq) once: a record whose seq is not above the highest stored for its
/// source is a resend. A source belongs to the client that first wrote it; another
/// client's records under it are refused ([`ArchiveError::SourceClaimed`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestKey {
    /// A stable id of the sender's spool.
    pub source: String,
    /// Strictly increasing per source.
    pub seq: u64,
    /// The authenticated client that shipped it.
    pub client: String,
}

/// What the commit did with one append.
enum Outcome {
    /// Stored under this id.
    Stored(u64),
    /// A keyed resend: stored before.
    Duplicate,
    /// A keyed append under a source another client owns: not stored.
    Claimed { source_id: String, owner: String },
}

#[allow(clippy::large_enum_variant)] // Appends are the common case; boxing each would cost an allocation.
pub(crate) enum Job {
    Append {
        event: Event,
        /// Set for a shipped record, stored at most once.
        key: Option<IngestKey>,
        done: Option<oneshot::Sender<Result<Receipt, ArchiveError>>>,
    },
    /// Answered once everything queued before it is durable.
    Barrier(oneshot::Sender<Result<(), ArchiveError>>),
}

pub(crate) fn spawn(
    store: Arc<Store>,
    rx: mpsc::Receiver<Job>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("archive-writer".into())
        .spawn(move || run(&store, rx))
}

fn run(store: &Store, mut rx: mpsc::Receiver<Job>) {
    let max = store.options.max_batch.max(1);
    let mut last_checkpoint = Instant::now();
    let mut since_checkpoint = 0u64;
    while let Some(first) = rx.blocking_recv() {
        let mut jobs = vec![first];
        while jobs.len() < max {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let appended = jobs
            .iter()
            .filter(|j| matches!(j, Job::Append { .. }))
            .count();
        let result = commit(store, &mut jobs);
        if let Err(e) = &result {
            tracing::error!(error = %e, records = appended, "archive commit failed; appenders told");
        }
        since_checkpoint += appended as u64;
        let due = since_checkpoint >= store.options.checkpoint_every
            || (since_checkpoint > 0
                && last_checkpoint.elapsed() >= store.options.checkpoint_interval);
        if result.is_ok() && due {
            match store.write_checkpoint(CheckpointReason::Periodic) {
                Ok(_) => {
                    since_checkpoint = 0;
                    last_checkpoint = Instant::now();
                }
                Err(e) => tracing::error!(error = %e, "archive checkpoint failed"),
            }
        }
        answer(jobs, &result);
    }
    // Every handle is gone: sign what we have and leave it on disk, unless the newest
    // checkpoint already covers it (read-only sessions add nothing).
    let head = store.head_lock().id;
    let covered = store
        .latest_checkpoint()
        .ok()
        .flatten()
        .is_some_and(|cp| cp.upto_id == head);
    if !covered
        && store.refused().is_none()
        && let Err(e) = store.write_checkpoint(CheckpointReason::Close)
    {
        tracing::error!(error = %e, "archive close checkpoint failed");
    }
}

/// Writes the batch's records and index entries, signs the new head and makes the commit
/// durable through the journal. Returns, per append in order, what became of it; `answer`
/// hands them out.
fn commit(store: &Store, jobs: &mut [Job]) -> Result<Vec<Outcome>, ArchiveError> {
    if let Some(problem) = store.refused() {
        return Err(ArchiveError::Integrity(problem));
    }
    let mut head = store.head_lock();
    let mut journal = store.journal_lock();
    let mut frame = Frame::default();
    let mut keys = Vec::new();
    let mut outcomes = Vec::new();
    let mut ingest = IngestBatch::default();
    let (mut id, mut prev) = (head.id, head.hash);
    for job in jobs.iter_mut() {
        let Job::Append { event, key, .. } = job else {
            continue;
        };
        if let Some(key) = key {
            match ingest.admit(store, key)? {
                Admission::Store => {}
                Admission::Duplicate => {
                    outcomes.push(Outcome::Duplicate);
                    continue;
                }
                Admission::Claimed { source_id, owner } => {
                    outcomes.push(Outcome::Claimed { source_id, owner });
                    continue;
                }
            }
        }
        if event.node.is_empty() {
            event.node.clone_from(&store.node);
        }
        id += 1;
        let bytes = Stored::encode_parts(id, prev, event)?;
        prev = hash(&bytes);
        keys.push(IndexKeys::of(id, event));
        frame.records.push((id, bytes));
        outcomes.push(Outcome::Stored(id));
    }
    if id == head.id {
        // Nothing new (duplicates, claims, barriers): every earlier commit is durable already.
        return Ok(outcomes);
    }
    frame.marks = ingest.marks.iter().map(|(s, m)| (s.clone(), *m)).collect();
    frame.owners = ingest
        .new_owners
        .iter()
        .map(|(s, c)| (s.clone(), c.clone()))
        .collect();
    let written = write(store, &keys, &mut frame, id, prev, ingest.changed);
    // The durability point: nothing is acknowledged before this returns.
    let durable = written.and_then(|()| store.commit_durable(&mut journal, id, &frame));
    if let Err(e) = durable {
        // Not acknowledged: the next commit reuses these ids, so none of them may stay
        // behind in sled to be found past the head after a crash.
        unwrite(store, &keys, &ingest, head.id);
        return Err(e);
    }
    head.id = id;
    head.hash = prev;
    Ok(outcomes)
}

/// Writes a commit's records, index entries, ingest marks and signed head to sled (not yet
/// durable), and the signed head into `frame`.
fn write(
    store: &Store,
    keys: &[IndexKeys],
    frame: &mut Frame,
    id: u64,
    prev: Hash,
    marks_changed: bool,
) -> Result<(), ArchiveError> {
    if marks_changed {
        // The records and their sources' marks land together or not at all, so a crash can
        // never leave a record whose resend would be stored twice.
        let mut records = sled::Batch::default();
        for (id, bytes) in &frame.records {
            records.insert(&id_key(*id)[..], bytes.as_slice());
        }
        let marks = frame.marks.iter().cloned().collect();
        let owners = frame.owners.iter().cloned().collect();
        store.append_with_marks(&records, &marks, &owners)?;
    } else {
        // One insert each, in id order, rather than a `sled::Batch`: an apply_batch takes
        // sled's global write lock and logs a batch manifest, which cost more than a small
        // commit's inserts. A crash can then leave a prefix of the commit, which open adopts
        // like a whole one (records past the signed head, chained from it).
        for (id, bytes) in &frame.records {
            store.records.insert(id_key(*id), bytes.as_slice())?;
        }
    }
    store.indexes.apply(keys, false)?;
    store.set_indexed_upto(id)?;
    frame.head = store.sign_head(id, prev, now_ns())?;
    Ok(())
}

/// Best effort after a failed commit: takes its records and index entries back out of sled,
/// puts `indexed_upto` back at the head and the ingest marks back as they were. What cannot
/// be undone is left for open, which refuses records past the signed head that do not chain
/// from it.
fn unwrite(store: &Store, keys: &[IndexKeys], ingest: &IngestBatch, head: u64) {
    let undo = || -> Result<(), ArchiveError> {
        for k in keys {
            store.records.remove(id_key(id_of(&k.time)?))?;
        }
        store.indexes.apply(keys, true)?;
        store.set_indexed_upto(head)?;
        ingest.restore(store)
    };
    if let Err(e) = undo() {
        tracing::error!(error = %e, "archive: a failed commit could not be taken back out of the store");
    }
}

fn answer(jobs: Vec<Job>, result: &Result<Vec<Outcome>, ArchiveError>) {
    let batch = jobs
        .iter()
        .filter(|j| matches!(j, Job::Append { .. }))
        .count();
    let mut ids = result.as_ref().ok().map(|ids| ids.iter());
    for job in jobs {
        match job {
            Job::Append { done, .. } => {
                let outcome = match ids.as_mut().and_then(Iterator::next) {
                    Some(&Outcome::Stored(id)) => Ok(Receipt {
                        id,
                        batch,
                        duplicate: false,
                    }),
                    Some(Outcome::Duplicate) => Ok(Receipt {
                        id: 0,
                        batch,
                        duplicate: true,
                    }),
                    Some(Outcome::Claimed { source_id, owner }) => {
                        Err(ArchiveError::SourceClaimed {
                            source_id: source_id.clone(),
                            owner: owner.clone(),
                        })
                    }
                    None => Err(match result {
                        Err(e) => for_appender(e),
                        Ok(_) => ArchiveError::WriterGone,
                    }),
                };
                if let Some(done) = done {
                    let _ = done.send(outcome);
                }
            }
            Job::Barrier(done) => {
                let _ = done.send(match result {
                    Ok(_) => Ok(()),
                    Err(e) => Err(for_appender(e)),
                });
            }
        }
    }
}

/// The error each appender of a failed batch gets: integrity refusals keep their kind so the
/// relay can tell "the archive refuses" from "the disk failed".
fn for_appender(e: &ArchiveError) -> ArchiveError {
    match e {
        ArchiveError::Integrity(problem) => ArchiveError::Integrity(problem.clone()),
        other => ArchiveError::CommitFailed(other.to_string()),
    }
}
