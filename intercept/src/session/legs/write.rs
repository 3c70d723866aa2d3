//! A leg's frame writer: it stamps the leg's own sequence numbers, so frames the gateway
//! adds or drops never leave a gap or a repeat the peer would notice, and queues frames for
//! one vectored write per burst. A large payload goes out as the bytes it was read in (no
//! copy); small frames and headers are gathered into one buffer. Nothing is held once the
//! queue is written out.
//!
//! Queueing does no I/O (so the loop that queues holds no write future while it waits for
//! the next frame); whoever queues writes out when [`Leg::is_full`] says so, which bounds
//! what a fast reader can queue.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use oscar::{FLAP_HEADER_LEN, Flap, FlapError};
use tokio::io::AsyncWrite;

use super::is_disconnect;
use crate::error::{SessionError, Side};
use crate::stream_halves::StreamWrite;

/// Payloads up to this size are copied in with their header: one slice instead of two,
/// and the read buffer they came from is not kept for them.
const COPY_AT_MOST: usize = 1024;

/// What the gathering buffer takes when it needs room, so a burst of small frames does not
/// grow it a few bytes at a time.
const GATHER_MIN: usize = 1024;

/// Bytes queued that make a leg full: it is written out before more is read.
const WRITE_AT: usize = 256 * 1024;

/// Slices handed to one vectored write (well under every system's `IOV_MAX`).
const MAX_SLICES: usize = 64;

/// One leg's writer.
pub(in crate::session) struct Leg {
    side: Side,
    half: StreamWrite,
    seq: u16,
    /// Wire bytes queued and not yet written, in order; `gather` comes after them.
    chunks: VecDeque<Bytes>,
    /// Small frames, and large frames' headers, copied together.
    gather: BytesMut,
    /// Bytes queued in `chunks` and `gather`.
    queued: usize,
}

impl Leg {
    /// The writer of `side`'s leg, starting at sequence number `first_seq`.
    pub(in crate::session) fn new(side: Side, half: StreamWrite, first_seq: u16) -> Self {
        Self {
            side,
            half,
            seq: first_seq,
            chunks: VecDeque::new(),
            gather: BytesMut::new(),
            queued: 0,
        }
    }

    /// Sends one frame now (sign-on exchanges and errors).
    pub(in crate::session) async fn send(&mut self, flap: Flap) -> Result<(), SessionError> {
        self.queue(flap)?;
        self.flush().await
    }

    /// Queues a frame, written out on [`Leg::flush`], so frames that arrived together
    /// leave in one system call.
    pub(in crate::session) fn queue(&mut self, mut flap: Flap) -> Result<(), SessionError> {
        flap.seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        let header = flap.header().map_err(|e| SessionError::Write {
            side: self.side,
            source: FlapError::Encode(e),
        })?;
        let len = flap.payload.len();
        if len <= COPY_AT_MOST {
            self.gather_room(FLAP_HEADER_LEN + len);
            self.gather.extend_from_slice(&header);
            self.gather.extend_from_slice(&flap.payload);
        } else {
            self.gather_room(FLAP_HEADER_LEN);
            self.gather.extend_from_slice(&header);
            self.chunks.push_back(self.gather.split().freeze());
            self.chunks.push_back(flap.payload);
        }
        self.queued += FLAP_HEADER_LEN + len;
        Ok(())
    }

    /// Whether enough is queued that it must be written out before more is read.
    pub(in crate::session) fn is_full(&self) -> bool {
        self.queued >= WRITE_AT
    }

    /// Queues a released frame, if policy did not drop it.
    pub(in crate::session) fn queue_some(
        &mut self,
        flap: Option<Flap>,
    ) -> Result<(), SessionError> {
        match flap {
            Some(flap) => self.queue(flap),
            None => Ok(()),
        }
    }

    /// Writes out whatever is queued, then gives the buffers back.
    pub(in crate::session) async fn flush(&mut self) -> Result<(), SessionError> {
        let side = self.side;
        poll_fn(|cx| self.poll_flush(cx))
            .await
            .map_err(|e| match e {
                e if is_disconnect(&e) => SessionError::Disconnected { side },
                e => SessionError::Write {
                    side,
                    source: FlapError::Io(e),
                },
            })
    }

