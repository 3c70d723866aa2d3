//! A leg's frame reader. An idle leg holds no buffer: a plain TCP leg waits until its socket
//! is readable before it takes one, a TLS leg reads into the stack and keeps only what
//! arrived, and the buffer is given back once every byte in it has been cut into frames and
//! the socket has nothing more. While data flows, reads grow to [`READ_MAX`], so bulk
//! traffic takes few system calls; each frame's payload is a slice of the buffer it was
//! read into (`FlapCodec` splits it off), never a copy, and once those frames are written
//! the next read reuses the same buffer, still in the processor's cache.

use std::future::poll_fn;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::BytesMut;
use oscar::{Flap, FlapCodec, FlapError};
use tokio::io::{AsyncRead, ReadBuf};
use tokio_util::codec::Decoder;

use super::is_disconnect;
use crate::error::{SessionError, Side};
use crate::stream_halves::StreamRead;

/// The first read after a quiet spell: a burst of sign-on or IM frames fits. Frames waiting
/// for the archive keep their buffer alive, so it stays small unless data keeps coming.
const READ_MIN: usize = 4 * 1024;

/// The largest read a leg grows to while each read fills what it asked for. Larger reads
/// do not move more: through one session of 8 KiB frames (relay bench, bulk) 32 and 64 KiB
/// came out alike, 64 KiB with more spread between runs; a buffer this size and the
/// kernel's copies of it stay in the processor's cache.
const READ_MAX: usize = 32 * 1024;

/// What a TLS leg reads into on the stack: one TLS record's plaintext at most.
const TLS_READ: usize = 16 * 1024;

/// One leg's frame reader.
pub(in crate::session) struct Reader {
    half: StreamRead,
    codec: FlapCodec,
    /// Bytes read and not yet cut into frames; no allocation while the leg is idle.
    buf: BytesMut,
    /// How much the next buffer is taken with, between [`READ_MIN`] and [`READ_MAX`].
    want: usize,
    /// The peer closed its side.
    eof: bool,
}

impl Reader {
    /// A frame reader over `half`, refusing frames over `max_frame` payload bytes before
    /// reserving room for them.
    pub(in crate::session) fn new(half: StreamRead, max_frame: usize) -> Self {
        Self {
            half,
            codec: FlapCodec::with_max_payload(max_frame),
            buf: BytesMut::new(),
            want: READ_MIN,
            eof: false,
        }
    }

    /// Reads the next frame from `side`; `None` at a clean end of stream (or a peer that
    /// hung up).
    pub(in crate::session) async fn next(
        &mut self,
        side: Side,
    ) -> Result<Option<Flap>, SessionError> {
        poll_fn(|cx| self.poll_next(cx, side)).await
    }

    /// Whether another whole frame is already buffered, so writing can wait for it. It
    /// decides only when to flush, never what a frame is.
    pub(in crate::session) fn has_buffered_frame(&self) -> bool {
        self.codec.has_complete_frame(&self.buf)
    }

