//! A scripted raw OSCAR client for hostile-client tests: every frame is the test's own, sent
//! from a chosen source address, and every read is bounded so a relay that hangs instead of
//! answering fails the test.

// These helpers assert as the calling test would: a failure panics with what went wrong.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use oscar::{Channel, Family, Flap, Snac, SnacBody, SnacHeader};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};

mod sign_on;

pub use sign_on::{bos_cookie, client_hello, present};

/// Bound on each wait for a frame or a close.
pub const WAIT: Duration = Duration::from_secs(5);

/// How a read ended instead of with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The relay closed the connection (FIN or reset).
    Closed,
    /// Nothing came within the wait: the connection is still open.
    StillOpen,
}

/// A scripted OSCAR connection to the relay from a chosen source address.
pub struct Scripted {
    stream: TcpStream,
    seq: u16,
}

impl Scripted {
    /// Connects from `from` and reads the relay's hello (channel 1), which comes first.
    pub async fn connect(relay: SocketAddr, from: IpAddr) -> Self {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(from, 0)).unwrap();
        let stream = tokio::time::timeout(WAIT, socket.connect(relay))
            .await
            .expect("connect in time")
            .expect("connect to the relay");
        let mut conn = Self { stream, seq: 1 };
        let hello = conn.next(WAIT).await.expect("the relay's hello");
        assert_eq!(hello.channel, Channel::SIGNON, "{hello:?}");
        conn
    }

    /// Sends `flaps` in one write, each with this connection's next sequence number.
    pub async fn send_together(&mut self, flaps: Vec<Flap>) {
        let mut bytes = Vec::new();
        for mut flap in flaps {
            flap.seq = self.seq;
            self.seq = self.seq.wrapping_add(1);
            bytes.extend_from_slice(&flap.to_bytes().unwrap());
        }
        self.stream.write_all(&bytes).await.expect("write");
    }

    /// Sends `flap` with this connection's next sequence number.
    pub async fn send(&mut self, flap: Flap) {
        self.send_together(vec![flap]).await;
    }

    /// Sends `body` as a SNAC with `request_id`.
    pub async fn send_snac<T: SnacBody>(&mut self, body: &T, request_id: u32) {
        self.send(body.to_snac(request_id).unwrap().to_flap().unwrap())
            .await;
    }

    /// Sends an empty-bodied SNAC `family/subtype` (a client ready, a rights request).
    pub async fn send_empty(&mut self, family: Family, subtype: u16, request_id: u32) {
        let snac = Snac::new(
            SnacHeader::new(family, subtype, request_id),
            Vec::<u8>::new(),
        );
        self.send(snac.to_flap().unwrap()).await;
    }

    /// The next frame within `wait`, or how the connection ended instead.
    pub async fn next(&mut self, wait: Duration) -> Result<Flap, End> {
        let read = async {
            let mut header = [0u8; 6];
            self.stream.read_exact(&mut header).await.ok()?;
            assert_eq!(header[0], 0x2a, "bad FLAP marker from the relay");
            let mut payload = vec![0u8; usize::from(u16::from_be_bytes([header[4], header[5]]))];
            self.stream.read_exact(&mut payload).await.ok()?;
            let mut flap = Flap::new(Channel(header[1]), payload);
            flap.seq = u16::from_be_bytes([header[2], header[3]]);
            Some(flap)
        };
        match tokio::time::timeout(wait, read).await {
            Ok(Some(flap)) => Ok(flap),
            Ok(None) => Err(End::Closed),
            Err(_) => Err(End::StillOpen),
        }
    }

    /// The next SNAC; panics on anything else.
    pub async fn snac(&mut self) -> Snac {
        let flap = self.next(WAIT).await.expect("a SNAC");
        assert_eq!(flap.channel, Channel::DATA, "{flap:?}");
        Snac::decode(flap.payload).unwrap()
    }

    /// Reads SNACs until one is `family/subtype`, skipping others; `None` if the connection
    /// closes or goes quiet for `wait` first.
    pub async fn until(&mut self, family: Family, subtype: u16, wait: Duration) -> Option<Snac> {
        loop {
            let flap = self.next(wait).await.ok()?;
            if flap.channel != Channel::DATA {
                continue;
            }
            let snac = Snac::decode(flap.payload).ok()?;
            if snac.header.is(family, subtype) {
                return Some(snac);
            }
        }
    }

    /// Reads until the connection closes or goes quiet for `wait`; returns every SNAC seen
    /// and how the reading ended.
    pub async fn drain(&mut self, wait: Duration) -> (Vec<Snac>, End) {
        let mut seen = Vec::new();
        for _ in 0..1000 {
            match self.next(wait).await {
                Ok(flap) if flap.channel == Channel::DATA => {
                    if let Ok(snac) = Snac::decode(flap.payload) {
                        seen.push(snac);
                    }
                }
                Ok(_) => {}
                Err(end) => return (seen, end),
            }
        }
        panic!("more than 1000 frames without an end");
    }
}
