//! The sensor: bypass detection and passive capture.
//!
//! DNS redirection alone does not stop a client pointed at another login server, at an IP
//! address, or at port 80. The sensor watches an interface (a firewall's mirror port, or the
//! gateway's egress interface), puts TCP streams back together in bounded memory, and
//! recognises OSCAR by its framing on any port and TLS to the AIM/ICQ names by the server
//! name in the ClientHello. Such a flow that is not the gateway's own is a bypass: it is
//! recorded in the archive (`bypass_alert`), logged and counted; and when it is in the
//! clear, its IMs are archived too, marked passive (they could not be blocked).
//!
//! What it does not do: block anything (that is the firewall's job), read TLS, reassemble
//! IPv6 fragments, or follow IPv6 extension headers. (IPv4 fragments reach it reassembled:
//! the kernel does that for the capture's fanout, `ring.rs`.)
//!
//! [`Sensor`] is the core without I/O (frames in, records out); [`start`] runs it on the
//! capture ([`Capture`]: `AF_PACKET` sockets with memory-mapped `TPACKET_V3` rings, no
//! libpcap; root or `CAP_NET_RAW`), one engine per capture thread, the kernel's fanout
//! splitting the traffic among them by flow, with a thread that appends their records to
//! the archive. `ring.rs` (the ring's setup, mapping and hand-over) and `kernel_stats.rs`
//! (one `getsockopt` for the kernel's drop count) are the crate's only `unsafe`; everything
//! else is safe code.

mod bypass;
mod capture;
mod capture_worker;
mod cookies;
mod engine;
mod error;
mod flow_table;
pub mod fuzzing;
mod kernel_stats;
mod name_wait;
pub mod oscar_detect;
pub mod packet;
mod passive;
pub mod reassembly;
mod ring;
mod ring_block;
mod ring_size;
pub mod sni;
mod stats;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use archive::{Archive, Event};

pub use bypass::{AllowList, Bypass, Transport};
pub use capture::{Capture, CaptureOptions, MAX_CAPTURE_THREADS, run as run_capture};
pub use engine::{Sensor, SensorSettings};
pub use error::SensorError;
pub use flow_table::{FlowKey, FlowTable, Way};
pub use stats::{SensorStats, StatsSnapshot};

/// Records waiting for the archive; past this, records are dropped (and counted) rather
/// than the capture stalling and the kernel dropping packets instead.
const ARCHIVE_QUEUE: usize = 16 * 1024;

/// A running sensor: its capture threads and its archive writer.
#[derive(Debug)]
pub struct SensorHandle {
    interface: String,
    threads: usize,
    stats: Arc<SensorStats>,
    stop: Arc<AtomicBool>,
    capture: Option<JoinHandle<Result<(), SensorError>>>,
    writer: Option<JoinHandle<()>>,
}

/// Opens the capture on `settings.interface` as `capture` says and starts the sensor, its
/// records going to `archive` (each append durable before the next). Fails, before any
/// thread starts, when the interface does not exist or the process may not capture.
pub fn start(
    settings: SensorSettings,
    capture: CaptureOptions,
    archive: Archive,
) -> Result<SensorHandle, SensorError> {
    let capture = Capture::open(&settings.interface, capture)?;
    let (threads, ring_bytes) = (capture.threads(), capture.ring_bytes());
    let stats = Arc::new(SensorStats::default());
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::sync_channel::<Event>(ARCHIVE_QUEUE);
    let interface = settings.interface.clone();
    let writer_stats = Arc::clone(&stats);
    let writer = std::thread::Builder::new()
        .name("sensor-archive".into())
        .spawn(move || {
            for event in rx {
                if let Err(error) = archive.append_blocking(event) {
                    SensorStats::bump(&writer_stats.records_lost);
                    tracing::error!(%error, "the sensor could not archive a record");
                }
            }
        })
        .map_err(|source| SensorError::Thread {
            what: "archive",
            source,
        })?;
    let capture_stats = Arc::clone(&stats);
    let capture_stop = Arc::clone(&stop);
    let span = tracing::info_span!("sensor", interface = %interface);
    let capture = std::thread::Builder::new()
        .name("sensor-capture".into())
        .spawn(move || {
            let _entered = span.enter();
            let result = capture::run(capture, settings, capture_stats, &tx, &capture_stop);
            if let Err(error) = &result {
                tracing::error!(%error, "the sensor stopped");
            }
            result
        })
        .map_err(|source| SensorError::Thread {
            what: "capture",
            source,
        })?;
    tracing::info!(
        %interface,
        threads,
        ring_bytes,
        "sensor capturing (a ring per thread, one fanout group)"
    );
    Ok(SensorHandle {
        interface,
        threads,
        stats,
        stop,
        capture: Some(capture),
        writer: Some(writer),
    })
}

impl SensorHandle {
    /// The counters, live.
    pub fn stats(&self) -> Arc<SensorStats> {
        Arc::clone(&self.stats)
    }

    /// The interface captured.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// Capture threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Whether the capture is still running (every capture thread: when one fails, all
    /// stop).
    pub fn is_running(&self) -> bool {
        self.capture.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// What `imtegrity status` shows.
    pub fn status(&self) -> serde_json::Value {
        serde_json::json!({
            "interface": self.interface,
            "running": self.is_running(),
            "capture_threads": self.threads,
            "stats": self.stats.snapshot(),
        })
    }

    /// Stops capturing (within the read timeout), records what flows still owed, waits
    /// until every record is in the archive, and says how capture ended.
    pub fn stop(mut self) -> Result<(), SensorError> {
        self.stop.store(true, Ordering::SeqCst);
        let result = match self.capture.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(SensorError::Thread {
                what: "capture",
                source: std::io::Error::other("the capture thread panicked"),
            }),
            None => Ok(()),
        };
        // The capture thread dropped its sender: the writer drains and ends.
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
        result
    }
}

impl Drop for SensorHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}
