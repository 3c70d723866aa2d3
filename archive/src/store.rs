//! The sled database behind an archive: which trees exist, what the meta keys mean, and the
//! operations that must hold the chain head (appends, checkpoints, purges).

mod checkpoints;
mod durability;
mod ingest_marks;
pub(crate) mod journal;
mod mark_check;
mod signing_key;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::chain::{GENESIS, Hash, Stored, hash, key_id};
use crate::error::ArchiveError;
use crate::high_water_mark::MarkWriter;
use crate::index::{IndexKeys, Indexes};
use crate::options::ArchiveOptions;
use crate::signing::{ArchiveKey, CheckpointReason};
use journal::Journal;
use record::{host_name, now_ns};
use signing_key::open_key;

/// Meta key: the latest signed head (a [`Checkpoint`] with seq 0), rewritten every commit.
///
/// [`Checkpoint`]: crate::signing::Checkpoint
pub(crate) const META_HEAD: &[u8] = b"signed_head";
/// Meta key: every record up to this id has its index entries.
const META_INDEXED: &[u8] = b"indexed_upto";
/// Meta key: the archive's public key (32 bytes).
pub(crate) const META_PUBLIC_KEY: &[u8] = b"public_key";
/// Meta key: the head id when the high-water mark file was first written. Once set, a
/// missing mark file is a finding, not an archive from before the file existed.
pub(crate) const META_MARK_SINCE: &[u8] = b"high_water_mark_since";

/// The last record in the chain.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Head {
    pub(crate) id: u64,
    pub(crate) hash: Hash,
}

/// An open archive database.
pub(crate) struct Store {
    pub(crate) dir: PathBuf,
    pub(crate) db: sled::Db,
    pub(crate) records: sled::Tree,
    pub(crate) meta: sled::Tree,
    pub(crate) checkpoints: sled::Tree,
    pub(crate) holds: sled::Tree,
    pub(crate) indexes: Indexes,
    pub(crate) key: ArchiveKey,
    /// Where the signing key was read from (or created).
    pub(crate) key_path: PathBuf,
    /// Set when this open created the key: the public key must then be shown, once, for
    /// safekeeping elsewhere.
    pub(crate) key_created: bool,
    pub(crate) node: String,
    pub(crate) options: ArchiveOptions,
    head: Mutex<Head>,
    refused: Mutex<Option<String>>,
    /// The high-water mark file beside the store ([`high_water_mark`]).
    ///
    /// [`high_water_mark`]: crate::high_water_mark
    mark: Mutex<MarkWriter>,
    /// The commit journal: where a commit becomes durable ([`journal`]).
    journal: Mutex<Journal>,
    /// sled's data file. sled's `flush` ends in `sync_file_range`, which neither flushes the
    /// disk's write cache nor the file's metadata, so we `fdatasync` this file ourselves.
    data_file: std::fs::File,
}

impl Store {
    pub(crate) fn open(dir: &Path, options: ArchiveOptions) -> Result<Self, ArchiveError> {
        owner_only::prepare_dir(dir)?;
        // sled 0.34 flushes on its own every 500 ms by default; we flush explicitly before
        // acknowledging, and keep the background flush as a second line.
        let db = sled::Config::new()
            .path(dir.join("db"))
            .mode(sled::Mode::HighThroughput)
            .open()
            .map_err(|e| match e {
                sled::Error::Io(ref io) if is_lock_error(io) => ArchiveError::Locked {
                    dir: dir.to_path_buf(),
                },
                other => ArchiveError::Store(other),
            })?;
        let meta = db.open_tree("meta")?;
        let (key, key_path, key_created) = open_key(dir, &options, &meta)?;
        // sled created its files under the process umask; the directory was private before
        // it did (above), and now the files are too (a key created in it as well).
        owner_only::tighten_tree(dir)?;
        let node = options.node.clone().unwrap_or_else(host_name);
        let (journal, journaled) = Journal::open(dir)?;
        let store = Self {
            dir: dir.to_path_buf(),
            key_path,
            key_created,
            records: db.open_tree("records")?,
            checkpoints: db.open_tree("checkpoints")?,
            holds: db.open_tree("holds")?,
            indexes: Indexes::open(&db)?,
            meta,
            db,
            key,
            node,
            options,
            head: Mutex::new(Head {
                id: 0,
                hash: GENESIS,
            }),
            refused: Mutex::new(None),
            mark: Mutex::new(MarkWriter::disabled(dir)),
            journal: Mutex::new(journal),
            data_file: std::fs::File::open(dir.join("db").join("db")).map_err(|source| {
                ArchiveError::File {
                    path: dir.join("db").join("db"),
                    source,
                }
            })?,
        };
        // sled may have lost the newest acknowledged commits in a crash: the journal has them.
        let journal_problem = store.replay_journal(journaled)?;
        let head = store.read_head()?;
        *store.head_lock() = head;
        store.recover(head, journal_problem)?;
        Ok(store)
    }

