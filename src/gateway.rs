//! Starting the gateway from a checked configuration: the archive (and its admin socket),
//! the relay listeners, and shutdown. Shared by `run` and `demo`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use archive::{Archive, ArchiveOptions};
use intercept::{CaptureMode, Relay, RelaySettings};
use settings::{ArchiveMode, Config};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// A running gateway.
pub(crate) struct Gateway {
    pub(crate) archive: Archive,
    /// The DNS responder, unless `dns.listen` is empty.
    pub(crate) dns: Option<Arc<dns::DnsServer>>,
    pub(crate) archive_dir: PathBuf,
    pub(crate) relay: Arc<Relay>,
    pub(crate) listening: Vec<SocketAddr>,
    /// Where the Sametime module's spool ships records (`[ingest]`), if anywhere.
    pub(crate) ingest: Vec<SocketAddr>,
    /// The ingest endpoint, whose counters `status` and the stop line show.
    pub(crate) ingest_endpoint: archive_servers::IngestEndpoint,
    /// Where the reviewer console is served (`console.listen`), as URLs.
    pub(crate) console: Vec<String>,
    /// The console's text index follower, when the console is served.
    indexing: Option<crate::console_setup::Indexing>,
    pub(crate) shutdown: CancellationToken,
    /// The bypass sensor, when `sensor.interface` is set.
    sensor: Option<sensor::SensorHandle>,
    tasks: JoinSet<()>,
}

