//! Upstream TCP connections that close themselves when idle. hickory's resolver keeps a
//! TCP (or TLS) connection to an upstream open for as long as the process runs; a
//! single-threaded resolver (dnsmasq, a small appliance) serves one connection at a time,
//! so one held idle connection blocks every other client of that resolver. This runtime
//! provider is tokio's, except that its TCP streams end (read as end of stream, which
//! hickory treats as the peer closing) once nothing was read or written for the idle time;
//! the stream is then dropped, closing the socket, and the next query opens a new one.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hickory_server::net::runtime::iocompat::AsyncIoTokioAsStd;
use hickory_server::net::runtime::{RuntimeProvider, TokioHandle, TokioRuntimeProvider, TokioTime};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// Tokio's runtime provider with idle-closing TCP streams.
#[derive(Clone)]
pub(crate) struct IdleClosing {
    inner: TokioRuntimeProvider,
    idle: Duration,
}

impl IdleClosing {
    /// Streams close after `idle` without traffic.
    pub(crate) fn new(idle: Duration) -> Self {
        Self {
            inner: TokioRuntimeProvider::default(),
            idle,
        }
    }
}

impl RuntimeProvider for IdleClosing {
    type Handle = TokioHandle;
    type Timer = TokioTime;
    type Udp = tokio::net::UdpSocket;
    type Tcp = AsyncIoTokioAsStd<IdleStream>;

    fn create_handle(&self) -> Self::Handle {
        self.inner.create_handle()
    }

    fn connect_tcp(
        &self,
        server_addr: SocketAddr,
        bind_addr: Option<SocketAddr>,
        timeout: Option<Duration>,
    ) -> Pin<Box<dyn Send + Future<Output = Result<Self::Tcp, io::Error>>>> {
        let connect = self.inner.connect_tcp(server_addr, bind_addr, timeout);
        let idle = self.idle;
        Box::pin(async move {
            let AsyncIoTokioAsStd(stream) = connect.await?;
            Ok(AsyncIoTokioAsStd(IdleStream::new(stream, idle)))
        })
    }

    fn bind_udp(
        &self,
        local_addr: SocketAddr,
        server_addr: SocketAddr,
    ) -> Pin<Box<dyn Send + Future<Output = Result<Self::Udp, io::Error>>>> {
        self.inner.bind_udp(local_addr, server_addr)
    }
}

/// A TCP stream that reads as ended once it has been idle for its idle time.
pub(crate) struct IdleStream {
    stream: TcpStream,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl IdleStream {
    fn new(stream: TcpStream, idle: Duration) -> Self {
        Self {
            stream,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
        }
    }

    /// Traffic: the idle time starts again.
    fn active(&mut self) {
        self.deadline.as_mut().reset(Instant::now() + self.idle);
    }
}

impl AsyncRead for IdleStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(r) => {
                this.active();
                Poll::Ready(r)
            }
            // Nothing to read: if the idle time is up, report end of stream (filling
            // nothing into buf), which makes hickory drop the connection.
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    tracing::debug!(
                        upstream = ?this.stream.peer_addr().ok(),
                        "closing an idle upstream TCP connection"
                    );
                    Poll::Ready(Ok(()))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for IdleStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let r = Pin::new(&mut this.stream).poll_write(cx, buf);
        if r.is_ready() {
            this.active();
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// Traffic keeps the stream open; silence for the idle time ends it, and the peer sees
    /// the socket closed once the stream is dropped.
    #[tokio::test]
    async fn an_idle_stream_ends_and_traffic_keeps_it_open() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let provider = IdleClosing::new(Duration::from_millis(300));
        let (connected, accepted) = tokio::join!(provider.connect_tcp(addr, None, None), async {
            listener.accept().await.unwrap().0
        });
        let AsyncIoTokioAsStd(mut ours) = connected.unwrap();
        let mut theirs = accepted;
        let started = std::time::Instant::now();
        let mut buf = [0u8; 4];
        // Three exchanges 200 ms apart: each within the idle time of the last.
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            theirs.write_all(b"ping").await.unwrap();
            ours.read_exact(&mut buf).await.unwrap();
        }
        let n = tokio::time::timeout(Duration::from_secs(5), ours.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n, 0, "end of stream");
        assert!(started.elapsed() >= Duration::from_millis(900));
        drop(ours);
        let n = tokio::time::timeout(Duration::from_secs(5), theirs.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n, 0, "the peer sees the close");
    }
}
