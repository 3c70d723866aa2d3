//! What can go wrong with the full-text index.

use std::path::PathBuf;

/// The text index's one error type.
#[derive(Debug, thiserror::Error)]
pub enum TextIndexError {
    /// tantivy failed (open, write, commit, search).
    #[error("the text index at {}: {source}", dir.display())]
    Index {
        /// The index directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: tantivy::TantivyError,
    },
    /// The index directory is not private.
    #[error(transparent)]
    Private(#[from] owner_only::OwnerOnlyError),
    /// Reading the archive failed.
    #[error(transparent)]
    Archive(#[from] archive::ArchiveError),
    /// Removing an index to rebuild it failed.
    #[error("{}: {source}", dir.display())]
    File {
        /// The directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}