impl Gateway {
    /// Opens the archive, binds every listener (all or nothing), and starts serving.
    pub(crate) async fn start(
        config: &Config,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let descriptors = crate::descriptors::raise_to_hard();
        let reserve = config.relay.descriptor_reserve;
        let max_open =
            crate::descriptors::client_budget(descriptors.now, reserve).ok_or_else(|| {
                format!(
                    "the descriptor limit {} leaves no client connections after \
                 relay.descriptor_reserve {reserve} (two each): raise the limit (LimitNOFILE=) \
                 or lower the reserve",
                    descriptors.now
                )
            })?;
        tracing::info!(
            inherited = descriptors.before,
            limit = descriptors.now,
            reserve,
            client_connections = max_open,
            "descriptor limit"
        );
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
                key: config.archive.signing_key.clone(),
                ..ArchiveOptions::default()
            },
        )?;
        crate::signing_key_notice::announce(&archive);
        // Before any listener: a configured minimum below the archive's locked one refuses
        // the start, as a configuration error.
        let retention =
            crate::retention_setup::lock_for_gateway(&config.archive.retention, &archive)
                .await
                .map_err(|e| match e {
                    archive::ArchiveError::RetentionLocked { .. } => {
                        Box::new(crate::exit::UsageError(e.to_string())) as Box<_>
                    }
                    other => Box::<dyn std::error::Error + Send + Sync>::from(other),
                })?;
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
        let ingest_setup = ingest_setup(config, &archive).await?;
        let console_tls = if config.console.listen.is_empty() {
            None
        } else {
            crate::console_setup::tls_acceptor(config)?
        };
        let console_listeners =
            crate::console_setup::bind(&config.console.listen, config.console.tls).await?;
        let console = crate::console_setup::urls(&console_listeners, console_tls.is_some());
        let ingest_listeners = ingest_setup.listeners;
        let ingest: Vec<SocketAddr> = ingest_listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect();
        let dns_upstreams = dns_upstreams(config);
        let relay = Arc::new(Relay::new(
            RelaySettings {
                upstream_login: config.upstream.login.clone(),
                egress: config.upstream.egress.clone(),
                resolvers: relay_resolvers(config, &dns_upstreams),
                proxy: config
                    .upstream
                    .proxy
                    .as_ref()
                    .map(|proxy| settings::ProxyUrl::parse(proxy.expose()))
                    .transpose()
                    .map_err(crate::exit::UsageError)?,
                // Checked when the configuration loaded; an error here is not passed over.
                advertise: config
                    .relay
                    .advertise
                    .as_deref()
                    .map(|a| {
                        oscar::ServerAddress::parse(a.as_bytes()).map_err(|e| {
                            crate::exit::UsageError(format!("relay.advertise `{a}`: {e}"))
                        })
                    })
                    .transpose()?,
                connect_timeout: Duration::from_secs(config.relay.connect_timeout_secs),
                signon_timeout: Duration::from_secs(config.relay.signon_timeout_secs),
                idle_timeout: Duration::from_secs(config.relay.idle_timeout_secs),
                limits: intercept::ConnectionLimits {
                    per_address: config.relay.max_connections_per_address,
                    per_second: config.relay.new_connections_per_second,
                    burst: config.relay.new_connections_burst,
                    max_open,
                },
                cookie_ttl: Duration::from_secs(config.relay.cookie_ttl_secs),
                max_cookie_routes: config.relay.max_cookie_routes,
                client_nat_networks: config.relay.client_nat_networks.clone(),
                redirect_allow: config.upstream.redirect_allow.clone(),
                api_names: settings::dns::NameSet::from_config(true, &config.dns.names)
                    .map_err(crate::exit::UsageError)?,
                max_frame: config.relay.max_frame,
                mode: match config.archive.mode {
                    ArchiveMode::Strict => CaptureMode::Strict,
                    ArchiveMode::Relaxed => CaptureMode::Relaxed,
                },
                node,
                tls: relay_tls(config)?,
                upstream_login_tls: config.upstream.login_tls.clone(),
                upstream_tls: Some(crate::tls_setup::upstream_client_config(&config.upstream)?),
                upstream_api: config.upstream.api.clone(),
                policy: Some(Arc::new(crate::policy_setup::engine(config)?)),
            },
            Some(archive.clone()),
        )?);
        let shutdown = CancellationToken::new();
        let dns = if config.dns.listen.is_empty() {
            None
        } else {
            let settings = dns::DnsSettings {
                config: config.effective_dns(),
                fallback_upstreams: dns_upstreams,
                egress: config.upstream.egress.clone(),
                relay_port: listening.first().map_or(5190, SocketAddr::port),
                local_relay: listening.first().copied(),
                udp_sockets: 0,
                udp_path: dns::UdpPath::Threads,
            };
            Some(Arc::new(
                dns::DnsServer::start(settings, shutdown.clone()).await?,
            ))
        };
        let mut tasks = JoinSet::new();
        let sensor = crate::sensor_setup::start_in_gateway(config, &archive)?;
        let admin_policy = admin_policy(config)?;
        let admin = archive_servers::admin::bind_for(&archive_dir, &admin_policy)?;
        let (owner, stop) = (archive.clone(), shutdown.clone());
        let status = relay_status(
            relay.clone(),
            descriptors.now,
            listening_strings(&listening),
            dns.clone(),
            sensor
                .as_ref()
                .map(|s| (s.interface().to_owned(), s.stats())),
            (listening_strings(&ingest), ingest_setup.endpoint.clone()),
        );
        tasks.spawn(async move {
            tokio::select! {
                () = archive_servers::admin::serve_with(owner, admin, status, admin_policy) => {}
                () = stop.cancelled() => {}
            }
        });
        if let Some(policy) = retention {
            let task = archive::spawn_retention(
                archive.clone(),
                policy,
                Duration::from_secs(config.archive.retention.interval_secs),
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
        let mut indexing = None;
        if !console_listeners.is_empty() {
            let (state, follower) = crate::console_setup::state(config, archive.clone())?;
            indexing = Some(follower);
            crate::console_setup::spawn_serving(
                &mut tasks,
                console_listeners,
                &state,
                console_tls.as_ref(),
                &shutdown,
            );
        }
        for listener in ingest_listeners {
            let (endpoint, stop) = (ingest_setup.endpoint.clone(), shutdown.clone());
            match &ingest_setup.tls {
                Some(tls) => tasks.spawn(archive_servers::serve_ingest_with(
                    listener,
                    endpoint,
                    tls.handshake(),
                    stop.cancelled_owned(),
                )),
                None => tasks.spawn(archive_servers::serve_ingest_with(
                    listener,
                    endpoint,
                    |stream, addr| async move {
                        Ok((
                            stream,
                            archive_servers::IngestPeer {
                                addr,
                                certificate: None,
                            },
                        ))
                    },
                    stop.cancelled_owned(),
                )),
            };
        }
        Ok(Self {
            ingest,
            ingest_endpoint: ingest_setup.endpoint.clone(),
            console,
            indexing,
            archive,
            dns,
            archive_dir,
            relay,
            listening,
            shutdown,
            sensor,
            tasks,
        })
    }

    /// Applies what can change without a restart (today: the DNS names, views, allow list,
    /// TTL and rate limit); says which changed keys need a restart.
    pub(crate) fn reload(
        &self,
        old: &Config,
        new: &Config,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        // Everything is checked before anything is swapped: a broken directory file keeps
        // the DNS policy as it was, too.
        let engine = crate::policy_setup::engine(new)?;
        if let Some(dns) = &self.dns {
            dns.reload(&new.effective_dns())?;
        }
        if let Some(policy) = self.relay.policy() {
            policy.replace(Arc::new(engine));
        }
        let restart: Vec<&str> = [
            ("dns.listen", old.dns.listen != new.dns.listen),
            ("dns.upstream", old.dns.upstream != new.dns.upstream),
            ("relay", old.relay != new.relay),
            ("upstream", old.upstream != new.upstream),
            ("archive", old.archive != new.archive),
            ("ingest", old.ingest != new.ingest),
            ("sensor", old.sensor != new.sensor),
        ]
        .into_iter()
        .filter_map(|(key, changed)| changed.then_some(key))
        .collect();
        if !restart.is_empty() {
            tracing::warn!(changed = ?restart, "these settings changed and take effect at the next restart");
        }
        Ok(())
    }

    /// Stops accepting, ends sessions, and waits until everything queued is durable.
    pub(crate) async fn stop(mut self) -> Result<(), archive::ArchiveError> {
        self.shutdown.cancel();
        if let Some(sensor) = self.sensor.take() {
            // Its last records go in before the archive's final sync below.
            if let Ok(Err(error)) = tokio::task::spawn_blocking(move || sensor.stop()).await {
                tracing::error!(%error, "the sensor had stopped");
            }
        }
        while self.tasks.join_next().await.is_some() {}
        if let Some(indexing) = self.indexing.take() {
            let _ = tokio::task::spawn_blocking(move || indexing.finish()).await;
        }
        // The status closure held a reference until the admin task ended just now. If
        // another is still held, the cancelled token stops the responder anyway.
        if let Some(dns) = self.dns.take().and_then(|d| Arc::try_unwrap(d).ok()) {
            dns.stop().await;
        }
        let _ = std::fs::remove_file(archive_servers::admin::socket_path(&self.archive_dir));
        self.archive.sync().await
    }
}

