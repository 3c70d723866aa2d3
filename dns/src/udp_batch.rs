//! Batched UDP I/O for the reader threads: one `recvmmsg` takes every query waiting on the
//! socket (up to [`BATCH`]), one `sendmmsg` sends every answer to them.
//!
//! On loopback a UDP exchange is almost all kernel time, and a good part of that is the
//! system calls themselves (entry, exit, the scheduler on the way back to user space): a
//! batch pays them once for up to [`BATCH`] queries instead of twice per query. With one
//! query waiting the batch is one query and costs what `recvfrom` + `sendto` cost.
//! The system calls are nix's safe wrappers; only the bookkeeping around them is here.

use std::io::{IoSlice, IoSliceMut};
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;

use nix::errno::Errno;
use nix::sys::socket::{
    ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg,
};

/// Datagrams per system call at most: enough to take what a client with 100 queries
/// outstanding has sent while the last batch was answered.
pub(crate) const BATCH: usize = 32;

/// A receive buffer per datagram, large enough for any UDP payload, so no query is cut
/// short (the pages a query does not reach are never touched, so never resident).
const SLOT: usize = 65_535;

/// The queries one `recvmmsg` brought.
pub(crate) struct Received {
    bufs: Vec<u8>,
    headers: MultiHeaders<SockaddrStorage>,
    /// Per datagram received: its length and sender.
    got: Vec<(usize, Option<SocketAddr>)>,
}

impl Received {
    pub(crate) fn new() -> Self {
        Self {
            bufs: vec![0; SLOT * BATCH],
            headers: MultiHeaders::preallocate(BATCH, None),
            got: Vec::with_capacity(BATCH),
        }
    }

    /// Waits for at least one datagram (as long as the socket's read timeout allows) and
    /// takes every other one already queued, up to [`BATCH`].
    pub(crate) fn recv(&mut self, socket: &UdpSocket) -> std::io::Result<usize> {
        self.got.clear();
        let mut chunks = self.bufs.chunks_exact_mut(SLOT);
        let mut slices: [[IoSliceMut<'_>; 1]; BATCH] =
            std::array::from_fn(|_| [IoSliceMut::new(chunks.next().unwrap_or_default())]);
        let results = recvmmsg(
            socket.as_raw_fd(),
            &mut self.headers,
            slices.iter_mut(),
            MsgFlags::MSG_WAITFORONE,
            None,
        )
        .map_err(std::io::Error::from)?;
        for msg in results {
            // A cut datagram (impossible with SLOT, but the kernel says so) is not a query.
            let whole = !msg.flags.contains(MsgFlags::MSG_TRUNC);
            let src = msg.address.as_ref().and_then(socket_addr).filter(|_| whole);
            self.got.push((msg.bytes, src));
        }
        Ok(self.got.len())
    }

    /// Each datagram received with its sender; one without a usable sender is skipped.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], SocketAddr)> {
        self.bufs
            .chunks_exact(SLOT)
            .zip(&self.got)
            .filter_map(|(buf, (len, src))| Some((buf.get(..*len)?, (*src)?)))
    }
}

/// The answers to one batch, sent with `sendmmsg`.
pub(crate) struct Replies {
    outs: Vec<Vec<u8>>,
    dsts: Vec<Option<SockaddrStorage>>,
    headers: MultiHeaders<SockaddrStorage>,
    /// Answers written so far: `outs[..len]` to `dsts[..len]`.
    len: usize,
}

impl Replies {
    pub(crate) fn new() -> Self {
        Self {
            outs: (0..BATCH).map(|_| Vec::with_capacity(512)).collect(),
            dsts: vec![None; BATCH],
            headers: MultiHeaders::preallocate(BATCH, None),
            len: 0,
        }
    }

    /// The buffer the next answer is written into; it is sent only if
    /// [`commit`](Self::commit) follows. `None` when the batch is full (never, as long as
    /// batches of queries and of answers have the same size).
    pub(crate) fn next_buf(&mut self) -> Option<&mut Vec<u8>> {
        self.outs.get_mut(self.len)
    }

