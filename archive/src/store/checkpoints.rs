//! The signed head (rewritten every commit) and the permanent checkpoint log: signing them,
//! appending to the log and reading it back.

use super::{Head, META_HEAD, Store};
use crate::chain::{Hash, key_id};
use crate::error::ArchiveError;
use crate::high_water_mark::HighWaterMark;
use crate::signing::{Checkpoint, CheckpointReason};
use record::now_ns;

impl Store {
    /// Signs the head after a commit (kept in meta, replaced each time); returns it as
    /// stored, for the commit's journal frame.
    pub(crate) fn sign_head(
        &self,
        id: u64,
        head: Hash,
        time_ns: i64,
    ) -> Result<Vec<u8>, ArchiveError> {
        let cp = Checkpoint::signed(&self.key, 0, id, head, time_ns, CheckpointReason::Head)?;
        let encoded = cp.encode()?;
        self.meta.insert(META_HEAD, encoded.as_slice())?;
        // Written to the mark file once the commit is durable, never before.
        self.mark_lock().pending = Some(HighWaterMark::of(&cp));
        Ok(encoded)
    }

    /// The latest signed head.
    pub(crate) fn signed_head(&self) -> Result<Option<Checkpoint>, ArchiveError> {
        self.meta
            .get(META_HEAD)?
            .map(|v| Checkpoint::decode(&v))
            .transpose()
    }

    /// Appends a permanent signed checkpoint of the current head and flushes it.
    pub(crate) fn write_checkpoint(
        &self,
        reason: CheckpointReason,
    ) -> Result<Checkpoint, ArchiveError> {
        let head = *self.head_lock();
        let cp = self.write_checkpoint_locked(head, reason)?;
        self.durable_flush()?;
        Ok(cp)
    }

    /// Writes a checkpoint for `head`; the caller holds the head lock or owns the store.
    pub(crate) fn write_checkpoint_locked(
        &self,
        head: Head,
        reason: CheckpointReason,
    ) -> Result<Checkpoint, ArchiveError> {
        // A checkpoint log without a signed head reads as tampering on the next open (the
        // head is signed after every commit, so it is missing only before the first one):
        // sign the head first.
        if self.signed_head()?.is_none() {
            self.sign_head(head.id, head.hash, now_ns())?;
        }
        let seq = self
            .checkpoints
            .last()?
            .map_or(Ok(0), |(k, _)| key_id(&k))?
            + 1;
        let cp = Checkpoint::signed(&self.key, seq, head.id, head.hash, now_ns(), reason)?;
        self.checkpoints.insert(seq.to_be_bytes(), cp.encode()?)?;
        Ok(cp)
    }

    /// The newest permanent checkpoint.
    pub(crate) fn latest_checkpoint(&self) -> Result<Option<Checkpoint>, ArchiveError> {
        self.checkpoints
            .last()?
            .map(|(_, v)| Checkpoint::decode(&v))
            .transpose()
    }

    /// Every permanent checkpoint, oldest first.
    pub(crate) fn all_checkpoints(&self) -> Result<Vec<Checkpoint>, ArchiveError> {
        self.checkpoints
            .iter()
            .map(|item| Checkpoint::decode(&item?.1))
            .collect()
    }
}
