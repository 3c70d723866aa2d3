//! The hash chain: every stored record carries the SHA-256 of the stored bytes of its
//! predecessor, so editing, deleting, inserting or reordering a record breaks a link.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ArchiveError;
use crate::record::{Event, Record};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// The `prev` of the first record ever written.
pub const GENESIS: Hash = [0; 32];

/// What is stored under a record's key: the id again (so a moved value is detectable), the
/// predecessor's hash, and the event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Stored {
    pub(crate) id: u64,
    pub(crate) prev: Hash,
    pub(crate) event: Event,
}

impl Stored {
    /// The stored bytes (postcard: compact and deterministic, so the hash is stable).
    pub(crate) fn encode(&self) -> Result<Vec<u8>, ArchiveError> {
        postcard::to_stdvec(self).map_err(|e| ArchiveError::corrupt("record", e))
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, ArchiveError> {
        postcard::from_bytes(bytes).map_err(|e| ArchiveError::corrupt("record", e))
    }

    pub(crate) fn into_record(self) -> Record {
        Record {
            id: self.id,
            event: self.event,
        }
    }
}

/// The hash of a stored record's bytes.
pub(crate) fn hash(bytes: &[u8]) -> Hash {
    Sha256::digest(bytes).into()
}

/// Lower-case hex, for reports and JSON.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Big-endian key of a record id, so sled iterates in id order.
pub(crate) fn id_key(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

/// The id in a record key.
pub(crate) fn key_id(key: &[u8]) -> Result<u64, ArchiveError> {
    <[u8; 8]>::try_from(key)
        .map(u64::from_be_bytes)
        .map_err(|_| ArchiveError::corrupt("record key", format!("{} bytes", key.len())))
}
