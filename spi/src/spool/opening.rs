//! What opening a spool takes besides its segments: the one writer's lock, the source id
//! made on first open, and the error for a directory that cannot be made private.

use std::fs::File;
use std::path::Path;

use super::file_err;
use crate::error::SpiError;
use crate::spool_files::{LOCK_FILE, SOURCE_FILE, replace_file};

/// Takes the writer's lock on `file`, without waiting: another process appending to the
/// same spool would interleave sequence numbers.
#[cfg(unix)]
pub(super) fn lock_exclusive(file: &File, dir: &Path) -> Result<(), SpiError> {
    use std::os::fd::AsRawFd as _;
    // SAFETY: `file` is open for this whole call, so its descriptor is valid; flock takes
    // no pointers.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    if e.kind() == std::io::ErrorKind::WouldBlock {
        return Err(SpiError::SpoolInUse {
            path: dir.to_owned(),
        });
    }
    Err(file_err(&dir.join(LOCK_FILE))(e))
}

/// Windows: the lock comes with the Windows build; one Sametime server per spool until then.
#[cfg(not(unix))]
pub(super) fn lock_exclusive(_file: &File, _dir: &Path) -> Result<(), SpiError> {
    Ok(())
}

/// The spool's source id, made on first open.
pub(super) fn source_id(dir: &Path) -> Result<String, SpiError> {
    let path = dir.join(SOURCE_FILE);
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => return Ok(id.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(file_err(&path)(e)),
    }
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| SpiError::Random(e.to_string()))?;
    let id = record::hex(&bytes);
    // Durable before any record is shipped under it.
    replace_file(dir, SOURCE_FILE, &id).map_err(file_err(&path))?;
    Ok(id)
}

/// A spool directory that is not (and cannot be made) private, as a spool file error.
pub(super) fn private_err(dir: &Path, e: owner_only::OwnerOnlyError) -> SpiError {
    SpiError::SpoolFile {
        path: dir.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::PermissionDenied, e.to_string()),
    }
}
