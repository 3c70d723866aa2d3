//! The commands that run the gateway or its sensor, and `check-config`, which reads their
//! configuration as they would.

use std::path::PathBuf;

use clap::Args;

/// `imtegrity run`.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The TOML configuration (see imtegrity.example.toml). Default: embedded defaults.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Set any configuration key, e.g. --set relay.listen='["127.0.0.1:5190"]'
    /// --set upstream.login=127.0.0.1:15190 (repeatable; wins over the file).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub(crate) overrides: Vec<String>,
}

/// `imtegrity sensor`.
#[derive(Debug, Args)]
pub(crate) struct SensorArgs {
    /// The TOML configuration (its [sensor] and [archive] sections). Default: embedded
    /// defaults.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// The interface to capture on (wins over sensor.interface).
    #[arg(long, value_name = "IF")]
    pub(crate) interface: Option<String>,
    /// Set any configuration key, e.g. --set 'sensor.allow=["192.0.2.10"]' (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub(crate) overrides: Vec<String>,
}

/// `imtegrity check-config`.
#[derive(Debug, Args)]
pub(crate) struct CheckConfigArgs {
    /// The TOML configuration file to check (see imtegrity.example.toml).
    #[arg(value_name = "FILE")]
    pub(crate) file: PathBuf,
    /// Set any configuration key on top of the file, as `run --set` does (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub(crate) overrides: Vec<String>,
    /// Print the effective configuration (file, overrides and defaults) as TOML.
    #[arg(long)]
    pub(crate) print: bool,
}
