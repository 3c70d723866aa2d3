//! `imtegrity index`: the archive's full-text index.

use clap::{Args, Subcommand};

use super::ArchiveArg;

/// `imtegrity index ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum IndexCommand {
    /// Throw the text index away and make it again from the archive (the archive is the
    /// record; the index is derived from it). The archive must not be open in a gateway.
    Rebuild(IndexArgs),
    /// How far the text index has caught up with the archive.
    Status(IndexArgs),
}

/// `imtegrity index rebuild|status`.
#[derive(Debug, Args)]
pub(crate) struct IndexArgs {
    #[command(flatten)]
    pub(crate) archive: ArchiveArg,
}