    pub(crate) fn head_lock(&self) -> MutexGuard<'_, Head> {
        self.head.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The chain head as stored: the last record's id and hash.
    fn read_head(&self) -> Result<Head, ArchiveError> {
        let signed = self.signed_head()?;
        match self.records.last()? {
            // Retention may have purged the head record: the chain continues from the
            // signed head, as the purge checkpoint's anchor says.
            Some((key, _))
                if signed
                    .as_ref()
                    .is_some_and(|h| h.upto_id > key_id(&key).unwrap_or(0)) =>
            {
                Ok(signed.map_or(
                    Head {
                        id: 0,
                        hash: GENESIS,
                    },
                    |h| Head {
                        id: h.upto_id,
                        hash: h.head,
                    },
                ))
            }
            Some((key, bytes)) => Ok(Head {
                id: key_id(&key)?,
                hash: hash(&bytes),
            }),
            None => Ok(self.latest_checkpoint()?.map_or(
                Head {
                    id: 0,
                    hash: GENESIS,
                },
                |cp| Head {
                    id: cp.upto_id,
                    hash: cp.head,
                },
            )),
        }
    }

    /// After a crash: index what was written but not indexed, and, if records exist past
    /// the last signed head (written, never acknowledged), record that in a checkpoint so
    /// an audit can see which ids were adopted on restart. A journal that could not be
    /// trusted (`journal_problem`) refuses appends, and nothing is adopted.
    fn recover(&self, head: Head, journal_problem: Option<String>) -> Result<(), ArchiveError> {
        let indexed = self.meta_u64(META_INDEXED)?.unwrap_or(0);
        if indexed < head.id {
            let mut keys = Vec::new();
            for item in self.records.range((indexed + 1).to_be_bytes()..) {
                let (k, v) = item?;
                keys.push(IndexKeys::of(key_id(&k)?, &Stored::decode(&v)?.event));
            }
            self.indexes.apply(&keys, false)?;
            self.set_indexed_upto(head.id)?;
            tracing::warn!(
                from = indexed + 1,
                to = head.id,
                "archive: re-indexed records after an unclean stop"
            );
        }
        let problem = match journal_problem {
            Some(problem) => Some(problem),
            None => match self.adopt_tail(head)? {
                Some(problem) => Some(problem),
                None => self.open_mark(head)?,
            },
        };
        if let Some(problem) = problem {
            tracing::error!(%problem, "archive: integrity check at open failed; appends refused until this is resolved");
            *self.refused.lock().unwrap_or_else(PoisonError::into_inner) = Some(problem);
        }
        Ok(())
    }

    /// Records past the last signed head are adopted (signed, with a `Recovered`
    /// checkpoint) only when they are what a crash leaves: at most one batch, chained from
    /// the signed head. Anything else means the store was changed behind the gateway's back;
    /// signing it would launder the change, so the problem is returned instead.
    fn adopt_tail(&self, head: Head) -> Result<Option<String>, ArchiveError> {
        let signed = self.signed_head()?;
        let (base_id, base_hash) = match &signed {
            Some(h) => (h.upto_id, h.head),
            None if self.checkpoints.is_empty() => (0, GENESIS),
            None => {
                return Ok(Some(
                    "checkpoints exist but the signed head is missing".into(),
                ));
            }
        };
        if head.id == base_id {
            return Ok((head.hash != base_hash)
                .then(|| format!("record {} does not match the signed head", head.id)));
        }
        if head.id < base_id {
            // The head record was purged by retention (or deleted: verify will say which).
            return Ok(None);
        }
        let tail = head.id - base_id;
        if tail > self.options.max_batch as u64 {
            return Ok(Some(format!(
                "{tail} records past the signed head (record {base_id}); a crash leaves at most one batch ({})",
                self.options.max_batch
            )));
        }
        let mut expect = base_hash;
        for (n, item) in self
            .records
            .range((base_id + 1).to_be_bytes()..)
            .enumerate()
        {
            let (k, v) = item?;
            let id = key_id(&k)?;
            let stored = Stored::decode(&v)?;
            if id != base_id + 1 + n as u64 || stored.id != id || stored.prev != expect {
                return Ok(Some(format!(
                    "unsigned record {id} does not chain from the signed head"
                )));
            }
            expect = hash(&v);
        }
        tracing::warn!(
            from = base_id + 1,
            to = head.id,
            "archive: records past the last signed head (written, never acknowledged); adopting them"
        );
        self.sign_head(head.id, head.hash, now_ns())?;
        self.write_checkpoint_locked(
            head,
            CheckpointReason::Recovered {
                from: base_id + 1,
                to: head.id,
            },
        )?;
        self.durable_flush()?;
        Ok(None)
    }

    /// A big-endian u64 kept under `key` in the meta tree.
    fn meta_u64(&self, key: &[u8]) -> Result<Option<u64>, ArchiveError> {
        Ok(self
            .meta
            .get(key)?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map(u64::from_be_bytes))
    }

    fn mark_lock(&self) -> MutexGuard<'_, MarkWriter> {
        self.mark.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Why appends are refused, if the open-time integrity check failed.
    pub(crate) fn refused(&self) -> Option<String> {
        self.refused
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Makes the store refuse appends, as a failed integrity check at open does.
    #[cfg(test)]
    pub(crate) fn refuse_for_test(&self, problem: &str) {
        *self.refused.lock().unwrap_or_else(PoisonError::into_inner) = Some(problem.to_owned());
    }

    pub(crate) fn set_indexed_upto(&self, id: u64) -> Result<(), ArchiveError> {
        self.meta.insert(META_INDEXED, &id.to_be_bytes())?;
        Ok(())
    }
}

fn is_lock_error(e: &std::io::Error) -> bool {
    // sled reports "could not acquire lock on ..." as WouldBlock/Other from fs2's try_lock.
    e.kind() == std::io::ErrorKind::WouldBlock || e.to_string().contains("lock")
}
