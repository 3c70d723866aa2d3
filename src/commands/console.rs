//! `imtegrity console`: the reviewer console served alone over an archive no gateway has
//! open; `imtegrity console user ...`: its accounts, in the file `console.users` names (see
//! the `console` crate for their rules).

use std::io::BufRead as _;
use std::path::PathBuf;

use archive::Accessor;
use console::{Account, Accounts, ConsoleError, NewAccount, Role};
use serde_json::json;

use crate::archive_access::ArchiveAccess;
use crate::cli::{ConfigArgs, ConsoleArgs, ConsoleCommand, UserCommand};
use crate::exit::UsageError;
use crate::output::emit;

/// `imtegrity console`: serves the console until SIGTERM or Ctrl-C.
pub(crate) async fn serve(args: &ConsoleArgs, json: bool) -> crate::CmdResult {
    let config = crate::config_file::load(args.config.config.as_deref(), &args.config.overrides)?;
    let listen = if args.listen.is_empty() {
        config.console.listen.clone()
    } else {
        args.listen.clone()
    };
    if listen.is_empty() {
        return Err(UsageError(
            "nowhere to listen: give --listen 127.0.0.1:PORT or set console.listen".into(),
        )
        .into());
    }
    let tls = crate::console_setup::tls_acceptor(&config)?;
    let listeners = crate::console_setup::bind(&listen, tls.is_some()).await?;
    let dir = args
        .archive
        .clone()
        .or_else(|| config.archive.path.clone())
        .unwrap_or_else(crate::archive_access::default_dir);
    let key = config.archive.signing_key.clone();
    let opened =
        tokio::task::spawn_blocking(move || ArchiveAccess::open_with_key(&dir, false, key))
            .await??;
    let archive = match opened {
        ArchiveAccess::Local(archive, _) => archive,
        ArchiveAccess::Remote(_) => {
            return Err(UsageError(
                "a running gateway has this archive open: set console.listen in its configuration \
                 and it serves the console itself"
                    .into(),
            )
            .into());
        }
    };
    let (state, indexing) = crate::console_setup::state(&config, archive)?;
    let urls = crate::console_setup::urls(&listeners, tls.is_some());
    emit(
        json,
        &format!("console: {} (Ctrl-C stops)", urls.join(", ")),
        &json!({ "console": urls }),
    );
    let stop = tokio_util::sync::CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();
    crate::console_setup::spawn_serving(&mut tasks, listeners, &state, tls.as_ref(), &stop);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
        Some(ended) = tasks.join_next() => {
            stop.cancel();
            ended?;
        }
    }
    stop.cancel();
    while let Some(ended) = tasks.join_next().await {
        ended?;
    }
    // The follower holds an archive handle: it goes first. The archive's last handle goes
    // with the state, and its writer signs a closing checkpoint.
    tokio::task::spawn_blocking(move || indexing.finish()).await?;
    drop(state);
    Ok(())
}

/// Runs one `console user` subcommand.
pub(crate) fn run(args: &ConsoleArgs, json: bool) -> crate::CmdResult {
    let Some(ConsoleCommand::User(user)) = &args.command else {
        return Ok(());
    };
    match user {
        UserCommand::Add(args) => {
            let config =
                crate::config_file::load(args.config.config.as_deref(), &args.config.overrides)?;
            let role: Role = args.role.parse().map_err(usage)?;
            let permissions = args
                .permits
                .iter()
                .map(|p| p.parse::<console::Permission>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(usage)?;
            let password = password_from_stdin()?;
            let groups: Vec<String> = config
                .policy
                .groups
                .iter()
                .map(|g| g.name.clone())
                .collect();
            let mut accounts = Accounts::lock(&crate::console_setup::users_file(&config))?;
            let by = operator();
            let added = accounts
                .add(
                    &NewAccount {
                        name: &args.name,
                        role,
                        scopes: &args.scopes,
                        employee: args.employee.as_deref(),
                        permissions: &permissions,
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
    Ok(crate::console_setup::users_file(&config))
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
    Accessor::this_process().describe()
}

/// One line: "rita: reviewer of traders, sales; created <time> by root (uid 0)[; disabled ...]".
fn describe(account: &Account) -> String {
    let scope = if account.scopes.is_empty() {
        String::new()
    } else {
        format!(" of {}", account.scopes.join(", "))
    };
    let permits = if account.permissions.is_empty() {
        String::new()
    } else {
        let names: Vec<&str> = account.permissions.iter().map(|p| p.as_str()).collect();
        format!(", may {}", names.join(", "))
    };
    let mut line = format!(
        "{}: {}{scope}{permits}; created {} by {}",
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
        "employee": account.employee,
        "permissions": account.permissions,
        "created_ns": account.created_ns,
        "created_by": account.created_by,
        "password_set_ns": account.password_set_ns,
        "disabled_ns": account.disabled_ns,
        "disabled_by": account.disabled_by,
        "enabled": account.enabled(),
    })
}
