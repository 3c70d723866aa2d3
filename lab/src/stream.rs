//! The byte streams the lab serves and dials: plain TCP or TLS, behind one boxed type, so
//! the authorizer, BOS and chat code is the same over both.

use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncWrite};

/// Anything the lab can speak OSCAR or HTTP over: a `TcpStream`, a TLS stream over one, or
/// an in-memory duplex in a test.
pub(crate) trait LabStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> LabStream for T {}

/// A connection of either kind, boxed so services need not be generic over it.
pub(crate) type BoxStream = Box<dyn LabStream>;

/// One accepted connection, handshake done, ready for a service.
pub(crate) struct Accepted {
    /// The bytes, plain or decrypted.
    pub(crate) stream: BoxStream,
    /// The client's address, for logs.
    pub(crate) peer: SocketAddr,
    /// Whether it arrived on a TLS listener: the authorizer then points at the TLS BOS, and a
    /// BOS session migrates to it.
    pub(crate) tls: bool,
}

impl std::fmt::Debug for Accepted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accepted")
            .field("peer", &self.peer)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}
