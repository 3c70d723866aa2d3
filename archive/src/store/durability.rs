//! When what the store holds survives a power cut: a commit is durable once its journal
//! frame is synced ([`Store::commit_durable`]); everything sled holds is durable after a full
//! flush ([`Store::durable_flush`]), which also empties the journal; and at open the journal
//! is applied to sled again ([`Store::replay_journal`]).
//!
//! A commit holds the journal lock from before its first sled write until its frame is
//! synced, and a full flush holds it from sled's flush until the journal is emptied, so a
//! flush never empties a frame whose sled writes it did not cover.

use std::path::PathBuf;
use std::sync::{MutexGuard, PoisonError};

use super::journal::{Contents, FLUSH_AT_BYTES, Frame, Journal};
use super::{META_HEAD, META_MARK_SINCE, Store};
use crate::chain::{GENESIS, Hash, Stored, hash, id_key};
use crate::error::ArchiveError;
use crate::high_water_mark::HighWaterMark;
use crate::index::IndexKeys;
use crate::signing::Checkpoint;

impl Store {
    /// The journal, locked: taken by a commit before its first sled write.
    pub(crate) fn journal_lock(&self) -> MutexGuard<'_, Journal> {
        self.journal.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The durability point of a commit whose sled writes are done: its frame is appended to
    /// the journal and synced, then the new signed head goes to the high-water mark file
    /// (see [`high_water_mark`] for why after, and why without an fsync of its own).
    ///
    /// [`high_water_mark`]: crate::high_water_mark
    pub(crate) fn commit_durable(
        &self,
        journal: &mut Journal,
        last_id: u64,
        frame: &Frame,
    ) -> Result<(), ArchiveError> {
        let mark = self.mark_lock().pending.take();
        journal.append(last_id, frame)?;
        self.write_mark(mark)?;
        if journal.len() > FLUSH_AT_BYTES {
            // Already durable; this only bounds the journal (and the replay after a crash).
            self.durable_flush_locked(journal)?;
        }
        Ok(())
    }

    /// Makes everything sled holds durable and empties the journal: sled writes out its
    /// buffers, then its data file is `fdatasync`ed, so what was written survives a power
    /// cut, not only a process crash. The newest signed head is then written to the
    /// high-water mark file.
    pub(crate) fn durable_flush(&self) -> Result<(), ArchiveError> {
        let mut journal = self.journal_lock();
        self.durable_flush_locked(&mut journal)
    }

    /// [`Store::durable_flush`] for a caller that holds the journal lock.
    pub(crate) fn durable_flush_locked(&self, journal: &mut Journal) -> Result<(), ArchiveError> {
        let mark = self.mark_lock().pending.take();
        self.db.flush()?;
        let file_err = |path: PathBuf| move |source| ArchiveError::File { path, source };
        self.data_file
            .sync_data()
            .map_err(file_err(self.dir.join("db").join("db")))?;
        // Values too large for a log segment (~128 KiB) go to their own files under
        // `blobs/`, which sled writes without syncing. Rare for IM text; sync any there are.
        let blobs = self.dir.join("db").join("blobs");
        let mut any = false;
        for entry in std::fs::read_dir(&blobs).map_err(file_err(blobs.clone()))? {
            let path = entry.map_err(file_err(blobs.clone()))?.path();
            match std::fs::File::open(&path).and_then(|f| f.sync_data()) {
                Ok(()) => any = true,
                // sled deletes a blob it no longer needs from its own threads, between the
                // listing and the open: nothing left to make durable.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(file_err(path)(e)),
            }
        }
        if any {
            std::fs::File::open(&blobs)
                .and_then(|d| d.sync_all())
                .map_err(file_err(blobs))?;
        }
        journal.clear()?;
        self.write_mark(mark)
    }

    /// Writes `mark` to the high-water mark file (the caller made it durable first).
    fn write_mark(&self, mark: Option<HighWaterMark>) -> Result<(), ArchiveError> {
        if let Some(mark) = mark
            && self.mark_lock().write(mark)?
        {
            // Recorded only now that the file is durable; durable itself at the next flush.
            self.meta
                .insert(META_MARK_SINCE, &mark.upto_id.to_be_bytes())?;
        }
        Ok(())
    }

