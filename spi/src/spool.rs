//! The local spool: a sled directory of postcard-encoded `archive::Event`s, one tree, keyed
//! by sled's persistent monotonic id (big-endian, so key order is append order).
//!
//! Shipping ([`crate::shipper`]) reads the oldest records with their keys ([`SledSpool::pending`],
//! the key is the record's `seq` on the wire) and deletes them once the gateway acknowledged
//! them ([`SledSpool::remove_upto`]). Appends take a lock around key generation and insert, so
//! key order is insert order: the shipper never sees a record with a smaller key appear after
//! it shipped a larger one (the gateway may keep only a high-water mark per source).
//!
//! The spool's `source` id (32 hex digits, random, made on first open and kept in the `meta`
//! tree) names it to the gateway, so a restarted library is recognised and its resent
//! records are deduplicated.
//!
//! Why not `archive::Archive`: the spool is a queue, its records are deleted once the gateway
//! has them (the next slice), which a hash-chained archive must not allow; and each Sametime
//! server needs its own small store, not a second signed archive.
//!
//! Durability: [`SledSpool::append`] inserts, calls sled's `flush`, then `fdatasync`s sled's
//! data file and any blob files (sled's own flush stops at `sync_file_range`), the way the
//! archive does, so an acknowledged record survives a power cut. sled's background flusher
//! is turned off: every append flushes itself, and one fewer thread runs inside the server.
//!
//! Privacy: the spool holds the messages, so its directory is 0700 and its files 0600
//! whatever the umask, checked at every open (`archive::owner_only`: a directory of another
//! user is refused; looser modes are fixed with a warning). The library runs inside the
//! Sametime server and must not change that process's umask, so it sets modes itself; the
//! private directory is what keeps files sled makes later from other users.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use archive::Event;

use crate::error::SpiError;
use crate::sink::RecordSink;

/// The tree records are kept in.
const EVENTS_TREE: &str = "events";
/// The tree of the spool's own settings: its source id.
const META_TREE: &str = "meta";
/// The key of the source id in [`META_TREE`].
const SOURCE_KEY: &[u8] = b"source";

/// A spool directory opened for appending (and, in tests and the shipper, for reading).
#[derive(Debug)]
pub struct SledSpool {
    dir: PathBuf,
    db: sled::Db,
    events: sled::Tree,
    data_file: std::fs::File,
    source: String,
    /// Held from key generation to insert: key order is insert order.
    order: Mutex<()>,
}

/// A spool directory that is not (and cannot be made) private, as a spool file error.
fn private_err(dir: &Path, e: archive::ArchiveError) -> SpiError {
    SpiError::SpoolFile {
        path: dir.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::PermissionDenied, e),
    }
}

