//! What can go wrong with the console's accounts.

use std::path::PathBuf;

/// The console crate's one error type.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// Reading, writing or locking the accounts file failed.
    #[error("{}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The accounts file or its directory is not private.
    #[error(transparent)]
    Private(#[from] owner_only::OwnerOnlyError),
    /// The accounts file is not what this version writes.
    #[error("{}: not a console accounts file: {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Where and why.
        #[source]
        source: Box<toml::de::Error>,
    },
    /// The accounts could not be written as TOML.
    #[error("cannot write the console accounts: {0}")]
    Serialize(#[from] toml::ser::Error),
    /// An account name that is not allowed.
    #[error(
        "account name {0:?}: use 1 to 64 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit"
    )]
    InvalidName(String),
    /// A role name that does not exist.
    #[error("unknown role {0:?}: admin, reviewer, supervisor or auditor")]
    InvalidRole(String),
    /// Scopes that do not fit the role, or name no group.
    #[error("{0}")]
    Scope(String),
    /// A password that is too weak or too long.
    #[error("{0}")]
    Password(String),
    /// `user add` of a name that exists (disabled accounts keep their name: the access
    /// trail refers to it).
    #[error("a console account named {0:?} exists already")]
    Exists(String),
    /// No account of that name.
    #[error("no console account named {0:?}")]
    NoSuchUser(String),
    /// Hashing failed (argon2 refused its parameters).
    #[error("cannot hash the password: {0}")]
    Hash(String),
}