    /// Brings sled up to the journal read at open: every acknowledged commit is in it, and
    /// sled may have lost the newest of them in a crash. A frame must carry a head signed by
    /// the archive key and records that chain; the first one that does not stops the replay
    /// and is returned as the problem (appends are then refused). Applying a frame sled
    /// already holds changes nothing.
    pub(crate) fn replay_journal(
        &self,
        contents: Contents,
    ) -> Result<Option<String>, ArchiveError> {
        if contents.torn_bytes > 0 {
            tracing::warn!(
                bytes = contents.torn_bytes,
                "archive: cut off the end of the commit journal (a commit the crash interrupted, never acknowledged)"
            );
        }
        let public = self.key.public();
        let mut prev: Option<Hash> = None;
        let mut changed = false;
        let mut problem = None;
        for frame in &contents.frames {
            if let Err(why) = self.check_frame(frame, &public, &mut prev) {
                problem = Some(why);
                break;
            }
            changed |= self.apply_frame(frame)?;
        }
        if changed {
            tracing::warn!(
                frames = contents.frames.len(),
                "archive: applied the commit journal after an unclean stop"
            );
            self.durable_flush()?;
        } else if problem.is_none() && contents.damage.is_none() {
            self.journal_lock().clear()?;
        }
        Ok(problem.or(contents.damage))
    }

    /// Whether `frame` is a commit of this archive that follows the one before it.
    fn check_frame(
        &self,
        frame: &Frame,
        public: &ed25519_dalek::VerifyingKey,
        prev: &mut Option<Hash>,
    ) -> Result<(), String> {
        let head = Checkpoint::decode(&frame.head)
            .map_err(|e| format!("commit journal: a frame's signed head is unreadable: {e}"))?;
        if !head.verify(public) {
            return Err(format!(
                "commit journal: the frame up to record {} is not signed by the archive key",
                head.upto_id
            ));
        }
        for (id, bytes) in &frame.records {
            let stored = Stored::decode(bytes)
                .map_err(|e| format!("commit journal: record {id} is unreadable: {e}"))?;
            let expected = match *prev {
                Some(hash) => Some(hash),
                None if *id == 1 => Some(GENESIS),
                // The first record in the journal chains from sled's record before it.
                None => self
                    .records
                    .get(id_key(id.saturating_sub(1)))
                    .ok()
                    .flatten()
                    .map(|before| hash(&before)),
            };
            if stored.id != *id || expected.is_some_and(|e| e != stored.prev) {
                return Err(format!(
                    "commit journal: record {id} does not chain from the record before it"
                ));
            }
            *prev = Some(hash(bytes));
        }
        match frame.records.last() {
            Some((id, bytes)) if head.upto_id == *id && head.head == hash(bytes) => Ok(()),
            _ => Err(format!(
                "commit journal: the signed head (record {}) is not the frame's last record",
                head.upto_id
            )),
        }
    }

    /// Writes whatever of `frame` sled does not hold; whether anything was written.
    fn apply_frame(&self, frame: &Frame) -> Result<bool, ArchiveError> {
        let mut keys = Vec::new();
        for (id, bytes) in &frame.records {
            if self.records.get(id_key(*id))?.as_deref() != Some(bytes.as_slice()) {
                self.records.insert(id_key(*id), bytes.as_slice())?;
                keys.push(IndexKeys::of(*id, &Stored::decode(bytes)?.event));
            }
        }
        self.indexes.apply(&keys, false)?;
        let mut changed = !keys.is_empty();
        changed |= self.replay_marks(&frame.marks, &frame.owners)?;
        let head = Checkpoint::decode(&frame.head)?;
        if self
            .signed_head()?
            .is_none_or(|signed| signed.upto_id < head.upto_id)
        {
            self.meta.insert(META_HEAD, frame.head.as_slice())?;
            changed = true;
        }
        Ok(changed)
    }
}
