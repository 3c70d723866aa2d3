//! A server-side OSCAR connection: a reader of frames and an outbox whose writer task
//! stamps this leg's sequence numbers, so handlers and other users' sessions can all queue
//! frames for one client. Plain and TLS connections look the same from here.

use std::net::SocketAddr;

use futures_util::{SinkExt, StreamExt};
use oscar::{Flap, FlapCodec, SnacBody};
use tokio::io::{ReadHalf, WriteHalf};
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, FramedWrite};

use crate::error::LabError;
use crate::stream::{Accepted, BoxStream};

/// Most frames queued for one client before senders wait.
const OUTBOX_DEPTH: usize = 256;

/// Where frames for one client are queued.
#[derive(Debug, Clone)]
pub(crate) struct Outbox(mpsc::Sender<Flap>);

impl Outbox {
    /// Queues a frame; fails only when the client is gone.
    pub(crate) async fn send(&self, flap: Flap) -> Result<(), LabError> {
        self.0
            .send(flap)
            .await
            .map_err(|_| LabError::Closed(" (outbox)"))
    }

    /// Queues a typed SNAC with `request_id`.
    pub(crate) async fn snac<B: SnacBody>(
        &self,
        body: &B,
        request_id: u32,
    ) -> Result<(), LabError> {
        self.send(body.to_snac(request_id)?.to_flap()?).await
    }

    /// Queues a raw SNAC.
    pub(crate) async fn raw_snac(
        &self,
        family: oscar::Family,
        subtype: u16,
        request_id: u32,
        body: impl Into<bytes::Bytes>,
    ) -> Result<(), LabError> {
        let snac = oscar::Snac::new(oscar::SnacHeader::new(family, subtype, request_id), body);
        self.send(snac.to_flap()?).await
    }
}

/// The reading half of a server connection.
pub(crate) struct Conn {
    /// The client's address, for logs.
    pub(crate) peer: SocketAddr,
    reader: FramedRead<ReadHalf<BoxStream>, FlapCodec>,
    /// Frames to the client.
    pub(crate) outbox: Outbox,
}

impl Conn {
    /// Splits the accepted stream, starts the writer task (first sequence number
    /// `seq_start`) and sends the server's sign-on hello, as OSCAR servers speak first.
    pub(crate) async fn accept(accepted: Accepted, seq_start: u16) -> Result<Self, LabError> {
        let peer = accepted.peer;
        let (read, write) = tokio::io::split(accepted.stream);
        let (tx, rx) = mpsc::channel(OUTBOX_DEPTH);
        tokio::spawn(write_loop(
            FramedWrite::new(write, FlapCodec::default()),
            rx,
            seq_start,
        ));
        let conn = Self {
            peer,
            reader: FramedRead::new(read, FlapCodec::default()),
            outbox: Outbox(tx),
        };
        conn.outbox
            .send(oscar::message::SignonHello::default().to_flap()?)
            .await?;
        Ok(conn)
    }

    /// The next frame, or `None` at a clean end of stream.
    pub(crate) async fn recv(&mut self) -> Result<Option<Flap>, LabError> {
        match self.reader.next().await {
            Some(Ok(flap)) => Ok(Some(flap)),
            Some(Err(e)) => Err(e.into()),
            None => Ok(None),
        }
    }
}

async fn write_loop(
    mut sink: FramedWrite<WriteHalf<BoxStream>, FlapCodec>,
    mut rx: mpsc::Receiver<Flap>,
    mut seq: u16,
) {
    while let Some(mut flap) = rx.recv().await {
        flap.seq = seq;
        seq = seq.wrapping_add(1);
        if let Err(e) = sink.send(flap).await {
            tracing::debug!(error = %e, "lab writer stopped");
            return;
        }
    }
    // Every sender is gone: flush and close so the client sees the end of the session.
    let _ = SinkExt::<Flap>::close(&mut sink).await;
}
