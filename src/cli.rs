//! Command-line arguments: the `imtegrity` command and its subcommands here, each command
//! group's arguments in a file of its own under `cli/`.

mod archive_args;
mod ca_args;
mod console_args;
mod gateway_args;
mod index_args;
mod lab_args;
mod policy_args;
mod retention_args;
mod sametime_args;

use clap::{Parser, Subcommand};

pub(crate) use archive_args::{
    ArchiveArg, ArchiveCommand, ExportArgs, FilterArgs, GenerateArgs, SalvageArgs, SearchArgs,
    StatusArgs, VerifyArgs,
};
pub(crate) use ca_args::{CaCommand, CaIssueClientArgs, ConfigArgs};
pub(crate) use console_args::{ConsoleArgs, ConsoleCommand, UserCommand};
pub(crate) use gateway_args::{CheckConfigArgs, RunArgs, SensorArgs};
pub(crate) use index_args::IndexCommand;
pub(crate) use lab_args::{DemoArgs, LabArgs};
pub(crate) use policy_args::{PolicyCommand, PolicyExplainArgs};
pub(crate) use retention_args::{HoldCommand, RetentionArgs, RetentionCommand};
pub(crate) use sametime_args::{SametimeCommand, SametimeSpoolArgs};

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
    /// Run the gateway: the OSCAR relay in front of the upstream servers, archiving every
    /// message. Without --config, embedded defaults (relay on 0.0.0.0:5190 and :443, upstream
    /// login.oscar.aol.com:5190, strict archive in the local data directory).
    Run(RunArgs),
    /// Show what the running gateway is doing (sessions, egress load, archive), or the
    /// archive's counters when no gateway runs.
    Status(StatusArgs),
    /// Run the sensor alone: capture on an interface (a mirror port, or the egress
    /// interface) and record AIM/ICQ traffic that goes around the gateway into the archive
    /// ([sensor] in the configuration; needs root or CAP_NET_RAW). A gateway started with
    /// [sensor] interface set runs the same sensor itself.
    Sensor(SensorArgs),
    /// Check a configuration file (with any --set overrides); exit code 64 if it is invalid.
    CheckConfig(CheckConfigArgs),
    /// Run the lab OSCAR server (authorizer, BOS, chat, echo bot) for tests and trying clients.
    Lab(LabArgs),
    /// Run the lab server with scripted users exchanging IMs and chat, and print the transcript.
    Demo(DemoArgs),
    /// Search the archive; prints a transcript per conversation (or JSON lines).
    Search(SearchArgs),
    /// Export matching records for e-discovery (jsonl, csv or eml) with a manifest.
    Export(ExportArgs),
    /// Verify the archive's hash chain and signatures. Exit code 0 intact; 2 tampered or
    /// damaged (unreadable pages named); 3 not signed by the --public-key given; 1 could
    /// not verify.
    Verify(VerifyArgs),
    /// Apply the retention policy (expire old records that no hold covers).
    #[command(subcommand)]
    Retention(RetentionCommand),
    /// Legal holds: records they cover are never expired.
    #[command(subcommand)]
    Hold(HoldCommand),
    /// Fill an archive with synthetic traffic (for trying search and export, and benchmarks).
    Generate(GenerateArgs),
    /// The gateway CA for TLS interception: create or import it, export its certificate for
    /// clients, show it, mint a leaf by hand.
    #[command(subcommand)]
    Ca(CaCommand),
    /// The compliance policy ([policy] in the configuration): ask which group, profile and
    /// rule apply to a message, and why.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// The archive store itself: recover what a damaged one can still read.
    #[command(subcommand)]
    Archive(ArchiveCommand),
    /// The Sametime chat-logging module, as its administrator checks it: its configuration
    /// file and its spool, read with the module's own code.
    #[command(subcommand)]
    Sametime(SametimeCommand),
    /// The reviewer console: serve it in a browser over an archive no gateway has open (a
    /// gateway serves it itself on console.listen), or manage its accounts (`console user
    /// add|list|disable|password`).
    Console(ConsoleArgs),
    /// The archive's full-text index (what the console's search reads): rebuild it from
    /// the archive, or see how far it has caught up.
    #[command(subcommand)]
    Index(IndexCommand),
}
