//! Starting the gateway from a checked configuration: the archive (and its admin socket),
//! the relay listeners, and shutdown. Shared by `run` and `demo`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use archive::{Archive, ArchiveOptions};
use intercept::{CaptureMode, Relay, RelayConfig};
use policy::{ArchiveMode, Config};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// A running gateway.
pub(crate) struct Gateway {
    pub(crate) archive: Archive,
    pub(crate) archive_dir: PathBuf,
    pub(crate) relay: Arc<Relay>,
    pub(crate) listening: Vec<SocketAddr>,
    pub(crate) shutdown: CancellationToken,
    tasks: JoinSet<()>,
}

impl Gateway {
    /// Opens the archive, binds every listener (all or nothing), and starts serving.
    pub(crate) async fn start(
        config: &Config,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let archive_dir = config
            .archive
            .path
            .clone()
            .unwrap_or_else(crate::archive_access::default_dir);
        let node = config
            .archive
            .node
            .clone()
            .unwrap_or_else(archive::host_name);
        let archive = Archive::open(
            &archive_dir,
            ArchiveOptions {
                node: Some(node.clone()),
                ..ArchiveOptions::default()
            },
        )?;
        let mut listeners = Vec::new();
        for addr in &config.relay.listen {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
            listeners.push(listener);
        }
        let listening: Vec<SocketAddr> = listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect();
        let relay = Arc::new(Relay::new(
            RelayConfig {
                upstream_login: config.upstream.login.to_string(),
                egress: config.upstream.egress.clone(),
                resolvers: config.upstream.resolver.clone(),
                proxy: config
                    .upstream
                    .proxy
                    .as_deref()
                    .map(policy::ProxyUrl::parse)
                    .transpose()
                    .map_err(crate::cli::UsageError)?,
                advertise: config.relay.advertise.clone(),
                connect_timeout: Duration::from_secs(config.relay.connect_timeout_secs),
                idle_timeout: Duration::from_secs(config.relay.idle_timeout_secs),
                cookie_ttl: Duration::from_secs(config.relay.cookie_ttl_secs),
                max_frame: config.relay.max_frame,
                mode: match config.archive.mode {
                    ArchiveMode::Strict => CaptureMode::Strict,
                    ArchiveMode::Relaxed => CaptureMode::Relaxed,
                },
                node,
            },
            Some(archive.clone()),
        )?);
        let shutdown = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let admin = archive::admin::bind(&archive_dir)?;
        let (owner, stop) = (archive.clone(), shutdown.clone());
        let status = relay_status(relay.clone(), listening_strings(&listening));
        tasks.spawn(async move {
            tokio::select! {
                () = archive::admin::serve_with_status(owner, admin, status) => {}
                () = stop.cancelled() => {}
            }
        });
        if config.archive.retention.is_set() {
            let r = &config.archive.retention;
            let mut policy = archive::RetentionPolicy {
                default_days: r.days,
                ..archive::RetentionPolicy::default()
            };
            for (protocol, days) in [
                (archive::Protocol::Aim, r.aim_days),
                (archive::Protocol::Icq, r.icq_days),
                (archive::Protocol::Sametime, r.sametime_days),
            ] {
                if let Some(days) = days {
                    policy.per_protocol.insert(protocol, days);
                }
            }
            let task = archive::spawn_retention(
                archive.clone(),
                policy,
                Duration::from_secs(r.interval_secs),
            );
            let stop = shutdown.clone();
            tasks.spawn(async move {
                stop.cancelled().await;
                task.abort();
            });
        }
        for listener in listeners {
            tasks.spawn(intercept::serve(listener, relay.clone(), shutdown.clone()));
        }
        Ok(Self {
            archive,
            archive_dir,
            relay,
            listening,
            shutdown,
            tasks,
        })
    }

    /// Stops accepting, ends sessions, and waits until everything queued is durable.
    pub(crate) async fn stop(mut self) -> Result<(), archive::ArchiveError> {
        self.shutdown.cancel();
        while self.tasks.join_next().await.is_some() {}
        let _ = std::fs::remove_file(archive::admin::socket_path(&self.archive_dir));
        self.archive.sync().await
    }
}

fn listening_strings(addrs: &[SocketAddr]) -> Vec<String> {
    addrs.iter().map(ToString::to_string).collect()
}

/// What the gateway adds to `imtegrity status`: relay counters and egress load.
fn relay_status(relay: Arc<Relay>, listening: Vec<String>) -> archive::admin::OwnerStatus {
    let started = archive::now_ns();
    Arc::new(move || {
        let s = &relay.stats;
        let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
        serde_json::json!({
            "role": "gateway",
            "pid": std::process::id(),
            "started_ns": started,
            "relay": {
                "listening": listening,
                "upstream": relay.config.upstream_login,
                "mode": format!("{:?}", relay.config.mode).to_lowercase(),
                "sessions_open": load(&s.sessions_open),
                "sessions_total": load(&s.sessions_total),
                "sessions_failed": load(&s.sessions_failed),
                "records": load(&s.records),
                "rewrites": load(&s.rewrites),
                "typing": load(&s.typing),
                "cookies": relay.cookies.len(),
                "egress": relay.egress_sessions().iter()
                    .map(|(ip, n)| serde_json::json!({"address": ip.to_string(), "sessions": n}))
                    .collect::<Vec<_>>(),
            }
        })
    })
}
