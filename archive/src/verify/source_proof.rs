//! A salvaged archive's proof of origin: the salvage note it was signed with, and the source
//! archive's own checkpoints, copied along, checked against the records copied.

use super::{SalvagedFrom, Tamper};
use crate::archive::Archive;
use crate::chain::{hash, id_key};
use crate::error::ArchiveError;
use crate::signing::{Checkpoint, CheckpointReason, SalvageNote, fingerprint};

/// The salvage note of a salvaged archive, with when it was signed.
pub(super) fn salvage_note(checkpoints: &[Checkpoint]) -> Option<(&SalvageNote, i64)> {
    checkpoints.iter().find_map(|cp| match &cp.reason {
        CheckpointReason::Salvaged(note) => Some((note.as_ref(), cp.time_ns)),
        _ => None,
    })
}

impl Archive {
    /// The source's checkpoints, copied along, against the source key and the copied
    /// records: each must carry the source's valid signature, and the record it covers, if
    /// copied, must hash to the head it signed.
    pub(super) fn check_source_proof(
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
