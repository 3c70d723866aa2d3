//! The local spool: a sled directory of postcard-encoded `archive::Event`s, one tree, keyed
//! by sled's persistent monotonic id (big-endian, so key order is append order).
//!
//! Why not `archive::Archive`: the spool is a queue, its records are deleted once the gateway
//! has them (the next slice), which a hash-chained archive must not allow; and each Sametime
//! server needs its own small store, not a second signed archive.
//!
//! Durability: [`SledSpool::append`] inserts, calls sled's `flush`, then `fdatasync`s sled's
//! data file and any blob files (sled's own flush stops at `sync_file_range`), the way the
//! archive does, so an acknowledged record survives a power cut. sled's background flusher
//! is turned off: every append flushes itself, and one fewer thread runs inside the server.

use std::path::{Path, PathBuf};

use archive::Event;

use crate::error::SpiError;
use crate::sink::RecordSink;

/// The tree records are kept in.
const EVENTS_TREE: &str = "events";

/// A spool directory opened for appending (and, in tests and the shipper, for reading).
#[derive(Debug)]
pub struct SledSpool {
    dir: PathBuf,
    db: sled::Db,
    events: sled::Tree,
    data_file: std::fs::File,
}

impl SledSpool {
    /// Opens (creating if needed) the spool in `dir`. sled locks it: one process at a time.
    pub fn open(dir: &Path) -> Result<Self, SpiError> {
        let sled_err = |source| SpiError::Spool {
            path: dir.to_owned(),
            source,
        };
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
        Ok(Self {
            dir: dir.to_owned(),
            db,
            events,
            data_file,
        })
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

impl RecordSink for SledSpool {
    fn append(&self, event: &Event) -> Result<(), SpiError> {
        let sled_err = |source| SpiError::Spool {
            path: self.dir.clone(),
            source,
        };
        let value = postcard::to_stdvec(event)?;
        let key = self.db.generate_id().map_err(sled_err)?;
        self.events
            .insert(key.to_be_bytes(), value)
            .map_err(sled_err)?;
        self.sync()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use archive::{Direction, Kind, Protocol, Verdict};

    fn event(text: &str) -> Event {
        Event {
            time_ns: 1,
            protocol: Protocol::Sametime,
            kind: Kind::Im,
            conversation: "sametime:a|b".into(),
            sender: "a".into(),
            recipients: vec!["b".into()],
            direction: Direction::Internal,
            local_user: "a".into(),
            room: None,
            client_addr: None,
            node: "n".into(),
            text: text.into(),
            raw: text.into(),
            charset: None,
            verdict: Verdict::Allowed,
            detail: Some("{}".into()),
            employee: None,
        }
    }

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
}
