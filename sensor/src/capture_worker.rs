//! One capture thread: the blocks of its ring through its engine, the records to the sink,
//! the flows expired and the kernel's counts taken on a tick.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::{Duration, Instant};

use archive::Event;

use crate::engine::Sensor;
use crate::error::SensorError;
use crate::kernel_stats;
use crate::ring::Ring;
use crate::ring_block;
use crate::stats::SensorStats;

/// How long a wait for a block lasts before the loop looks at the clock and the stop flag.
const READ_TIMEOUT: Duration = Duration::from_millis(100);
/// How often flows are expired and kernel counters read.
const TICK: Duration = Duration::from_millis(200);

/// Reads `ring` into `sensor` until `stop` is set (checked before each block: once it is
/// set, nothing more is read, so no flow moved by a shrinking fanout group is half-read),
/// then records what the flows still owe.
pub(crate) fn run(
    mut ring: Ring,
    mut sensor: Sensor,
    interface: &str,
    sink: &SyncSender<Event>,
    stop: &AtomicBool,
) -> Result<(), SensorError> {
    let stats = Arc::clone(sensor.stats());
    let mut out = Vec::new();
    let mut last_tick = Instant::now();
    let mut broken_blocks = 0u64;
    while !stop.load(Ordering::SeqCst) {
        if let Some(block) = ring.next_block() {
            // One clock read per block: a block spans at most the kernel's block timeout.
            let now = Instant::now();
            let mut frames = ring_block::frames(block.bytes());
            sensor.on_frames(frames.by_ref(), now, &mut out);
            if frames.broken() {
                broken_blocks += 1;
                if broken_blocks.is_power_of_two() {
                    tracing::warn!(
                        blocks = broken_blocks,
                        "a capture block did not add up; its remaining frames were skipped"
                    );
                }
            }
        } else if ring
            .wait(READ_TIMEOUT)
            .map_err(|e| capture_failed(interface, e))?
        {
            // The socket reports an error (the interface went down, say).
            let source = match rustix::net::sockopt::socket_error(ring.fd()) {
                Ok(Err(errno)) => io::Error::from(errno),
                Ok(Ok(())) => io::Error::other("the capture socket reported an error"),
                Err(e) => io::Error::from(e),
            };
            account(&ring, &stats);
            return Err(capture_failed(interface, source));
        }
        let now = Instant::now();
        if now.saturating_duration_since(last_tick) >= TICK {
            sensor.tick(now, &mut out);
            account(&ring, &stats);
            last_tick = now;
        }
        send(&mut out, sink, &stats);
    }
    sensor.tick(Instant::now() + Duration::from_secs(24 * 3600), &mut out);
    send(&mut out, sink, &stats);
    account(&ring, &stats);
    Ok(())
}

fn capture_failed(interface: &str, source: io::Error) -> SensorError {
    SensorError::Capture {
        interface: interface.to_owned(),
        source,
    }
}

/// Sends the records in `out` to `sink` without waiting; one it cannot take is counted.
fn send(out: &mut Vec<Event>, sink: &SyncSender<Event>, stats: &SensorStats) {
    for event in out.drain(..) {
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = sink.try_send(event) {
            SensorStats::bump(&stats.records_lost);
        }
    }
}

/// Adds the kernel's counts for this thread's ring since the last call to `stats`, which
/// every thread adds to: the sensor's figures are the sum over its rings.
fn account(ring: &Ring, stats: &SensorStats) {
    match kernel_stats::read(ring.fd()) {
        Ok(k) => {
            stats.kernel_packets.fetch_add(k.packets, Ordering::Relaxed);
            stats.kernel_drops.fetch_add(k.drops, Ordering::Relaxed);
            if k.drops > 0 {
                tracing::warn!(
                    dropped = k.drops,
                    ring_full = k.ring_full,
                    "the kernel dropped captured packets: the sensor fell behind"
                );
            }
        }
        Err(e) => tracing::debug!(error = %e, "PACKET_STATISTICS unreadable"),
    }
}
