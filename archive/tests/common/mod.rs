//! What the tamper and rollback tests share: the archive's options, and opening it once the
//! previous owner (a closing writer thread) has let go.

use std::path::Path;
use std::time::{Duration, Instant};

use archive::{Archive, ArchiveError, ArchiveOptions};

/// A checkpoint every 10 records, so small fixtures have several.
pub(crate) fn options() -> ArchiveOptions {
    ArchiveOptions {
        node: Some("gw1".into()),
        checkpoint_every: 10,
        ..ArchiveOptions::default()
    }
}

/// Opens the archive, waiting while the previous owner (a closing writer thread) holds it.
pub(crate) fn open(dir: &Path) -> Archive {
    let start = Instant::now();
    loop {
        match Archive::open(dir, options()) {
            Ok(a) => return a,
            Err(ArchiveError::Locked { .. }) if start.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("open {}: {e}", dir.display()),
        }
    }
}
