//! The capture: one socket with a memory-mapped ring per capture thread (`ring.rs`), all in
//! one fanout group on the interface, so the kernel splits the traffic among the threads by
//! flow; and the threads themselves (`capture_worker.rs`), each feeding an engine of its own.
//!
//! The kernel's fanout hash is symmetric (both directions of a connection go to the same
//! socket), so each flow is read, and reported, by one thread. A login and the BOS
//! connection that follows are two flows and may land on two threads: the engines share the
//! login cookies that tie them together (`engine.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;

use archive::Event;

use crate::capture_worker;
use crate::engine::{Sensor, SensorSettings};
use crate::error::SensorError;
use crate::kernel_stats;
use crate::ring::{Ring, SetupFailed};
use crate::ring_size::RingSize;
use crate::stats::SensorStats;

/// The most capture threads `threads = 0` picks: each reads far more packets a second than
/// a mirror port of IM traffic carries, and the gateway's own work needs the other cores.
const AUTO_THREADS_MAX: usize = 4;
/// The most capture threads at all: `sensor.capture_threads`' bound.
pub const MAX_CAPTURE_THREADS: usize = settings::SensorConfig::MAX_CAPTURE_THREADS;

/// How the capture is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureOptions {
    /// Bytes of ring, shared equally among the threads (`sensor.socket_buffer`); each ring
    /// is at least 1 MiB and at most 2 GiB.
    pub ring_bytes: usize,
    /// Capture threads, each with a ring and an engine of its own (`sensor.capture_threads`);
    /// 0: one per core, at most 4.
    pub threads: usize,
}

impl CaptureOptions {
    /// The number of threads these options give on this machine.
    pub fn thread_count(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism()
                .map_or(1, usize::from)
                .min(AUTO_THREADS_MAX),
            n => n.min(MAX_CAPTURE_THREADS),
        }
    }
}

/// The open capture on one interface: a ring per thread, in one fanout group, receiving.
#[derive(Debug)]
pub struct Capture {
    interface: String,
    rings: Vec<Ring>,
    ring_bytes: usize,
}

impl Capture {
    /// Opens a promiscuous capture of every frame on `interface`, split among
    /// `options.thread_count()` rings. Needs root or `CAP_NET_RAW`. Once this returns, the
    /// rings fill; [`run`] reads them.
    pub fn open(interface: &str, options: CaptureOptions) -> Result<Self, SensorError> {
        let all = pnet_datalink::interfaces();
        let Some(nic) = all.iter().find(|i| i.name == interface) else {
            let mut names: Vec<&str> = all.iter().map(|i| i.name.as_str()).collect();
            names.sort_unstable();
            return Err(SensorError::NoInterface {
                name: interface.to_owned(),
                available: names.join(", "),
            });
        };
        let threads = options.thread_count();
        let size = RingSize::share(options.ring_bytes, threads);
        let setup = |failed: SetupFailed| SensorError::setup(interface, size.bytes(), failed);
        let mut rings = Vec::with_capacity(threads);
        let mut group = None;
        for _ in 0..threads {
            let ring = Ring::open(nic.index, size).map_err(setup)?;
            group = Some(ring.join_fanout(group).map_err(setup)?);
            rings.push(ring);
        }
        // The group is whole: from here on each packet goes to exactly one ring.
        for ring in &rings {
            ring.start().map_err(setup)?;
            // Counted so far: nothing (every packet was filtered); start the counts at zero.
            let _ = kernel_stats::read(ring.fd());
        }
        Ok(Self {
            interface: interface.to_owned(),
            rings,
            ring_bytes: size.bytes(),
        })
    }

    /// The interface captured.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// Capture threads (rings).
    pub fn threads(&self) -> usize {
        self.rings.len()
    }

    /// Bytes of each ring.
    pub fn ring_bytes(&self) -> usize {
        self.ring_bytes
    }

    /// The rings, for tests that read them directly.
    #[cfg(test)]
    pub(crate) fn into_rings(self) -> Vec<Ring> {
        self.rings
    }
}

/// Reads `capture` until `stop` is set, one thread per ring, each with its own engine made
/// from `settings` (their flow tables share `settings.max_flows`, their counters are
/// `stats`), their records going to `sink` (never blocking on it: a full sink loses the
/// record, counted). When one thread fails, the others stop too (a fanout group that loses
/// a member moves flows between the rest), and the first error is returned.
/// [`start`](crate::start) runs this on a thread of its own; the benchmark runs it with a
/// sink that only counts.
pub fn run(
    capture: Capture,
    settings: SensorSettings,
    stats: Arc<SensorStats>,
    sink: &SyncSender<Event>,
    stop: &AtomicBool,
) -> Result<(), SensorError> {
    let Capture {
        interface, rings, ..
    } = capture;
    let sensors = Sensor::group(settings, stats, rings.len());
    let span = tracing::Span::current();
    std::thread::scope(|scope| {
        let mut workers = Vec::new();
        let mut result = Ok(());
        for (i, (ring, sensor)) in rings.into_iter().zip(sensors).enumerate() {
            let (span, interface, sink) = (span.clone(), interface.as_str(), sink.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("sensor-capture-{i}"))
                .spawn_scoped(scope, move || {
                    let _entered = span.enter();
                    let _guard = StopOnPanic(stop);
                    let result = capture_worker::run(ring, sensor, interface, &sink, stop);
                    if let Err(error) = &result {
                        tracing::error!(%error, "a capture thread stopped; stopping the others");
                        stop.store(true, Ordering::SeqCst);
                    }
                    result
                });
            match spawned {
                Ok(worker) => workers.push(worker),
                Err(source) => {
                    stop.store(true, Ordering::SeqCst);
                    result = Err(SensorError::Thread {
                        what: "capture",
                        source,
                    });
                    break;
                }
            }
        }
        for worker in workers {
            let ended = worker.join().unwrap_or_else(|_| {
                Err(SensorError::Thread {
                    what: "capture",
                    source: std::io::Error::other("a capture thread panicked"),
                })
            });
            if result.is_ok() {
                result = ended;
            }
        }
        result
    })
}

/// Stops the other capture threads when this one panics (they would otherwise read on,
/// and `run` wait for them, until the sensor is stopped).
struct StopOnPanic<'a>(&'a AtomicBool);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests;
