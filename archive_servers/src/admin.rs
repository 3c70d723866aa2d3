//! The admin socket: how other processes use an archive the gateway owns (sled allows one
//! process per store). JSON lines over a Unix socket at `<dir>/admin.sock`: one request
//! line; the answer is zero or more `{"record": ...}` lines and then either `{"done": ...}`
//! or `{"error": "..."}`.
//!
//! Who may connect is checked twice: by the socket file's mode (0600, or 0660 for the admin
//! group, with the archive directory 0710 so the group can reach it) and by the peer's
//! credentials ([`AdminPolicy`]: the owner, root, or a member of the admin group); anyone
//! else gets an error line and a warning in the log. A request line is at most
//! [`MAX_REQUEST_LINE`] bytes and must arrive within [`REQUEST_DEADLINE`]; only a
//! `sign_export` line is followed by more (the manifest, at most [`MAX_SIGNED_MANIFEST`]
//! bytes, within the same time). Every search,
//! export, hold, retention and verify is recorded as an `access` record of the peer's uid
//! ([`archive::Access`]).

use std::path::{Path, PathBuf};

use archive::{HoldTarget, Query, RetentionMinimum, RetentionPolicy};
use record::Record;
use serde::{Deserialize, Serialize};

mod client;
mod server;

pub use client::{AnswerLines, Client};
pub use server::{
    OwnerStatus, bind, bind_for, resolve_group, serve, serve_with, serve_with_status,
};

/// The longest request line accepted (the newline included); a longer one is answered
/// with an error and the connection closed. Requests are small JSON: filters, a reason.
pub const MAX_REQUEST_LINE: usize = 64 * 1024;

/// The longest manifest a `sign_export` request may carry after its line: an EML export's
/// manifest names every file, so it outgrows a request line.
pub const MAX_SIGNED_MANIFEST: u64 = 16 << 20;

/// How long a client has, after connecting, to send its request line.
pub const REQUEST_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

/// Where the owning process listens, for the archive in `dir`.
pub fn socket_path(dir: &Path) -> PathBuf {
    dir.join("admin.sock")
}

/// One request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Stream the records matching `query`.
    Search {
        /// The filters (boxed: the largest request by far).
        query: Box<Query>,
        /// Which command searches, for the access record (`search`, `export`). Default:
        /// `search`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        command: Option<String>,
        /// The command's other arguments, for the access record (an export's format).
        #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
        args: serde_json::Value,
    },
    /// Verify the chain, optionally against a pinned public key (hex).
    Verify {
        /// Pinned key; `None` uses the archive's own.
        public_key: Option<String>,
    },
    /// List holds.
    Holds {
        /// Include released ones.
        released: bool,
    },
    /// Place a hold.
    HoldAdd {
        /// What it covers.
        target: HoldTarget,
        /// Why.
        reason: String,
    },
    /// Release a hold.
    HoldRelease {
        /// Which.
        id: u64,
        /// Why.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The owner's status: the archive's counters plus whatever the owner adds (the
    /// gateway: its relay's sessions and egress load).
    Status,
    /// The archive's signed state and the exporter as the owner admitted them, for an
    /// export's manifest.
    ExportState,
    /// Sign an export's manifest with the archive key: the request line is followed by
    /// exactly `length` bytes (at most [`MAX_SIGNED_MANIFEST`]), the bytes of
    /// `manifest.json`; refused unless it names the admitted user as exporter and this
    /// archive's key ([`crate::export::seal`]).
    SignExport {
        /// How many bytes of manifest follow the line.
        length: u64,
    },
    /// Apply (or dry-run) a retention policy.
    Retention {
        /// The policy.
        policy: RetentionPolicy,
        /// "Now", UTC ns.
        now_ns: i64,
        /// Count only.
        dry_run: bool,
    },
    /// The locked retention minimum and every purge (what `verify` shows beside its verdict).
    RetentionState,
    /// Set or raise the retention minimum (a lower one is refused).
    RetentionMinimum {
        /// The minimum asked for.
        minimum: RetentionMinimum,
    },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Line {
    Record(Box<Record>),
    /// Said before the records: some could not be read (a damaged store).
    Warning(String),
    Done(serde_json::Value),
    Error(String),
}
