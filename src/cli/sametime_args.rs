//! `imtegrity sametime`: the Sametime module's file and spool, as its administrator
//! checks them.

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// `imtegrity sametime ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum SametimeCommand {
    /// Read the module's file (imtegrity_stchatlog.toml) as the module would at Init: the
    /// TOML (a mistake is named with its line and column), the gateway's token and TLS
    /// files, the policy it names. Prints what the module would do; exit 64 if it would
    /// refuse to start. The server's IMTEGRITY_SPI_* variables are not applied.
    CheckConfig(SametimeCheckConfigArgs),
    /// Look at a module's spool: records waiting for the gateway, their oldest and newest
    /// times, bytes on disk, damage; never their content. Works while the server runs.
    /// With --drain (the server stopped, or the module unloaded), ship what waits to the
    /// gateway the module's file names, until it is empty or --timeout passes; exit 1 if
    /// records are left.
    Spool(SametimeSpoolArgs),
}

/// `imtegrity sametime spool`.
#[derive(Debug, Args)]
pub(crate) struct SametimeSpoolArgs {
    /// The spool directory (the module's `spool`, or its default: see docs/sametime.md).
    pub(crate) dir: PathBuf,
    /// Ship the waiting records to the gateway, then say what is left.
    #[arg(long, requires = "config")]
    pub(crate) drain: bool,
    /// The module's configuration file, for the gateway's address, token and TLS files.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// How long --drain may take, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub(crate) timeout: u64,
}

/// `imtegrity sametime check-config`.
#[derive(Debug, Args)]
pub(crate) struct SametimeCheckConfigArgs {
    /// The module's configuration file.
    pub(crate) file: PathBuf,
}
