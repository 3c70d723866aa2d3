//! The hash chain: every stored record carries the SHA-256 of the stored bytes of its
//! predecessor, so editing, deleting, inserting or reordering a record breaks a link.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ArchiveError;
use record::{Event, Record};

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
    /// The stored bytes of record `id` after `prev` holding `event` (postcard: compact and
    /// deterministic, so the hash is stable), from its parts, so the writer need not copy
    /// the event into a `Stored` to encode it.
    pub(crate) fn encode_parts(
        id: u64,
        prev: Hash,
        event: &Event,
    ) -> Result<Vec<u8>, ArchiveError> {
        postcard::to_stdvec(&(id, prev, event)).map_err(|e| ArchiveError::corrupt("record", e))
    }

    /// Reads a stored record, of this version or of the one before `employee` existed
    /// (postcard is positional: an older record simply ends where the field would start).
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, ArchiveError> {
        postcard::from_bytes(bytes).or_else(|current| {
            // Only a whole old record counts: a current one with a damaged last field must
            // not pass as an old one with a byte to spare.
            match postcard::take_from_bytes::<legacy::StoredV1>(bytes) {
                Ok((old, [])) => Ok(Self::from(old)),
                _ => Err(ArchiveError::corrupt("record", current)),
            }
        })
    }

    pub(crate) fn into_record(self) -> Record {
        Record {
            id: self.id,
            event: self.event,
        }
    }
}

/// Record layouts written by earlier versions, read and converted, never written.
mod legacy {
    use serde::Deserialize;

    use super::{Hash, Stored};
    use record::{Direction, Event, Kind, Protocol, Verdict};

    /// A stored record before `Event::employee`.
    #[derive(Deserialize)]
    pub(super) struct StoredV1 {
        id: u64,
        prev: Hash,
        event: EventV1,
    }

    #[derive(Deserialize)]
    struct EventV1 {
        time_ns: i64,
        protocol: Protocol,
        kind: Kind,
        conversation: String,
        sender: String,
        recipients: Vec<String>,
        direction: Direction,
        local_user: String,
        room: Option<String>,
        client_addr: Option<String>,
        node: String,
        text: String,
        raw: String,
        charset: Option<String>,
        verdict: Verdict,
        detail: Option<String>,
    }

    impl From<StoredV1> for Stored {
        fn from(v1: StoredV1) -> Self {
            let e = v1.event;
            Self {
                id: v1.id,
                prev: v1.prev,
                event: Event {
                    time_ns: e.time_ns,
                    protocol: e.protocol,
                    kind: e.kind,
                    conversation: e.conversation,
                    sender: e.sender,
                    recipients: e.recipients,
                    direction: e.direction,
                    local_user: e.local_user,
                    room: e.room,
                    client_addr: e.client_addr,
                    node: e.node,
                    text: e.text,
                    raw: e.raw,
                    charset: e.charset,
                    verdict: e.verdict,
                    detail: e.detail,
                    employee: None,
                },
            }
        }
    }
}

/// The hash of a stored record's bytes.
pub(crate) fn hash(bytes: &[u8]) -> Hash {
    Sha256::digest(bytes).into()
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

#[cfg(test)]
mod tests {
    use serde::Serialize;

    use super::*;
    use record::{Direction, Kind, Protocol, Verdict};

    /// The layout records had before `employee`, written as that version wrote it.
    #[derive(Serialize)]
    struct OldStored {
        id: u64,
        prev: Hash,
        event: OldEvent,
    }

    #[derive(Serialize)]
    struct OldEvent {
        time_ns: i64,
        protocol: Protocol,
        kind: Kind,
        conversation: String,
        sender: String,
        recipients: Vec<String>,
        direction: Direction,
        local_user: String,
        room: Option<String>,
        client_addr: Option<String>,
        node: String,
        text: String,
        raw: String,
        charset: Option<String>,
        verdict: Verdict,
        detail: Option<String>,
    }

    #[test]
    fn records_written_before_the_employee_field_still_read() {
        let old = OldStored {
            id: 7,
            prev: [3; 32],
            event: OldEvent {
                time_ns: 42,
                protocol: Protocol::Aim,
                kind: Kind::Im,
                conversation: "aim:alice|bob".into(),
                sender: "alice".into(),
                recipients: vec!["bob".into()],
                direction: Direction::Outbound,
                local_user: "alice".into(),
                room: None,
                client_addr: Some("10.0.0.1:5190".into()),
                node: "gw".into(),
                text: "hi".into(),
                raw: "hi".into(),
                charset: Some("ascii".into()),
                verdict: Verdict::Allowed,
                detail: None,
            },
        };
        let bytes = postcard::to_stdvec(&old).unwrap();
        let stored = Stored::decode(&bytes).unwrap();
        assert_eq!((stored.id, stored.prev), (7, [3; 32]));
        assert_eq!(stored.event.text, "hi");
        assert_eq!(stored.event.employee, None);
        // A current record round-trips with its employee; garbage is still corrupt.
        let mut current = stored.clone();
        current.event.employee = Some("E1001".into());
        let encoded = Stored::encode_parts(current.id, current.prev, &current.event).unwrap();
        let again = Stored::decode(&encoded).unwrap();
        assert_eq!(again, current);
        assert!(Stored::decode(&bytes[..bytes.len() / 2]).is_err());
        // The writer's encoding from parts is byte for byte the struct's: the chain's hashes
        // are over these bytes.
        assert_eq!(encoded, postcard::to_stdvec(&current).unwrap());
    }
}
