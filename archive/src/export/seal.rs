//! What makes an export vouch for itself: who made it, with what, from which archive as it
//! stood, and the archive key's Ed25519 signature over the exact bytes of `manifest.json`.
//!
//! The signature is in [`SIGNATURE_FILE`], 64 raw bytes: an Ed25519 (RFC 8032, pure)
//! signature by the archive's key over every byte of `manifest.json` as written, final
//! newline included. Anyone holding the archive's public key can check it without
//! IMtegrity (`openssl pkeyutl -verify -rawin`, Python's `cryptography`; docs/archive.md,
//! "Exports a regulator can check"); the manifest then vouches for every file by its SHA-256. The manifest starts
//! with `"manifest": "imtegrity-export-manifest-v1"`, so its signed bytes can never be taken
//! for the archive's other signed statements (checkpoints start `imtegrity-checkpoint-v1`).

use serde::{Deserialize, Serialize};

use super::manifest::Manifest;
use super::zone::Zone;
use crate::access::Accessor;
use crate::archive::Archive;
use crate::error::ArchiveError;
use crate::signing::Checkpoint;
use record::hex;

/// The signature's file name in the export directory.
pub const SIGNATURE_FILE: &str = "manifest.json.sig";

/// The first field of every manifest: what the signed bytes are.
pub const MANIFEST_TAG: &str = "imtegrity-export-manifest-v1";

/// Who made the export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exporter {
    /// The user's id.
    pub uid: u32,
    /// The user's name (the uid in decimal when the system has none).
    pub user: String,
    /// The host the export was made on.
    pub host: String,
}

/// The program that made the export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tool {
    /// `imtegrity`.
    pub name: String,
    /// Its version.
    pub version: String,
}

/// The archive's signed state an export was taken against: its public key, its signed chain
/// head and latest permanent checkpoint when the export started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveState {
    /// The archive's Ed25519 public key, hex. The manifest's signature is by this key; a
    /// reader checks it against the key they pinned, not only this copy.
    pub public_key: String,
    /// The signed head: "the chain up to this record ends in this hash".
    pub head: Option<Checkpoint>,
    /// The latest permanent checkpoint.
    pub checkpoint: Option<Checkpoint>,
}

/// A signed checkpoint as a manifest shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedPoint {
    /// Its position in the checkpoint log (0 for the signed head, which is rewritten).
    pub seq: u64,
    /// The last record id it covers.
    pub upto_id: u64,
    /// The hash the chain ends in at that record, hex.
    pub hash: String,
    /// When it was signed, RFC 3339 in the export's zone.
    pub signed_at: String,
    /// The same, UTC nanoseconds.
    pub signed_at_ns: i64,
    /// Its Ed25519 signature, hex (over `Checkpoint::payload`, as `verify` checks it).
    pub signature: String,
}

impl SignedPoint {
    fn of(cp: &Checkpoint, zone: &Zone) -> Self {
        Self {
            seq: cp.seq,
            upto_id: cp.upto_id,
            hash: hex(&cp.head),
            signed_at: zone.rfc3339(cp.time_ns),
            signed_at_ns: cp.time_ns,
            signature: hex(&cp.signature),
        }
    }
}

/// The archive an export was taken from, as the manifest states it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveAnchor {
    /// The archive's Ed25519 public key, hex: the key `manifest.json.sig` is by.
    pub public_key: String,
    /// The signed chain head when the export started (records appended while it ran, by
    /// a running gateway, have higher ids).
    pub chain_head: Option<SignedPoint>,
    /// The latest permanent checkpoint then.
    pub checkpoint: Option<SignedPoint>,
}

impl ArchiveState {
    /// The state as a manifest shows it, times in `zone`.
    pub fn anchor(&self, zone: &Zone) -> ArchiveAnchor {
        ArchiveAnchor {
            public_key: self.public_key.clone(),
            chain_head: self.head.as_ref().map(|cp| SignedPoint::of(cp, zone)),
            checkpoint: self.checkpoint.as_ref().map(|cp| SignedPoint::of(cp, zone)),
        }
    }
}

