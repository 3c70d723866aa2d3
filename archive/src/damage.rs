//! Reading a store with pages sled cannot read ("Read corrupted data"): one damaged page
//! must not hide every record after it. [`TolerantRecords`] walks the records in id order
//! and, where sled's checksum fails, names the ids it could not read and carries on after
//! them; `search`, `export` and `archive salvage` serve what is readable through it.

use serde::{Deserialize, Serialize};

use crate::chain::{id_key, key_id};
use crate::error::ArchiveError;
use crate::store::Store;

/// Records a damaged store could not give back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unreadable {
    /// Inclusive id ranges, in order (`to = u64::MAX`: everything from `from` on).
    pub ranges: Vec<(u64, u64)>,
    /// What the store said, first time.
    pub reason: String,
}

impl Unreadable {
    /// Whether nothing was unreadable.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Adds ids `from..=to`, merging with the last range when adjacent.
    pub(crate) fn add(&mut self, from: u64, to: u64, reason: &str) {
        if self.reason.is_empty() {
            self.reason = reason.to_owned();
        }
        match self.ranges.last_mut() {
            Some((_, last)) if last.saturating_add(1) >= from => *last = (*last).max(to),
            _ => self.ranges.push((from, to)),
        }
    }

    /// How many ids the ranges hold (`None`: open-ended).
    pub fn count(&self) -> Option<u64> {
        self.ranges.iter().try_fold(0u64, |n, (from, to)| {
            (*to != u64::MAX).then(|| n + to - from + 1)
        })
    }
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("records ")?;
        for (i, (from, to)) in self.ranges.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            match *to {
                to if to == *from => write!(f, "{sep}{from}")?,
                u64::MAX => write!(f, "{sep}{from} onwards")?,
                to => write!(f, "{sep}{from}..={to}")?,
            }
        }
        write!(f, " could not be read ({})", self.reason)
    }
}

/// What sled said about damage, in words a person can act on: where in its files the
/// checksum failed, without sled's debug formatting.
pub fn describe_damage(e: &sled::Error) -> String {
    match e {
        sled::Error::Corruption {
            at: Some(sled::DiskPtr::Inline(offset)),
            ..
        } => format!("sled's checksum failed at byte {offset} of db/db"),
        sled::Error::Corruption {
            at: Some(sled::DiskPtr::Blob(offset, blob)),
            ..
        } => format!("sled's checksum failed in blob {blob} (log byte {offset})"),
        sled::Error::Corruption { at: None, .. } => "sled's checksum failed".to_owned(),
        other => other.to_string(),
    }
}

/// One step of a tolerant walk.
pub(crate) enum Item {
    /// A record's key and stored bytes, read.
    Record {
        /// Its id.
        id: u64,
        /// Its stored bytes.
        bytes: sled::IVec,
    },
    /// Ids `from..=to` could not be read (`to = u64::MAX`: nothing past `from` could be
    /// told apart).
    Unreadable {
        /// First id.
        from: u64,
        /// Last id.
        to: u64,
        /// What the store said.
        reason: String,
    },
}

/// The records tree in id order from `from`, stepping over what cannot be read.
///
/// sled's iterator stops being useful at the first page whose checksum fails. Then each id
/// is read on its own (`get`) up to the end of the store (the highest key, or the signed
/// head, whichever is further): ids that fail are unreadable, and the walk resumes at the
/// first that reads. Every error moves the walk on by at least one id, so it ends.
pub(crate) struct TolerantRecords<'a> {
    store: &'a Store,
    from: u64,
    iter: Option<sled::Iter>,
    end: Option<u64>,
    done: bool,
}

impl<'a> TolerantRecords<'a> {
    pub(crate) fn new(store: &'a Store, from: u64) -> Self {
        Self {
            store,
            from,
            iter: None,
            end: None,
            done: false,
        }
    }

