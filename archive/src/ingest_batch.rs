//! What one commit decides about keyed appends (records shipped from a Sametime spool): which
//! are new, which are resends, which come from a client that does not own their source; and,
//! if the commit fails, how to put the sources' marks back as they were.

use std::collections::HashMap;

use crate::error::ArchiveError;
use crate::store::Store;
use crate::writer::IngestKey;

/// What becomes of one keyed append.
pub(crate) enum Admission {
    /// New: store it (its source's mark is raised with the commit).
    Store,
    /// A resend of a record stored before.
    Duplicate,
    /// Its source belongs to another client: not stored.
    Claimed {
        /// The source.
        source_id: String,
        /// The client it belongs to.
        owner: String,
    },
}

/// The keyed appends of one commit, as decided so far.
#[derive(Default)]
pub(crate) struct IngestBatch {
    /// Highest seq per source as of this batch (sources new to it are looked up).
    pub(crate) marks: HashMap<String, u64>,
    /// Each source's stored mark before this batch, for [`IngestBatch::restore`].
    before: HashMap<String, Option<u64>>,
    /// Each source's owning client, as of this batch.
    owners: HashMap<String, String>,
    /// Sources first written by this batch → their client; written with the marks.
    pub(crate) new_owners: HashMap<String, String>,
    /// Whether any mark rose.
    pub(crate) changed: bool,
}

impl IngestBatch {
    /// Decides `key`'s append, in the order the appends came.
    pub(crate) fn admit(
        &mut self,
        store: &Store,
        key: &IngestKey,
    ) -> Result<Admission, ArchiveError> {
        // Ownership first: another client's resend is a claim too.
        let owner = match self.owners.get(&key.source) {
            Some(owner) => Some(owner.clone()),
            None => store.ingest_owner(&key.source)?,
        };
        match owner {
            Some(owner) if owner != key.client => {
                self.owners.insert(key.source.clone(), owner.clone());
                return Ok(Admission::Claimed {
                    source_id: key.source.clone(),
                    owner,
                });
            }
            Some(owner) => {
                self.owners.insert(key.source.clone(), owner);
            }
            None => {
                self.owners.insert(key.source.clone(), key.client.clone());
                self.new_owners
                    .insert(key.source.clone(), key.client.clone());
            }
        }
        let mark = match self.marks.get(&key.source) {
            Some(mark) => Some(*mark),
            None => {
                let stored = store.ingest_mark(&key.source)?;
                self.before.insert(key.source.clone(), stored);
                stored
            }
        };
        // A spool's first seq may be 0 (sled's ids start there): no mark is not mark 0.
        if mark.is_some_and(|mark| key.seq <= mark) {
            tracing::debug!(target: "imtegrity::ingest", source = %key.source, seq = key.seq, ?mark, "resend: already stored");
            return Ok(Admission::Duplicate);
        }
        tracing::debug!(target: "imtegrity::ingest", source = %key.source, seq = key.seq, "stored");
        self.marks.insert(key.source.clone(), key.seq);
        self.changed = true;
        Ok(Admission::Store)
    }

    /// After a failed commit: the marks it raised and the owners it bound are put back, so
    /// the sender's resend of a record that was never acknowledged is stored, not taken for
    /// a duplicate.
    pub(crate) fn restore(&self, store: &Store) -> Result<(), ArchiveError> {
        let before = self
            .marks
            .keys()
            .map(|source| (source.as_str(), self.before.get(source).copied().flatten()));
        store.restore_marks(before, self.new_owners.keys().map(String::as_str))
    }
}
