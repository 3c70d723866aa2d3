//! The two legs' framed halves: reading frames (a peer that hung up is an end, not an
//! error) and writing them with each leg's own sequence numbers (oscar.md §3.4 step 4).

use futures_util::{SinkExt, StreamExt};
use oscar::{Flap, FlapCodec};
use tokio_util::codec::{FramedRead, FramedWrite};

use crate::error::{SessionError, Side};
use crate::stream_halves::{StreamRead, StreamWrite};

/// One leg's frame reader.
pub(super) type Reader = FramedRead<StreamRead, FlapCodec>;

/// What a leg's read buffer starts with: enough for the small frames of a sign-on. A larger
/// frame makes the codec reserve its whole length once its header is read, so bulk data
/// still arrives in large reads. tokio-util's default, 8 KiB, is held by every idle
/// session on each leg.
const READ_START: usize = 512;

/// How many queued bytes make a leg write before it is asked to flush (tokio-util's
/// default); the write buffer itself starts empty and grows to what is queued.
const WRITE_BOUNDARY: usize = 8 * 1024;

/// A frame reader over `half`, with the relay's frame size cap.
pub(super) fn reader(half: StreamRead, max_frame: usize) -> Reader {
    FramedRead::with_capacity(half, FlapCodec::with_max_payload(max_frame), READ_START)
}

/// One leg's writer, stamping that leg's own sequence numbers: frames the gateway adds or
/// drops never leave a gap or a repeat the peer would notice.
pub(super) struct Leg {
    side: Side,
    sink: FramedWrite<StreamWrite, FlapCodec>,
    seq: u16,
}

impl Leg {
    /// The writer of `side`'s leg, starting at sequence number `first_seq`.
    pub(super) fn new(side: Side, half: StreamWrite, first_seq: u16) -> Self {
        let mut sink = FramedWrite::with_capacity(half, FlapCodec::default(), 0);
        sink.set_backpressure_boundary(WRITE_BOUNDARY);
        Self {
            side,
            sink,
            seq: first_seq,
        }
    }

    /// Sends one frame now (sign-on exchanges and errors).
    pub(super) async fn send(&mut self, flap: Flap) -> Result<(), SessionError> {
        self.queue(flap).await?;
        self.flush().await
    }

    /// Queues a frame in the write buffer (written out when the buffer fills or on
    /// [`Leg::flush`]), so frames that arrived together leave in one system call.
    pub(super) async fn queue(&mut self, mut flap: Flap) -> Result<(), SessionError> {
        flap.seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        let side = self.side;
        self.sink.feed(flap).await.map_err(|e| write_error(side, e))
    }

    /// Queues a released frame, if policy did not drop it.
    pub(super) async fn queue_some(&mut self, flap: Option<Flap>) -> Result<(), SessionError> {
        match flap {
            Some(flap) => self.queue(flap).await,
            None => Ok(()),
        }
    }

    /// Writes out whatever is queued.
    pub(super) async fn flush(&mut self) -> Result<(), SessionError> {
        let side = self.side;
        SinkExt::<Flap>::flush(&mut self.sink)
            .await
            .map_err(|e| write_error(side, e))
    }
}

fn write_error(side: Side, source: oscar::FlapError) -> SessionError {
    match source {
        oscar::FlapError::Io(e) if is_disconnect(&e) => SessionError::Disconnected { side },
        source => SessionError::Write { side, source },
    }
}

/// Whether `reader` already holds another complete frame, so writing can wait for it. It
/// decides only when to flush, never what a frame is.
pub(super) fn has_buffered_frame(reader: &Reader) -> bool {
    reader.decoder().has_complete_frame(reader.read_buffer())
}

/// Reads the next frame from `side`; `None` at a clean end of stream.
pub(super) async fn next(reader: &mut Reader, side: Side) -> Result<Option<Flap>, SessionError> {
    match reader.next().await {
        Some(Ok(flap)) => Ok(Some(flap)),
        Some(Err(oscar::FlapError::Io(e))) if is_disconnect(&e) => Ok(None),
        Some(Err(source)) => Err(SessionError::Frame { side, source }),
        None => Ok(None),
    }
}

fn is_disconnect(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::BrokenPipe
            | std::io::ErrorKind::UnexpectedEof
    )
}
