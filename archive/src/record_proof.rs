//! One record's integrity, on its own: its hash chain followed forward from the record to
//! the first signed checkpoint that covers it (or the signed head), and that signature
//! checked against the archive's key. What the reviewer console shows on each record's
//! page, so a reader need not trust the page: `verify` proves the whole archive, this the
//! one record in front of them.

use serde::Serialize;

use crate::archive::Archive;
use crate::chain::{Stored, hash, id_key};
use crate::error::ArchiveError;
use crate::signing::Checkpoint;
use record::Record;

/// The record and what its chain proves.
#[derive(Debug, Clone, Serialize)]
pub struct RecordProof {
    /// The record as stored.
    pub record: Record,
    /// Whether its chain reaches a valid signature.
    pub integrity: Integrity,
}

/// What following a record's chain found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Integrity {
    /// Every link from the record to a signed checkpoint holds, and its signature is the
    /// archive key's.
    Verified {
        /// The checkpoint's place in the checkpoint log; `None` for the signed head (the
        /// newest records, not yet under a permanent checkpoint).
        checkpoint: Option<u64>,
        /// The last record it covers.
        upto_id: u64,
        /// When it was signed (UTC ns).
        signed_ns: i64,
        /// Links followed.
        links: u64,
    },
    /// The chain or the signature does not hold: this record cannot be vouched for.
    Broken {
        /// Why, naming the record where it broke.
        reason: String,
    },
    /// The chain cannot be followed (a later record was purged by retention, or nothing
    /// signed covers the record yet): neither proven nor disproven.
    Unproven {
        /// Why.
        reason: String,
    },
}

impl Archive {
    /// Record `id` and its [`Integrity`]; `None` if no record has that id. Reads the records
    /// between it and the checkpoint that covers it (at most `checkpoint_every`).
    pub fn prove(&self, id: u64) -> Result<Option<RecordProof>, ArchiveError> {
        let Some(bytes) = self.store.records.get(id_key(id))? else {
            return Ok(None);
        };
        let stored = Stored::decode(&bytes)?;
        let integrity = if stored.id == id {
            self.follow(id, hash(&bytes))?
        } else {
            Integrity::Broken {
                reason: format!("record {id} holds the bytes of record {}", stored.id),
            }
        };
        Ok(Some(RecordProof {
            record: stored.into_record(),
            integrity,
        }))
    }

    /// Follows the chain from record `id` (whose stored bytes hash to `at`) to the first
    /// signature that covers it.
    fn follow(&self, id: u64, mut at: crate::chain::Hash) -> Result<Integrity, ArchiveError> {
        let covering = self
            .store
            .all_checkpoints()?
            .into_iter()
            .find(|cp| cp.upto_id >= id);
        let (target, checkpoint): (Checkpoint, Option<u64>) = match covering {
            Some(cp) => {
                let seq = cp.seq;
                (cp, Some(seq))
            }
            None => match self.store.signed_head()? {
                Some(head) if head.upto_id >= id => (head, None),
                _ => {
                    return Ok(Integrity::Unproven {
                        reason: format!("no signature covers record {id} yet"),
                    });
                }
            },
        };
        let mut links = 0;
        for next in id + 1..=target.upto_id {
            let Some(bytes) = self.store.records.get(id_key(next))? else {
                return Ok(Integrity::Unproven {
                    reason: format!(
                        "record {next}, between this one and the signature over record {}, was purged",
                        target.upto_id
                    ),
                });
            };
            let stored = match Stored::decode(&bytes) {
                Ok(stored) => stored,
                Err(e) => {
                    return Ok(Integrity::Broken {
                        reason: format!("record {next} cannot be read: {e}"),
                    });
                }
            };
            if stored.id != next || stored.prev != at {
                return Ok(Integrity::Broken {
                    reason: format!("the chain breaks at record {next}"),
                });
            }
            at = hash(&bytes);
            links += 1;
        }
        if target.head != at {
            return Ok(Integrity::Broken {
                reason: format!(
                    "the signature over record {} names other bytes than the store holds",
                    target.upto_id
                ),
            });
        }
        if !target.verify(&self.store.key.public()) {
            return Ok(Integrity::Broken {
                reason: format!(
                    "the signature over record {} is not the archive key's",
                    target.upto_id
                ),
            });
        }
        Ok(Integrity::Verified {
            checkpoint,
            upto_id: target.upto_id,
            signed_ns: target.time_ns,
            links,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ArchiveOptions;

    fn archive(dir: &std::path::Path) -> Archive {
        let options = ArchiveOptions {
            checkpoint_every: 5,
            ..ArchiveOptions::default()
        };
        let archive = Archive::open(dir, options).unwrap();
        let mut synthetic = crate::synthetic::Synthetic::new(1, 3, 1, record::now_ns());
        for i in 0..8 {
            archive.append_blocking(synthetic.event(i, 8)).unwrap();
        }
        archive
    }

    #[test]
    fn records_prove_to_a_checkpoint_or_the_signed_head() {
        let tmp = tempfile::tempdir().unwrap();
        let a = archive(tmp.path());
        let first = a.prove(2).unwrap().unwrap();
        assert_eq!(first.record.id, 2);
        assert!(
            matches!(first.integrity, Integrity::Verified { checkpoint: Some(_), upto_id, links, .. } if upto_id >= 5 && links == upto_id - 2),
            "{:?}",
            first.integrity
        );
        let newest = a.prove(8).unwrap().unwrap();
        assert!(
            matches!(
                newest.integrity,
                Integrity::Verified {
                    checkpoint: None,
                    upto_id: 8,
                    links: 0,
                    ..
                }
            ),
            "{:?}",
            newest.integrity
        );
        assert!(a.prove(99).unwrap().is_none());
    }

    #[test]
    fn an_edited_record_after_this_one_breaks_its_proof() {
        let tmp = tempfile::tempdir().unwrap();
        let a = archive(tmp.path());
        // Rewrite record 3 with other text, keeping its id and prev: record 2's proof must
        // fail at record 4 (whose prev no longer matches) or at the signature.
        let bytes = a.store.records.get(id_key(3)).unwrap().unwrap();
        let mut stored = Stored::decode(&bytes).unwrap();
        stored.event.text.push_str(" (edited)");
        let edited = Stored::encode_parts(3, stored.prev, &stored.event).unwrap();
        a.store.records.insert(id_key(3), edited).unwrap();
        let proof = a.prove(2).unwrap().unwrap();
        assert!(
            matches!(&proof.integrity, Integrity::Broken { reason } if reason.contains("record 4")),
            "{:?}",
            proof.integrity
        );
    }
}
