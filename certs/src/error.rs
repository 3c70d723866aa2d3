//! The crate's one error type.

use std::path::PathBuf;

use crate::KeyKind;

/// Why a CA could not be created, stored, loaded or used, or a leaf not issued.
///
/// No variant ever carries key material: a key that fails to parse is reported by its path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    /// The name is not one a server certificate can be issued for.
    #[error("{name:?} is not a DNS name a certificate can be issued for: {reason}")]
    BadName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The name is outside the CA's permitted subtrees, so clients would reject the leaf.
    #[error(
        "{name} is outside the names this CA may issue for ({permitted}); clients would reject \
         a certificate for it"
    )]
    NotPermitted {
        /// The (normalised) name asked for.
        name: String,
        /// The permitted subtrees, comma-separated.
        permitted: String,
    },
    /// A CA is created with at least one permitted name.
    #[error("a CA needs at least one permitted name (its name constraints)")]
    NoPermittedNames,
    /// Generating a key failed (the OS random source, or the RSA generator).
    #[error("generating a {kind} key failed: {detail}")]
    KeyGen {
        /// The kind of key.
        kind: KeyKind,
        /// What the generator said.
        detail: String,
    },
    /// The operating system's random source failed.
    #[error("the operating system's random source failed: {0}")]
    Random(String),
    /// rcgen refused the certificate parameters or could not sign.
    #[error("building the certificate failed")]
    Rcgen(#[source] rcgen::Error),
    /// rustls could not use a key or certificate.
    #[error("rustls rejected the certificate or key")]
    Rustls(#[source] rustls::Error),
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// Refusing to replace a CA that exists.
    #[error("{} already exists; refusing to replace the CA (use --force to replace it)", path.display())]
    Exists {
        /// The file that is in the way.
        path: PathBuf,
    },
    /// A file does not hold what it should (no PEM block, not a certificate, an unsupported
    /// key format).
    #[error("{}: {detail}", path.display())]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// The private key does not belong to the certificate.
    #[error("the key in {} does not belong to the certificate in {}", key.display(), cert.display())]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// The certificate cannot issue certificates.
    #[error("{}: not usable as a CA: {why}", path.display())]
    NotCa {
        /// The certificate file.
        path: PathBuf,
        /// What is missing.
        why: &'static str,
    },
    /// The CA certificate is expired or not yet valid, so nothing it signs would verify.
    #[error("the CA certificate is valid from {not_before} to {not_after}, not now ({now})")]
    CaNotValid {
        /// Start of its validity.
        not_before: time::OffsetDateTime,
        /// End of its validity.
        not_after: time::OffsetDateTime,
        /// The time it was checked at.
        now: time::OffsetDateTime,
    },
    /// The CA key in a CA directory is open to other users: it may already have been
    /// copied, so it is refused rather than quietly fixed (as ssh refuses such a key).
    #[error(
        "{} is mode {mode:04o}: the CA key is open to other users and may have been copied; \
         if that is acceptable, `chmod 600` it (or make a new CA) and start again",
        path.display()
    )]
    KeyExposed {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

impl From<rcgen::Error> for CertError {
    fn from(e: rcgen::Error) -> Self {
        Self::Rcgen(e)
    }
}

impl From<rustls::Error> for CertError {
    fn from(e: rustls::Error) -> Self {
        Self::Rustls(e)
    }
}

impl CertError {
    /// An I/O error on `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// A file whose content is wrong.
    pub(crate) fn bad_file(path: impl Into<PathBuf>, detail: impl Into<String>) -> Self {
        Self::BadFile {
            path: path.into(),
            detail: detail.into(),
        }
    }
}
