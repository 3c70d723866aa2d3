//! `[sensor]`: the passive sensor that watches a firewall mirror port or the egress
//! interface for AIM/ICQ traffic that does not go through the gateway, edited by the network
//! team.

use serde::{Deserialize, Serialize};

use super::ConfigError;
use crate::dns::NamePattern;

/// `[sensor]`: where the sensor captures, which addresses are the gateway's own, which TLS
/// names are AIM/ICQ, and the bounds of its flow table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SensorConfig {
    /// The network interface to capture on (a SPAN/mirror port, or the egress interface).
    /// `imtegrity run` starts the sensor when this is set; `imtegrity sensor` needs it here
    /// or as `--interface`. Default: unset, no sensor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// The gateway's own addresses (or subnets): a flow from or to one of them is the
    /// gateway's and never a bypass. `upstream.egress` and the specific addresses of
    /// `relay.listen` are always added. Default: empty.
    pub allow: Vec<String>,
    /// TLS server names (SNI) that count as AIM/ICQ, exact or `*.subtree`. Default: empty,
    /// meaning the names the DNS responder redirects (the built-in list plus `dns.names`).
    pub tls_names: Vec<String>,
    /// Decode and archive the IMs of unencrypted bypass flows (verdict `passive`).
    /// Default: true.
    pub passive: bool,
    /// Flows tracked at once, each capture thread tracking its share; past it the least
    /// recently active flow is dropped (and counted). Default: 65536.
    pub max_flows: usize,
    /// Bytes buffered per direction of a flow (data that arrived out of order, or the
    /// unfinished FLAP frame); past it the stream is resynchronised and the gap counted.
    /// Default: 65542 (one FLAP frame of the largest size). At least 1024.
    pub flow_buffer: usize,
    /// Seconds without a packet after which a flow is forgotten. Default: 300.
    pub flow_idle_secs: u64,
    /// Bytes of capture ring (memory the kernel writes captured packets into), shared
    /// equally among the capture threads, each at least 1 MiB; a larger one rides out
    /// bursts, and moments the host gives the capture threads no CPU, without drops.
    /// Default: 33554432 (32 MiB; with 8, other work on a busy 2-core host made the sensor
    /// drop at 600 000 packets/s, docs/performance.md).
    pub socket_buffer: usize,
    /// Capture threads: each reads a ring of its own, the kernel splitting the traffic
    /// among them by connection. 0: one per core, at most 4. Default: 0. At most
    /// [`Self::MAX_CAPTURE_THREADS`].
    pub capture_threads: usize,
}

impl SensorConfig {
    /// The most `capture_threads`: the kernel takes 256 sockets in a fanout group, and each
    /// thread also costs a ring and a flow table.
    pub const MAX_CAPTURE_THREADS: usize = 64;
}

impl Default for SensorConfig {
    fn default() -> Self {
        Self {
            interface: None,
            allow: Vec::new(),
            tls_names: Vec::new(),
            passive: true,
            max_flows: 65_536,
            flow_buffer: 65_542,
            flow_idle_secs: 300,
            socket_buffer: 32 * 1024 * 1024,
            capture_threads: 0,
        }
    }
}

/// The smallest `sensor.flow_buffer`: a login's first frames must fit.
const MIN_FLOW_BUFFER: usize = 1024;

/// `[sensor]`'s checks: interface name, allow-list entries, TLS names, bounds.
pub(super) fn check(sensor: &SensorConfig) -> Result<(), ConfigError> {
    if let Some(name) = &sensor.interface {
        // Linux interface names: 1 to 15 bytes, no '/', no whitespace (IFNAMSIZ - 1).
        if name.is_empty()
            || name.len() > 15
            || name.contains('/')
            || name.chars().any(char::is_whitespace)
        {
            return Err(ConfigError::invalid(
                "sensor.interface",
                format!("{name:?} is not an interface name (1 to 15 characters, no '/' or spaces)"),
            ));
        }
    }
    for (i, entry) in sensor.allow.iter().enumerate() {
        if super::validate::subnet(entry).is_none() {
            return Err(ConfigError::invalid(
                format!("sensor.allow[{i}]"),
                format!(
                    "{entry:?} is neither an address nor a subnet (like 192.0.2.10 or 192.0.2.0/28)"
                ),
            ));
        }
    }
    for (i, name) in sensor.tls_names.iter().enumerate() {
        NamePattern::parse(name)
            .map_err(|e| ConfigError::invalid(format!("sensor.tls_names[{i}]"), e))?;
    }
    if sensor.max_flows == 0 {
        return Err(ConfigError::invalid(
            "sensor.max_flows",
            "must be at least 1",
        ));
    }
    if sensor.flow_buffer < MIN_FLOW_BUFFER {
        return Err(ConfigError::invalid(
            "sensor.flow_buffer",
            format!("must be at least {MIN_FLOW_BUFFER} bytes: a login's first frames must fit"),
        ));
    }
    if sensor.capture_threads > SensorConfig::MAX_CAPTURE_THREADS {
        return Err(ConfigError::invalid(
            "sensor.capture_threads",
            format!(
                "{} is more than {} (0 means one per core, at most 4)",
                sensor.capture_threads,
                SensorConfig::MAX_CAPTURE_THREADS
            ),
        ));
    }
    if sensor.flow_idle_secs == 0 {
        return Err(ConfigError::invalid(
            "sensor.flow_idle_secs",
            "must be at least 1",
        ));
    }
    Ok(())
}