    /// [`Reader::next`] as a poll, for a loop that waits on both legs at once.
    pub(in crate::session) fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        side: Side,
    ) -> Poll<Result<Option<Flap>, SessionError>> {
        let frame_error = |source| SessionError::Frame { side, source };
        loop {
            // Decoded only once whole, so the codec never reserves room for the rest of a
            // payload while earlier frames still share the buffer (that reservation would
            // move the frame begun into a new buffer at every read); its header is still
            // checked the moment it arrives.
            if self.codec.has_complete_frame(&self.buf)
                && let Some(frame) = self.codec.decode(&mut self.buf).map_err(frame_error)?
            {
                return Poll::Ready(Ok(Some(frame)));
            }
            self.codec.check_header(&self.buf).map_err(frame_error)?;
            if self.eof {
                if self.buf.is_empty() && self.codec.is_at_frame_boundary() {
                    return Poll::Ready(Ok(None));
                }
                // What tokio-util's `FramedRead` says of a stream cut inside a frame.
                let cut = io::Error::other("bytes remaining on stream");
                return Poll::Ready(Err(frame_error(FlapError::Io(cut))));
            }
            match self.poll_fill(cx) {
                Poll::Ready(Ok(0)) => self.eof = true,
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) if is_disconnect(&e) => return Poll::Ready(Ok(None)),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(frame_error(FlapError::Io(e)))),
                Poll::Pending => {
                    // Nothing more to read and nothing half-read: the buffer goes back (the
                    // frames cut from it keep their own bytes alive until they are sent).
                    if self.buf.is_empty() {
                        self.buf = BytesMut::new();
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    /// Reads what the socket has into the buffer; `Ok(0)` at the end of the stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if let Some(socket) = self.half.plain_socket() {
            loop {
                ready!(socket.poll_read_ready(cx))?;
                let room = make_room(&mut self.buf, self.want);
                match socket.try_read_buf(&mut self.buf) {
                    Ok(n) => {
                        self.want = next_want(self.want, n, room);
                        return Poll::Ready(Ok(n));
                    }
                    // The readiness was stale (tokio clears it): wait again.
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }
        }
        // rustls keeps a record it has not handed out, so reading it into the stack first
        // loses nothing; only what arrived is kept.
        let mut stack = [MaybeUninit::<u8>::uninit(); TLS_READ];
        let mut read = ReadBuf::uninit(&mut stack);
        ready!(Pin::new(&mut self.half).poll_read(cx, &mut read))?;
        let got = read.filled();
        make_room(&mut self.buf, got.len().max(self.want));
        self.buf.extend_from_slice(got);
        Poll::Ready(Ok(got.len()))
    }
}

/// Makes sure `buf` has room for a read of `want` bytes (a new buffer, with the bytes of
/// a frame begun, if frames cut from the old one still hold it). Returns the spare room.
/// Not just what the frame begun needs (the codec reserves that): a read that stops at the
/// end of one frame leaves each frame a system call to itself.
fn make_room(buf: &mut BytesMut, want: usize) -> usize {
    if buf.capacity() - buf.len() < want {
        buf.reserve(want);
    }
    buf.capacity() - buf.len()
}

/// The next read's size after reading `got` bytes into `room`: doubled when the read
/// filled it (more is waiting), back to the minimum when it came far short.
fn next_want(want: usize, got: usize, room: usize) -> usize {
    if got >= room {
        (want * 2).min(READ_MAX)
    } else if got < READ_MIN {
        READ_MIN
    } else {
        want
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use bytes::Bytes;
    use oscar::Channel;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;

    use super::*;

    async fn pair() -> (TcpStream, Reader) {
        let (far, (read, _write)) = crate::session::legs::socket_pair().await;
        (far, Reader::new(read, 4096))
    }

    fn wire(flap: &Flap) -> Bytes {
        flap.to_bytes().unwrap()
    }

    #[tokio::test]
    async fn frames_come_out_whole_and_an_idle_leg_gives_its_buffer_back() {
        let (mut far, mut reader) = pair().await;
        let one = Flap::new(Channel::DATA, vec![1u8; 300]);
        let two = Flap::new(Channel::KEEPALIVE, Bytes::new());
        let mut bytes = wire(&one).to_vec();
        bytes.extend_from_slice(&wire(&two));
        far.write_all(&bytes).await.unwrap();
        let got = reader.next(Side::Client).await.unwrap().unwrap();
        assert_eq!(got.payload, one.payload);
        assert!(reader.has_buffered_frame());
        let got = reader.next(Side::Client).await.unwrap().unwrap();
        assert_eq!(got.channel, Channel::KEEPALIVE);
        // Nothing more: the read waits, and holds no buffer while it does.
        let waiting = poll_fn(|cx| Poll::Ready(reader.poll_next(cx, Side::Client))).await;
        assert!(waiting.is_pending());
        assert_eq!(reader.buf.capacity(), 0);
        drop(far);
        assert!(reader.next(Side::Client).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_frame_split_across_reads_is_joined_and_a_cut_stream_is_an_error() {
        let (mut far, mut reader) = pair().await;
        let frame = wire(&Flap::new(Channel::DATA, vec![9u8; 2000]));
        far.write_all(&frame[..700]).await.unwrap();
        let waiting = poll_fn(|cx| Poll::Ready(reader.poll_next(cx, Side::Client))).await;
        assert!(waiting.is_pending());
        far.write_all(&frame[700..]).await.unwrap();
        let got = reader.next(Side::Client).await.unwrap().unwrap();
        assert_eq!(got.payload.len(), 2000);
        far.write_all(&frame[..10]).await.unwrap();
        drop(far);
        let cut = reader.next(Side::Client).await;
        assert!(
            matches!(
                cut,
                Err(SessionError::Frame {
                    side: Side::Client,
                    ..
                })
            ),
            "{cut:?}"
        );
    }

    #[tokio::test]
    async fn an_over_cap_frame_is_refused_before_its_payload_is_read() {
        let (mut far, mut reader) = pair().await;
        far.write_all(&[0x2a, 2, 0, 1, 0xff, 0xff]).await.unwrap();
        let refused = reader.next(Side::Upstream).await;
        assert!(
            matches!(
                refused,
                Err(SessionError::Frame {
                    side: Side::Upstream,
                    source: FlapError::TooLong { .. }
                })
            ),
            "{refused:?}"
        );
    }

    #[test]
    fn reads_grow_while_they_fill_and_shrink_when_they_do_not() {
        assert_eq!(next_want(READ_MIN, READ_MIN, READ_MIN), 2 * READ_MIN);
        assert_eq!(next_want(READ_MAX, READ_MAX, READ_MAX), READ_MAX);
        assert_eq!(next_want(READ_MAX, 100, READ_MAX), READ_MIN);
        assert_eq!(next_want(32 * 1024, 20_000, 32 * 1024), 32 * 1024);
    }
}