/// The ingest endpoint, ready to serve: its listeners, bound before anything starts (all
/// or nothing, like the relay's), who may ship, and its TLS if `ingest.tls`.
struct IngestSetup {
    listeners: Vec<tokio::net::TcpListener>,
    endpoint: archive_servers::IngestEndpoint,
    tls: Option<crate::ingest_tls::IngestTls>,
}

async fn ingest_setup(
    config: &Config,
    archive: &Archive,
) -> Result<IngestSetup, Box<dyn std::error::Error + Send + Sync>> {
    let ingest = &config.ingest;
    let mut setup = IngestSetup {
        listeners: Vec::new(),
        endpoint: archive_servers::IngestEndpoint::new(
            archive.clone(),
            archive_servers::IngestAuth::default(),
        ),
        tls: None,
    };
    if ingest.listen.is_empty() {
        return Ok(setup);
    }
    // A weak, shared or unreadable token is a configuration error (exit 64), as in
    // `check-config`.
    let auth = crate::ingest_clients::ingest_auth(config)
        .map_err(|e| crate::exit::UsageError(e.to_string()))?;
    let names: Vec<&str> = auth.clients.iter().map(|c| c.name.as_str()).collect();
    tracing::info!(clients = ?names, "ingest clients");
    setup.endpoint = archive_servers::IngestEndpoint::new(archive.clone(), auth);
    if ingest.tls {
        let tls = crate::ingest_tls::IngestTls::new(config)?;
        tracing::info!(
            name = %tls.name,
            auth = ?ingest.auth,
            "ingest over TLS under the gateway CA"
        );
        setup.tls = Some(tls);
    }
    for addr in &ingest.listen {
        setup.listeners.push(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("cannot listen for ingest on {addr}: {e}"))?,
        );
    }
    Ok(setup)
}

fn listening_strings(addrs: &[SocketAddr]) -> Vec<String> {
    addrs.iter().map(ToString::to_string).collect()
}

/// The relay's TLS termination, if the gateway has a CA. Without one, plain OSCAR works and
/// TLS clients are refused with a reason in the log.
fn relay_tls(
    config: &Config,
) -> Result<Option<intercept::TlsTermination>, Box<dyn std::error::Error + Send + Sync>> {
    let dir = crate::tls_setup::ca_dir(&config.tls);
    if !crate::tls_setup::has_ca(&dir) {
        tracing::info!(
            ca_dir = %dir.display(),
            "no gateway CA: TLS clients (SSL login) will be refused; `imtegrity ca init` creates one"
        );
        return Ok(None);
    }
    let server = crate::tls_setup::client_tls(&config.tls, &dir)
        .map_err(|e| format!("the gateway CA in {}: {e}", dir.display()))?;
    tracing::info!(ca_dir = %dir.display(), "terminating client TLS with the gateway CA");
    Ok(Some(server))
}

