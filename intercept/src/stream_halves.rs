//! A session leg's connection, plain or TLS, split into halves the session reads and
//! writes independently. Plain TCP keeps tokio's lock-free owned halves; TLS goes through
//! `tokio::io::split`, since a TLS stream cannot be split otherwise.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_rustls::client::TlsStream as UpstreamTlsStream;
use tokio_rustls::server::TlsStream;

use crate::prefixed_io::PrefixedIo;

/// A client's TLS stream, with the bytes read to tell HTTP from OSCAR put back.
pub(crate) type ClientTlsStream = PrefixedIo<TlsStream<TcpStream>>;

/// The first byte of a TLS record carrying a handshake (the ClientHello).
const TLS_HANDSHAKE: u8 = 0x16;
/// How long to wait for a client's first byte before taking it for a plain OSCAR client
/// that waits for the server's hello (TLS clients always speak first).
const SNIFF_WAIT: Duration = Duration::from_millis(300);

/// What the client's first bytes say it speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wire {
    /// FLAP, or nothing yet.
    Plain,
    /// A TLS ClientHello.
    Tls,
}

/// Looks at the client's first byte without consuming it.
pub(crate) async fn sniff(client: &TcpStream) -> Wire {
    let mut first = [0u8; 1];
    match tokio::time::timeout(SNIFF_WAIT, client.peek(&mut first)).await {
        Ok(Ok(1)) if first[0] == TLS_HANDSHAKE => Wire::Tls,
        _ => Wire::Plain,
    }
}

/// What the client sent first inside TLS.
pub(crate) enum Inner {
    /// Bytes that do not start a FLAP frame: an HTTP request (the login API).
    Http(Bytes),
    /// A FLAP frame's start, or nothing within the wait (a client waiting for the hello).
    Oscar(Bytes),
    /// The client closed without a byte.
    Closed,
}

/// The first byte of every FLAP frame.
const FLAP_MARKER: u8 = b'*';

/// Reads what the client sends first inside TLS, waiting at most the sniff time.
pub(crate) async fn first_inner_bytes(stream: &mut TlsStream<TcpStream>) -> io::Result<Inner> {
    let mut buf = BytesMut::with_capacity(4096);
    match tokio::time::timeout(SNIFF_WAIT, stream.read_buf(&mut buf)).await {
        Err(_) => Ok(Inner::Oscar(Bytes::new())),
        Ok(Ok(0)) => Ok(Inner::Closed),
        Ok(Ok(_)) if buf[0] == FLAP_MARKER => Ok(Inner::Oscar(buf.freeze())),
        Ok(Ok(_)) => Ok(Inner::Http(buf.freeze())),
        Ok(Err(e)) => Err(e),
    }
}

/// Completes the TLS handshake with `config` (the gateway CA's leaf for the SNI name).
pub(crate) async fn accept_tls(
    client: TcpStream,
    config: Arc<rustls::ServerConfig>,
    timeout: Duration,
) -> io::Result<TlsStream<TcpStream>> {
    tokio::time::timeout(
        timeout,
        tokio_rustls::TlsAcceptor::from(config).accept(client),
    )
    .await
    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))?
}

/// The reading half.
pub(crate) enum StreamRead {
    Plain(OwnedReadHalf),
    /// TLS the gateway terminates (client leg).
    Tls(ReadHalf<ClientTlsStream>),
    /// TLS the gateway originates (upstream leg).
    Upstream(ReadHalf<UpstreamTlsStream<TcpStream>>),
}

/// The writing half.
pub(crate) enum StreamWrite {
    Plain(OwnedWriteHalf),
    /// TLS the gateway terminates (client leg).
    Tls(WriteHalf<ClientTlsStream>),
    /// TLS the gateway originates (upstream leg).
    Upstream(WriteHalf<UpstreamTlsStream<TcpStream>>),
}

/// Splits a plain connection.
pub(crate) fn split_plain(stream: TcpStream) -> (StreamRead, StreamWrite) {
    let (r, w) = stream.into_split();
    (StreamRead::Plain(r), StreamWrite::Plain(w))
}

/// Splits a TLS connection from a client.
pub(crate) fn split_tls(stream: ClientTlsStream) -> (StreamRead, StreamWrite) {
    let (r, w) = tokio::io::split(stream);
    (StreamRead::Tls(r), StreamWrite::Tls(w))
}

/// Splits a TLS connection to an upstream.
pub(crate) fn split_upstream_tls(
    stream: UpstreamTlsStream<TcpStream>,
) -> (StreamRead, StreamWrite) {
    let (r, w) = tokio::io::split(stream);
    (StreamRead::Upstream(r), StreamWrite::Upstream(w))
}

impl StreamRead {
    /// The socket of a plain half, whose readiness can be waited for without a buffer; TLS
    /// has none (rustls decides when bytes are readable).
    pub(crate) fn plain_socket(&self) -> Option<&TcpStream> {
        match self {
            Self::Plain(r) => Some(r.as_ref()),
            Self::Tls(_) | Self::Upstream(_) => None,
        }
    }
}

impl AsyncRead for StreamRead {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(r) => Pin::new(r).poll_read(cx, buf),
            Self::Tls(r) => Pin::new(r).poll_read(cx, buf),
            Self::Upstream(r) => Pin::new(r).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for StreamWrite {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(w) => Pin::new(w).poll_write(cx, buf),
            Self::Tls(w) => Pin::new(w).poll_write(cx, buf),
            Self::Upstream(w) => Pin::new(w).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(w) => Pin::new(w).poll_write_vectored(cx, bufs),
            Self::Tls(w) => Pin::new(w).poll_write_vectored(cx, bufs),
            Self::Upstream(w) => Pin::new(w).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(w) => w.is_write_vectored(),
            Self::Tls(w) => w.is_write_vectored(),
            Self::Upstream(w) => w.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(w) => Pin::new(w).poll_flush(cx),
            Self::Tls(w) => Pin::new(w).poll_flush(cx),
            Self::Upstream(w) => Pin::new(w).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(w) => Pin::new(w).poll_shutdown(cx),
            Self::Tls(w) => Pin::new(w).poll_shutdown(cx),
            Self::Upstream(w) => Pin::new(w).poll_shutdown(cx),
        }
    }
}

impl From<OwnedReadHalf> for StreamRead {
    fn from(r: OwnedReadHalf) -> Self {
        Self::Plain(r)
    }
}

impl From<OwnedWriteHalf> for StreamWrite {
    fn from(w: OwnedWriteHalf) -> Self {
        Self::Plain(w)
    }
}
