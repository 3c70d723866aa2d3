//! Why the sensor could not start or stopped.

use std::io;

use crate::ring::SetupFailed;

/// The sensor's errors. Packets never cause one: what cannot be parsed is counted and
/// skipped.
#[derive(Debug, thiserror::Error)]
pub enum SensorError {
    /// No such interface.
    #[error("no network interface {name:?} here (there are: {available})")]
    NoInterface {
        /// The name asked for.
        name: String,
        /// The names that exist.
        available: String,
    },
    /// Capture needs privileges the process does not have.
    #[error(
        "capturing on {interface} needs root or the CAP_NET_RAW capability \
         (e.g. `setcap cap_net_raw+ep $(command -v imtegrity)`): {source}"
    )]
    Permission {
        /// The interface.
        interface: String,
        /// The operating system's answer.
        #[source]
        source: io::Error,
    },
    /// Opening or binding the capture socket failed otherwise.
    #[error("cannot capture on {interface}: {source}")]
    Socket {
        /// The interface.
        interface: String,
        /// The operating system's answer.
        #[source]
        source: io::Error,
    },
    /// Setting up a capture ring failed.
    #[error(
        "cannot set up capture on {interface} ({step}; rings of {ring_bytes} bytes, \
         sensor.socket_buffer shared among the capture threads): {source}"
    )]
    Setup {
        /// The interface.
        interface: String,
        /// The step that failed.
        step: &'static str,
        /// Bytes of each ring.
        ring_bytes: usize,
        /// The operating system's answer.
        #[source]
        source: io::Error,
    },
    /// Reading from the capture socket failed.
    #[error("capture on {interface} failed: {source}")]
    Capture {
        /// The interface.
        interface: String,
        /// The operating system's answer.
        #[source]
        source: io::Error,
    },
    /// A thread could not be started.
    #[error("cannot start the sensor's {what} thread: {source}")]
    Thread {
        /// Which thread.
        what: &'static str,
        /// Why.
        #[source]
        source: io::Error,
    },
}

impl SensorError {
    /// A capture ring of `ring_bytes` on `interface` that could not be set up: permission
    /// problems named as such.
    pub(crate) fn setup(interface: &str, ring_bytes: usize, failed: SetupFailed) -> Self {
        match Self::open(interface, failed.source) {
            Self::Socket { interface, source } => Self::Setup {
                interface,
                step: failed.step,
                ring_bytes,
                source,
            },
            other => other,
        }
    }

    /// An error opening the socket for `interface`: permission problems named as such.
    pub(crate) fn open(interface: &str, source: io::Error) -> Self {
        let interface = interface.to_owned();
        match source.kind() {
            io::ErrorKind::PermissionDenied => Self::Permission { interface, source },
            _ if source.raw_os_error() == Some(libc::EPERM) => {
                Self::Permission { interface, source }
            }
            _ => Self::Socket { interface, source },
        }
    }
}
