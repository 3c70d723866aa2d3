//! The `imtegrity` command line: parses arguments, sets up logging and hands each
//! subcommand to the crate that does the work. No protocol logic lives here.

mod archive_access;
mod cli;
mod commands;
mod config_file;
mod console_setup;
mod damaged_store;
mod descriptors;
mod exit;
mod filters;
mod gateway;
mod ingest_clients;
mod ingest_tls;
mod output;
mod policy_setup;
mod purge_summary;
mod retention_setup;
mod sensor_setup;
mod server_tls;
mod signing_key_notice;
mod timespec;
mod tls_setup;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

/// What every subcommand returns: errors carry their cause chain to `main`.
pub(crate) type CmdResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

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
            return ExitCode::from(exit::EX_FAILURE);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Lab(args) => commands::lab::run(args, cli.json).await,
            Command::Run(args) => commands::run::run(&args, cli.json).await,
            Command::Sensor(args) => commands::sensor::run(&args, cli.json).await,
            Command::Demo(args) => commands::demo::run(args, cli.json).await,
            Command::Generate(args) => commands::generate::run(&args, cli.json).await,
            Command::Console(args) if args.command.is_none() => {
                commands::console::serve(&args, cli.json).await
            }
            // The archive commands do blocking store I/O; keep it off the async workers.
            command => {
                let json = cli.json;
                tokio::task::spawn_blocking(move || match command {
                    Command::Search(args) => commands::search::run(&args, json),
                    Command::Status(args) => commands::status::run(&args, json),
                    Command::CheckConfig(args) => {
                        commands::check_config::check(&args.file, &args.overrides, args.print, json)
                    }
                    Command::Export(args) => commands::export::run(&args, json),
                    Command::Verify(args) => commands::verify::run(&args, json),
                    Command::Hold(cmd) => commands::hold::run(&cmd, json),
                    Command::Retention(cmd) => commands::retention::run(&cmd, json),
                    Command::Ca(cmd) => commands::ca::run(&cmd, json),
                    Command::Policy(cmd) => commands::policy::run(&cmd, json),
                    Command::Archive(cli::ArchiveCommand::Salvage(args)) => {
                        commands::salvage::run(&args, json)
                    }
                    Command::Sametime(cmd) => commands::sametime::run(&cmd, json),
                    Command::Console(args) => commands::console::run(&args, json),
                    Command::Index(cmd) => commands::index::run(&cmd, json),
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
            ExitCode::from(if e.is::<exit::UsageError>() {
                exit::EX_USAGE
            } else if e.is::<exit::VerifyFailed>() {
                exit::EX_TAMPERED
            } else if e.is::<commands::retention::RetentionRefused>() {
                exit::EX_RETENTION_LOCKED
            } else if e.is::<exit::NotSignedBy>() {
                exit::EX_OTHER_KEY
            } else {
                exit::EX_FAILURE
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
