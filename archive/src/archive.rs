//! [`Archive`]: the handle the relay, the SPI ingest and the CLI hold.

use std::path::Path;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::error::ArchiveError;
use crate::options::ArchiveOptions;
use crate::signing::{Checkpoint, CheckpointReason};
use crate::store::Store;
use crate::writer::{IngestKey, Job, Receipt, spawn};
use record::Event;

/// What `imtegrity status` shows about an archive.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ArchiveStatus {
    /// The archive directory.
    pub dir: String,
    /// Records stored.
    pub records: u64,
    /// The last record's id.
    pub head_id: u64,
    /// Permanent checkpoints.
    pub checkpoints: u64,
    /// When the newest checkpoint was signed (UTC ns).
    pub last_checkpoint_ns: Option<i64>,
    /// The public key (hex).
    pub public_key: String,
    /// Why appends are refused, if the open-time integrity check failed.
    pub refusing_appends: Option<String>,
}

/// An open archive. Cheap to clone; the writer thread stops when the last clone is dropped,
/// after signing a closing checkpoint, and that drop waits for it.
#[derive(Clone)]
pub struct Archive {
    pub(crate) store: Arc<Store>,
    jobs: mpsc::Sender<Job>,
    /// Declared after `jobs`, so the last clone closes the queue before it waits for the
    /// writer.
    _writer: Arc<WriterThread>,
}

/// The writer thread, waited for when the last [`Archive`] clone goes: its close makes sled
/// durable and empties the commit journal, and a process that exits right after dropping
/// its archive (every CLI command) would otherwise kill it halfway, leaving the journal to
/// be applied at the next open as after a crash.
struct WriterThread(std::sync::Mutex<Option<std::thread::JoinHandle<()>>>);

impl Drop for WriterThread {
    fn drop(&mut self) {
        let handle = self
            .0
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(handle) = handle
            && handle.join().is_err()
        {
            tracing::error!("the archive writer thread panicked");
        }
    }
}

impl std::fmt::Debug for Archive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Archive")
            .field("dir", &self.store.dir)
            .finish()
    }
}