    /// The last id worth probing: the highest readable key or the signed head.
    fn end(&mut self) -> u64 {
        *self.end.get_or_insert_with(|| {
            let last_key = self
                .store
                .records
                .last()
                .ok()
                .flatten()
                .and_then(|(k, _)| key_id(&k).ok());
            let signed = self.store.signed_head().ok().flatten().map(|h| h.upto_id);
            last_key.max(signed).unwrap_or(0)
        })
    }

    /// After the iterator failed at `self.from`: probe ids one by one. `None`: nothing to
    /// give for this id (absent, e.g. purged), go on.
    fn probe(&mut self, reason: String) -> Option<Item> {
        let start = self.from;
        let end = self.end();
        if start > end {
            self.done = true;
            return Some(Item::Unreadable {
                from: start,
                to: u64::MAX,
                reason,
            });
        }
        let mut id = start;
        while id <= end {
            match self.store.records.get(id_key(id)) {
                Err(_) => id += 1,
                Ok(found) if id == start => {
                    // The iterator failed, yet this id reads: take it and go on past it.
                    self.from = id + 1;
                    return found.map(|bytes| Item::Record { id, bytes });
                }
                Ok(_) => break,
            }
        }
        self.from = id;
        if id > end {
            self.done = true;
        }
        Some(Item::Unreadable {
            from: start,
            to: id - 1,
            reason,
        })
    }
}

impl Iterator for TolerantRecords<'_> {
    type Item = Result<Item, ArchiveError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            let records = &self.store.records;
            let from = self.from;
            let step = self
                .iter
                .get_or_insert_with(|| records.range(id_key(from)..))
                .next();
            return match step {
                None => {
                    self.done = true;
                    None
                }
                Some(Ok((key, bytes))) => match key_id(&key) {
                    Ok(id) => {
                        self.from = id.saturating_add(1);
                        Some(Ok(Item::Record { id, bytes }))
                    }
                    Err(e) => Some(Err(e)),
                },
                Some(Err(e @ sled::Error::Corruption { .. })) => {
                    self.iter = None;
                    match self.probe(describe_damage(&e)) {
                        Some(item) => Some(Ok(item)),
                        None => continue,
                    }
                }
                Some(Err(e)) => {
                    // Not damage (I/O, a closed store): nothing further can be read.
                    self.done = true;
                    Some(Err(e.into()))
                }
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Archive, ArchiveOptions};

    #[test]
    fn unreadable_ranges_merge_count_and_read_as_a_sentence() {
        let mut lost = Unreadable::default();
        assert!(lost.is_empty());
        lost.add(3, 3, "sled's checksum failed at byte 7 of db/db");
        lost.add(4, 6, "ignored: the first reason is kept");
        lost.add(9, 9, "");
        assert_eq!(lost.ranges, vec![(3, 6), (9, 9)]);
        assert_eq!(lost.count(), Some(5));
        assert_eq!(
            lost.to_string(),
            "records 3..=6, 9 could not be read (sled's checksum failed at byte 7 of db/db)"
        );
        lost.add(12, u64::MAX, "");
        assert_eq!(lost.count(), None);
        assert!(
            lost.to_string().contains("9, 12 onwards could not"),
            "{lost}"
        );
    }

    #[test]
    fn a_sound_store_walks_tolerantly_as_it_iterates() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = Archive::open(tmp.path(), ArchiveOptions::default()).unwrap();
        let mut synthetic = crate::synthetic::Synthetic::new(1, 3, 1, record::now_ns());
        for i in 0..20 {
            archive.append_blocking(synthetic.event(i, 20)).unwrap();
        }
        let ids: Vec<u64> = TolerantRecords::new(&archive.store, 5)
            .map(|item| match item.unwrap() {
                Item::Record { id, .. } => id,
                Item::Unreadable { from, to, .. } => panic!("{from}..={to} unreadable"),
            })
            .collect();
        assert_eq!(ids, (5..=20).collect::<Vec<_>>());
    }
}
