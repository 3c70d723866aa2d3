//! The sensor's counters, shared with `imtegrity status` (read while the capture thread
//! writes them; each is a relaxed atomic).

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Counters since the sensor started.
#[derive(Debug, Default)]
pub struct SensorStats {
    /// Frames read from the capture socket.
    pub packets: AtomicU64,
    /// Bytes of those frames.
    pub bytes: AtomicU64,
    /// TCP flows seen (each connection once).
    pub flows_seen: AtomicU64,
    /// Flows tracked now.
    pub flows_active: AtomicU64,
    /// Flows recognised as OSCAR (by framing, any port).
    pub oscar_flows: AtomicU64,
    /// Flows recognised as TLS to an AIM/ICQ name.
    pub tls_flows: AtomicU64,
    /// OSCAR or AIM/ICQ TLS flows from or to the gateway's own addresses.
    pub gateway_flows: AtomicU64,
    /// Flows that went around the gateway.
    pub bypasses: AtomicU64,
    /// IMs archived from bypass flows (verdict passive).
    pub passive_records: AtomicU64,
    /// Records (alerts, passive IMs) the archive could not take, or that were dropped
    /// because the archive writer fell behind.
    pub records_lost: AtomicU64,
    /// Holes in a stream that never filled (the stream skipped ahead).
    pub gaps: AtomicU64,
    /// Flows dropped because the table was full.
    pub flows_evicted: AtomicU64,
    /// Frames that were not TCP over IP, or were malformed.
    pub not_tcp: AtomicU64,
    /// Packets the kernel dropped because the sensor did not read fast enough
    /// (`PACKET_STATISTICS`).
    pub kernel_drops: AtomicU64,
    /// Packets the kernel handed to the capture socket (`PACKET_STATISTICS`).
    pub kernel_packets: AtomicU64,
}

/// A snapshot for `status` and logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StatsSnapshot {
    /// See [`SensorStats::packets`].
    pub packets: u64,
    /// See [`SensorStats::bytes`].
    pub bytes: u64,
    /// See [`SensorStats::flows_seen`].
    pub flows_seen: u64,
    /// See [`SensorStats::flows_active`].
    pub flows_active: u64,
    /// See [`SensorStats::oscar_flows`].
    pub oscar_flows: u64,
    /// See [`SensorStats::tls_flows`].
    pub tls_flows: u64,
    /// See [`SensorStats::gateway_flows`].
    pub gateway_flows: u64,
    /// See [`SensorStats::bypasses`].
    pub bypasses: u64,
    /// See [`SensorStats::passive_records`].
    pub passive_records: u64,
    /// See [`SensorStats::records_lost`].
    pub records_lost: u64,
    /// See [`SensorStats::gaps`].
    pub gaps: u64,
    /// See [`SensorStats::flows_evicted`].
    pub flows_evicted: u64,
    /// See [`SensorStats::not_tcp`].
    pub not_tcp: u64,
    /// See [`SensorStats::kernel_drops`].
    pub kernel_drops: u64,
    /// See [`SensorStats::kernel_packets`].
    pub kernel_packets: u64,
}

impl SensorStats {
    /// Adds one to `counter`.
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Every counter, read now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            packets: l(&self.packets),
            bytes: l(&self.bytes),
            flows_seen: l(&self.flows_seen),
            flows_active: l(&self.flows_active),
            oscar_flows: l(&self.oscar_flows),
            tls_flows: l(&self.tls_flows),
            gateway_flows: l(&self.gateway_flows),
            bypasses: l(&self.bypasses),
            passive_records: l(&self.passive_records),
            records_lost: l(&self.records_lost),
            gaps: l(&self.gaps),
            flows_evicted: l(&self.flows_evicted),
            not_tcp: l(&self.not_tcp),
            kernel_drops: l(&self.kernel_drops),
            kernel_packets: l(&self.kernel_packets),
        }
    }
}
