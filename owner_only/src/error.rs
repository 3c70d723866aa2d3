//! Why a directory or key file cannot be used as private.

use std::path::PathBuf;

/// Why private data could not be made or kept private.
#[derive(Debug, thiserror::Error)]
pub enum OwnerOnlyError {
    /// Creating, reading or changing the mode of a path failed.
    #[error("{path}: {source}")]
    File {
        /// Which path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A private directory or key file belongs to another user: we cannot vouch for who
    /// else may read it, so it is not used.
    #[error(
        "{path} belongs to uid {owner}, not to this process's user (uid {uid}); archive data, \
         keys and spools must be owned by the user the process runs as"
    )]
    NotOwner {
        /// The directory or file.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// This process's effective uid.
        uid: u32,
    },
    /// A key file others may read or write: it may already have been copied, so it is
    /// refused rather than quietly fixed (as ssh refuses an unprotected private key).
    #[error(
        "{path} is mode {mode:04o}: the key is open to other users and may have been copied; \
         if that is acceptable, `chmod 600` it (or replace it) and start again"
    )]
    KeyExposed {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}
