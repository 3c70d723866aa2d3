//! Verification: walk the chain in id order and report the first record that was edited,
//! deleted, inserted or reordered; check every checkpoint's signature and that the chain
//! still ends where the last signed head says.

use std::collections::{BTreeMap, HashMap};

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use crate::archive::Archive;
use crate::chain::{GENESIS, Hash, Stored, hash, id_key, key_id};
use crate::damage::{Item, TolerantRecords};
use crate::error::ArchiveError;
use crate::signing::{Checkpoint, CheckpointReason, SalvageNote, fingerprint};
use record::hex;

/// The first thing found wrong with the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "tamper")]
pub enum Tamper {
    /// The record's stored bytes changed since they were chained.
    Edited {
        /// The record.
        id: u64,
    },
    /// Records are missing and no signed purge accounts for them.
    Deleted {
        /// First missing id.
        from: u64,
        /// Last missing id.
        to: u64,
    },
    /// A record was added that was never chained in its place.
    Inserted {
        /// The position (key) the fabricated record occupies.
        id: u64,
    },
    /// A record's value sits under another record's key.
    Reordered {
        /// The key it was found under.
        at: u64,
        /// The id the record itself carries.
        carries: u64,
    },
    /// The chain is internally consistent but no longer ends where a signed checkpoint said:
    /// something at or before `upto` was changed and every later link recomputed.
    Rewritten {
        /// The checkpoint that no longer matches.
        checkpoint: u64,
        /// The record id it covered.
        upto: u64,
        /// Earlier checkpoints still match up to this id, so the change is after it.
        after: u64,
    },
    /// A permanent checkpoint is missing from the log (they are numbered 1, 2, 3...).
    CheckpointMissing {
        /// The missing sequence number.
        seq: u64,
    },
    /// Checkpoints exist but the signed head was removed.
    SignedHeadMissing,
    /// A salvaged archive's records do not match a checkpoint of the archive they were
    /// salvaged from (copied along, signed by that archive's key).
    SourceProof {
        /// The source checkpoint's sequence number.
        seq: u64,
        /// What does not match.
        detail: String,
    },
    /// A checkpoint (or the signed head) does not carry a valid signature for the key.
    BadSignature {
        /// Checkpoint sequence number (0 = the signed head).
        checkpoint: u64,
    },
    /// The store itself could not be read (sled's checksum failed, or the file is damaged):
    /// these records could not be read back, so nothing vouches for them.
    Unreadable {
        /// Inclusive id ranges that could not be read, in order.
        ranges: Vec<(u64, u64)>,
        /// What the store said.
        reason: String,
    },
    /// The store went back in time: the high-water mark kept outside sled says records up
    /// to `mark` were committed, but the store ends at `store_head` (sled fell back to an
    /// older state, or old copies of its files were put back). Records
    /// `store_head + 1 ..= mark` are missing.
    RolledBack {
        /// The highest record id the store holds or signed.
        store_head: u64,
        /// The highest record id ever committed, per the mark.
        mark: u64,
    },
    /// The store's signed head at the mark's id is not the head the mark recorded: the
    /// store was replaced by another with as many records.
    HeadReplaced {
        /// The record id both name.
        id: u64,
    },
    /// The high-water mark file is gone, though the store has kept one since record
    /// `since`: nothing can show whether the store was rolled back.
    MarkMissing {
        /// The head id when the mark file was first written.
        since: u64,
    },
    /// The high-water mark file could not be trusted (no slot passes its checksum and
    /// signature): nothing can show whether the store was rolled back.
    MarkUnreadable {
        /// Why.
        reason: String,
    },
}

