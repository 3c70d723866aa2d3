//! What the store keeps per ingest source in its meta tree: the highest seq stored and the
//! client the source is bound to, written in one transaction with the records they cover.

use super::Store;
use crate::error::ArchiveError;

impl Store {
    /// The highest seq stored for ingest `source`, if any was (seq 0 is a valid seq).
    pub(crate) fn ingest_mark(&self, source: &str) -> Result<Option<u64>, ArchiveError> {
        self.meta_u64(&ingest_mark_key(source))
    }

    /// The client ingest `source` is bound to, if any wrote it yet.
    pub(crate) fn ingest_owner(&self, source: &str) -> Result<Option<String>, ArchiveError> {
        Ok(self
            .meta
            .get(ingest_owner_key(source))?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Writes `records`, the ingest `marks` and the `owners` of sources first written now
    /// in one sled transaction: a source's binding to its client is as durable as its
    /// first record.
    pub(crate) fn append_with_marks(
        &self,
        records: &sled::Batch,
        marks: &std::collections::HashMap<String, u64>,
        owners: &std::collections::HashMap<String, String>,
    ) -> Result<(), ArchiveError> {
        use sled::Transactional;
        (&self.records, &self.meta)
            .transaction(|(r, m)| {
                r.apply_batch(records)?;
                for (source, seq) in marks {
                    m.insert(ingest_mark_key(source), &seq.to_be_bytes())?;
                }
                for (source, client) in owners {
                    m.insert(ingest_owner_key(source), client.as_bytes())?;
                }
                Ok(())
            })
            .map_err(|e: sled::transaction::TransactionError<()>| match e {
                sled::transaction::TransactionError::Storage(e) => ArchiveError::Store(e),
                sled::transaction::TransactionError::Abort(()) => {
                    ArchiveError::CommitFailed("ingest transaction aborted".into())
                }
            })
    }
}

impl Store {
    /// Applies a journal frame's ingest marks and new owners (replay after a crash): a mark
    /// only ever rises, and a source keeps the first client it was bound to. Whether
    /// anything was written.
    pub(crate) fn replay_marks(
        &self,
        marks: &[(String, u64)],
        owners: &[(String, String)],
    ) -> Result<bool, ArchiveError> {
        let mut changed = false;
        for (source, seq) in marks {
            if self.ingest_mark(source)?.is_none_or(|mark| mark < *seq) {
                self.meta
                    .insert(ingest_mark_key(source), &seq.to_be_bytes())?;
                changed = true;
            }
        }
        for (source, client) in owners {
            if self.ingest_owner(source)?.is_none() {
                self.meta
                    .insert(ingest_owner_key(source), client.as_bytes())?;
                changed = true;
            }
        }
        Ok(changed)
    }
}

impl Store {
    /// Puts ingest marks back (`None`: the source had none) and unbinds sources from their
    /// client, after a commit that raised and bound them failed.
    pub(crate) fn restore_marks<'a>(
        &self,
        marks: impl Iterator<Item = (&'a str, Option<u64>)>,
        unbound: impl Iterator<Item = &'a str>,
    ) -> Result<(), ArchiveError> {
        for (source, mark) in marks {
            match mark {
                Some(seq) => self
                    .meta
                    .insert(ingest_mark_key(source), &seq.to_be_bytes())?,
                None => self.meta.remove(ingest_mark_key(source))?,
            };
        }
        for source in unbound {
            self.meta.remove(ingest_owner_key(source))?;
        }
        Ok(())
    }
}

/// The meta key of an ingest source's highest stored seq.
fn ingest_mark_key(source: &str) -> Vec<u8> {
    let mut key = b"ingest/".to_vec();
    key.extend_from_slice(source.as_bytes());
    key
}

/// Meta key: the client ingest `source` is bound to (see [`crate::IngestKey`]).
fn ingest_owner_key(source: &str) -> Vec<u8> {
    let mut key = b"ingest_owner/".to_vec();
    key.extend_from_slice(source.as_bytes());
    key
}
