//! The lab's error type. A connection's error ends that connection only.

use std::net::SocketAddr;

/// Why a lab server or client operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// Binding a listener failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Connecting to a server failed.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// Where to.
        addr: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The stream could not be framed.
    #[error(transparent)]
    Flap(#[from] oscar::FlapError),
    /// A frame could not be decoded.
    #[error(transparent)]
    Decode(#[from] oscar::DecodeError),
    /// A frame could not be encoded.
    #[error(transparent)]
    Encode(#[from] oscar::EncodeError),
    /// The peer closed the connection.
    #[error("connection closed by peer{0}")]
    Closed(&'static str),
    /// The peer sent something the protocol does not allow at this point.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// The server refused the login.
    #[error("login refused with error code {code:#06x}")]
    LoginRefused {
        /// TLV 0x0008 error code.
        code: u16,
    },
    /// Waiting for something took too long.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
}
