//! `imtegrity run`: the gateway in the foreground until SIGINT or SIGTERM.

use std::path::Path;

use serde_json::json;
use settings::Config;

use crate::cli::RunArgs;
use crate::gateway::Gateway;
use crate::output::emit;

pub(crate) async fn run(args: &RunArgs, json: bool) -> crate::CmdResult {
    let config = crate::config_file::load(args.config.as_deref(), &args.overrides)?;
    // Install the handlers before announcing "running": a SIGTERM that arrives right after
    // must stop the gateway cleanly, not kill it with the default action.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let gateway = Gateway::start(&config).await?;
    let listen: Vec<String> = gateway.listening.iter().map(ToString::to_string).collect();
    let dns: Vec<String> = gateway
        .dns
        .iter()
        .flat_map(|d| d.local_addrs().iter().map(ToString::to_string))
        .collect();
    emit(
        json,
        &format!(
            "imtegrity gateway running\n  relay:    {}\n  dns:      {}\n  ingest:   {}\n  console:  {}\n  upstream: {}\n  archive:  {} ({:?} mode; admin socket {})\nCtrl-C stops; SIGHUP (or saving the config or directory file) reloads the DNS names and views and the policy.",
            listen.join(", "),
            if dns.is_empty() {
                "off".to_owned()
            } else {
                dns.join(", ")
            },
            if gateway.ingest.is_empty() {
                "off".to_owned()
            } else {
                format!(
                    "{} (Sametime modules ship here; `imtegrity status` shows each)",
                    gateway
                        .ingest
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
            if gateway.console.is_empty() {
                "off".to_owned()
            } else {
                gateway.console.join(", ")
            },
            config.upstream.login,
            gateway.archive_dir.display(),
            config.archive.mode,
            archive_servers::admin::socket_path(&gateway.archive_dir).display()
        ),
        &json!({"event": "running", "relay": listen, "dns": dns,
                "ingest": gateway.ingest.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "console": gateway.console,
                "upstream": config.upstream.login.to_string(),
                "archive": gateway.archive_dir, "mode": format!("{:?}", config.archive.mode).to_lowercase(),
                "signing_key": crate::signing_key_notice::fields(&gateway.archive)}),
    );
    let mut config = config;
    // The configuration file and the directory file it names are both watched.
    let stamps = |config: &Config| {
        (
            args.config.as_deref().and_then(file_stamp),
            crate::policy_setup::directory_path(config).and_then(file_stamp),
        )
    };
    let mut stamp = stamps(&config);
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
    loop {
        let why = tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => {
                // This reload reads the file as it is now: do not reload it again for an
                // edit made before the signal.
                stamp = stamps(&config);
                "SIGHUP"
            }
            _ = tick.tick() => {
                let now = stamps(&config);
                if now == stamp {
                    continue;
                }
                let why = if now.0 == stamp.0 {
                    "the directory file changed"
                } else {
                    "the configuration file changed"
                };
                stamp = now;
                why
            }
        };
        match crate::config_file::load(args.config.as_deref(), &args.overrides)
            .map_err(|e| e.to_string())
            .and_then(|new| {
                gateway.reload(&config, &new).map_err(|e| e.to_string())?;
                Ok(new)
            }) {
            Ok(new) => {
                config = new;
                // A new configuration may name another directory file.
                stamp = stamps(&config);
                tracing::info!(trigger = why, "configuration reloaded");
                emit(
                    json,
                    &format!("reloaded ({why})"),
                    &json!({"event": "reloaded", "trigger": why}),
                );
            }
            Err(error) => {
                // Keep serving under the policy that was working.
                tracing::error!(trigger = why, %error, "reload failed; the running configuration stays");
                emit(
                    json,
                    &format!("reload failed ({why}): {error}"),
                    &json!({"event": "reload_failed", "trigger": why, "error": error}),
                );
            }
        }
    }
    // Read after stopping: sessions open at the stop record their end while it runs.
    let relay = gateway.relay.clone();
    let ingest = gateway.ingest_endpoint.clone();
    gateway.stop().await?;
    let stats = &relay.stats;
    let relayed = stats.records.load(std::sync::atomic::Ordering::Relaxed);
    let sessions = stats
        .sessions_total
        .load(std::sync::atomic::Ordering::Relaxed);
    // Every record this run stored: the relay's and what Sametime modules shipped.
    let ingested = ingest.stats().records;
    let records = relayed + ingested;
    emit(
        json,
        &format!(
            "stopped: {sessions} sessions relayed, {records} records archived ({relayed} from the relay, {ingested} shipped by Sametime modules)"
        ),
        &json!({"event": "stopped", "sessions": sessions, "records": records,
                "relayed": relayed, "ingested": ingested}),
    );
    Ok(())
}

/// What tells a changed file from an unchanged one: modification time and length.
fn file_stamp(path: &Path) -> Option<(std::time::SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}
