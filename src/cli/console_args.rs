//! `imtegrity console`: the reviewer console's accounts.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::ConfigArgs;

/// `imtegrity console [--archive DIR] [--listen ADDR]...`, or `imtegrity console user ...`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct ConsoleArgs {
    #[command(subcommand)]
    pub(crate) command: Option<ConsoleCommand>,
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    /// Archive directory. Default: archive.path, else $IMTEGRITY_ARCHIVE, else the data
    /// directory's archive.
    #[arg(long, value_name = "DIR")]
    pub(crate) archive: Option<PathBuf>,
    /// Serve on this loopback address (repeatable; port 0 picks one). Default: console.listen.
    #[arg(long, value_name = "ADDR")]
    pub(crate) listen: Vec<SocketAddr>,
}

/// `imtegrity console ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum ConsoleCommand {
    /// The console's accounts ([console] users in the configuration): who may log in, with
    /// which role, over which directory groups. Passwords are read from stdin only, stored
    /// as argon2id hashes in an owner-only file, never shown.
    #[command(subcommand)]
    User(UserCommand),
}

/// `imtegrity console user ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum UserCommand {
    /// Add an account. Roles: admin (manages accounts and policy, reads no message
    /// content), reviewer (reads and reviews the groups of its --scope, never its own
    /// messages), supervisor (reviews the reviewers of its --scope), auditor (reads the
    /// access trail and reports).
    Add(UserAddArgs),
    /// List the accounts: name, role, scopes, created, disabled. Never the hashes.
    List(UserListArgs),
    /// Disable an account: it can no longer log in. Accounts are never deleted (the
    /// access trail and reviews name them), so the name is not free again.
    Disable(UserNameArgs),
    /// Set an account's password (read from stdin).
    Password(UserPasswordArgs),
}

/// `imtegrity console user add`.
#[derive(Debug, Args)]
pub(crate) struct UserAddArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    /// The login name: 1 to 64 of a-z, 0-9, '.', '_', '-'.
    pub(crate) name: String,
    /// admin, reviewer, supervisor or auditor.
    #[arg(long, value_name = "ROLE")]
    pub(crate) role: String,
    /// A directory group ([[policy.groups]] name) the account reads, or '*' for all
    /// (repeatable; reviewers and supervisors only, and they need one).
    #[arg(long = "scope", value_name = "GROUP")]
    pub(crate) scopes: Vec<String>,
    /// The person's id in the employee directory ([policy] directory): the account never
    /// reads that person's own messages.
    #[arg(long, value_name = "ID")]
    pub(crate) employee: Option<String>,
    /// A permission beyond the role (repeatable): `hold` places and releases legal holds
    /// on users in the account's scope. Reviewers and supervisors only.
    #[arg(long = "permit", value_name = "PERMISSION")]
    pub(crate) permits: Vec<String>,
    /// Read the password from the first line of stdin (required: a password on the command
    /// line is visible to every user of the host).
    #[arg(long, required = true)]
    pub(crate) password_stdin: bool,
}

/// `imtegrity console user list`.
#[derive(Debug, Args)]
pub(crate) struct UserListArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
}

/// `imtegrity console user disable`.
#[derive(Debug, Args)]
pub(crate) struct UserNameArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    /// The account.
    pub(crate) name: String,
}

/// `imtegrity console user password`.
#[derive(Debug, Args)]
pub(crate) struct UserPasswordArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    /// The account.
    pub(crate) name: String,
    /// Read the new password from the first line of stdin (required).
    #[arg(long, required = true)]
    pub(crate) password_stdin: bool,
}
