//! The store against its high-water mark file ([`high_water_mark`]): checked at open, before
//! appends are allowed, and again by `verify`. Kept apart from the store's open and flush
//! because the verdict on the file is its own job with its own reading of the meta keys.

use super::{Head, META_MARK_SINCE, Store};
use crate::error::ArchiveError;
use crate::high_water_mark::{self, HighWaterMark, MarkWriter};
use crate::signing::Checkpoint;
use crate::verify::Tamper;

/// The mark file and what the store says beside it ([`Store::read_mark`]).
struct MarkReading {
    /// The file's bytes (`None`: no file).
    bytes: Option<Vec<u8>>,
    /// The store's signed head.
    signed: Option<Checkpoint>,
    /// The head id from which the store has kept a mark file, if it has.
    since: Option<u64>,
    /// What is wrong, if anything.
    problem: Option<Tamper>,
}

impl Store {
    /// Checks the store against its high-water mark file and sets the file up for writing.
    /// A finding (rolled back, replaced, file missing or untrustworthy) is returned as the
    /// reason to refuse appends, and the file is left alone: it is the evidence.
    ///
    /// No file and no record of ever having had one: a new archive (the file is created at
    /// the first commit) or one made before the file existed (it is created now, from the
    /// signed head; nothing older can be checked). No file on an archive that has kept one
    /// (`META_MARK_SINCE`) is refused: a copy restored without it, or a file removed, cannot
    /// show whether the store went back in time, so an operator must decide.
    pub(super) fn open_mark(&self, head: Head) -> Result<Option<String>, ArchiveError> {
        let public = self.key.public();
        let MarkReading {
            bytes,
            signed,
            since,
            problem,
        } = self.read_mark(head.id, &public)?;
        if let Some(problem) = problem {
            return Ok(Some(problem.to_string()));
        }
        let found = bytes
            .as_deref()
            .and_then(|b| high_water_mark::newest_slot(b, Some(&public)).ok());
        if let (Some((found, _)), None) = (found, since) {
            // Created, then a crash before the store recorded it.
            self.meta
                .insert(META_MARK_SINCE, &found.upto_id.to_be_bytes())?;
        }
        *self.mark_lock() = MarkWriter::open(&self.dir, found, true)?;
        let behind = signed.filter(|s| found.is_none_or(|(m, _)| m.upto_id < s.upto_id));
        if let Some(signed) = behind {
            if found.is_none() {
                tracing::info!(
                    head = signed.upto_id,
                    "archive: no high-water mark file yet (an archive from before it existed); creating it"
                );
            }
            self.mark_lock().pending = Some(HighWaterMark::of(&signed));
            self.durable_flush()?;
        }
        Ok(None)
    }

    /// The mark file and the store side by side, with the verdict on them. `head_id` is the
    /// chain head (the caller holds the head lock or owns the store).
    fn read_mark(
        &self,
        head_id: u64,
        public: &ed25519_dalek::VerifyingKey,
    ) -> Result<MarkReading, ArchiveError> {
        let bytes = high_water_mark::read(&self.dir)?;
        let signed = self.signed_head()?;
        let since = self.meta_u64(META_MARK_SINCE)?;
        // Retention may have purged the head record; the signed head still counts it.
        let store_high = head_id.max(signed.as_ref().map_or(0, |s| s.upto_id));
        let problem =
            high_water_mark::check(bytes.as_deref(), public, signed.as_ref(), store_high, since);
        Ok(MarkReading {
            bytes,
            signed,
            since,
            problem,
        })
    }

    /// The store against its mark file now, for `verify`: the mark's id (if the file can be
    /// trusted) and what is wrong, if anything. The caller holds the head lock (`head_id`).
    pub(crate) fn check_mark(
        &self,
        head_id: u64,
        public: &ed25519_dalek::VerifyingKey,
    ) -> Result<(Option<u64>, Option<Tamper>), ArchiveError> {
        let reading = self.read_mark(head_id, public)?;
        let mark = reading
            .bytes
            .as_deref()
            .and_then(|b| high_water_mark::parse(b, Some(public)).ok())
            .map(|m| m.upto_id);
        Ok((mark, reading.problem))
    }
}
