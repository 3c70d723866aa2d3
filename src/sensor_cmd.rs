//! The sensor, wired: `[sensor]` to the sensor crate's settings, started inside `imtegrity
//! run` when `sensor.interface` is set, or alone as `imtegrity sensor`.
//!
//! Which process writes: the archive has one owner (sled's lock). A gateway with
//! `sensor.interface` runs the sensor itself, into its own archive, and shows its counters
//! in `status`. `imtegrity sensor` is for a host where no gateway runs on that archive (a
//! sensor box on a mirror port): it owns the archive and answers the admin socket the same
//! way; started against an archive a gateway owns, it refuses and says to set
//! `sensor.interface` in the gateway's configuration instead.

use std::net::IpAddr;

use archive::{Archive, ArchiveError, ArchiveOptions};
use policy::Config;
use policy::dns::NameSet;
use sensor::{AllowList, SensorHandle, SensorSettings};
use serde_json::json;

use crate::cli::{SensorArgs, UsageError};
use crate::output::emit;

/// The sensor's settings from the configuration, or `None` when no interface is named.
pub(crate) fn settings(
    config: &Config,
    interface: Option<&str>,
) -> Result<Option<SensorSettings>, UsageError> {
    let Some(interface) = interface.or(config.sensor.interface.as_deref()) else {
        return Ok(None);
    };
    let s = &config.sensor;
    // The gateway's own addresses: listed ones, its egress, and the specific addresses its
    // relay listens on (clients' flows to the relay are not bypasses either).
    let mut nets: Vec<ipnet::IpNet> = Vec::new();
    for entry in &s.allow {
        let net = entry
            .parse::<ipnet::IpNet>()
            .ok()
            .or_else(|| entry.parse::<IpAddr>().ok().map(ipnet::IpNet::from))
            .ok_or_else(|| UsageError(format!("sensor.allow: {entry:?} is not an address")))?;
        nets.push(net);
    }
    let relay_ips = config
        .relay
        .listen
        .iter()
        .map(std::net::SocketAddr::ip)
        .filter(|ip| !ip.is_unspecified());
    nets.extend(
        config
            .upstream
            .egress
            .iter()
            .copied()
            .chain(relay_ips)
            .map(ipnet::IpNet::from),
    );
    let tls_names = if s.tls_names.is_empty() {
        NameSet::from_config(config.dns.builtin_names, &config.dns.names)
    } else {
        NameSet::from_config(false, &s.tls_names)
    }
    .map_err(|e| UsageError(format!("sensor TLS names: {e}")))?;
    Ok(Some(SensorSettings {
        interface: interface.to_owned(),
        node: config
            .archive
            .node
            .clone()
            .unwrap_or_else(archive::host_name),
        allow: AllowList::new(nets),
        tls_names,
        passive: s.passive,
        max_flows: s.max_flows,
        flow_buffer: s.flow_buffer,
        flow_idle: std::time::Duration::from_secs(s.flow_idle_secs),
    }))
}

/// Starts the sensor for a gateway that owns `archive`, if `sensor.interface` is set.
pub(crate) fn start_in_gateway(
    config: &Config,
    archive: &Archive,
) -> Result<Option<SensorHandle>, Box<dyn std::error::Error + Send + Sync>> {
    let Some(settings) = settings(config, None)? else {
        return Ok(None);
    };
    log_allow(&settings);
    Ok(Some(sensor::start(
        settings,
        config.sensor.socket_buffer,
        archive.clone(),
    )?))
}

fn log_allow(settings: &SensorSettings) {
    let allow: Vec<String> = settings
        .allow
        .nets()
        .iter()
        .map(ToString::to_string)
        .collect();
    if allow.is_empty() {
        tracing::warn!(
            "sensor: no gateway address is allow-listed (sensor.allow, upstream.egress): the gateway's own upstream connections would count as bypasses"
        );
    } else {
        tracing::info!(allow = ?allow, "sensor: flows from or to these addresses are the gateway's");
    }
}

/// `imtegrity sensor`: the sensor alone, owning the archive, until SIGINT or SIGTERM.
pub(crate) async fn run(args: &SensorArgs, json: bool) -> crate::CmdResult {
    let config = crate::run_cmd::load_config(args.config.as_deref(), &args.overrides)?;
    let Some(settings) = settings(&config, args.interface.as_deref())? else {
        return Err(UsageError(
            "no interface to capture on: give --interface IF or set sensor.interface".into(),
        )
        .into());
    };
    log_allow(&settings);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let dir = config
        .archive
        .path
        .clone()
        .unwrap_or_else(crate::archive_access::default_dir);
    let archive = match Archive::open(
        &dir,
        ArchiveOptions {
            node: Some(settings.node.clone()),
            key: config.archive.signing_key.clone(),
            ..ArchiveOptions::default()
        },
    ) {
        Ok(a) => {
            crate::signing_key_notice::announce(&a);
            a
        }
        Err(ArchiveError::Locked { dir }) => {
            return Err(UsageError(format!(
                "the archive at {} is owned by another process (a running gateway?): set sensor.interface in that gateway's configuration so it runs the sensor itself, or give this sensor an archive of its own (archive.path)",
                dir.display()
            ))
            .into());
        }
        Err(e) => return Err(e.into()),
    };
    let interface = settings.interface.clone();
    let handle = sensor::start(settings, config.sensor.socket_buffer, archive.clone())?;
    let admin = archive::admin::bind(&dir)?;
    let stats = handle.stats();
    let (status_interface, started) = (interface.clone(), archive::now_ns());
    let owner: archive::admin::OwnerStatus = std::sync::Arc::new(move || {
        json!({
            "role": "sensor",
            "pid": std::process::id(),
            "started_ns": started,
            "sensor": {"interface": status_interface, "running": true, "stats": stats.snapshot()},
        })
    });
    let admin_task = tokio::spawn(archive::admin::serve_with_status(
        archive.clone(),
        admin,
        owner,
    ));
    emit(
        json,
        &format!(
            "imtegrity sensor capturing on {interface}\n  archive: {} (admin socket {})\nCtrl-C stops.",
            dir.display(),
            archive::admin::socket_path(&dir).display()
        ),
        &json!({"event": "running", "interface": interface, "archive": dir}),
    );
    let mut poll = tokio::time::interval(std::time::Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = poll.tick() => {
                if !handle.is_running() {
                    break; // the capture failed; stop() says why
                }
            }
        }
    }
    let stats = handle.stats();
    let result = tokio::task::spawn_blocking(move || handle.stop()).await?;
    admin_task.abort();
    let _ = std::fs::remove_file(archive::admin::socket_path(&dir));
    archive.sync().await?;
    let s = stats.snapshot();
    emit(
        json,
        &format!(
            "stopped: {} packets, {} flows, {} bypasses, {} passive records, {} dropped by the kernel",
            s.packets, s.flows_seen, s.bypasses, s.passive_records, s.kernel_drops
        ),
        &json!({"event": "stopped", "stats": s}),
    );
    result.map_err(Into::into)
}
