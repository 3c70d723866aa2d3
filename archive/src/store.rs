//! The sled database behind an archive: which trees exist, what the meta keys mean, and the
//! operations that must hold the chain head (appends, checkpoints, purges).

use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::chain::{GENESIS, Hash, Stored, hash, key_id};
use crate::error::ArchiveError;
use crate::high_water_mark::{self, HighWaterMark, MarkWriter};
use crate::index::{IndexKeys, Indexes};
use crate::options::ArchiveOptions;
use crate::signing::{ArchiveKey, Checkpoint, CheckpointReason, default_key_path};
use crate::verify::Tamper;
use record::{host_name, now_ns};

/// Meta key: the latest signed head (a [`Checkpoint`] with seq 0), rewritten every commit.
pub(crate) const META_HEAD: &[u8] = b"signed_head";
/// Meta key: every record up to this id has its index entries.
const META_INDEXED: &[u8] = b"indexed_upto";
/// Meta key: the archive's public key (32 bytes).
pub(crate) const META_PUBLIC_KEY: &[u8] = b"public_key";
/// Meta key: where the signing key lives when it is not `<dir>/signing.key`
/// (`archive.signing_key`), so commands given only the archive directory find it.
const META_KEY_PATH: &[u8] = b"signing_key_path";
/// Meta key: the head id when the high-water mark file was first written. Once set, a
/// missing mark file is a finding, not an archive from before the file existed.
const META_MARK_SINCE: &[u8] = b"high_water_mark_since";

