//! What can go wrong serving the console.

/// The console server's one error type.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleWebError {
    /// The archive failed a read or could not record an access (then nothing is shown).
    #[error(transparent)]
    Archive(#[from] archive::ArchiveError),
    /// The accounts file could not be read.
    #[error(transparent)]
    Accounts(#[from] console::ConsoleError),
    /// The text index failed a search.
    #[error(transparent)]
    TextIndex(#[from] text_index::TextIndexError),
    /// A page could not be rendered.
    #[error("rendering a page: {0}")]
    Render(#[from] askama::Error),
    /// No randomness for a session token.
    #[error("no randomness for a session token: {0}")]
    Random(String),
    /// A listener failed.
    #[error("console listener: {0}")]
    Io(#[from] std::io::Error),
}
