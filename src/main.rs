//! The `imtegrity` command line: parses arguments, sets up logging and hands each
//! subcommand to the crate that does the work. No protocol logic lives here.

mod archive_access;
mod ca_cmd;
mod cli;
mod config_cmd;
mod damaged_store;
mod demo;
mod descriptors;
mod export_cmd;
mod filters;
mod gateway;
mod generate_cmd;
mod hold_cmd;
mod ingest_clients;
mod ingest_tls;
mod lab_cmd;
mod output;
mod policy_cmd;
mod policy_setup;
mod purge_summary;
mod retention_cmd;
mod retention_setup;
mod run_cmd;
mod salvage_cmd;
mod sametime_cmd;
mod search_cmd;
mod sensor_cmd;
mod sensor_setup;
mod signing_key_notice;
mod status_cmd;
mod timespec;
mod tls_setup;
mod verify_cmd;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

/// What every subcommand returns: errors carry their cause chain to `main`.
pub(crate) type CmdResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// Exit code for usage and configuration errors (BSD `EX_USAGE`).
const EX_USAGE: u8 = 64;
/// Exit code when the work itself failed.
const EX_FAILURE: u8 = 1;
/// Exit code of `verify` when the archive was tampered with.
const EX_TAMPERED: u8 = 2;
/// Exit code of `retention apply` when the archive's locked minimum refuses it (BSD
/// `EX_NOPERM`).
const EX_RETENTION_LOCKED: u8 = 77;
/// Exit code of `verify --public-key` when the archive was signed by another key.
const EX_OTHER_KEY: u8 = 3;

fn main() -> ExitCode {
    // Everything this process creates holds archive data, keys, spools or exports: owner
    // only. The libraries also set modes explicitly and check them at open; this covers the
    // files sled creates later (snapshots, blobs) in their private directories.
    rustix::process::umask(rustix::fs::Mode::RWXG | rustix::fs::Mode::RWXO);
    let cli = Cli::parse();
    // Servers log their sessions by default; one-shot commands keep stderr quiet.
    let serving = matches!(
        cli.command,
        Command::Lab(_) | Command::Run(_) | Command::Sensor(_)
    );
    init_tracing(cli.verbose, serving);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EX_FAILURE);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Lab(args) => lab_cmd::run(args, cli.json).await,
            Command::Run(args) => run_cmd::run(&args, cli.json).await,
            Command::Sensor(args) => sensor_cmd::run(&args, cli.json).await,
            Command::Demo(args) => demo::run(args, cli.json).await,
            Command::Generate(args) => generate_cmd::run(&args, cli.json).await,
            // The archive commands do blocking store I/O; keep it off the async workers.
            command => {
                let json = cli.json;
                tokio::task::spawn_blocking(move || match command {
                    Command::Search(args) => search_cmd::run(&args, json),
                    Command::Status(args) => status_cmd::run(&args, json),
                    Command::CheckConfig(args) => {
                        config_cmd::check(&args.file, &args.overrides, args.print, json)
                    }
                    Command::Export(args) => export_cmd::run(&args, json),
                    Command::Verify(args) => verify_cmd::run(&args, json),
                    Command::Hold(cmd) => hold_cmd::run(&cmd, json),
                    Command::Retention(cmd) => retention_cmd::run(&cmd, json),
                    Command::Ca(cmd) => ca_cmd::run(&cmd, json),
                    Command::Policy(cmd) => policy_cmd::run(&cmd, json),
                    Command::Archive(cli::ArchiveCommand::Salvage(args)) => {
                        salvage_cmd::run(&args, json)
                    }
                    Command::Sametime(cmd) => sametime_cmd::run(&cmd, json),
                    _ => Ok(()),
                })
                .await
                .unwrap_or_else(|e| Err(e.to_string().into()))
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            let mut source = std::error::Error::source(&*e);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::from(if e.is::<cli::UsageError>() {
                EX_USAGE
            } else if e.is::<cli::VerifyFailed>() {
                EX_TAMPERED
            } else if e.is::<retention_cmd::RetentionRefused>() {
                EX_RETENTION_LOCKED
            } else if e.is::<cli::NotSignedBy>() {
                EX_OTHER_KEY
            } else {
                EX_FAILURE
            })
        }
    }
}

/// Logs go to stderr so stdout stays clean for transcripts and `--json`.
fn init_tracing(verbose: u8, serving: bool) {
    let default = match verbose {
        // Logins (BUCP and clientLogin), DNS health and reloads: one line each, for operators.
        0 if serving => "warn,imtegrity=info,lab=info,intercept=info,dns=info,sensor=info",
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("IMTEGRITY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