impl std::fmt::Display for Tamper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Edited { id } => write!(f, "record {id} was edited"),
            Self::Deleted { from, to } if from == to => write!(f, "record {from} was deleted"),
            Self::Deleted { from, to } => write!(f, "records {from} to {to} were deleted"),
            Self::Inserted { id } => write!(f, "a record was inserted at position {id}"),
            Self::Reordered { at, carries } => {
                write!(
                    f,
                    "records were reordered: position {at} holds record {carries}"
                )
            }
            Self::Rewritten {
                checkpoint,
                upto,
                after,
            } => write!(
                f,
                "the chain was rewritten: checkpoint {checkpoint} (up to record {upto}) no longer \
                 matches; the change is in records {}..={upto}",
                after + 1
            ),
            Self::CheckpointMissing { seq } => {
                write!(f, "checkpoint {seq} was removed from the log")
            }
            Self::SignedHeadMissing => f.write_str("the signed head was removed"),
            Self::BadSignature { checkpoint: 0 } => {
                f.write_str("the signed head's signature is invalid")
            }
            Self::BadSignature { checkpoint } => {
                write!(f, "checkpoint {checkpoint} has an invalid signature")
            }
            Self::Unreadable { ranges, reason } => {
                f.write_str("the store is damaged; could not read records ")?;
                for (i, (from, to)) in ranges.iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    match *to {
                        to if to == *from => write!(f, "{sep}{from}")?,
                        u64::MAX => write!(f, "{sep}{from} onwards")?,
                        to => write!(f, "{sep}{from}..={to}")?,
                    }
                }
                write!(f, " ({reason})")
            }
            Self::SourceProof { seq, detail } => write!(
                f,
                "the salvaged records do not match checkpoint {seq} of the archive they were \
                 salvaged from: {detail}"
            ),
            Self::RolledBack { store_head, mark } => {
                let missing = if store_head + 1 == *mark {
                    format!("record {mark} is missing")
                } else {
                    format!("records {}..={mark} are missing", store_head + 1)
                };
                write!(
                    f,
                    "the store was rolled back: it ends at record {store_head}, but the \
                     high-water mark says record {mark} was committed; {missing}"
                )
            }
            Self::HeadReplaced { id } => write!(
                f,
                "the store was replaced: its signed head at record {id} is not the one the \
                 high-water mark recorded"
            ),
            Self::MarkMissing { since } => write!(
                f,
                "the high-water mark file is missing (kept since record {since}); whether the \
                 store was rolled back cannot be told"
            ),
            Self::MarkUnreadable { reason } => write!(
                f,
                "the high-water mark file cannot be trusted ({reason}); whether the store was \
                 rolled back cannot be told"
            ),
        }
    }
}

/// The result of [`Archive::verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// Records walked.
    pub records: u64,
    /// Lowest id present.
    pub first_id: Option<u64>,
    /// Highest id present.
    pub last_id: Option<u64>,
    /// The first problem, if any: the archive is intact when this is `None`.
    pub tamper: Option<Tamper>,
    /// Permanent checkpoints whose signatures were checked.
    pub checkpoints: u64,
    /// The record id the signed head covers.
    pub signed_head: Option<u64>,
    /// Whether the chain ends exactly at the signed head.
    pub head_matches: bool,
    /// Records after the signed head (appended but not yet signed).
    pub unsigned_tail: u64,
    /// Records removed by signed retention purges.
    pub purged: u64,
    /// The public key the signatures were checked against (hex).
    pub public_key: String,
    /// Id ranges adopted on open after a crash (written, never acknowledged), as recorded
    /// in `Recovered` checkpoints: an auditor should know about them.
    pub recovered: Vec<(u64, u64)>,
    /// The highest record id ever committed, per the high-water mark kept outside sled
    /// (`None`: no trustworthy mark file).
    #[serde(default)]
    pub high_water_mark: Option<u64>,
    /// Set when the key checked against is not the archive's and every signature is the
    /// archive's own: the archive was not signed by that key. Not tampering as such (the
    /// chain was not walked); see [`OtherKey`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_signed_by: Option<OtherKey>,
    /// Set when this archive is a salvaged copy of another (`archive salvage`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salvaged: Option<SalvagedFrom>,
}

