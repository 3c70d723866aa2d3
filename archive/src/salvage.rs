//! `imtegrity archive salvage`: every record a damaged archive can still read, copied byte
//! for byte under its own id into a new archive, with the chain proof that vouches for it.
//!
//! The copy keeps each record's stored bytes, so its `prev` hash links and the damaged
//! archive's own signed checkpoints (copied into the `source_checkpoints` tree, checked by
//! `verify` against the source's key) still prove them. What could not be read becomes a
//! hole the chain walk crosses, accounted for in a [`SalvageNote`] that the new archive's
//! key signs as its first checkpoint: the copy says it is one, from where, by whom, and
//! what it lacks.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::access::{Access, Accessor};
use crate::archive::Archive;
use crate::chain::{Hash, Stored, hash, id_key};
use crate::damage::{Item, TolerantRecords, Unreadable};
use crate::error::ArchiveError;
use crate::index::IndexKeys;
use crate::options::ArchiveOptions;
use crate::signing::{CheckpointReason, SalvageNote};
use crate::store::{Head, Store};
use record::hex;

/// The tree of a salvaged archive that holds the source's checkpoints, as they were stored.
pub(crate) const SOURCE_CHECKPOINTS: &str = "source_checkpoints";

/// Records written per sled batch while copying.
const CHUNK: usize = 1024;

/// What [`Archive::salvage_into`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalvageReport {
    /// Records copied.
    pub copied: u64,
    /// Ids that could not be read.
    pub lost: Unreadable,
    /// The source's checkpoints copied along (with its signed head).
    pub source_checkpoints: u64,
    /// The new archive's head record id.
    pub head: u64,
    /// The new archive's public key (hex).
    pub public_key: String,
    /// Whether the salvage created the new archive's signing key (then its public key is
    /// to be shown for safekeeping, as for any new archive).
    pub key_created: bool,
}

impl Archive {
    /// Copies every record this archive can read into a new archive in `to` (refused if one
    /// is there), records the salvage as an `access` here when the archive still takes
    /// appends, and returns the new archive, open, with the report.
    pub fn salvage_into(
        &self,
        to: &Path,
        options: ArchiveOptions,
        accessor: &Accessor,
    ) -> Result<(Self, SalvageReport), ArchiveError> {
        if to.join("db").exists() {
            return Err(ArchiveError::Invalid {
                what: "salvage target",
                detail: format!("{} already holds an archive", to.display()),
            });
        }
        let access = Access {
            accessor: accessor.clone(),
            command: "salvage".to_owned(),
            query: None,
            args: serde_json::json!({ "to": to }),
            // sled's `len` walks the tree and never returns on a damaged page: the access
            // is counted as the salvage of the whole archive, its signed head.
            count: self.store.signed_head()?.map_or(0, |h| h.upto_id),
        };
        match self.record_access(&access) {
            Ok(_) => {}
            // A store that refuses appends is what salvage is for: note it and go on.
            Err(ArchiveError::Integrity(problem)) => tracing::error!(
                %problem,
                user = %accessor.user,
                "salvage could not be recorded as an access in the source: it refuses appends"
            ),
            Err(e) => return Err(e),
        }
        let source_head = self.store.signed_head()?.map_or(0, |h| h.upto_id);
        let target = Store::open(to, options.clone())?;
        let Copied {
            copied,
            lost,
            head,
            holes,
            anchors,
        } = copy_records(&self.store, &target)?;
        let source_checkpoints = copy_checkpoints(&self.store, &target)?;
        let missing = unaccounted(&self.store, &holes, head.id, source_head, &lost)?;
        let note = SalvageNote {
            source: std::path::absolute(&self.store.dir)
                .unwrap_or_else(|_| self.store.dir.clone())
                .display()
                .to_string(),
            source_key: self.public_key_hex(),
            source_head,
            lost: lost.ranges.clone(),
            reason: lost.reason.clone(),
            missing,
            holes,
            anchors,
            by: format!("{} (uid {})", accessor.user, accessor.uid),
        };
        target.set_indexed_upto(head.id)?;
        target.sign_head(head.id, head.hash, record::now_ns())?;
        *target.head_lock() = head;
        target.write_checkpoint_locked(head, CheckpointReason::Salvaged(Box::new(note)))?;
        target.durable_flush()?;
        let public_key = hex(target.key.public().as_bytes());
        let key_created = target.key_created;
        // sled's lock goes with the last handle: the store and every tree of it.
        drop(target);
        let archive = reopen(to, options)?;
        Ok((
            archive,
            SalvageReport {
                copied,
                lost,
                source_checkpoints,
                head: head.id,
                public_key,
                key_created,
            },
        ))
    }
}

