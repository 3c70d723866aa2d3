//! A scripted raw OSCAR client for hostile-client tests: every frame is the test's own, sent
//! from a chosen source address, and every read is bounded so a relay that hangs instead of
//! answering fails the test.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use oscar::message::bucp::{TLV_PASSWORD_HASH, TLV_STRONG_HASH};
use oscar::message::signon::TLV_SCREEN_NAME;
use oscar::message::{KeyReply, KeyRequest, LoginReply, LoginRequest, Redirect, SignonHello};
use oscar::{Channel, Family, Flap, Snac, SnacBody, SnacHeader, Tlv};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};

/// Bound on each wait for a frame or a close.
pub(crate) const WAIT: Duration = Duration::from_secs(5);

/// How a read ended instead of with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// The relay closed the connection (FIN or reset).
    Closed,
    /// Nothing came within the wait: the connection is still open.
    StillOpen,
}

/// A scripted OSCAR connection to the relay from a chosen source address.
pub(crate) struct Scripted {
    stream: TcpStream,
    seq: u16,
}

impl Scripted {
    /// Connects from `from` and reads the relay's hello (channel 1), which comes first.
    pub(crate) async fn connect(relay: SocketAddr, from: IpAddr) -> Self {
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
    pub(crate) async fn send_together(&mut self, flaps: Vec<Flap>) {
        let mut bytes = Vec::new();
        for mut flap in flaps {
            flap.seq = self.seq;
            self.seq = self.seq.wrapping_add(1);
            bytes.extend_from_slice(&flap.to_bytes().unwrap());
        }
        self.stream.write_all(&bytes).await.expect("write");
    }

    /// Sends `flap` with this connection's next sequence number.
    pub(crate) async fn send(&mut self, flap: Flap) {
        self.send_together(vec![flap]).await;
    }

    /// Sends `body` as a SNAC with `request_id`.
    pub(crate) async fn send_snac<T: SnacBody>(&mut self, body: &T, request_id: u32) {
        self.send(body.to_snac(request_id).unwrap().to_flap().unwrap())
            .await;
    }

    /// Sends an empty-bodied SNAC `family/subtype` (a client ready, a rights request).
    pub(crate) async fn send_empty(&mut self, family: Family, subtype: u16, request_id: u32) {
        let snac = Snac::new(
            SnacHeader::new(family, subtype, request_id),
            Vec::<u8>::new(),
        );
        self.send(snac.to_flap().unwrap()).await;
    }

    /// The next frame within `wait`, or how the connection ended instead.
    pub(crate) async fn next(&mut self, wait: Duration) -> Result<Flap, End> {
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
    pub(crate) async fn snac(&mut self) -> Snac {
        let flap = self.next(WAIT).await.expect("a SNAC");
        assert_eq!(flap.channel, Channel::DATA, "{flap:?}");
        Snac::decode(flap.payload).unwrap()
    }

    /// Reads SNACs until one is `family/subtype`, skipping others; `None` if the connection
    /// closes or goes quiet for `wait` first.
    pub(crate) async fn until(
        &mut self,
        family: Family,
        subtype: u16,
        wait: Duration,
    ) -> Option<Snac> {
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
    pub(crate) async fn drain(&mut self, wait: Duration) -> (Vec<Snac>, End) {
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

/// The login-less hello a BUCP client sends first.
pub(crate) fn client_hello() -> Flap {
    Flap::new(Channel::SIGNON, vec![0, 0, 0, 1])
}

/// Logs `name` in through the relay from `from` (BUCP, MD5, `password`) and returns the BOS
/// cookie the login reply handed out, once the authorizer connection closed.
pub(crate) async fn bos_cookie(
    relay: SocketAddr,
    from: IpAddr,
    name: &str,
    password: &str,
) -> Vec<u8> {
    let mut auth = Scripted::connect(relay, from).await;
    auth.send(client_hello()).await;
    let mut req = KeyRequest::default();
    req.tlvs.set(TLV_SCREEN_NAME, name.as_bytes().to_vec());
    auth.send_snac(&req, 1).await;
    let key = KeyReply::from_snac(&auth.snac().await).unwrap().key;
    let mut login = LoginRequest::default();
    login.tlvs.set(TLV_SCREEN_NAME, name.as_bytes().to_vec());
    login.tlvs.set(
        TLV_PASSWORD_HASH,
        lab::strong_hash(&key, password.as_bytes()).to_vec(),
    );
    login.tlvs.push(Tlv::flag(TLV_STRONG_HASH));
    auth.send_snac(&login, 2).await;
    let reply = LoginReply::from_snac(&auth.snac().await).unwrap();
    assert_eq!(reply.error_code(), None, "login of {name} refused");
    let cookie = reply.cookie().unwrap().to_vec();
    // The lab ends the authorizer connection with an empty channel-4 frame.
    let off = auth.next(WAIT).await.expect("the authorizer's sign-off");
    assert_eq!(off.channel, Channel::SIGNOFF);
    assert_eq!(auth.next(WAIT).await.unwrap_err(), End::Closed);
    cookie
}

/// Presents `cookie` from `from` and waits for the server's HOST_ONLINE (0x0001/0x0003):
/// a signed-on BOS or service connection.
pub(crate) async fn present(relay: SocketAddr, from: IpAddr, cookie: &[u8]) -> Scripted {
    let mut conn = Scripted::connect(relay, from).await;
    conn.send(SignonHello::with_cookie(cookie.to_vec()).to_flap().unwrap())
        .await;
    let online = conn.snac().await;
    assert!(online.header.is(Family::OSERVICE, 0x0003), "{online:?}");
    conn
}