    /// Queues the answer just written by [`next_buf`](Self::next_buf) for `dst`.
    pub(crate) fn commit(&mut self, dst: SocketAddr) {
        if let Some(slot) = self.dsts.get_mut(self.len) {
            *slot = Some(SockaddrStorage::from(dst));
            self.len += 1;
        }
    }

    /// Sends every queued answer; one the kernel refuses is logged and skipped, the rest
    /// still go.
    pub(crate) fn flush(&mut self, socket: &UdpSocket) {
        let len = std::mem::take(&mut self.len);
        let mut start = 0;
        while start < len {
            // Beyond `len` the slices are empty and unsent: `dsts` ends the batch.
            let outs = self.outs.get(start..len).unwrap_or_default();
            let slices: [[IoSlice<'_>; 1]; BATCH] =
                std::array::from_fn(|i| [IoSlice::new(outs.get(i).map_or(&[], Vec::as_slice))]);
            let dsts = self.dsts.get(start..len).unwrap_or_default();
            let sent = sendmmsg(
                socket.as_raw_fd(),
                &mut self.headers,
                &slices,
                dsts,
                [] as [ControlMessage<'_>; 0],
                MsgFlags::empty(),
            )
            .map(Iterator::count);
            match sent {
                Ok(0) => break,
                Ok(n) => start += n,
                // The first answer failed (a full send buffer past the write timeout, an
                // unreachable client): that one is lost, the next ones are tried.
                Err(error) => {
                    let client = dsts.first().and_then(Option::as_ref).and_then(socket_addr);
                    tracing::debug!(error = %std::io::Error::from(error), ?client, "udp send");
                    start += 1;
                }
            }
        }
    }
}

/// A kernel socket address as std's; `None` for another family than IPv4 and IPv6.
fn socket_addr(addr: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = addr.as_sockaddr_in() {
        return Some(SocketAddrV4::from(*v4).into());
    }
    addr.as_sockaddr_in6()
        .map(|v6| SocketAddrV6::from(*v6).into())
}

/// Whether a receive error only means "nothing came before the read timeout".
pub(crate) fn is_timeout(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    ) || error.raw_os_error() == Some(Errno::EAGAIN as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Several queued datagrams come in one call, each with its sender; the answers go
    /// back in one call, each to its own sender.
    #[test]
    fn a_batch_round_trips() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = server.local_addr().unwrap();
        a.send_to(b"one", to).unwrap();
        b.send_to(b"two", to).unwrap();
        a.send_to(b"three", to).unwrap();
        server
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut rx = Received::new();
        let mut got = Vec::new();
        while got.len() < 3 {
            rx.recv(&server).unwrap();
            got.extend(rx.iter().map(|(m, src)| (m.to_vec(), src)));
        }
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        assert_eq!(
            got,
            [
                (b"one".to_vec(), a_addr),
                (b"two".to_vec(), b_addr),
                (b"three".to_vec(), a_addr)
            ]
        );
        let mut tx = Replies::new();
        for (msg, src) in &got {
            let out = tx.next_buf().unwrap();
            out.clear();
            out.extend_from_slice(msg);
            out.push(b'!');
            tx.commit(*src);
        }
        tx.flush(&server);
        let mut buf = [0u8; 16];
        a.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        b.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let n = a.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"one!");
        let n = a.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"three!");
        let n = b.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"two!");
    }

    /// A full batch refuses more answers rather than overwriting one.
    #[test]
    fn a_full_batch_takes_no_more() {
        let mut tx = Replies::new();
        let dst: SocketAddr = "127.0.0.1:9".parse().unwrap();
        for _ in 0..BATCH {
            assert!(tx.next_buf().is_some());
            tx.commit(dst);
        }
        assert!(tx.next_buf().is_none());
        tx.commit(dst);
        assert_eq!(tx.len, BATCH);
    }
}