/// Where a salvaged archive came from, as its signed [`crate::SalvageNote`] says, and how
/// the source's own checkpoints checked against the records copied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalvagedFrom {
    /// The damaged archive's directory.
    pub source: String,
    /// Its public key (hex).
    pub source_key: String,
    /// Its fingerprint.
    pub source_fingerprint: String,
    /// The record id the source's signed head covered.
    pub source_head: u64,
    /// Ids that could not be read there.
    pub lost: Vec<(u64, u64)>,
    /// What its store said about them.
    pub reason: String,
    /// Ids absent from the source that neither damage nor a signed purge accounts for.
    #[serde(default)]
    pub missing: Vec<(u64, u64)>,
    /// Who salvaged it.
    pub by: String,
    /// When (UTC ns).
    pub time_ns: i64,
    /// When, RFC 3339 UTC.
    pub time: String,
    /// Source checkpoints whose signature checked with the source key.
    pub source_checkpoints: u64,
    /// Of those, the ones whose record was copied and hashes to the head they signed.
    pub source_heads_matched: u64,
}

/// "This archive was not signed by that key": the key given and the key that did sign.
///
/// Either the wrong key was given (another gateway's, a typo'd copy), or the archive was
/// re-signed with a key put in place of the one pinned: which one, only the person who
/// pinned the key can tell, so the report names both keys and leaves the verdict to them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtherKey {
    /// The key verification was asked to use (hex).
    pub given: String,
    /// Its fingerprint ([`crate::fingerprint`]).
    pub given_fingerprint: String,
    /// The key stored in the archive, which every signature checks against (hex).
    pub signed_by: String,
    /// Its fingerprint.
    pub signed_by_fingerprint: String,
    /// Signatures checked (checkpoints and the signed head).
    pub signatures: u64,
}

impl std::fmt::Display for OtherKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "this archive was not signed by that key ({}); its {} signatures are all by \
             the key stored in it, {} (public key {})",
            self.given_fingerprint, self.signatures, self.signed_by_fingerprint, self.signed_by
        )
    }
}

impl VerifyReport {
    /// Whether nothing was found wrong.
    pub fn is_intact(&self) -> bool {
        self.tamper.is_none() && self.head_matches && self.not_signed_by.is_none()
    }
}

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

/// The salvage note of a salvaged archive, with when it was signed.
fn salvage_note(checkpoints: &[Checkpoint]) -> Option<(&SalvageNote, i64)> {
    checkpoints.iter().find_map(|cp| match &cp.reason {
        CheckpointReason::Salvaged(note) => Some((note.as_ref(), cp.time_ns)),
        _ => None,
    })
}

impl Archive {
    /// The source's checkpoints, copied along, against the source key and the copied
    /// records: each must carry the source's valid signature, and the record it covers, if
    /// copied, must hash to the head it signed.
    fn check_source_proof(
        &self,
        note: &SalvageNote,
        time_ns: i64,
    ) -> Result<(SalvagedFrom, Option<Tamper>), ArchiveError> {
        let source_key = crate::signing::parse_public_key(&note.source_key)?;
        let mut salvaged = SalvagedFrom {
            source: note.source.clone(),
            source_key: note.source_key.clone(),
            source_fingerprint: fingerprint(&source_key),
            source_head: note.source_head,
            lost: note.lost.clone(),
            reason: note.reason.clone(),
            missing: note.missing.clone(),
            by: note.by.clone(),
            time_ns,
            time: crate::export::Zone::utc().rfc3339(time_ns),
            source_checkpoints: 0,
            source_heads_matched: 0,
        };
        let tree = self
            .store
            .db
            .open_tree(crate::salvage::SOURCE_CHECKPOINTS)?;
        for item in tree.iter() {
            let cp = Checkpoint::decode(&item?.1)?;
            if !cp.verify(&source_key) {
                let problem = Tamper::SourceProof {
                    seq: cp.seq,
                    detail: "its signature is not the source key's".into(),
                };
                return Ok((salvaged, Some(problem)));
            }
            salvaged.source_checkpoints += 1;
            match self.store.records.get(id_key(cp.upto_id))? {
                Some(bytes) if hash(&bytes) == cp.head => salvaged.source_heads_matched += 1,
                Some(_) => {
                    let problem = Tamper::SourceProof {
                        seq: cp.seq,
                        detail: format!(
                            "record {} does not hash to the head it signed",
                            cp.upto_id
                        ),
                    };
                    return Ok((salvaged, Some(problem)));
                }
                // Lost to the damage, or purged before: nothing to compare.
                None => {}
            }
        }
        Ok((salvaged, None))
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