/// The resolvers DNS forwards to when `dns.upstream` is empty: /etc/resolv.conf's, minus
/// the responder itself.
fn dns_upstreams(config: &Config) -> Vec<settings::DnsUpstream> {
    if !config.dns.upstream.is_empty() {
        return config.dns.upstream.clone();
    }
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    dns::system_upstreams(&text, &config.dns.listen)
}

/// The relay's own resolvers: `upstream.resolver`, or, when that is empty and this gateway
/// answers DNS, the responder's plain upstreams. The system resolver may well be this
/// gateway, which answers the login names with itself: the relay would connect to itself.
fn relay_resolvers(config: &Config, dns_upstreams: &[settings::DnsUpstream]) -> Vec<SocketAddr> {
    if !config.upstream.resolver.is_empty() || config.dns.listen.is_empty() {
        return config.upstream.resolver.clone();
    }
    dns_upstreams
        .iter()
        .filter(|u| u.tls_name.is_none())
        .map(|u| u.address)
        .collect()
}

/// What the gateway adds to `imtegrity status`: relay counters, egress load, DNS counters.
fn relay_status(
    relay: Arc<Relay>,
    descriptor_limit: u64,
    listening: Vec<String>,
    dns: Option<Arc<dns::DnsServer>>,
    sensor: Option<(String, Arc<sensor::SensorStats>)>,
    (ingest_listening, ingest): (Vec<String>, archive_servers::IngestEndpoint),
) -> archive_servers::admin::OwnerStatus {
    let dns_listening: Vec<String> = dns
        .iter()
        .flat_map(|d| d.local_addrs().iter().map(ToString::to_string))
        .collect();
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
                "silent_connections": load(&s.silent_connections),
                "records": load(&s.records),
                "rewrites": load(&s.rewrites),
                "api_requests": load(&s.api_requests),
                "typing": load(&s.typing),
                "cookies": relay.cookies.len(),
                "connections": connections_status(&relay.gate.snapshot(), descriptor_limit),
                "cookies_evicted_live": relay.cookies.evicted_live(),
                "egress": relay.egress_sessions().iter()
                    .map(|(ip, n)| serde_json::json!({"address": ip.to_string(), "sessions": n}))
                    .collect::<Vec<_>>(),
            },
            "dns": dns.as_ref().map(|d| serde_json::json!({
                "listening": dns_listening,
                "stats": d.stats(),
            })),
            "sensor": sensor.as_ref().map(|(interface, stats)| serde_json::json!({
                "interface": interface,
                "running": true,
                "stats": stats.snapshot(),
            })),
            // The Sametime modules shipping here: what each last did, and who was refused.
            "ingest": (!ingest_listening.is_empty()).then(|| serde_json::json!({
                "listening": ingest_listening,
                "stats": ingest.stats(),
            })),
        })
    })
}

/// The connection limits in `status`: what is open against what is allowed, and what was
/// refused, per reason.
fn connections_status(gate: &intercept::GateSnapshot, descriptor_limit: u64) -> serde_json::Value {
    let r = &gate.refused;
    serde_json::json!({
        "open": gate.open,
        "max_open": gate.limits.max_open,
        "descriptor_limit": descriptor_limit,
        "addresses_tracked": gate.tracked,
        "max_per_address": gate.limits.per_address,
        "per_second_per_address": gate.limits.per_second,
        "burst_per_address": gate.limits.burst,
        "refused": {
            "per_address_limit": r.per_address,
            "rate_limit": r.rate,
            "descriptor_reserve": r.descriptors,
            "signon_deadline": r.signon_deadline,
            "accept_errors": r.accept_errors,
        },
    })
}

/// Who may use the admin socket: the archive's owner (this process's user), root, and the
/// members of `archive.admin_group`, which must exist when the gateway starts.
fn admin_policy(config: &Config) -> Result<archive_servers::AdminPolicy, archive::ArchiveError> {
    let admin_gid = match &config.archive.admin_group {
        None => None,
        Some(settings::GroupRef::Gid(gid)) => Some(*gid),
        Some(settings::GroupRef::Name(name)) => Some(archive_servers::admin::resolve_group(name)?),
    };
    Ok(archive_servers::AdminPolicy {
        admin_gid,
        ..archive_servers::AdminPolicy::owner_only()
    })
}