/// Where an export's archive state comes from and who signs its manifest: the archive
/// itself when this process opened it, or its owner over the admin socket.
pub trait ManifestSigner {
    /// The archive's state now.
    fn state(&self) -> Result<ArchiveState, ArchiveError>;
    /// The archive key's signature over `manifest` (the exact bytes of `manifest.json`).
    fn sign(&self, manifest: &[u8]) -> Result<[u8; 64], ArchiveError>;
}

impl ManifestSigner for Archive {
    fn state(&self) -> Result<ArchiveState, ArchiveError> {
        Ok(ArchiveState {
            public_key: hex(self.store.key.public().as_bytes()),
            head: self.store.signed_head()?,
            checkpoint: self.store.latest_checkpoint()?,
        })
    }

    fn sign(&self, manifest: &[u8]) -> Result<[u8; 64], ArchiveError> {
        check_tag(manifest)?;
        Ok(self.store.key.sign(manifest))
    }
}

/// What the owning process tells an exporter that reaches the archive through the admin
/// socket: the archive's state, and who the exporter is by its peer credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerState {
    /// The archive's signed state now.
    pub state: ArchiveState,
    /// The exporter the owner admitted (uid and name from the socket's peer credentials,
    /// the owner's host).
    pub exporter: Exporter,
}

/// The owner's answer to `ExportState`.
pub fn owner_state(archive: &Archive, who: &Accessor) -> Result<OwnerState, ArchiveError> {
    Ok(OwnerState {
        state: archive.state()?,
        exporter: Exporter {
            uid: who.uid,
            user: who.user.clone(),
            host: record::host_name(),
        },
    })
}

/// The owner's answer to `SignExport`: the signature, if `manifest` is a manifest naming
/// `who` as its exporter and this archive's public key. The owner cannot see the exported
/// files, so their hashes are the exporter's statement; the signature binds that statement
/// to the archive and to the exporter the owner identified.
pub fn owner_sign(
    archive: &Archive,
    manifest: &[u8],
    who: &Accessor,
) -> Result<[u8; 64], ArchiveError> {
    check_tag(manifest)?;
    let refuse = |detail: String| ArchiveError::Invalid {
        what: "export manifest",
        detail,
    };
    let parsed: Manifest = serde_json::from_slice(manifest)
        .map_err(|e| refuse(format!("not an export manifest: {e}")))?;
    if parsed.exporter.uid != who.uid || parsed.exporter.user != who.user {
        return Err(refuse(format!(
            "it names uid {} as the exporter, but uid {} asked for the signature",
            parsed.exporter.uid, who.uid
        )));
    }
    let own = archive.state()?.public_key;
    if parsed.archive.public_key != own {
        return Err(refuse("it names another archive's public key".into()));
    }
    tracing::info!(uid = who.uid, user = %who.user, records = parsed.count, "export manifest signed");
    archive.sign(manifest)
}

/// Refuses to sign bytes that are not a manifest: the archive key signs only what it means
/// to, so no one can get its signature on something that reads as another statement.
pub fn check_tag(manifest: &[u8]) -> Result<(), ArchiveError> {
    let tagged = serde_json::from_slice::<serde_json::Value>(manifest)
        .ok()
        .and_then(|v| v.get("manifest")?.as_str().map(|t| t == MANIFEST_TAG))
        .unwrap_or(false);
    if tagged {
        Ok(())
    } else {
        Err(ArchiveError::Invalid {
            what: "export manifest",
            detail: format!("not a JSON object with \"manifest\": \"{MANIFEST_TAG}\""),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn only_tagged_manifests_are_signed() {
        assert!(
            check_tag(format!("{{\"manifest\":\"{MANIFEST_TAG}\",\"x\":1}}").as_bytes()).is_ok()
        );
        for bad in [
            &b"imtegrity-checkpoint-v1\0"[..],
            b"{\"manifest\":\"imtegrity-export-manifest-v2\"}",
            b"{}",
            b"[\"manifest\"]",
            b"",
        ] {
            assert!(check_tag(bad).is_err(), "{bad:?}");
        }
    }
}