/// The mark file and what the store says beside it ([`Store::read_mark`]).
struct MarkReading {
    /// The file's bytes (`None`: no file).
    bytes: Option<Vec<u8>>,
    /// The store's signed head.
    signed: Option<Checkpoint>,
    /// The head id from which the store has kept a mark file, if it has.
    since: Option<u64>,
    /// What is wrong, if anything.
    problem: Option<Tamper>,
}

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
    mark: Mutex<MarkWriter>,
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
            data_file: std::fs::File::open(dir.join("db").join("db")).map_err(|source| {
                ArchiveError::File {
                    path: dir.join("db").join("db"),
                    source,
                }
            })?,
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
    /// an audit can see which ids were adopted on restart.
    fn recover(&self, head: Head) -> Result<(), ArchiveError> {
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
        let problem = match self.adopt_tail(head)? {
            Some(problem) => Some(problem),
            None => self.open_mark(head)?,
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

    /// Checks the store against its high-water mark file and sets the file up for writing.
    /// A finding (rolled back, replaced, file missing or untrustworthy) is returned as the
    /// reason to refuse appends, and the file is left alone: it is the evidence.
    ///
    /// No file and no record of ever having had one: a new archive (the file is created at
    /// the first commit) or one made before the file existed (it is created now, from the
    /// signed head; nothing older can be checked). No file on an archive that has kept one
    /// (`META_MARK_SINCE`) is refused: a copy restored without it, or a file removed, cannot
    /// show whether the store went back in time, so an operator must decide.
    fn open_mark(&self, head: Head) -> Result<Option<String>, ArchiveError> {
        let public = self.key.public();
        let MarkReading {
            bytes,
            signed,
            since,
            problem,
        } = self.read_mark(head.id, &public)?;
        if let Some(problem) = problem {
            return Ok(Some(problem.to_string()));
        }
        let found = bytes
            .as_deref()
            .and_then(|b| high_water_mark::newest_slot(b, Some(&public)).ok());
        if let (Some((found, _)), None) = (found, since) {
            // Created, then a crash before the store recorded it.
            self.meta
                .insert(META_MARK_SINCE, &found.upto_id.to_be_bytes())?;
        }
        *self.mark_lock() = MarkWriter::open(&self.dir, found, true)?;
        let behind = signed.filter(|s| found.is_none_or(|(m, _)| m.upto_id < s.upto_id));
        if let Some(signed) = behind {
            if found.is_none() {
                tracing::info!(
                    head = signed.upto_id,
                    "archive: no high-water mark file yet (an archive from before it existed); creating it"
                );
            }
            self.mark_lock().pending = Some(HighWaterMark::of(&signed));
            self.durable_flush()?;
        }
        Ok(None)
    }

    /// The mark file and the store side by side, with the verdict on them. `head_id` is the
    /// chain head (the caller holds the head lock or owns the store).
    fn read_mark(
        &self,
        head_id: u64,
        public: &ed25519_dalek::VerifyingKey,
    ) -> Result<MarkReading, ArchiveError> {
        let bytes = high_water_mark::read(&self.dir)?;
        let signed = self.signed_head()?;
        let since = self.meta_u64(META_MARK_SINCE)?;
        // Retention may have purged the head record; the signed head still counts it.
        let store_high = head_id.max(signed.as_ref().map_or(0, |s| s.upto_id));
        let problem =
            high_water_mark::check(bytes.as_deref(), public, signed.as_ref(), store_high, since);
        Ok(MarkReading {
            bytes,
            signed,
            since,
            problem,
        })
    }

    /// The store against its mark file now, for `verify`: the mark's id (if the file can be
    /// trusted) and what is wrong, if anything. The caller holds the head lock (`head_id`).
    pub(crate) fn check_mark(
        &self,
        head_id: u64,
        public: &ed25519_dalek::VerifyingKey,
    ) -> Result<(Option<u64>, Option<Tamper>), ArchiveError> {
        let reading = self.read_mark(head_id, public)?;
        let mark = reading
            .bytes
            .as_deref()
            .and_then(|b| high_water_mark::parse(b, Some(public)).ok())
            .map(|m| m.upto_id);
        Ok((mark, reading.problem))
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

    /// The durability point: sled writes out its buffers, then the data file is
    /// `fdatasync`ed, so what was written survives a power cut, not only a process crash.
    ///
    /// Then the newest signed head is written to the high-water mark file: taken before the
    /// flush, so the flush covers it, and written after, so the file is never ahead of what
    /// is durable (see [`high_water_mark`] for why that needs no fsync of its own).
    pub(crate) fn durable_flush(&self) -> Result<(), ArchiveError> {
        let mark = self.mark_lock().pending.take();
        self.db.flush()?;
        let file_err = |path: PathBuf| move |source| ArchiveError::File { path, source };
        self.data_file
            .sync_data()
            .map_err(file_err(self.dir.join("db").join("db")))?;
        // Values too large for a log segment (~128 KiB) go to their own files under
        // `blobs/`, which sled writes without syncing. Rare for IM text; sync any there are.
        let blobs = self.dir.join("db").join("blobs");
        let mut any = false;
        for entry in std::fs::read_dir(&blobs).map_err(file_err(blobs.clone()))? {
            let path = entry.map_err(file_err(blobs.clone()))?.path();
            match std::fs::File::open(&path).and_then(|f| f.sync_data()) {
                Ok(()) => any = true,
                // sled deletes a blob it no longer needs from its own threads, between the
                // listing and the open: nothing left to make durable.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(file_err(path)(e)),
            }
        }
        if any {
            std::fs::File::open(&blobs)
                .and_then(|d| d.sync_all())
                .map_err(file_err(blobs))?;
        }
        if let Some(mark) = mark
            && self.mark_lock().write(mark)?
        {
            // Recorded only now that the file is durable; durable itself at the next flush.
            self.meta
                .insert(META_MARK_SINCE, &mark.upto_id.to_be_bytes())?;
        }
        Ok(())
    }

    /// The highest seq stored for ingest `source`, if any was (seq 0 is a valid seq).
    pub(crate) fn ingest_mark(&self, source: &str) -> Result<Option<u64>, ArchiveError> {
        self.meta_u64(&ingest_mark_key(source))
    }

    /// The client ingest `source` is bound to, if any wrote it yet.
    pub(crate) fn ingest_owner(&self, source: &str) -> Result<Option<String>, ArchiveError> {
        Ok(self
            .meta
            .get(ingest_owner_key(source))?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Writes `records`, the ingest `marks` and the `owners` of sources first written now
    /// in one sled transaction: a source's binding to its client is as durable as its
    /// first record.
    pub(crate) fn append_with_marks(
        &self,
        records: &sled::Batch,
        marks: &std::collections::HashMap<String, u64>,
        owners: &std::collections::HashMap<String, String>,
    ) -> Result<(), ArchiveError> {
        use sled::Transactional;
        (&self.records, &self.meta)
            .transaction(|(r, m)| {
                r.apply_batch(records)?;
                for (source, seq) in marks {
                    m.insert(ingest_mark_key(source), &seq.to_be_bytes())?;
                }
                for (source, client) in owners {
                    m.insert(ingest_owner_key(source), client.as_bytes())?;
                }
                Ok(())
            })
            .map_err(|e: sled::transaction::TransactionError<()>| match e {
                sled::transaction::TransactionError::Storage(e) => ArchiveError::Store(e),
                sled::transaction::TransactionError::Abort(()) => {
                    ArchiveError::CommitFailed("ingest transaction aborted".into())
                }
            })
    }

    pub(crate) fn set_indexed_upto(&self, id: u64) -> Result<(), ArchiveError> {
        self.meta.insert(META_INDEXED, &id.to_be_bytes())?;
        Ok(())
    }

    /// Signs the head after a commit (kept in meta, replaced each time).
    pub(crate) fn sign_head(&self, id: u64, head: Hash, time_ns: i64) -> Result<(), ArchiveError> {
        let cp = Checkpoint::signed(&self.key, 0, id, head, time_ns, CheckpointReason::Head)?;
        self.meta.insert(META_HEAD, cp.encode()?)?;
        // Written to the mark file by the next durable flush, after sled's data.
        self.mark_lock().pending = Some(HighWaterMark::of(&cp));
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
        self.durable_flush()?;
        Ok(cp)
    }

    /// Writes a checkpoint for `head`; the caller holds the head lock or owns the store.
    pub(crate) fn write_checkpoint_locked(
        &self,
        head: Head,
        reason: CheckpointReason,
    ) -> Result<Checkpoint, ArchiveError> {
        // A checkpoint log without a signed head reads as tampering on the next open (the
        // head is signed after every commit, so it is missing only before the first one):
        // sign the head first.
        if self.signed_head()?.is_none() {
            self.sign_head(head.id, head.hash, now_ns())?;
        }
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

/// The archive's signing key: `options.key` if given, else where the archive recorded it,
/// else `<dir>/signing.key`. A new archive gets a new key if there is none at that path; an
/// existing one never does (a missing key is an error, not a reason to start a new one).
/// Returns the key, its path and whether it was created now.
fn open_key(
    dir: &Path,
    options: &ArchiveOptions,
    meta: &sled::Tree,
) -> Result<(ArchiveKey, PathBuf, bool), ArchiveError> {
    let recorded = meta
        .get(META_KEY_PATH)?
        .map(|v| PathBuf::from(std::ffi::OsString::from_vec(v.to_vec())));
    let path = options
        .key
        .clone()
        .or(recorded.clone())
        .unwrap_or_else(|| default_key_path(dir));
    let stored_public = meta.get(META_PUBLIC_KEY)?;
    let (key, created) = match (ArchiveKey::read(&path)?, &stored_public) {
        (Some(key), _) => (key, false),
        (None, None) => (ArchiveKey::create(&path)?, true),
        (None, Some(_)) => {
            let inside = default_key_path(dir);
            let hint = if path != inside && inside.exists() {
                format!(
                    "; this archive's key is still in its directory: move it there \
                     (`mv {} {}`) and start again",
                    inside.display(),
                    path.display()
                )
            } else {
                String::new()
            };
            return Err(ArchiveError::KeyMissing { path, hint });
        }
    };
    match stored_public {
        Some(stored) if stored.as_ref() != key.public().as_bytes() => {
            return Err(ArchiveError::BadKey {
                path,
                detail: "it is not the key this archive was created with".into(),
            });
        }
        Some(_) => {}
        None => {
            meta.insert(META_PUBLIC_KEY, key.public().as_bytes().as_slice())?;
        }
    }
    // Recorded absolute, so a command run from another directory finds it.
    let absolute = std::path::absolute(&path).map_err(|source| ArchiveError::File {
        path: path.clone(),
        source,
    })?;
    if absolute == std::path::absolute(default_key_path(dir)).unwrap_or_default() {
        if recorded.is_some() {
            meta.remove(META_KEY_PATH)?;
        }
    } else if recorded.as_ref() != Some(&absolute) {
        meta.insert(META_KEY_PATH, absolute.as_os_str().as_bytes())?;
    }
    Ok((key, absolute, created))
}

fn is_lock_error(e: &std::io::Error) -> bool {
    // sled reports "could not acquire lock on ..." as WouldBlock/Other from fs2's try_lock.
    e.kind() == std::io::ErrorKind::WouldBlock || e.to_string().contains("lock")
}

/// The meta key of an ingest source's highest stored seq.
fn ingest_mark_key(source: &str) -> Vec<u8> {
    let mut key = b"ingest/".to_vec();
    key.extend_from_slice(source.as_bytes());
    key
}

/// Meta key: the client ingest `source` is bound to (see [`crate::IngestKey`]).
fn ingest_owner_key(source: &str) -> Vec<u8> {
    let mut key = b"ingest_owner/".to_vec();
    key.extend_from_slice(source.as_bytes());
    key
}
