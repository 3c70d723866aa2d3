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
    /// The lab CA or a leaf could not be made.
    #[error("lab CA: {0}")]
    Certs(#[from] certs::CertError),
    /// A TLS configuration could not be built (or a CA PEM had no certificate).
    #[error("TLS configuration: {0}")]
    TlsConfig(#[from] rustls::Error),
    /// A name cannot be sent as SNI / checked against a certificate.
    #[error("invalid TLS server name {0:?}")]
    TlsName(String),
    /// The TLS handshake with a server failed (certificate not trusted, name mismatch, ...).
    #[error("TLS handshake with {addr} as {name:?} failed: {source}")]
    Handshake {
        /// Where to.
        addr: String,
        /// The name sent as SNI and checked against the certificate.
        name: String,
        /// What rustls said.
        #[source]
        source: std::io::Error,
    },
    /// A client's TLS handshake with a lab listener failed (it does not trust the lab CA,
    /// asked for a name outside it, or is not speaking TLS).
    #[error("TLS handshake with the client failed: {0}")]
    AcceptTls(#[source] std::io::Error),
    /// An HTTP exchange with the API failed below the application level.
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    /// The HTTP API answered something the client cannot read.
    #[error("unreadable API response: {0}")]
    ApiResponse(String),
    /// The HTTP API refused the request (its `statusCode` is not 200).
    #[error("API refused with statusCode {status_code} (detail {detail:?}): {text}")]
    ApiRefused {
        /// `statusCode`, e.g. 330 for a bad password, 401 for a bad signature.
        status_code: u32,
        /// `statusDetailCode`, e.g. 3011 for a bad password.
        detail: Option<u32>,
        /// `statusText`.
        text: String,
    },
}
