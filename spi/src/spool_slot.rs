//! The spool as something that can fail and come back: a full or read-only disk must not
//! leave the library broken until the Sametime server restarts.
//!
//! sled latches its first I/O error: once a write failed (`ENOSPC`), every later operation
//! on that `Db` fails too, even after space is freed. Only a fresh open recovers. So after
//! a write error the slot drops its handle, and a later [`SpoolSlot::get`] opens the
//! directory again, at most once per [`REOPEN_INTERVAL`] so a dead disk does not cost every
//! call an open. Records already acknowledged stay durable: each was synced before its call
//! returned, and reopening only reads them back.
//!
//! Other holders (the shipper) take a handle per step and let it go, so the old `Db` closes
//! (and releases its file lock) soon after the slot drops it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::error::SpiError;
use crate::spool::SledSpool;

/// How often a spool that failed is opened again, at most.
pub const REOPEN_INTERVAL: Duration = Duration::from_millis(500);

#[derive(Debug)]
struct SlotState {
    /// The open spool; `None` after a failure, until an open succeeds.
    spool: Option<Arc<SledSpool>>,
    /// Why the spool is not open, for errors while it is not.
    last_error: Option<String>,
    /// No open is tried before this.
    next_try: Instant,
}

/// The spool directory and the handle open on it, if any.
#[derive(Debug)]
pub struct SpoolSlot {
    dir: PathBuf,
    state: Mutex<SlotState>,
}

impl SpoolSlot {
    /// Opens the spool in `dir` now: an error if it cannot be opened (strict mode's Init).
    pub fn open(dir: &Path) -> Result<Self, SpiError> {
        let spool = SledSpool::open(dir)?;
        Ok(Self {
            dir: dir.to_owned(),
            state: Mutex::new(SlotState {
                spool: Some(Arc::new(spool)),
                last_error: None,
                next_try: Instant::now(),
            }),
        })
    }

    /// A slot holding a spool opened elsewhere (tests, and tools that open one themselves).
    pub fn adopt(spool: Arc<SledSpool>) -> Arc<Self> {
        Arc::new(Self {
            dir: spool.dir().to_owned(),
            state: Mutex::new(SlotState {
                spool: Some(spool),
                last_error: None,
                next_try: Instant::now(),
            }),
        })
    }

    /// A slot whose spool could not be opened (relaxed mode's Init): later calls try again.
    pub fn failed(dir: &Path, error: &SpiError) -> Self {
        Self {
            dir: dir.to_owned(),
            state: Mutex::new(SlotState {
                spool: None,
                last_error: Some(error.to_string()),
                next_try: Instant::now() + REOPEN_INTERVAL,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The spool directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether a spool is open now (no failure pending recovery).
    pub fn is_open(&self) -> bool {
        self.lock().spool.is_some()
    }

    /// The open spool, opening it again if it failed and the interval has passed.
    pub fn get(&self) -> Result<Arc<SledSpool>, SpiError> {
        let mut state = self.lock();
        if let Some(spool) = &state.spool {
            return Ok(Arc::clone(spool));
        }
        let unavailable = |state: &SlotState| SpiError::SpoolUnavailable {
            path: self.dir.clone(),
            reason: state.last_error.clone().unwrap_or_default(),
        };
        if Instant::now() < state.next_try {
            return Err(unavailable(&state));
        }
        // One attempt: a caller of the library must not wait here while the spool is down.
        match SledSpool::try_open(&self.dir) {
            Ok(spool) => {
                let spool = Arc::new(spool);
                state.spool = Some(Arc::clone(&spool));
                state.last_error = None;
                Ok(spool)
            }
            Err(e) => {
                state.last_error = Some(e.to_string());
                state.next_try = Instant::now() + REOPEN_INTERVAL;
                Err(e)
            }
        }
    }

    /// Says `spool` failed with `error`: if it is still the open one and the error is the
    /// disk's (not, say, an encoding error), the slot lets it go so the next `get` reopens.
    pub fn failed_with(&self, spool: &Arc<SledSpool>, error: &SpiError) {
        if !error.is_storage() {
            return;
        }
        let mut state = self.lock();
        if state
            .spool
            .as_ref()
            .is_some_and(|open| Arc::ptr_eq(open, spool))
        {
            state.spool = None;
            state.last_error = Some(error.to_string());
            state.next_try = Instant::now() + REOPEN_INTERVAL;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::RecordSink;

    #[test]
    fn a_failed_slot_opens_once_the_directory_is_usable() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let spool_dir = dir.path().join("spool");
        // A file where the directory should be: sled cannot open it.
        std::fs::write(&spool_dir, b"not a directory").unwrap_or_else(|e| panic!("{e}"));
        let error = match SledSpool::open(&spool_dir) {
            Err(e) => e,
            Ok(_) => panic!("opened a spool on a file"),
        };
        let slot = SpoolSlot::failed(&spool_dir, &error);
        assert!(matches!(slot.get(), Err(SpiError::SpoolUnavailable { .. })));
        std::fs::remove_file(&spool_dir).unwrap_or_else(|e| panic!("{e}"));
        std::thread::sleep(REOPEN_INTERVAL);
        let spool = slot.get().unwrap_or_else(|e| panic!("{e}"));
        assert!(spool.is_empty());
        assert!(slot.is_open());
    }

    #[test]
    fn a_storage_error_drops_the_handle_and_the_next_get_reopens() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let slot = SpoolSlot::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let spool = slot.get().unwrap_or_else(|e| panic!("{e}"));
        let storage = SpiError::SpoolFile {
            path: dir.path().to_owned(),
            source: std::io::Error::other("disk full"),
        };
        slot.failed_with(&spool, &SpiError::Null { what: "x" });
        assert!(slot.is_open(), "only the disk's errors drop the spool");
        slot.failed_with(&spool, &storage);
        assert!(!slot.is_open());
        drop(spool);
        // Until the interval passes, the failure is reported without touching the disk.
        assert!(matches!(slot.get(), Err(SpiError::SpoolUnavailable { .. })));
        let deadline = Instant::now() + Duration::from_secs(5);
        let reopened = loop {
            std::thread::sleep(REOPEN_INTERVAL);
            match slot.get() {
                Ok(s) => break s,
                // sled's own threads may hold the old handle's lock a moment longer.
                Err(_) if Instant::now() < deadline => {}
                Err(e) => panic!("{e}"),
            }
        };
        assert!(reopened.is_empty());
        let event = crate::sink::test_event("after");
        reopened.append(&event).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(reopened.len(), 1);
    }
}
