//! `imtegrity policy`: asking which rules of the compliance policy apply, and why.

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// `imtegrity policy ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCommand {
    /// Show who the local user is (employee, group, profile), every rule of their profile
    /// considered and why it matched or not, and the decision, as the gateway would make it.
    Explain(PolicyExplainArgs),
}

/// `imtegrity policy explain`.
#[derive(Debug, Args)]
pub(crate) struct PolicyExplainArgs {
    /// The TOML configuration (see imtegrity.example.toml); its policy.directory is read.
    /// Default: embedded defaults (no rules: everything is logged).
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Set any configuration key, e.g. --set policy.directory=/tmp/people.csv (repeatable;
    /// wins over the file).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub(crate) overrides: Vec<String>,
    /// The sender's screen name.
    #[arg(long, value_name = "SN")]
    pub(crate) from: String,
    /// The recipient's screen name.
    #[arg(long, value_name = "SN")]
    pub(crate) to: String,
    /// The message text (keyword and pattern rules search it; a file name for --kind file).
    #[arg(long, default_value = "")]
    pub(crate) text: String,
    /// im, chat, file (a file-transfer offer) or direct_im (a direct-connection offer).
    #[arg(long, default_value = "im", value_name = "KIND")]
    pub(crate) kind: settings::MessageKind,
    /// inbound (--to is the local user), outbound or internal (--from is). Default: guessed
    /// from the directory (both in it: internal; only --to: inbound; else outbound).
    #[arg(long, value_name = "DIRECTION")]
    pub(crate) direction: Option<archive::Direction>,
    /// The local user's client address, for directory and group lookups by address.
    #[arg(long, value_name = "IP")]
    pub(crate) client_addr: Option<std::net::IpAddr>,
}
