//! The sled database behind an archive: which trees exist, what the meta keys mean, and the
//! operations that must hold the chain head (appends, checkpoints, purges).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::chain::{GENESIS, Hash, Stored, hash, key_id};
use crate::clock::now_ns;
use crate::error::ArchiveError;
use crate::index::{IndexKeys, Indexes};
use crate::options::ArchiveOptions;
use crate::signing::{ArchiveKey, Checkpoint, CheckpointReason, default_key_path};

/// Meta key: the latest signed head (a [`Checkpoint`] with seq 0), rewritten every commit.
pub(crate) const META_HEAD: &[u8] = b"signed_head";
/// Meta key: every record up to this id has its index entries.
const META_INDEXED: &[u8] = b"indexed_upto";
/// Meta key: the archive's public key (32 bytes).
pub(crate) const META_PUBLIC_KEY: &[u8] = b"public_key";

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
    pub(crate) node: String,
    pub(crate) options: ArchiveOptions,
    head: Mutex<Head>,
}

impl Store {
    pub(crate) fn open(dir: &Path, options: ArchiveOptions) -> Result<Self, ArchiveError> {
        std::fs::create_dir_all(dir).map_err(|source| ArchiveError::File {
            path: dir.to_path_buf(),
            source,
        })?;
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
        let key_path = options.key.clone().unwrap_or_else(|| default_key_path(dir));
        let key = ArchiveKey::load_or_create(&key_path)?;
        let meta = db.open_tree("meta")?;
        match meta.get(META_PUBLIC_KEY)? {
            Some(stored) if stored.as_ref() != key.public().as_bytes() => {
                return Err(ArchiveError::BadKey {
                    path: key_path,
                    detail: "it is not the key this archive was created with".into(),
                });
            }
            Some(_) => {}
            None => {
                meta.insert(META_PUBLIC_KEY, key.public().as_bytes().as_slice())?;
            }
        }
        let node = options.node.clone().unwrap_or_else(default_node);
        let store = Self {
            dir: dir.to_path_buf(),
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
        };
        let head = store.read_head()?;
        *store.head_lock() = head;
        store.recover(head)?;
        Ok(store)
    }

    pub(crate) fn head_lock(&self) -> MutexGuard<'_, Head> {
        self.head.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The chain head as stored: the last record's id and hash.
    fn read_head(&self) -> Result<Head, ArchiveError> {
        match self.records.last()? {
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
    /// an audit can see which ids were adopted on restart.
    fn recover(&self, head: Head) -> Result<(), ArchiveError> {
        let indexed = self
            .meta
            .get(META_INDEXED)?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map_or(0, u64::from_be_bytes);
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
        let signed = self.signed_head()?.map_or(0, |h| h.upto_id);
        if signed < head.id {
            tracing::warn!(
                from = signed + 1,
                to = head.id,
                "archive: records past the last signed head (written, never acknowledged); adopting them"
            );
            self.sign_head(head.id, head.hash, now_ns())?;
            self.write_checkpoint_locked(
                head,
                CheckpointReason::Recovered {
                    from: signed + 1,
                    to: head.id,
                },
            )?;
            self.db.flush()?;
        }
        Ok(())
    }

    pub(crate) fn set_indexed_upto(&self, id: u64) -> Result<(), ArchiveError> {
        self.meta.insert(META_INDEXED, &id.to_be_bytes())?;
        Ok(())
    }

    /// Signs the head after a commit (kept in meta, replaced each time).
    pub(crate) fn sign_head(&self, id: u64, head: Hash, time_ns: i64) -> Result<(), ArchiveError> {
        let cp = Checkpoint::signed(&self.key, 0, id, head, time_ns, CheckpointReason::Head)?;
        self.meta.insert(META_HEAD, cp.encode()?)?;
        Ok(())
    }

    /// The latest signed head.
    pub(crate) fn signed_head(&self) -> Result<Option<Checkpoint>, ArchiveError> {
        self.meta
            .get(META_HEAD)?
            .map(|v| Checkpoint::decode(&v))
            .transpose()
    }

    /// Appends a permanent signed checkpoint of the current head and flushes it.
    pub(crate) fn write_checkpoint(
        &self,
        reason: CheckpointReason,
    ) -> Result<Checkpoint, ArchiveError> {
        let head = *self.head_lock();
        let cp = self.write_checkpoint_locked(head, reason)?;
        self.db.flush()?;
        Ok(cp)
    }

    /// Writes a checkpoint for `head`; the caller holds the head lock or owns the store.
    pub(crate) fn write_checkpoint_locked(
        &self,
        head: Head,
        reason: CheckpointReason,
    ) -> Result<Checkpoint, ArchiveError> {
        let seq = self
            .checkpoints
            .last()?
            .map_or(Ok(0), |(k, _)| key_id(&k))?
            + 1;
        let cp = Checkpoint::signed(&self.key, seq, head.id, head.hash, now_ns(), reason)?;
        self.checkpoints.insert(seq.to_be_bytes(), cp.encode()?)?;
        Ok(cp)
    }

    /// The newest permanent checkpoint.
    pub(crate) fn latest_checkpoint(&self) -> Result<Option<Checkpoint>, ArchiveError> {
        self.checkpoints
            .last()?
            .map(|(_, v)| Checkpoint::decode(&v))
            .transpose()
    }

    /// Every permanent checkpoint, oldest first.
    pub(crate) fn all_checkpoints(&self) -> Result<Vec<Checkpoint>, ArchiveError> {
        self.checkpoints
            .iter()
            .map(|item| Checkpoint::decode(&item?.1))
            .collect()
    }
}

fn is_lock_error(e: &std::io::Error) -> bool {
    // sled reports "could not acquire lock on ..." as WouldBlock/Other from fs2's try_lock.
    e.kind() == std::io::ErrorKind::WouldBlock || e.to_string().contains("lock")
}

fn default_node() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "gateway".to_owned())
}
