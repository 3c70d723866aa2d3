//! The archive's error type.

use std::path::PathBuf;

/// Why an archive operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Another process owns the archive (sled takes an exclusive lock).
    #[error(
        "the archive at {dir} is in use by another process (a running gateway?); \
         ask that process through its admin socket or stop it first"
    )]
    Locked {
        /// The archive directory.
        dir: PathBuf,
    },
    /// The store failed (I/O, full disk, corruption).
    #[error("archive store: {0}")]
    Store(#[from] sled::Error),
    /// A file next to the store (key, export) failed.
    #[error("{path}: {source}")]
    File {
        /// Which file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A private directory or key file is another user's or open to others.
    #[error(transparent)]
    Private(#[from] owner_only::OwnerOnlyError),
    /// A stored value could not be decoded.
    #[error("corrupt {what} in the archive: {detail}")]
    Corrupt {
        /// Which kind of value.
        what: &'static str,
        /// Why it could not be read.
        detail: String,
    },
    /// The signing key file is not a valid key.
    #[error("{path} is not an archive signing key: {detail}")]
    BadKey {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// An existing archive's signing key file is not where the archive or the configuration
    /// says (`archive.signing_key`): no new key is made for an archive that has one.
    #[error("the archive signing key {path} does not exist{hint}")]
    KeyMissing {
        /// Where it was looked for.
        path: PathBuf,
        /// Where it may be instead, as a sentence fragment (or empty).
        hint: String,
    },
    /// The store does not match its signatures (changed while the gateway was stopped);
    /// nothing more is appended or signed until an operator resolves it.
    #[error("archive integrity check failed, appends refused: {0} (run `imtegrity verify`)")]
    Integrity(String),
    /// The group commit holding this record failed; the record is not archived.
    #[error("archive commit failed: {0}")]
    CommitFailed(String),
    /// The archive's writer has stopped (the archive is closing or failed).
    #[error("the archive writer has stopped")]
    WriterGone,
    /// A record or query was not acceptable.
    #[error("invalid {what}: {detail}")]
    Invalid {
        /// What was invalid.
        what: &'static str,
        /// Why.
        detail: String,
    },
    /// A retention run or a configured minimum would go below the minimum this archive was
    /// locked to: nothing was changed.
    #[error(
        "refused: {what} = {asked} for {protocol} is below this archive's locked minimum \
         of {minimum} days ({provenance}); a minimum can only be raised, and records younger \
         than it are never purged"
    )]
    RetentionLocked {
        /// What asked for less (`retention days`, `archive.retention.min_days`).
        what: String,
        /// The protocol.
        protocol: record::Protocol,
        /// The days asked for.
        asked: u32,
        /// The locked minimum.
        minimum: u32,
        /// Who set the minimum, and when.
        provenance: String,
    },
    /// The admin socket failed.
    #[error("admin socket {path}: {source}")]
    Admin {
        /// The socket path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// An ingest client wrote under a source another client owns (bound on first use);
    /// nothing of it was stored.
    #[error("ingest source {source_id:?} belongs to client {owner:?}")]
    SourceClaimed {
        /// The source id claimed.
        source_id: String,
        /// The client it is bound to.
        owner: String,
    },
    /// The owning process answered an admin request with an error.
    #[error("the archive's owning process refused the request: {0}")]
    Remote(String),
}

impl ArchiveError {
    /// A value (stored, or on the admin socket) that could not be decoded, and why.
    pub fn corrupt(what: &'static str, detail: impl std::fmt::Display) -> Self {
        Self::Corrupt {
            what,
            detail: detail.to_string(),
        }
    }
}