/// How long [`reopen`] waits for this process's own store to let go of its lock.
const REOPEN_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

/// Opens the copy just written and dropped. sled's background flusher holds the store's
/// last handle (and its file lock) for a moment after the drop, longer on a busy machine,
/// so `Locked` is retried within [`REOPEN_WITHIN`]; another process holding it still gets
/// `Locked` once that has passed.
fn reopen(to: &Path, options: ArchiveOptions) -> Result<Archive, ArchiveError> {
    let deadline = std::time::Instant::now() + REOPEN_WITHIN;
    loop {
        match Archive::open(to, options.clone()) {
            Err(ArchiveError::Locked { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

/// The ids absent from the source (the copy's `holes`, and any tail up to the source's
/// signed head) that neither the damage (`lost`) nor a signed retention purge explains:
/// a copy must not launder a deletion into a clean hole.
fn unaccounted(
    source: &Store,
    holes: &[(u64, u64)],
    copied_head: u64,
    source_head: u64,
    lost: &Unreadable,
) -> Result<Vec<(u64, u64)>, ArchiveError> {
    let (purged, _) = crate::verify::purges(&source.all_checkpoints()?);
    let mut covered: Vec<(u64, u64)> = purged
        .into_iter()
        .chain(lost.ranges.iter().copied())
        .collect();
    covered.sort_unstable();
    let tail = (copied_head < source_head).then_some((copied_head + 1, source_head));
    let mut missing = Vec::new();
    for &(from, to) in holes.iter().chain(tail.as_ref()) {
        let mut cursor = from;
        for &(c_from, c_to) in &covered {
            if c_to < cursor || c_from > to {
                continue;
            }
            if c_from > cursor {
                missing.push((cursor, c_from - 1));
            }
            cursor = c_to.saturating_add(1);
            if cursor > to {
                break;
            }
        }
        if cursor <= to {
            missing.push((cursor, to));
        }
    }
    Ok(missing)
}

/// Copies the source's checkpoints, as stored, into the target's
/// [`SOURCE_CHECKPOINTS`] tree: the source key's signatures over the chain copied.
fn copy_checkpoints(source: &Store, target: &Store) -> Result<u64, ArchiveError> {
    let tree = target.db.open_tree(SOURCE_CHECKPOINTS)?;
    let mut copied = 0u64;
    for item in source.checkpoints.iter() {
        let (key, value) = item?;
        tree.insert(key, value)?;
        copied += 1;
    }
    Ok(copied)
}

/// What [`copy_records`] copied.
struct Copied {
    /// Records copied.
    copied: u64,
    /// Ids that could not be read.
    lost: Unreadable,
    /// The last record copied.
    head: Head,
    /// Id ranges absent from the copy.
    holes: Vec<(u64, u64)>,
    /// The record after each hole → the `prev` it carries.
    anchors: Vec<(u64, Hash)>,
}

/// Copies the readable records of `source` into `target` with their index entries.
fn copy_records(source: &Store, target: &Store) -> Result<Copied, ArchiveError> {
    let mut lost = Unreadable::default();
    let (mut holes, mut anchors) = (Vec::new(), Vec::new());
    let mut head = Head {
        id: 0,
        hash: crate::chain::GENESIS,
    };
    let mut copied = 0u64;
    let (mut batch, mut keys) = (sled::Batch::default(), Vec::new());
    for item in TolerantRecords::new(source, 1) {
        match item? {
            Item::Record { id, bytes } => {
                let Ok(stored) = Stored::decode(&bytes) else {
                    // Stored but not a record: as lost as an unreadable page.
                    lost.add(id, id, "a record that does not decode");
                    continue;
                };
                if id != head.id + 1 {
                    holes.push((head.id + 1, id - 1));
                    anchors.push((id, stored.prev));
                }
                keys.push(IndexKeys::of(id, &stored.event));
                batch.insert(&id_key(id), bytes.clone());
                head = Head {
                    id,
                    hash: hash(&bytes),
                };
                copied += 1;
                if keys.len() >= CHUNK {
                    flush(target, &mut batch, &mut keys)?;
                }
            }
            Item::Unreadable { from, to, reason } => lost.add(from, to, &reason),
        }
    }
    flush(target, &mut batch, &mut keys)?;
    Ok(Copied {
        copied,
        lost,
        head,
        holes,
        anchors,
    })
}

fn flush(
    target: &Store,
    batch: &mut sled::Batch,
    keys: &mut Vec<IndexKeys>,
) -> Result<(), ArchiveError> {
    target.records.apply_batch(std::mem::take(batch))?;
    target.indexes.apply(keys, false)?;
    keys.clear();
    Ok(())
}
