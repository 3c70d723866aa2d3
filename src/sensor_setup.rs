//! `[sensor]` to the sensor crate's settings, and the sensor started inside `imtegrity run`
//! when `sensor.interface` is set (`imtegrity sensor` starts it alone from the same
//! settings). Wiring, not a command: the gateway uses it.

use std::net::IpAddr;

use archive::Archive;
use sensor::{AllowList, CaptureOptions, SensorHandle, SensorSettings};
use settings::Config;
use settings::dns::NameSet;

use crate::exit::UsageError;

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

/// How the capture is laid out: `sensor.socket_buffer` bytes of ring among
/// `sensor.capture_threads` threads.
pub(crate) fn capture_options(config: &Config) -> CaptureOptions {
    CaptureOptions {
        ring_bytes: config.sensor.socket_buffer,
        threads: config.sensor.capture_threads,
    }
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
        capture_options(config),
        archive.clone(),
    )?))
}

/// Says which addresses count as the gateway's own (or warns that none do).
pub(crate) fn log_allow(settings: &SensorSettings) {
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
