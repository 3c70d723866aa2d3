//! What verification can find wrong with an archive, and how each finding is said.

use serde::{Deserialize, Serialize};

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
