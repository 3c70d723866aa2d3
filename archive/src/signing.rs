//! The archive signing key (ed25519) and signed checkpoints. The key file is created 0600
//! and never printed; the public key is stored in the archive and shown by `verify` so the
//! compliance team can pin it.

use std::io::Write;
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::chain::Hash;
use crate::error::ArchiveError;
use record::hex;

/// The gateway's archive signing key.
pub struct ArchiveKey {
    key: SigningKey,
}

impl std::fmt::Debug for ArchiveKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ArchiveKey(public {})", hex(self.public().as_bytes()))
    }
}

impl ArchiveKey {
    /// Loads the key at `path`, or creates one (mode 0600) if there is none. A key file
    /// others may read, or of another user, is refused ([`owner_only::check_key_file`]).
    pub fn load_or_create(path: &Path) -> Result<Self, ArchiveError> {
        match Self::read(path)? {
            Some(key) => Ok(key),
            None => Self::create(path),
        }
    }

    /// Reads the key at `path`; `None` when there is no such file. Refused like
    /// [`ArchiveKey::load_or_create`] when others may read it or another user owns it.
    pub fn read(path: &Path) -> Result<Option<Self>, ArchiveError> {
        owner_only::check_key_file(path)?;
        match std::fs::read(path) {
            Ok(bytes) => {
                let seed =
                    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| ArchiveError::BadKey {
                        path: path.to_path_buf(),
                        detail: format!("{} bytes, expected 32", bytes.len()),
                    })?;
                Ok(Some(Self {
                    key: SigningKey::from_bytes(&seed),
                }))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ArchiveError::File {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Creates a new key at `path` (mode 0600; never over an existing file). A missing
    /// parent directory is created 0700: the key may live outside the archive directory,
    /// e.g. on a volume of its own, and whatever holds it is private.
    pub fn create(path: &Path) -> Result<Self, ArchiveError> {
        let file_err = |source| ArchiveError::File {
            path: path.to_path_buf(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
            && !parent.exists()
        {
            owner_only::prepare_dir(parent)?;
        }
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| ArchiveError::BadKey {
            path: path.to_path_buf(),
            detail: format!("no randomness to create it: {e}"),
        })?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(file_err)?;
        file.write_all(&seed).map_err(file_err)?;
        file.sync_all().map_err(file_err)?;
        Ok(Self {
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// The public half, for verification.
    pub fn public(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    pub(crate) fn sign(&self, payload: &[u8]) -> [u8; 64] {
        self.key.sign(payload).to_bytes()
    }
}

/// Why a checkpoint was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointReason {
    /// Written every so many records or seconds.
    Periodic,
    /// Written when the archive is closed cleanly.
    Close,
    /// The latest head, rewritten after every commit (kept apart from the permanent log).
    Head,
    /// Records `from..=to` were found past the last signed head on open (written before a
    /// crash, never acknowledged) and adopted into the chain.
    Recovered {
        /// First adopted id.
        from: u64,
        /// Last adopted id.
        to: u64,
    },
    /// Retention purged records. `purged` lists the id ranges removed (inclusive), and
    /// `anchors` the `prev` hash of every kept record whose predecessor was purged, so the
    /// chain stays verifiable across the holes.
    Purge {
        /// Inclusive id ranges removed.
        purged: Vec<(u64, u64)>,
        /// Kept record id → its predecessor's hash.
        anchors: Vec<(u64, Hash)>,
    },
    /// This archive is a salvaged copy (`imtegrity archive salvage`): every record another
    /// archive could still read, byte for byte under its own id, signed here by this
    /// archive's key. Written once, as the first checkpoint; see [`SalvageNote`].
    Salvaged(Box<SalvageNote>),
}

/// Where a salvaged archive came from and what it lacks: so a copy is never mistaken for
/// the original, and every hole in its chain is accounted for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalvageNote {
    /// The damaged archive's directory, as given.
    pub source: String,
    /// Its public key (hex): the key its own checkpoints, copied along, are signed by.
    pub source_key: String,
    /// The record id its signed head covered when copied.
    pub source_head: u64,
    /// Ids that could not be read there (inclusive ranges).
    pub lost: Vec<(u64, u64)>,
    /// What the store said about them.
    pub reason: String,
    /// Ids absent from the source that neither damage nor a signed retention purge
    /// accounts for (deleted behind the archive's back?), up to its signed head.
    pub missing: Vec<(u64, u64)>,
    /// Every id range absent from the copy (lost, or purged by retention before), so the
    /// chain walk crosses them.
    pub holes: Vec<(u64, u64)>,
    /// Copied record id after a hole → the `prev` hash it carries.
    pub anchors: Vec<(u64, Hash)>,
    /// Who salvaged it: user name and uid.
    pub by: String,
}

/// A signed statement: "the chain up to record `upto_id` ends in `head`".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Position in the checkpoint log.
    pub seq: u64,
    /// The last record id covered (0 = none yet).
    pub upto_id: u64,
    /// The hash of that record's stored bytes.
    pub head: Hash,
    /// When it was signed (UTC ns).
    pub time_ns: i64,
    /// Why.
    pub reason: CheckpointReason,
    /// ed25519 signature over [`Checkpoint::payload`].
    #[serde(with = "serde_signature")]
    pub signature: [u8; 64],
}

mod serde_signature {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(sig: &[u8; 64], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(sig)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 64], D::Error> {
        let bytes: Vec<u8> = Vec::deserialize(d)?;
        <[u8; 64]>::try_from(bytes.as_slice()).map_err(serde::de::Error::custom)
    }
}

impl Checkpoint {
    /// Builds and signs a checkpoint.
    pub(crate) fn signed(
        key: &ArchiveKey,
        seq: u64,
        upto_id: u64,
        head: Hash,
        time_ns: i64,
        reason: CheckpointReason,
    ) -> Result<Self, ArchiveError> {
        let mut cp = Self {
            seq,
            upto_id,
            head,
            time_ns,
            reason,
            signature: [0; 64],
        };
        cp.signature = key.sign(&cp.payload()?);
        Ok(cp)
    }

    /// The exact bytes signed: a domain tag and every field but the signature.
    pub fn payload(&self) -> Result<Vec<u8>, ArchiveError> {
        let mut payload = b"imtegrity-checkpoint-v1\0".to_vec();
        let body = postcard::to_stdvec(&(
            self.seq,
            self.upto_id,
            self.head,
            self.time_ns,
            &self.reason,
        ))
        .map_err(|e| ArchiveError::corrupt("checkpoint", e))?;
        payload.extend_from_slice(&body);
        Ok(payload)
    }

    /// Whether the signature is valid for `public`.
    pub fn verify(&self, public: &VerifyingKey) -> bool {
        self.payload().is_ok_and(|p| {
            public
                .verify(&p, &Signature::from_bytes(&self.signature))
                .is_ok()
        })
    }

    pub(crate) fn encode(&self) -> Result<Vec<u8>, ArchiveError> {
        postcard::to_stdvec(self).map_err(|e| ArchiveError::corrupt("checkpoint", e))
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, ArchiveError> {
        postcard::from_bytes(bytes).map_err(|e| ArchiveError::corrupt("checkpoint", e))
    }
}

/// Parses a public key from its 64-character hex form (as `verify` prints it).
pub fn parse_public_key(hex_key: &str) -> Result<VerifyingKey, ArchiveError> {
    let bad = |detail: String| ArchiveError::Invalid {
        what: "public key",
        detail,
    };
    let bytes: Vec<u8> = (0..hex_key.len())
        .step_by(2)
        .map(|i| {
            hex_key
                .get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| bad(format!("not hex: {hex_key:?}")))
        })
        .collect::<Result<_, _>>()?;
    let arr =
        <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| bad("expected 32 bytes".into()))?;
    VerifyingKey::from_bytes(&arr).map_err(|e| bad(e.to_string()))
}

/// A short fingerprint of a public key, for people to compare: `sha256:` and the first 16
/// bytes of the SHA-256 of the key's 32 bytes, in hex. Outside IMtegrity:
/// `printf %s HEX | xxd -r -p | sha256sum | cut -c1-32`.
pub fn fingerprint(public: &VerifyingKey) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(public.as_bytes());
    format!("sha256:{}", hex(digest.get(..16).unwrap_or_default()))
}

/// Where the key lives by default: next to the store, in the archive directory.
pub(crate) fn default_key_path(dir: &Path) -> PathBuf {
    dir.join("signing.key")
}
