//! `imtegrity retention` and `imtegrity hold`: expiring records, and the legal holds that
//! keep them from expiry.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::ArchiveArg;

/// `imtegrity retention ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum RetentionCommand {
    /// Expire records older than the policy allows, except held ones.
    Apply(RetentionArgs),
}

/// `imtegrity retention apply`.
#[derive(Debug, Args)]
pub(crate) struct RetentionArgs {
    #[command(flatten)]
    pub(crate) archive: ArchiveArg,
    /// Only report what would be expired.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Days to keep records of every protocol without its own setting.
    #[arg(long)]
    pub(crate) days: Option<u32>,
    /// Days to keep AIM records.
    #[arg(long)]
    pub(crate) aim_days: Option<u32>,
    /// Days to keep ICQ records.
    #[arg(long)]
    pub(crate) icq_days: Option<u32>,
    /// Days to keep Sametime records.
    #[arg(long)]
    pub(crate) sametime_days: Option<u32>,
    /// Read [archive.retention] (days, and min_days to lock into the archive) and
    /// archive.path from this configuration; the flags above win over its days.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Set any configuration key, e.g. --set archive.retention.min_days=2190 (repeatable;
    /// wins over the file).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub(crate) overrides: Vec<String>,
}

/// `imtegrity hold ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum HoldCommand {
    /// Place a hold on a user's or a conversation's records.
    Add(HoldAddArgs),
    /// List holds.
    List(HoldListArgs),
    /// Release a hold (its record is kept; expiry may then delete what it covered).
    Release(HoldReleaseArgs),
}

/// `imtegrity hold add`.
#[derive(Debug, Args)]
pub(crate) struct HoldAddArgs {
    #[command(flatten)]
    pub(crate) archive: ArchiveArg,
    /// Hold everything this user took part in.
    #[arg(
        long,
        value_name = "NAME",
        conflicts_with = "conversation",
        required_unless_present = "conversation"
    )]
    pub(crate) user: Option<String>,
    /// Hold one conversation (key as printed in transcripts).
    #[arg(long, value_name = "KEY")]
    pub(crate) conversation: Option<String>,
    /// Why: the matter or case reference.
    #[arg(long)]
    pub(crate) reason: String,
}

/// `imtegrity hold list`.
#[derive(Debug, Args)]
pub(crate) struct HoldListArgs {
    #[command(flatten)]
    pub(crate) archive: ArchiveArg,
    /// Include released holds.
    #[arg(long)]
    pub(crate) all: bool,
}

/// `imtegrity hold release`.
#[derive(Debug, Args)]
pub(crate) struct HoldReleaseArgs {
    #[command(flatten)]
    pub(crate) archive: ArchiveArg,
    /// The hold's number.
    pub(crate) id: u64,
    /// Why it is released (the matter closed, counsel's instruction), kept with the hold.
    #[arg(long)]
    pub(crate) reason: String,
}