impl SledSpool {
    /// Opens (creating if needed) the spool in `dir`. sled locks it: one process at a time.
    ///
    /// A handle that was just dropped lets go of the lock a moment later (sled's own
    /// threads hold it until they finish), so a lock still held is waited for, up to two
    /// seconds, before it is an error: a server re-initialising at once, or a tool reading
    /// the spool right after the library closed it, must not fail for that.
    pub fn open(dir: &Path) -> Result<Self, SpiError> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        loop {
            match Self::try_open(dir) {
                Err(e) if e.is_lock_held() && std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => return other,
            }
        }
    }

    /// Opens the spool in `dir` once, without waiting for a lock still held.
    pub fn try_open(dir: &Path) -> Result<Self, SpiError> {
        let sled_err = |source| SpiError::Spool {
            path: dir.to_owned(),
            source,
        };
        archive::owner_only::prepare_dir(dir).map_err(|e| private_err(dir, e))?;
        let db = sled::Config::new()
            .path(dir)
            .flush_every_ms(None)
            .open()
            .map_err(sled_err)?;
        let events = db.open_tree(EVENTS_TREE).map_err(sled_err)?;
        let data_path = dir.join("db");
        let data_file = std::fs::File::open(&data_path).map_err(|source| SpiError::SpoolFile {
            path: data_path,
            source,
        })?;
        let meta = db.open_tree(META_TREE).map_err(sled_err)?;
        let source = match meta.get(SOURCE_KEY).map_err(sled_err)? {
            Some(id) => String::from_utf8_lossy(&id).into_owned(),
            None => {
                let mut bytes = [0u8; 16];
                getrandom::fill(&mut bytes).map_err(|e| SpiError::Random(e.to_string()))?;
                let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                meta.insert(SOURCE_KEY, id.as_bytes()).map_err(sled_err)?;
                id
            }
        };
        let spool = Self {
            dir: dir.to_owned(),
            db,
            events,
            data_file,
            source,
            order: Mutex::new(()),
        };
        // sled made its files under the host's umask, inside the private directory.
        archive::owner_only::tighten_tree(dir).map_err(|e| private_err(dir, e))?;
        // A new source id must be durable before any record is shipped under it.
        spool.sync()?;
        Ok(spool)
    }

    /// The spool directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The spool's stable id, sent to the gateway as `source`.
    pub fn source(&self) -> &str {
        &self.source
    }

    fn sled_err(&self) -> impl Fn(sled::Error) -> SpiError + '_ {
        |source| SpiError::Spool {
            path: self.dir.clone(),
            source,
        }
    }

    /// The oldest records with their sequence numbers (the spool keys), at most
    /// `max_records`, and no more than `max_bytes` of encoded records once one is taken.
    pub fn pending(
        &self,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Vec<(u64, Event)>, SpiError> {
        let mut out = Vec::new();
        let mut bytes = 0;
        for entry in self.events.iter() {
            if out.len() >= max_records || (bytes >= max_bytes && !out.is_empty()) {
                break;
            }
            let (key, value) = entry.map_err(self.sled_err())?;
            let seq = key_seq(&key);
            if !out.is_empty() && bytes + value.len() > max_bytes {
                break;
            }
            bytes += value.len();
            out.push((seq, postcard::from_bytes(&value)?));
        }
        Ok(out)
    }

    /// Deletes every record with a sequence number up to `seq`; returns how many.
    ///
    /// Not synced on its own (the next append's sync or closing writes it): a deletion lost
    /// in a crash only makes the shipper resend records the gateway recognises.
    pub fn remove_upto(&self, seq: u64) -> Result<usize, SpiError> {
        let mut batch = sled::Batch::default();
        let mut n = 0;
        for key in self.events.range(..=seq.to_be_bytes()).keys() {
            batch.remove(key.map_err(self.sled_err())?);
            n += 1;
        }
        self.events.apply_batch(batch).map_err(self.sled_err())?;
        Ok(n)
    }

    /// How many records wait to be shipped.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether no record waits to be shipped.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Every record in the spool, in append order.
    pub fn events(&self) -> Result<Vec<Event>, SpiError> {
        self.events
            .iter()
            .values()
            .map(|value| {
                let value = value.map_err(|source| SpiError::Spool {
                    path: self.dir.clone(),
                    source,
                })?;
                Ok(postcard::from_bytes(&value)?)
            })
            .collect()
    }

    /// Opens the spool in `dir`, reads every record and closes it again: how a test (or an
    /// operator's tool) reads what the library wrote, while the library is not running.
    pub fn read_all(dir: &Path) -> Result<Vec<Event>, SpiError> {
        Self::open(dir)?.events()
    }

    fn sync(&self) -> Result<(), SpiError> {
        let file_err = |path: PathBuf| move |source| SpiError::SpoolFile { path, source };
        self.db.flush().map_err(|source| SpiError::Spool {
            path: self.dir.clone(),
            source,
        })?;
        self.data_file
            .sync_data()
            .map_err(file_err(self.dir.join("db")))?;
        // Values larger than a log segment (~128 KiB; a long message) live in their own
        // files under `blobs/`, which sled does not sync.
        let blobs = self.dir.join("blobs");
        let Ok(entries) = std::fs::read_dir(&blobs) else {
            return Ok(());
        };
        let mut any = false;
        for entry in entries {
            let path = entry.map_err(file_err(blobs.clone()))?.path();
            match std::fs::File::open(&path).and_then(|f| f.sync_data()) {
                Ok(()) => any = true,
                // sled removes a blob once its value is rewritten or compacted, possibly
                // between the listing and the open: nothing is left to sync.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(SpiError::SpoolFile { path, source }),
            }
        }
        if any {
            std::fs::File::open(&blobs)
                .and_then(|d| d.sync_all())
                .map_err(file_err(blobs))?;
        }
        Ok(())
    }
}

/// A spool key as the sequence number it is.
fn key_seq(key: &[u8]) -> u64 {
    let mut be = [0u8; 8];
    let n = key.len().min(8);
    be[8 - n..].copy_from_slice(&key[key.len() - n..]);
    u64::from_be_bytes(be)
}

impl RecordSink for SledSpool {
    fn append(&self, event: &Event) -> Result<(), SpiError> {
        let value = postcard::to_stdvec(event)?;
        {
            let _order = self.order.lock().unwrap_or_else(PoisonError::into_inner);
            let key = self.db.generate_id().map_err(self.sled_err())?;
            self.events
                .insert(key.to_be_bytes(), value)
                .map_err(self.sled_err())?;
        }
        self.sync()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::test_event as event;

    #[test]
    fn records_come_back_in_order_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let spool = SledSpool::open(dir.path()).unwrap();
            spool.append(&event("one")).unwrap();
            spool.append(&event(&"x".repeat(300 * 1024))).unwrap();
        }
        {
            let spool = SledSpool::open(dir.path()).unwrap();
            spool.append(&event("three")).unwrap();
        }
        let texts: Vec<usize> = SledSpool::read_all(dir.path())
            .unwrap()
            .iter()
            .map(|e| e.text.len())
            .collect();
        assert_eq!(texts, [3, 300 * 1024, 5]);
    }

    #[test]
    fn the_source_id_survives_reopening_and_removal_is_by_sequence() {
        let dir = tempfile::tempdir().unwrap();
        let source = {
            let spool = SledSpool::open(dir.path()).unwrap();
            for t in ["a", "b", "c"] {
                spool.append(&event(t)).unwrap();
            }
            let pending = spool.pending(2, usize::MAX).unwrap();
            assert_eq!(pending.len(), 2);
            assert!(pending[0].0 < pending[1].0);
            assert_eq!(spool.remove_upto(pending[0].0).unwrap(), 1);
            assert_eq!(spool.pending(1, 0).unwrap()[0].1.text, "b");
            spool.source().to_owned()
        };
        assert_eq!(source.len(), 32);
        assert!(source.bytes().all(|b| b.is_ascii_hexdigit()));
        let spool = SledSpool::open(dir.path()).unwrap();
        assert_eq!(spool.source(), source);
        assert_eq!(spool.len(), 2);
        let other = tempfile::tempdir().unwrap();
        assert_ne!(SledSpool::open(other.path()).unwrap().source(), source);
    }
}
