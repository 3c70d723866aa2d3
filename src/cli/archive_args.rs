//! Which archive a command uses, and the commands that read it or fill it: `search`,
//! `export` (with the filters they share), `verify`, `status`, `generate`, `archive salvage`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// `imtegrity archive ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum ArchiveCommand {
    /// Copy every record a damaged archive can still read, byte for byte under its own id
    /// and with its chain proof (the source's signed checkpoints), into a new archive in
    /// --to, which says it is a salvaged copy, from where and what it lacks (`verify` shows
    /// it). The gateway must be stopped: salvage opens the store itself.
    Salvage(SalvageArgs),
}

/// `imtegrity archive salvage`.
#[derive(Debug, Args)]
pub(crate) struct SalvageArgs {
    /// The damaged archive.
    #[command(flatten)]
    pub(crate) archive: ArchiveArg,
    /// Where to create the salvaged archive (a directory holding no archive).
    #[arg(long, value_name = "DIR")]
    pub(crate) to: PathBuf,
    /// The new archive's signing key file (created 0600 if missing). Default:
    /// DIR/signing.key, a new key.
    #[arg(long, value_name = "FILE")]
    pub(crate) signing_key: Option<PathBuf>,
}

/// Which archive to use.
#[derive(Debug, Args)]
pub(crate) struct ArchiveArg {
    /// Archive directory. Default: $IMTEGRITY_ARCHIVE, else /var/lib/imtegrity/archive for
    /// root and ~/.local/share/imtegrity/archive for others.
    #[arg(long, value_name = "DIR")]
    pub(crate) archive: Option<PathBuf>,
}

impl ArchiveArg {
    /// The archive directory: `--archive`, else the default for this user.
    pub(crate) fn dir(&self) -> PathBuf {
        self.archive
            .clone()
            .unwrap_or_else(crate::archive_access::default_dir)
    }
}

/// Filters shared by `search` and `export`.
#[derive(Debug, Args)]
pub(crate) struct FilterArgs {
    /// A participant, either side (screen names compare case- and space-insensitively).
    #[arg(long, value_name = "NAME")]
    pub(crate) user: Option<String>,
    /// Another participant that must also be in the record (with --user: their conversation).
    #[arg(long, value_name = "NAME")]
    pub(crate) peer: Option<String>,
    /// A chat room.
    #[arg(long)]
    pub(crate) room: Option<String>,
    /// An exact conversation key (as printed in transcripts).
    #[arg(long, value_name = "KEY")]
    pub(crate) conversation: Option<String>,
    /// From this time: RFC 3339, a date, or an age like 7d, 12h.
    #[arg(long, value_name = "TIME")]
    pub(crate) since: Option<String>,
    /// Before this time (same forms).
    #[arg(long, value_name = "TIME")]
    pub(crate) until: Option<String>,
    /// Text contains (case-insensitive).
    #[arg(long)]
    pub(crate) text: Option<String>,
    /// Only this kind (repeatable): im, chat_message, chat_join, chat_leave, file_offer,
    /// direct_im_offer, policy_action, session_start, session_end, capture_gap,
    /// bypass_alert.
    #[arg(long = "kind", value_name = "KIND")]
    pub(crate) kinds: Vec<archive::Kind>,
    /// Only this protocol: aim, icq, sametime.
    #[arg(long)]
    pub(crate) protocol: Option<archive::Protocol>,
    /// At most this many records.
    #[arg(long)]
    pub(crate) limit: Option<usize>,
    /// An employee by directory id: every screen name the directory lists for them, and
    /// records stamped with the id. Needs --config naming `policy.directory`.
    #[arg(long, value_name = "ID")]
    pub(crate) employee: Option<String>,
    /// The gateway's configuration file, for the directory --employee looks in.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
}

/// `imtegrity search`.
#[derive(Debug, Args)]
pub(crate) struct SearchArgs {
    #[command(flatten)]
    pub(crate) archive: ArchiveArg,
    #[command(flatten)]
    pub(crate) filters: FilterArgs,
    /// Show times in this IANA time zone (e.g. Europe/London), each with its UTC offset.
    /// Default: UTC.
    #[arg(long, value_name = "ZONE")]
    pub(crate) tz: Option<String>,
}

/// `imtegrity export`.
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    #[command(flatten)]
    pub(crate) archive: ArchiveArg,
    #[command(flatten)]
    pub(crate) filters: FilterArgs,
    /// jsonl, csv or eml (one RFC 5322 message per conversation per day).
    #[arg(long)]
    pub(crate) format: String,
    /// Directory to write (must not exist or be empty); gets the files and manifest.json.
    #[arg(long, value_name = "DIR")]
    pub(crate) out: PathBuf,
    /// Render times in this IANA time zone (e.g. Europe/London), each with its UTC offset;
    /// EML messages are then per day in that zone. Default: UTC.
    #[arg(long, value_name = "ZONE")]
    pub(crate) tz: Option<String>,
    /// CSV: start the file with a UTF-8 byte-order mark, for spreadsheet programs.
    #[arg(long)]
    pub(crate) excel: bool,
}

/// `imtegrity verify`.
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    #[command(flatten)]
    pub(crate) archive: ArchiveArg,
    /// The archive public key you pinned (hex, as printed when it was created). Without it
    /// the key stored in the archive is used, which proves integrity but not authorship.
    /// When every signature is valid but by another key, exit code 3 and "this archive was
    /// not signed by that key", naming both keys' fingerprints: the wrong key was given, or
    /// the archive was re-signed with a key put in place of yours.
    #[arg(long, value_name = "HEX")]
    pub(crate) public_key: Option<String>,
}

/// `imtegrity generate`.
#[derive(Debug, Args)]
pub(crate) struct GenerateArgs {
    #[command(flatten)]
    pub(crate) archive: ArchiveArg,
    /// How many events.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) count: u64,
    /// How many local users.
    #[arg(long, default_value_t = 200)]
    pub(crate) users: u32,
    /// Spread over this many days, ending now.
    #[arg(long, default_value_t = 30)]
    pub(crate) days: u32,
    /// Random seed (the same seed gives the same traffic).
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// The archive's signing key file, as archive.signing_key: created (0600) with a new
    /// archive, which records where it is. Default: where the archive recorded it, else
    /// DIR/signing.key.
    #[arg(long, value_name = "FILE")]
    pub(crate) signing_key: Option<PathBuf>,
}

/// `imtegrity status`.
#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    pub(crate) archive: ArchiveArg,
}
