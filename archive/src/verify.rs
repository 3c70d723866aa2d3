//! Verification: walk the chain in id order and report the first record that was edited,
//! deleted, inserted or reordered; check every checkpoint's signature and that the chain
//! still ends where the last signed head says.

mod report;
mod source_proof;
mod tamper;

use std::collections::{BTreeMap, HashMap};

use ed25519_dalek::VerifyingKey;

use crate::archive::Archive;
use crate::chain::{GENESIS, Hash, Stored, hash, key_id};
use crate::damage::{Item, TolerantRecords};
use crate::error::ArchiveError;
use crate::signing::{Checkpoint, CheckpointReason, fingerprint};
use record::hex;
pub use report::{OtherKey, SalvagedFrom, VerifyReport};
use source_proof::salvage_note;
pub use tamper::Tamper;

struct Entry {
    key: u64,
    bytes: sled::IVec,
}

impl Archive {
    /// Verifies with the public key stored in the archive. For an independent check, pin
    /// the key printed when the archive was created and use [`Archive::verify_with`].
    pub fn verify(&self) -> Result<VerifyReport, ArchiveError> {
        let key = self.store.key.public();
        self.verify_with(&key)
    }

    /// Verifies the chain and every signature against `public`, then the store against its
    /// high-water mark (a store rolled back in time walks as intact).
    pub fn verify_with(&self, public: &VerifyingKey) -> Result<VerifyReport, ArchiveError> {
        // Hold the head so no commit interleaves with the walk (a commit rewrites the mark
        // under this lock too).
        let head = self.store.head_lock();
        let mut report = self.walk(public)?;
        if report.not_signed_by.is_some() {
            return Ok(report);
        }
        let (mark, rolled_back) = self.store.check_mark(head.id, public)?;
        report.high_water_mark = mark;
        if report.tamper.is_none() {
            report.tamper = rolled_back;
        }
        Ok(report)
    }