    fn gather_room(&mut self, need: usize) {
        if self.gather.capacity() - self.gather.len() < need {
            self.gather.reserve(need.max(GATHER_MIN));
        }
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.queued > 0 {
            let written = {
                let mut slices = [IoSlice::new(&[]); MAX_SLICES];
                let mut count = 0;
                for (slot, chunk) in slices.iter_mut().zip(&self.chunks) {
                    *slot = IoSlice::new(chunk);
                    count += 1;
                }
                // The gathered bytes come after every chunk: only with all of them.
                if count == self.chunks.len()
                    && let Some(slot) = slices.get_mut(count)
                    && !self.gather.is_empty()
                {
                    *slot = IoSlice::new(&self.gather);
                    count += 1;
                }
                let slices = slices.get(..count).unwrap_or_default();
                ready!(Pin::new(&mut self.half).poll_write_vectored(cx, slices))?
            };
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.advance(written);
        }
        ready!(Pin::new(&mut self.half).poll_flush(cx))?;
        // Written out: an idle leg holds no buffer.
        self.chunks = VecDeque::new();
        self.gather = BytesMut::new();
        Poll::Ready(Ok(()))
    }

    /// Drops `n` written bytes from the front of the queue.
    fn advance(&mut self, mut n: usize) {
        self.queued -= n;
        while n > 0 {
            match self.chunks.front_mut() {
                Some(chunk) if chunk.len() <= n => {
                    n -= chunk.len();
                    self.chunks.pop_front();
                }
                Some(chunk) => {
                    chunk.advance(n);
                    return;
                }
                None => {
                    self.gather.advance(n);
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use oscar::Channel;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpStream;

    use super::*;

    async fn pair() -> (TcpStream, Leg) {
        let (far, (_read, write)) = crate::session::legs::socket_pair().await;
        (far, Leg::new(Side::Client, write, 7))
    }

    #[tokio::test]
    async fn frames_leave_in_order_renumbered_and_the_leg_keeps_nothing_after() {
        let (mut far, mut leg) = pair().await;
        let frames = [
            Flap::new(Channel::DATA, vec![1u8; 10]),
            Flap::new(Channel::DATA, vec![2u8; 5000]),
            Flap::new(Channel::KEEPALIVE, Bytes::new()),
            Flap::new(Channel::DATA, vec![3u8; COPY_AT_MOST + 1]),
            Flap::new(Channel::DATA, vec![4u8; COPY_AT_MOST]),
        ];
        let mut expected = Vec::new();
        for (seq, frame) in (7u16..).zip(&frames) {
            let mut stamped = frame.clone();
            stamped.seq = seq;
            expected.extend_from_slice(&stamped.to_bytes().unwrap());
            leg.queue(frame.clone()).unwrap();
        }
        leg.flush().await.unwrap();
        assert_eq!(
            (leg.queued, leg.chunks.capacity(), leg.gather.capacity()),
            (0, 0, 0)
        );
        let mut got = vec![0u8; expected.len()];
        far.read_exact(&mut got).await.unwrap();
        assert_eq!(got, expected);
    }

    #[tokio::test]
    async fn more_than_one_write_of_slices_keeps_the_order() {
        let (mut far, mut leg) = pair().await;
        // Enough large frames that their slices span several vectored writes.
        let mut expected = Vec::new();
        let reader = tokio::spawn(async move {
            let mut all = Vec::new();
            far.read_to_end(&mut all).await.unwrap();
            all
        });
        for i in 0..(2 * MAX_SLICES) {
            let frame = Flap::new(Channel::DATA, vec![i as u8; 3000 + i]);
            let mut stamped = frame.clone();
            stamped.seq = 7 + i as u16;
            expected.extend_from_slice(&stamped.to_bytes().unwrap());
            leg.queue(frame).unwrap();
        }
        leg.flush().await.unwrap();
        drop(leg);
        assert_eq!(reader.await.unwrap(), expected);
    }
}
