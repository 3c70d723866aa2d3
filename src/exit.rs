//! How the command ends: the errors that choose an exit code other than 1, and the codes.
//! The gateway's wiring and every command return these, so scripts can tell a usage
//! mistake (64) from a tampered archive (2) from a failure doing the work (1).

/// Exit code for usage and configuration errors (BSD `EX_USAGE`).
pub(crate) const EX_USAGE: u8 = 64;
/// Exit code when the work itself failed.
pub(crate) const EX_FAILURE: u8 = 1;
/// Exit code of `verify` when the archive was tampered with.
pub(crate) const EX_TAMPERED: u8 = 2;
/// Exit code of `retention apply` when the archive's locked minimum refuses it (BSD
/// `EX_NOPERM`).
pub(crate) const EX_RETENTION_LOCKED: u8 = 77;
/// Exit code of `verify --public-key` when the archive was signed by another key.
pub(crate) const EX_OTHER_KEY: u8 = 3;

/// An error in what the user asked for (exit code 64), as opposed to a failure doing it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct UsageError(pub(crate) String);

/// `verify --public-key`: the archive's signatures are all valid, but by another key than
/// the one given (exit code 3): the wrong key was given, or the archive was re-signed.
#[derive(Debug, thiserror::Error)]
#[error("archive verification FAILED: {0}")]
pub(crate) struct NotSignedBy(pub(crate) String);

/// Verification found the archive tampered with (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("archive verification FAILED: {0}")]
pub(crate) struct VerifyFailed(pub(crate) String);