impl Archive {
    /// Opens (or creates) the archive in `dir`. Fails with [`ArchiveError::Locked`] when
    /// another process owns it: sled allows one process per store.
    pub fn open(dir: &Path, options: ArchiveOptions) -> Result<Self, ArchiveError> {
        let depth = options.queue_depth.max(1);
        let store = Arc::new(Store::open(dir, options)?);
        let (jobs, rx) = mpsc::channel(depth);
        let handle = spawn(store.clone(), rx).map_err(|source| ArchiveError::File {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(Self {
            store,
            jobs,
            _writer: Arc::new(WriterThread(std::sync::Mutex::new(Some(handle)))),
        })
    }

    /// **Strict** append: returns once the record is durable (flushed to disk in a group
    /// commit and covered by a signed head). The relay forwards a message only after this.
    pub async fn append(&self, event: Event) -> Result<Receipt, ArchiveError> {
        let pending = self.queue(event, None).await?;
        durable(pending).await
    }

    /// A strict append of a record shipped from elsewhere, stored at most once per `key`:
    /// a resend (seq not above the highest stored for its source) is answered as a
    /// duplicate, durable all the same. The Sametime module's spool uses this, so a crash
    /// between storing and acknowledging neither loses nor doubles a record.
    pub async fn append_keyed(
        &self,
        event: Event,
        key: IngestKey,
    ) -> Result<Receipt, ArchiveError> {
        let pending = self.queue(event, Some(key)).await?;
        durable(pending).await
    }

    /// [`Archive::append_keyed`] for a whole batch from one source, queued strictly in the
    /// given order (so the writer meets the seqs in order, which the once-per-seq check
    /// relies on) and awaited together, so one group commit can serve the batch.
    pub async fn append_keyed_all(
        &self,
        records: Vec<(Event, IngestKey)>,
    ) -> Result<Vec<Receipt>, ArchiveError> {
        let mut pending = Vec::with_capacity(records.len());
        for (event, key) in records {
            pending.push(self.queue(event, Some(key)).await?);
        }
        let mut receipts = Vec::with_capacity(pending.len());
        for one in pending {
            receipts.push(durable(one).await?);
        }
        Ok(receipts)
    }

    /// [`Archive::append`] for threads outside an async runtime.
    pub fn append_blocking(&self, event: Event) -> Result<Receipt, ArchiveError> {
        let (job, pending) = strict_job(event, None);
        self.jobs
            .blocking_send(job)
            .map_err(|_| ArchiveError::WriterGone)?;
        pending
            .blocking_recv()
            .map_err(|_| ArchiveError::WriterGone)?
    }

    /// The one path of every strict append: queues `event` (with its ingest key, if it was
    /// shipped) for the writer, whose answer comes once it is durable.
    async fn queue(&self, event: Event, key: Option<IngestKey>) -> Result<Pending, ArchiveError> {
        let (job, pending) = strict_job(event, key);
        self.jobs
            .send(job)
            .await
            .map_err(|_| ArchiveError::WriterGone)?;
        Ok(pending)
    }

    /// **Relaxed** append: queues the record and returns without waiting for the disk. It is
    /// durable once the writer's current group commit finishes (normally within a few
    /// milliseconds; bounded by the queue depth times the per-record commit cost). Waits only
    /// when the queue is full, which is the back-pressure that keeps the bound.
    pub async fn append_relaxed(&self, event: Event) -> Result<(), ArchiveError> {
        self.jobs
            .send(Job::Append {
                event,
                key: None,
                done: None,
            })
            .await
            .map_err(|_| ArchiveError::WriterGone)
    }

    /// Waits until everything queued so far is durable.
    pub async fn sync(&self) -> Result<(), ArchiveError> {
        let (done, wait) = oneshot::channel();
        self.jobs
            .send(Job::Barrier(done))
            .await
            .map_err(|_| ArchiveError::WriterGone)?;
        wait.await.map_err(|_| ArchiveError::WriterGone)?
    }

    /// [`Archive::sync`] for threads outside an async runtime.
    pub fn sync_blocking(&self) -> Result<(), ArchiveError> {
        let (done, wait) = oneshot::channel();
        self.jobs
            .blocking_send(Job::Barrier(done))
            .map_err(|_| ArchiveError::WriterGone)?;
        wait.blocking_recv().map_err(|_| ArchiveError::WriterGone)?
    }

    /// Writes a permanent signed checkpoint of the current head now.
    pub fn checkpoint(&self) -> Result<Checkpoint, ArchiveError> {
        self.store.write_checkpoint(CheckpointReason::Periodic)
    }

    /// The id of the last record (0 when empty).
    pub fn head_id(&self) -> u64 {
        self.store.head_lock().id
    }

    /// Number of records stored and readable. (sled's own `len` never returns on a store
    /// with a page it cannot read: its iterator keeps failing in place; this one steps over.)
    pub fn len(&self) -> usize {
        crate::damage::TolerantRecords::new(&self.store, 0)
            .filter(|item| matches!(item, Ok(crate::damage::Item::Record { .. })))
            .count()
    }

    /// Whether no record is stored.
    pub fn is_empty(&self) -> bool {
        self.store.records.is_empty()
    }

    /// The archive's public key in hex, to pin for independent verification.
    pub fn public_key_hex(&self) -> String {
        record::hex(self.store.key.public().as_bytes())
    }

    /// The public key's short fingerprint ([`crate::fingerprint`]).
    pub fn public_key_fingerprint(&self) -> String {
        crate::signing::fingerprint(&self.store.key.public())
    }

    /// The signing key file this archive was opened with (absolute).
    pub fn signing_key_path(&self) -> &Path {
        &self.store.key_path
    }

    /// Whether opening this archive created its signing key (a new archive). The caller
    /// shows the public key then, for safekeeping away from the gateway.
    pub fn created_signing_key(&self) -> bool {
        self.store.key_created
    }

    /// Counters for `imtegrity status`.
    pub fn status(&self) -> Result<ArchiveStatus, ArchiveError> {
        let latest = self.store.latest_checkpoint()?;
        Ok(ArchiveStatus {
            dir: self.store.dir.display().to_string(),
            records: self.len() as u64,
            head_id: self.head_id(),
            checkpoints: self.store.checkpoints.len() as u64,
            last_checkpoint_ns: latest.map(|cp| cp.time_ns),
            public_key: self.public_key_hex(),
            refusing_appends: self.store.refused(),
        })
    }

    /// The archive directory.
    pub fn dir(&self) -> &Path {
        &self.store.dir
    }
}

/// The writer's answer to one strict append.
type Pending = oneshot::Receiver<Result<Receipt, ArchiveError>>;

/// A strict append job for `event`, and where its answer will come.
fn strict_job(event: Event, key: Option<IngestKey>) -> (Job, Pending) {
    let (done, pending) = oneshot::channel();
    (
        Job::Append {
            event,
            key,
            done: Some(done),
        },
        pending,
    )
}

/// Waits for the writer's answer: the receipt once the record is durable.
async fn durable(pending: Pending) -> Result<Receipt, ArchiveError> {
    pending.await.map_err(|_| ArchiveError::WriterGone)?
}
