//! Why an SPI call failed, and which code and severity the server is told.

use std::ffi::c_int;
use std::path::PathBuf;

use crate::codes::{
    API_INTERNAL_ERROR, API_INVALID_PARAM, API_VERSION_MISMATCH, SEVERITY_ERROR, SEVERITY_FATAL,
    SEVERITY_WARNING,
};
use crate::config::Codes;

/// Every way an entry point can fail. Each maps to one return code ([`SpiError::code`]) and
/// one severity ([`SpiError::severity`]).
#[derive(Debug, thiserror::Error)]
pub enum SpiError {
    /// A required pointer argument was NULL.
    #[error("{what} is NULL")]
    Null {
        /// Which argument.
        what: &'static str,
    },
    /// A string or id had no NUL within its limit: an invalid argument
    /// (`ST_DDA_API_INVALID_PARAM`), as the reference's §9 has it for over-long ids.
    #[error("{what} is longer than {max} bytes")]
    TooLong {
        /// Which argument.
        what: &'static str,
        /// The limit.
        max: usize,
    },
    /// A text or data message longer than accepted: `ST_DDA_MSG_TOO_LONG` (reference §5.3:
    /// "messages longer than `ST_DDA_MAX_MSG_LEN` fail with `ST_DDA_MSG_TOO_LONG`"), numbered
    /// by `[codes] msg_too_long`.
    #[error("{what} is longer than {max} bytes")]
    MessageTooLong {
        /// Which argument.
        what: &'static str,
        /// The limit.
        max: usize,
    },
    /// A message length with no bytes behind it.
    #[error("{what} has length {len} but no data")]
    MissingData {
        /// Which argument.
        what: &'static str,
        /// The length given.
        len: u64,
    },
    /// An entity id was empty, which names nobody.
    #[error("{what} has an empty id")]
    EmptyId {
        /// Which argument.
        what: &'static str,
    },
    /// An entity type outside `StClEntityType`.
    #[error("{what} has unknown entity type {value}")]
    EntityType {
        /// Which argument.
        what: &'static str,
        /// The value given.
        value: c_int,
    },
    /// The server speaks an older SPI than ours.
    #[error("SPI version {offered} is older than this library's {ours}")]
    VersionTooOld {
        /// The server's version.
        offered: c_int,
        /// Ours.
        ours: c_int,
    },
    /// A call before `stDdaClInit` or after `stDdaClTerminate`.
    #[error("the chat-logging library is not initialised")]
    NotInitialised,
    /// `stDdaClSessionStarted` for a session that is open.
    #[error("session {0:?} already exists")]
    SessionExists(String),
    /// A call naming a session that was never started or has ended.
    #[error("session {0:?} does not exist")]
    SessionMissing(String),
    /// Another process (or a writer of ours left behind) holds the spool's lock.
    #[error(
        "spool {} is in use: its lock is held by another process, or by this library's writer \
         still stuck on the disk since an earlier Terminate",
        path.display()
    )]
    SpoolInUse {
        /// The spool directory.
        path: PathBuf,
    },
    /// The spool's disk did not answer within the call's bound (`call_timeout_ms`).
    #[error("the spool's disk did not answer within {waited_ms} ms ({})", path.display())]
    SpoolBusy {
        /// The spool directory.
        path: PathBuf,
        /// The bound waited.
        waited_ms: u64,
    },
    /// A record longer than a spool frame can hold (never one the entry points accept).
    #[error("a record of {bytes} bytes is too large for the spool")]
    RecordTooLarge {
        /// Its encoded size.
        bytes: usize,
    },
    /// The spool failed earlier and could not be opened again yet.
    #[error("{reason} (still failing; retried every 500 ms)")]
    SpoolUnavailable {
        /// The spool directory.
        path: PathBuf,
        /// Why it last failed.
        reason: String,
    },
    /// A spool file could not be created, written or synced.
    #[error("spool {}: {}", path.display(), plain_io(source))]
    SpoolFile {
        /// The file.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// A record could not be encoded or decoded.
    #[error("spool record: {0}")]
    Encoding(#[from] postcard::Error),
    /// `stDdaClCleanSrvMsgs` was given messages this library did not allocate (or has
    /// already freed).
    #[error("server messages this library did not allocate")]
    NotOurs,
    /// `stDdaClCleanSrvMsgs` was given our messages with another count than we handed over:
    /// refused, and left allocated, rather than freed with the wrong size.
    #[error("server messages handed over as {ours} given back as {given}")]
    SrvMsgsCount {
        /// The count the server gave back.
        given: u64,
        /// The count we handed over with that pointer.
        ours: usize,
    },
    /// The policy file (`[policy] file`) or the directory it names cannot be used: Init
    /// fails, naming the file, line and key.
    #[error("policy: {0}")]
    Policy(String),
    /// The policy file changed but the new one cannot be used: the previous policy stays.
    #[error("policy not reloaded, the previous one stays: {0}")]
    PolicyReload(String),
    /// The configuration file changed but its new shipping settings cannot be used: the
    /// running shipper goes on with the old ones.
    #[error("shipping settings not reloaded, the previous ones stay: {0}")]
    ShippingReload(String),
    /// The operating system gave no random bytes (for the spool's source id).
    #[error("no random bytes for the spool's source id: {0}")]
    Random(String),
    /// The shipping configuration in the environment is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// The shipper thread could not be started.
    #[error("cannot start the shipper thread: {0}")]
    Thread(std::io::Error),
    /// Our own bug: a panic, caught at the entry point.
    #[error("internal error in {entry}")]
    Panicked {
        /// The entry point.
        entry: &'static str,
    },
}

impl SpiError {
    /// The return code the server gets, with the default numbers for the chat-log codes.
    pub fn code(&self) -> c_int {
        self.code_with(&Codes::default())
    }

    /// The return code the server gets, the chat-log codes numbered as configured.
    pub fn code_with(&self, codes: &Codes) -> c_int {
        match self {
            Self::Null { .. }
            | Self::MissingData { .. }
            | Self::EmptyId { .. }
            | Self::EntityType { .. }
            | Self::NotOurs
            | Self::SrvMsgsCount { .. }
            | Self::TooLong { .. } => API_INVALID_PARAM,
            Self::MessageTooLong { .. } => codes.msg_too_long,
            Self::VersionTooOld { .. } => API_VERSION_MISMATCH,
            Self::SessionExists(_) => codes.session_already_exists,
            Self::SessionMissing(_) => codes.session_does_not_exist,
            Self::SpoolFile { .. }
            | Self::SpoolUnavailable { .. }
            | Self::SpoolInUse { .. }
            | Self::SpoolBusy { .. }
            | Self::RecordTooLarge { .. }
            | Self::Encoding(_) => codes.db_error,
            Self::NotInitialised
            | Self::Panicked { .. }
            | Self::Random(_)
            | Self::Config(_)
            | Self::Policy(_)
            | Self::PolicyReload(_)
            | Self::ShippingReload(_)
            | Self::Thread(_) => API_INTERNAL_ERROR,
        }
    }

    /// The severity written through the retained `appRetCode`: fatal when records may be
    /// lost (IBM's sample does the same for its database error), an error otherwise.
    pub fn severity(&self) -> c_int {
        match self {
            Self::SpoolFile { .. }
            | Self::SpoolUnavailable { .. }
            | Self::SpoolInUse { .. }
            | Self::SpoolBusy { .. }
            | Self::RecordTooLarge { .. }
            | Self::Encoding(_)
            | Self::Panicked { .. } => SEVERITY_FATAL,
            // Nothing failed for the server: the old policy is still applied.
            Self::PolicyReload(_) | Self::ShippingReload(_) => SEVERITY_WARNING,
            _ => SEVERITY_ERROR,
        }
    }
}

/// An I/O error in plain words: its operating-system text ("No space left on device"),
/// never the `Debug` form (`Os { code: 28, kind: StorageFull, .. }`).
fn plain_io(e: &std::io::Error) -> String {
    e.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}
