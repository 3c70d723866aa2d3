//! `imtegrity run`: the gateway in the foreground until SIGINT or SIGTERM.

use std::path::Path;

use policy::Config;
use serde_json::json;

use crate::cli::{RunArgs, UsageError};
use crate::gateway::Gateway;
use crate::output::emit;

/// Reads and checks the configuration: the file if one is given (as `check-config` does),
/// else the embedded defaults, then every `--set`. Any problem is a usage error.
pub(crate) fn load_config(file: Option<&Path>, overrides: &[String]) -> Result<Config, UsageError> {
    match file {
        Some(path) => crate::config_cmd::read(path, overrides),
        None => Config::load("(embedded defaults)", "", overrides)
            .map_err(|e| UsageError(e.to_string())),
    }
}

pub(crate) async fn run(args: &RunArgs, json: bool) -> crate::CmdResult {
    let config = load_config(args.config.as_deref(), &args.overrides)?;
    // Install the handlers before announcing "running": a SIGTERM that arrives right after
    // must stop the gateway cleanly, not kill it with the default action.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let gateway = Gateway::start(&config).await?;
    let listen: Vec<String> = gateway.listening.iter().map(ToString::to_string).collect();
    emit(
        json,
        &format!(
            "imtegrity gateway running\n  relay:    {}\n  upstream: {}\n  archive:  {} ({:?} mode; admin socket {})\nCtrl-C stops.",
            listen.join(", "),
            config.upstream.login,
            gateway.archive_dir.display(),
            config.archive.mode,
            archive::admin::socket_path(&gateway.archive_dir).display()
        ),
        &json!({"event": "running", "relay": listen, "upstream": config.upstream.login.to_string(),
                "archive": gateway.archive_dir, "mode": format!("{:?}", config.archive.mode).to_lowercase()}),
    );
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    let stats = &gateway.relay.stats;
    let records = stats.records.load(std::sync::atomic::Ordering::Relaxed);
    let sessions = stats
        .sessions_total
        .load(std::sync::atomic::Ordering::Relaxed);
    gateway.stop().await?;
    emit(
        json,
        &format!("stopped: {sessions} sessions relayed, {records} records archived"),
        &json!({"event": "stopped", "sessions": sessions, "records": records}),
    );
    Ok(())
}
