//! `imtegrity console user ...`: the reviewer console's accounts, in the file
//! `console.users` names (see the `console` crate for its rules).

use std::io::BufRead as _;
use std::path::PathBuf;

use archive::Accessor;
use console::{Account, Accounts, ConsoleError, NewAccount, Role};
use serde_json::json;

use crate::cli::{ConfigArgs, ConsoleCommand, UserCommand};
use crate::exit::UsageError;
use crate::output::emit;

/// Runs one `console` subcommand.
pub(crate) fn run(command: &ConsoleCommand, json: bool) -> crate::CmdResult {
    let ConsoleCommand::User(user) = command;
    match user {
        UserCommand::Add(args) => {
            let config =
                crate::config_file::load(args.config.config.as_deref(), &args.config.overrides)?;
            let role: Role = args.role.parse().map_err(usage)?;
            let password = password_from_stdin()?;
            let groups: Vec<String> = config
                .policy
                .groups
                .iter()
                .map(|g| g.name.clone())
                .collect();
            let mut accounts = Accounts::lock(&users_file(&args.config)?)?;
            let by = operator();
            let added = accounts
                .add(
                    &NewAccount {
                        name: &args.name,
                        role,
                        scopes: &args.scopes,
                        password: &password,
                        by: &by,
                    },
                    &groups,
                )
                .map_err(usage)?
                .clone();
            accounts.save()?;
            emit(json, &format!("added {}", describe(&added)), &shown(&added));
        }
        UserCommand::List(args) => {
            let accounts = Accounts::read(&users_file(&args.config)?)?;
            if accounts.all().is_empty() && !json {
                emit(false, "no console accounts", &serde_json::Value::Null);
            }
            for account in accounts.all() {
                emit(json, &describe(account), &shown(account));
            }
        }
        UserCommand::Disable(args) => {
            let mut accounts = Accounts::lock(&users_file(&args.config)?)?;
            let disabled = accounts
                .disable(&args.name, &operator())
                .map_err(usage)?
                .clone();
            accounts.save()?;
            emit(json, &describe(&disabled), &shown(&disabled));
        }
        UserCommand::Password(args) => {
            let password = password_from_stdin()?;
            let mut accounts = Accounts::lock(&users_file(&args.config)?)?;
            accounts
                .set_password(&args.name, &password)
                .map_err(usage)?;
            accounts.save()?;
            let text = format!("password of {} set", args.name);
            emit(
                json,
                &text,
                &json!({"name": args.name, "password_set": true}),
            );
        }
    }
    Ok(())
}

/// `console.users`, or `console/users.toml` in the data directory.
fn users_file(args: &ConfigArgs) -> Result<PathBuf, UsageError> {
    let config = crate::config_file::load(args.config.as_deref(), &args.overrides)?;
    Ok(config
        .console
        .users
        .unwrap_or_else(|| crate::archive_access::data_dir("console").join("users.toml")))
}

/// Mistakes in what was asked (a name, a role, a scope, a password) exit 64; file trouble
/// stays a failure.
fn usage(e: ConsoleError) -> Box<dyn std::error::Error + Send + Sync> {
    match e {
        ConsoleError::File { .. } | ConsoleError::Private(_) | ConsoleError::Parse { .. } => {
            e.into()
        }
        other => UsageError(other.to_string()).into(),
    }
}

/// The first line of stdin, without its line ending.
fn password_from_stdin() -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        return Err(UsageError("no password on stdin (give it as the first line)".into()).into());
    }
    console::password::check(password).map_err(|e| UsageError(e.to_string()))?;
    Ok(password.to_owned())
}

/// Who runs this command, as account changes record it: "alice (uid 1000)".
fn operator() -> String {
    let who = Accessor::this_process();
    format!("{} (uid {})", who.user, who.uid)
}

/// One line: "rita: reviewer of traders, sales; created <time> by root (uid 0)[; disabled ...]".
fn describe(account: &Account) -> String {
    let scope = if account.scopes.is_empty() {
        String::new()
    } else {
        format!(" of {}", account.scopes.join(", "))
    };
    let mut line = format!(
        "{}: {}{scope}; created {} by {}",
        account.name,
        account.role,
        crate::timespec::format(account.created_ns),
        account.created_by
    );
    if let Some(at) = account.disabled_ns {
        line.push_str(&format!(
            "; DISABLED {} by {}",
            crate::timespec::format(at),
            account.disabled_by.as_deref().unwrap_or("?")
        ));
    }
    line
}

/// What `--json` shows of an account: everything but the hash.
fn shown(account: &Account) -> serde_json::Value {
    json!({
        "name": account.name,
        "role": account.role,
        "scopes": account.scopes,
        "created_ns": account.created_ns,
        "created_by": account.created_by,
        "password_set_ns": account.password_set_ns,
        "disabled_ns": account.disabled_ns,
        "disabled_by": account.disabled_by,
        "enabled": account.enabled(),
    })
}
