//! Command-line arguments.

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand};

/// IMtegrity: an instant-messaging compliance gateway.
#[derive(Debug, Parser)]
#[command(name = "imtegrity", version, about)]
pub(crate) struct Cli {
    /// Machine-readable output: one JSON object per line on stdout.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// More logging on stderr (-v info, -vv debug, -vvv trace). IMTEGRITY_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the lab OSCAR server (authorizer, BOS, chat, echo bot) for tests and trying clients.
    Lab(LabArgs),
    /// Run the lab server with scripted users exchanging IMs and chat, and print the transcript.
    Demo(DemoArgs),
}

/// `imtegrity lab`.
#[derive(Debug, Args)]
pub(crate) struct LabArgs {
    /// Authorizer (login) address.
    #[arg(long, default_value = "127.0.0.1:5190")]
    pub(crate) listen: SocketAddr,
    /// BOS address; default: the login IP with a free port.
    #[arg(long)]
    pub(crate) bos: Option<SocketAddr>,
    /// Chat service address; default: the login IP with a free port.
    #[arg(long)]
    pub(crate) chat: Option<SocketAddr>,
    /// Host to write into redirects instead of the listeners' IP.
    #[arg(long)]
    pub(crate) advertise: Option<String>,
    /// An account as NAME:PASSWORD (repeatable). Without any, every name logs in with any
    /// password.
    #[arg(long = "account", value_name = "NAME:PASSWORD")]
    pub(crate) accounts: Vec<String>,
    /// The echo bot's screen name.
    #[arg(long, default_value = lab::DEFAULT_BOT)]
    pub(crate) bot: String,
}

/// `imtegrity demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Seconds to wait for each step before calling the demo failed.
    #[arg(long, default_value_t = 10)]
    pub(crate) step_timeout: u64,
}

/// An error in what the user asked for (exit code 64), as opposed to a failure doing it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct UsageError(pub(crate) String);