    /// The chain walk; the caller holds the head lock.
    fn walk(&self, public: &VerifyingKey) -> Result<VerifyReport, ArchiveError> {
        let checkpoints = self.store.all_checkpoints()?;
        let signed_head = self.store.signed_head()?;
        let mut report = VerifyReport {
            records: 0,
            first_id: None,
            last_id: None,
            tamper: None,
            checkpoints: checkpoints.len() as u64,
            signed_head: signed_head.as_ref().map(|h| h.upto_id),
            head_matches: false,
            unsigned_tail: 0,
            purged: 0,
            public_key: hex(public.as_bytes()),
            recovered: checkpoints
                .iter()
                .filter_map(|cp| match cp.reason {
                    CheckpointReason::Recovered { from, to } => Some((from, to)),
                    _ => None,
                })
                .collect(),
            high_water_mark: None,
            not_signed_by: None,
            salvaged: None,
        };
        if let Some(seq) = (1..)
            .zip(&checkpoints)
            .find(|(n, cp)| cp.seq != *n)
            .map(|(n, _)| n)
        {
            report.tamper = Some(Tamper::CheckpointMissing { seq });
            return Ok(report);
        }
        if signed_head.is_none() && !checkpoints.is_empty() {
            report.tamper = Some(Tamper::SignedHeadMissing);
            return Ok(report);
        }
        let own = self.store.key.public();
        if *public != own {
            let signed: Vec<&Checkpoint> = checkpoints.iter().chain(signed_head.as_ref()).collect();
            if signed.iter().all(|cp| cp.verify(&own)) && !signed.iter().any(|cp| cp.verify(public))
            {
                report.not_signed_by = Some(OtherKey {
                    given: hex(public.as_bytes()),
                    given_fingerprint: fingerprint(public),
                    signed_by: hex(own.as_bytes()),
                    signed_by_fingerprint: fingerprint(&own),
                    signatures: signed.len() as u64,
                });
                return Ok(report);
            }
        }
        if let Some(bad) = checkpoints
            .iter()
            .chain(signed_head.as_ref())
            .find(|cp| !cp.verify(public))
        {
            report.tamper = Some(Tamper::BadSignature {
                checkpoint: bad.seq,
            });
            return Ok(report);
        }
        let (mut purged, mut anchors) = purges(&checkpoints);
        report.purged = purged.iter().map(|(from, to)| to - from + 1).sum();
        // A salvaged copy: its holes are crossed like purges, and the source's own signed
        // checkpoints still vouch for the records copied.
        if let Some((note, time_ns)) = salvage_note(&checkpoints) {
            for (from, to) in &note.holes {
                purged.insert(*from, *to);
            }
            anchors.extend(note.anchors.iter().copied());
            let (salvaged, problem) = self.check_source_proof(note, time_ns)?;
            report.salvaged = Some(salvaged);
            if let Some(problem) = problem {
                report.tamper = Some(problem);
                return Ok(report);
            }
        }
        let is_purged = |id: u64| {
            purged
                .range(..=id)
                .next_back()
                .is_some_and(|(_, to)| id <= *to)
        };
        // Hashes the walk must meet at checkpoint positions.
        let mut want: HashMap<u64, (u64, Hash)> = HashMap::new();
        for cp in &checkpoints {
            if cp.upto_id > 0 {
                want.insert(cp.upto_id, (cp.seq, cp.head));
            }
        }
        let mut last_good_checkpoint = 0u64;

        let mut entries = self.store.records.iter().map(|item| {
            let (k, v) = item?;
            Ok::<_, ArchiveError>(Entry {
                key: key_id(&k)?,
                bytes: v,
            })
        });
        let (mut expected_id, mut expected_prev, mut previous_prev) = (1u64, GENESIS, GENESIS);
        let unreadable = |after: u64, e: sled::Error| Tamper::Unreadable {
            ranges: self.unreadable_after(after),
            reason: crate::damage::describe_damage(&e),
        };
        let mut next = match entries.next().transpose() {
            Ok(next) => next,
            Err(ArchiveError::Store(e)) => {
                report.tamper = Some(unreadable(0, e));
                return Ok(report);
            }
            Err(e) => return Err(e),
        };
        let mut last: Option<(u64, Hash)> = None;
        while let Some(entry) = next.take() {
            next = match entries.next().transpose() {
                Ok(next) => next,
                // sled's checksum failed past this record: say which records are lost to
                // the damage rather than stopping with an I/O error.
                Err(ArchiveError::Store(e)) => {
                    report.tamper = Some(unreadable(entry.key, e));
                    return Ok(report);
                }
                Err(e) => return Err(e),
            };
            report.records += 1;
            report.first_id.get_or_insert(entry.key);
            report.last_id = Some(entry.key);
            if entry.key != expected_id {
                let missing = (expected_id..entry.key).find(|id| !is_purged(*id));
                if let Some(from) = missing {
                    let to = (from..entry.key)
                        .take_while(|id| !is_purged(*id))
                        .last()
                        .unwrap_or(from);
                    report.tamper = Some(Tamper::Deleted { from, to });
                    return Ok(report);
                }
                match anchors.get(&entry.key) {
                    Some(anchor) => expected_prev = *anchor,
                    None => {
                        report.tamper = Some(Tamper::Deleted {
                            from: expected_id,
                            to: entry.key - 1,
                        });
                        return Ok(report);
                    }
                }
            }
            let Ok(stored) = Stored::decode(&entry.bytes) else {
                report.tamper = Some(Tamper::Edited { id: entry.key });
                return Ok(report);
            };
            let this_hash = hash(&entry.bytes);
            if stored.id != entry.key {
                report.tamper = Some(
                    if stored.id + 1 == entry.key && stored.prev == previous_prev {
                        // The record before us was slipped in and everything after re-keyed.
                        Tamper::Inserted { id: stored.id }
                    } else {
                        Tamper::Reordered {
                            at: entry.key,
                            carries: stored.id,
                        }
                    },
                );
                return Ok(report);
            }
            if stored.prev != expected_prev {
                let next_links_to_us = next
                    .as_ref()
                    .and_then(|n| Stored::decode(&n.bytes).ok())
                    .is_some_and(|n| n.prev == this_hash);
                // The last record has no successor to vouch for it, but a signature may.
                let signed_as_is = want
                    .get(&entry.key)
                    .map(|(_, h)| h)
                    .or(signed_head
                        .as_ref()
                        .filter(|h| h.upto_id == entry.key)
                        .map(|h| &h.head))
                    .is_none_or(|h| *h == this_hash);
                let edited = if next_links_to_us || (next.is_none() && signed_as_is) {
                    // We are consistent with our successor: our predecessor changed.
                    entry
                        .key
                        .saturating_sub(1)
                        .max(report.first_id.unwrap_or(1))
                } else {
                    entry.key
                };
                report.tamper = Some(Tamper::Edited { id: edited });
                return Ok(report);
            }
            if let Some((seq, head)) = want.get(&entry.key) {
                // If the very next record does not link to this one, the chain breaks right
                // here and the next step names the edit, insertion or reordering. Only a
                // chain that still links on past a mismatching checkpoint was rewritten.
                let breaks_after = || {
                    next.as_ref().is_some_and(|n| {
                        n.key == entry.key + 1
                            && Stored::decode(&n.bytes).is_ok_and(|n| n.prev != this_hash)
                    })
                };
                if *head == this_hash {
                    last_good_checkpoint = entry.key;
                } else if !breaks_after() {
                    report.tamper = Some(Tamper::Rewritten {
                        checkpoint: *seq,
                        upto: entry.key,
                        after: last_good_checkpoint,
                    });
                    return Ok(report);
                }
            }
            previous_prev = stored.prev;
            expected_prev = this_hash;
            expected_id = entry.key + 1;
            last = Some((entry.key, this_hash));
        }
        match (&signed_head, last) {
            (None, None) => report.head_matches = true,
            (None, Some(_)) => report.unsigned_tail = report.records,
            (Some(head), last) => {
                let (last_id, last_hash) = last.unwrap_or((0, GENESIS));
                if last_id < head.upto_id {
                    let from = (last_id + 1..=head.upto_id).find(|id| !is_purged(*id));
                    match from {
                        Some(from) => {
                            report.tamper = Some(Tamper::Deleted {
                                from,
                                to: head.upto_id,
                            })
                        }
                        None => report.head_matches = true,
                    }
                } else if last_id == head.upto_id {
                    if last_hash == head.head {
                        report.head_matches = true;
                    } else {
                        report.tamper = Some(Tamper::Edited { id: last_id });
                    }
                } else {
                    report.unsigned_tail = last_id - head.upto_id;
                    report.head_matches = false;
                }
            }
        }
        Ok(report)
    }
}

