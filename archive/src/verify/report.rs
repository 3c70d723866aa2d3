//! What [`Archive::verify`] reports: the walk's counts and finding, and where a salvaged
//! archive came from or which key signed an archive when it was not the key given.
//!
//! [`Archive::verify`]: crate::Archive::verify

use serde::{Deserialize, Serialize};

use super::Tamper;

/// The result of [`Archive::verify`](crate::Archive::verify).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// Records walked.
    pub records: u64,
    /// Lowest id present.
    pub first_id: Option<u64>,
    /// Highest id present.
    pub last_id: Option<u64>,
    /// The first problem, if any: the archive is intact when this is `None`.
    pub tamper: Option<Tamper>,
    /// Permanent checkpoints whose signatures were checked.
    pub checkpoints: u64,
    /// The record id the signed head covers.
    pub signed_head: Option<u64>,
    /// Whether the chain ends exactly at the signed head.
    pub head_matches: bool,
    /// Records after the signed head (appended but not yet signed).
    pub unsigned_tail: u64,
    /// Records removed by signed retention purges.
    pub purged: u64,
    /// The public key the signatures were checked against (hex).
    pub public_key: String,
    /// Id ranges adopted on open after a crash (written, never acknowledged), as recorded
    /// in `Recovered` checkpoints: an auditor should know about them.
    pub recovered: Vec<(u64, u64)>,
    /// The highest record id ever committed, per the high-water mark kept outside sled
    /// (`None`: no trustworthy mark file).
    #[serde(default)]
    pub high_water_mark: Option<u64>,
    /// Set when the key checked against is not the archive's and every signature is the
    /// archive's own: the archive was not signed by that key. Not tampering as such (the
    /// chain was not walked); see [`OtherKey`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_signed_by: Option<OtherKey>,
    /// Set when this archive is a salvaged copy of another (`archive salvage`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salvaged: Option<SalvagedFrom>,
}

/// Where a salvaged archive came from, as its signed [`crate::SalvageNote`] says, and how
/// the source's own checkpoints checked against the records copied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalvagedFrom {
    /// The damaged archive's directory.
    pub source: String,
    /// Its public key (hex).
    pub source_key: String,
    /// Its fingerprint.
    pub source_fingerprint: String,
    /// The record id the source's signed head covered.
    pub source_head: u64,
    /// Ids that could not be read there.
    pub lost: Vec<(u64, u64)>,
    /// What its store said about them.
    pub reason: String,
    /// Ids absent from the source that neither damage nor a signed purge accounts for.
    #[serde(default)]
    pub missing: Vec<(u64, u64)>,
    /// Who salvaged it.
    pub by: String,
    /// When (UTC ns).
    pub time_ns: i64,
    /// When, RFC 3339 UTC.
    pub time: String,
    /// Source checkpoints whose signature checked with the source key.
    pub source_checkpoints: u64,
    /// Of those, the ones whose record was copied and hashes to the head they signed.
    pub source_heads_matched: u64,
}

/// "This archive was not signed by that key": the key given and the key that did sign.
///
/// Either the wrong key was given (another gateway's, a typo'd copy), or the archive was
/// re-signed with a key put in place of the one pinned: which one, only the person who
/// pinned the key can tell, so the report names both keys and leaves the verdict to them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtherKey {
    /// The key verification was asked to use (hex).
    pub given: String,
    /// Its fingerprint ([`crate::fingerprint`]).
    pub given_fingerprint: String,
    /// The key stored in the archive, which every signature checks against (hex).
    pub signed_by: String,
    /// Its fingerprint.
    pub signed_by_fingerprint: String,
    /// Signatures checked (checkpoints and the signed head).
    pub signatures: u64,
}

impl std::fmt::Display for OtherKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "this archive was not signed by that key ({}); its {} signatures are all by \
             the key stored in it, {} (public key {})",
            self.given_fingerprint, self.signatures, self.signed_by_fingerprint, self.signed_by
        )
    }
}

impl VerifyReport {
    /// Whether nothing was found wrong.
    pub fn is_intact(&self) -> bool {
        self.tamper.is_none() && self.head_matches && self.not_signed_by.is_none()
    }
}
