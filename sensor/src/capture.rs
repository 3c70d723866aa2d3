//! The capture socket and the thread that reads it: pnet's datalink channel on a socket the
//! sensor makes itself (an `AF_PACKET` raw socket, no libpcap), so that the kernel's drop
//! counter can be read from it (`kernel_stats.rs`).

use std::io;
use std::os::fd::{AsFd, IntoRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::{Duration, Instant};

use archive::Event;
use pnet_datalink::{Channel, DataLinkReceiver};
use rustix::net::{AddressFamily, SocketType, eth};

use crate::engine::Sensor;
use crate::error::SensorError;
use crate::kernel_stats;
use crate::stats::SensorStats;

/// How long a read waits before the loop looks at the clock and the stop flag.
const READ_TIMEOUT: Duration = Duration::from_millis(100);
/// How often flows are expired and kernel counters read.
const TICK: Duration = Duration::from_millis(200);
/// Large enough for a GRO/TSO super-frame (veth and many NICs hand 64 KiB segments to
/// packet sockets).
const READ_BUFFER: usize = 64 * 1024 + 256;

/// An open capture socket on one interface.
pub struct CaptureSocket {
    interface: String,
    /// The socket itself, kept to read its kernel counters; pnet owns a duplicate.
    fd: OwnedFd,
    rx: Box<dyn DataLinkReceiver>,
}

impl std::fmt::Debug for CaptureSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureSocket")
            .field("interface", &self.interface)
            .finish_non_exhaustive()
    }
}

impl CaptureSocket {
    /// Opens a promiscuous capture of every frame on `interface` with a kernel buffer of
    /// `socket_buffer` bytes. Needs root or `CAP_NET_RAW`.
    pub fn open(interface: &str, socket_buffer: usize) -> Result<Self, SensorError> {
        let all = pnet_datalink::interfaces();
        let Some(nic) = all.iter().find(|i| i.name == interface) else {
            let mut names: Vec<&str> = all.iter().map(|i| i.name.as_str()).collect();
            names.sort_unstable();
            return Err(SensorError::NoInterface {
                name: interface.to_owned(),
                available: names.join(", "),
            });
        };
        let fd = rustix::net::socket(AddressFamily::PACKET, SocketType::RAW, Some(eth::ALL))
            .map_err(|e| SensorError::open(interface, io::Error::from(e)))?;
        // Above net.core.rmem_max needs CAP_NET_ADMIN (root has it); else take what the
        // system allows.
        if rustix::net::sockopt::set_socket_recv_buffer_size_force(&fd, socket_buffer).is_err() {
            let _ = rustix::net::sockopt::set_socket_recv_buffer_size(&fd, socket_buffer);
        }
        let pnet_fd =
            rustix::io::dup(&fd).map_err(|e| SensorError::open(interface, io::Error::from(e)))?;
        let config = pnet_datalink::Config {
            read_buffer_size: READ_BUFFER,
            read_timeout: Some(READ_TIMEOUT),
            promiscuous: true,
            socket_fd: Some(pnet_fd.into_raw_fd()),
            ..pnet_datalink::Config::default()
        };
        let rx = match pnet_datalink::channel(nic, config) {
            Ok(Channel::Ethernet(_tx, rx)) => rx,
            Ok(_) => {
                return Err(SensorError::Socket {
                    interface: interface.to_owned(),
                    source: io::Error::other("pnet returned a non-Ethernet channel"),
                });
            }
            Err(e) => return Err(SensorError::open(interface, e)),
        };
        // Whatever was counted before the bind (frames of other interfaces) is not ours.
        let _ = kernel_stats::read(fd.as_fd());
        Ok(Self {
            interface: interface.to_owned(),
            fd,
            rx,
        })
    }

    /// The interface captured.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// Adds the kernel's counts since the last call to `stats`.
    fn account(&self, stats: &SensorStats) {
        match kernel_stats::read(self.fd.as_fd()) {
            Ok(k) => {
                stats.kernel_packets.fetch_add(k.packets, Ordering::Relaxed);
                stats.kernel_drops.fetch_add(k.drops, Ordering::Relaxed);
                if k.drops > 0 {
                    tracing::warn!(
                        dropped = k.drops,
                        "the kernel dropped captured packets: the sensor fell behind"
                    );
                }
            }
            Err(e) => tracing::debug!(error = %e, "PACKET_STATISTICS unreadable"),
        }
    }
}

/// Reads frames until `stop` is set, feeding `sensor` and sending its records to `sink`
/// (never blocking on it: a full sink loses the record, counted). [`start`](crate::start)
/// runs this on a thread of its own; the benchmark runs it with a sink that only counts.
pub fn run(
    mut socket: CaptureSocket,
    mut sensor: Sensor,
    sink: &SyncSender<Event>,
    stop: &AtomicBool,
) -> Result<(), SensorError> {
    let stats = Arc::clone(sensor.stats());
    let mut out = Vec::new();
    let mut last_tick = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        match socket.rx.next() {
            Ok(frame) => sensor.on_frame(frame, Instant::now(), &mut out),
            Err(e)
                if e.kind() == io::ErrorKind::TimedOut
                    || e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(source) => {
                socket.account(&stats);
                return Err(SensorError::Capture {
                    interface: socket.interface.clone(),
                    source,
                });
            }
        }
        let now = Instant::now();
        if now.saturating_duration_since(last_tick) >= TICK {
            sensor.tick(now, &mut out);
            socket.account(&stats);
            last_tick = now;
        }
        for event in out.drain(..) {
            if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = sink.try_send(event)
            {
                SensorStats::bump(&stats.records_lost);
            }
        }
    }
    let mut tail = Vec::new();
    sensor.tick(Instant::now() + Duration::from_secs(24 * 3600), &mut tail);
    for event in tail {
        if sink.try_send(event).is_err() {
            SensorStats::bump(&stats.records_lost);
        }
    }
    socket.account(&stats);
    Ok(())
}