impl Archive {
    /// The ids after `after` whose records cannot be read, as inclusive ranges, found by
    /// the tolerant walk ([`TolerantRecords`]) up to the signed head or the highest readable
    /// key. When nothing past `after` can be told apart, the range is open-ended at
    /// `u64::MAX`.
    fn unreadable_after(&self, after: u64) -> Vec<(u64, u64)> {
        let mut ranges: Vec<(u64, u64)> = Vec::new();
        for item in TolerantRecords::new(&self.store, after + 1) {
            match item {
                Ok(Item::Unreadable { from, to, .. }) => ranges.push((from, to)),
                Ok(Item::Record { .. }) => {}
                Err(_) => break,
            }
        }
        if ranges.is_empty() {
            // Every record reads on its own, but walking past `after` failed: name the
            // record where the walk stopped.
            ranges.push((after + 1, after + 1));
        }
        ranges
    }
}

/// Purged id ranges (from → to) and the signed `prev` anchors of records after them.
pub(crate) fn purges(checkpoints: &[Checkpoint]) -> (BTreeMap<u64, u64>, HashMap<u64, Hash>) {
    let mut ranges = BTreeMap::new();
    let mut anchors = HashMap::new();
    for cp in checkpoints {
        if let CheckpointReason::Purge { purged, anchors: a } = &cp.reason {
            for (from, to) in purged {
                ranges.insert(*from, *to);
            }
            anchors.extend(a.iter().copied());
        }
    }
    (ranges, anchors)
}
