//! Search on a store with damaged pages: the matches that can be read, and the ids that
//! cannot. A record page sled cannot read costs only its records; a damaged index page
//! costs the index, and the records are scanned instead (slower, same answer).

use std::collections::BTreeSet;

use crate::archive::Archive;
use crate::chain::{Stored, id_key};
use crate::damage::{Item, TolerantRecords, Unreadable, describe_damage};
use crate::error::ArchiveError;
use crate::query::Query;

impl Archive {
    /// The ids `query` matches, in the order [`Archive::search`] gives them (time, then
    /// id), and what could not be read: ids the index named whose records fail sled's
    /// checksum or, when the index itself cannot be read, the id ranges of a full scan.
    pub fn readable_matches(&self, query: &Query) -> Result<(Vec<u64>, Unreadable), ArchiveError> {
        let limit = query.limit.unwrap_or(usize::MAX);
        let mut ids = Vec::new();
        let mut lost = BTreeSet::new();
        let mut reason = String::new();
        let index_failure = match self.candidate_ids(query) {
            Ok(candidates) => {
                let mut failure = None;
                for candidate in candidates {
                    let id = match candidate {
                        Ok(id) => id,
                        Err(ArchiveError::Store(e @ sled::Error::Corruption { .. })) => {
                            failure = Some(describe_damage(&e));
                            break;
                        }
                        Err(e) => return Err(e),
                    };
                    match self.store.records.get(id_key(id)) {
                        // An index entry whose record was purged meanwhile.
                        Ok(None) => {}
                        Ok(Some(bytes)) => {
                            if query.matches(&Stored::decode(&bytes)?.into_record()) {
                                ids.push(id);
                                if ids.len() >= limit {
                                    break;
                                }
                            }
                        }
                        Err(e @ sled::Error::Corruption { .. }) => {
                            if reason.is_empty() {
                                reason = describe_damage(&e);
                            }
                            lost.insert(id);
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                failure
            }
            Err(ArchiveError::Store(e @ sled::Error::Corruption { .. })) => {
                Some(describe_damage(&e))
            }
            Err(e) => return Err(e),
        };
        let Some(index_reason) = index_failure else {
            let mut unreadable = Unreadable::default();
            for id in lost {
                unreadable.add(id, id, &reason);
            }
            return Ok((ids, unreadable));
        };
        tracing::warn!(
            problem = %index_reason,
            "archive: a search index cannot be read; scanning every record instead"
        );
        let mut unreadable = Unreadable::default();
        let mut found = Vec::new();
        for item in TolerantRecords::new(&self.store, 1) {
            match item? {
                Item::Record { id, bytes } => {
                    let record = Stored::decode(&bytes)?.into_record();
                    if query.matches(&record) {
                        found.push((record.event.time_ns, id));
                    }
                }
                Item::Unreadable { from, to, reason } => unreadable.add(from, to, &reason),
            }
        }
        found.sort_unstable();
        Ok((
            found.into_iter().map(|(_, id)| id).take(limit).collect(),
            unreadable,
        ))
    }
}
