//! Hostile and broken clients against `imtegrity run` (a child process) in front of an
//! in-process lab server: each malformed connection ends that session only, with the exact
//! answer the relay owes it (nothing but its hello and a close, or a channel-4 frame), while a
//! scripted pair logged in through the same relay keeps exchanging IMs before and after every
//! case. Also: a frame over `relay.max_frame`, and an unreachable upstream.
//!
//! The raw client here parses FLAP by hand (not with the codec under test) and every read is
//! bounded, so a relay that hangs instead of closing fails the test rather than stalling it.
//!
//! The tests at the end pin down relay bugs found on the way (messages on a connection that
//! never signed on, and missing timeouts while waiting for either side's hello).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use imtegrity_harness::{Binary, Gateway, ImRecord, search, verify_intact};
use lab::{Accounts, LabClient, LabConfig, LabServer};
use oscar::message::bucp::{TLV_PASSWORD_HASH, TLV_STRONG_HASH};
use oscar::message::signon::{TLV_ERROR_CODE, TLV_SCREEN_NAME};
use oscar::message::{KeyReply, KeyRequest, LoginReply, LoginRequest, Redirect, SignonHello};
use oscar::{Family, Flap, Snac, SnacBody, Tlv};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const IMTEGRITY: Binary = Binary::at(env!("CARGO_BIN_EXE_imtegrity"));

/// Bound on each wait for a frame, an IM or a close.
const WAIT: Duration = Duration::from_secs(5);
/// How soon the relay must close a session it has a reason to end.
const PROMPT: Duration = Duration::from_secs(2);
const NODE: &str = "hostile-test";
const PASSWORD: &str = "pw";

/// The relay's own server hello, first on every client connection: channel 1, sequence 1,
/// FLAP version 1.
const RELAY_HELLO: [u8; 10] = [0x2a, 0x01, 0x00, 0x01, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01];
/// A client's plain (login-less) hello.
const CLIENT_HELLO: [u8; 10] = RELAY_HELLO;

/// One FLAP frame as received.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Frame {
    channel: u8,
    seq: u16,
    payload: Vec<u8>,
}

impl Frame {
    fn snac(&self) -> Snac {
        assert_eq!(self.channel, 2, "not a SNAC frame: {self:?}");
        Snac::decode(self.payload.clone().into()).unwrap()
    }
}

/// How a connection ended, seen from the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// A clean close (FIN).
    Eof,
    /// The relay reset the connection (it closed with our bytes unread).
    Reset,
    /// Still open when the wait ran out: the relay is hanging on to the session.
    StillOpen,
}

/// A raw TCP client that parses FLAP frames by hand.
struct Raw {
    stream: TcpStream,
    buf: Vec<u8>,
    seq: u16,
}

impl Raw {
    /// Connects and reads the relay's hello, which must come first and be exact.
    async fn connect(relay: SocketAddr) -> Self {
        let stream = tokio::time::timeout(WAIT, TcpStream::connect(relay))
            .await
            .expect("connect in time")
            .expect("connect to the relay");
        let mut raw = Self {
            stream,
            buf: Vec::new(),
            seq: 1,
        };
        let hello = raw.frame().await;
        assert_eq!(wire(&hello), RELAY_HELLO, "the relay's hello");
        raw
    }

    async fn send_bytes(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// Sends `flap` with our next sequence number.
    async fn send(&mut self, mut flap: Flap) {
        flap.seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        let bytes = flap.to_bytes().unwrap();
        self.send_bytes(&bytes).await;
    }

    /// Sends a SNAC.
    async fn send_snac<T: SnacBody>(&mut self, body: &T, request_id: u32) {
        self.send(body.to_snac(request_id).unwrap().to_flap().unwrap())
            .await;
    }

    /// The next frame; panics if the connection ends or nothing comes within [`WAIT`].
    async fn frame(&mut self) -> Frame {
        match self.next(WAIT).await {
            Ok(frame) => frame,
            Err(end) => panic!("expected a frame, connection {end:?}"),
        }
    }

    /// The next frame, or how the connection ended instead.
    async fn next(&mut self, wait: Duration) -> Result<Frame, End> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(frame) = self.take_frame() {
                return Ok(frame);
            }
            let mut chunk = [0u8; 4096];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Err(_) => return Err(End::StillOpen),
                Ok(Ok(0)) => {
                    assert!(self.buf.is_empty(), "close mid-frame: {:02x?}", self.buf);
                    return Err(End::Eof);
                }
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                    return Err(End::Reset);
                }
                Ok(Err(e)) => panic!("read: {e}"),
            }
        }
    }

    fn take_frame(&mut self) -> Option<Frame> {
        let header: [u8; 6] = self.buf.get(..6)?.try_into().ok()?;
        assert_eq!(header[0], 0x2a, "the relay sent a bad FLAP marker");
        let len = usize::from(u16::from_be_bytes([header[4], header[5]]));
        let payload = self.buf.get(6..6 + len)?.to_vec();
        self.buf.drain(..6 + len);
        Some(Frame {
            channel: header[1],
            seq: u16::from_be_bytes([header[2], header[3]]),
            payload,
        })
    }

    /// Everything the relay still sends, and how the connection ends, within `wait`.
    async fn rest(&mut self, wait: Duration) -> (Vec<Frame>, End) {
        let deadline = tokio::time::Instant::now() + wait;
        let mut frames = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Ok(frame) => frames.push(frame),
                Err(end) => return (frames, end),
            }
        }
    }

    /// Asserts the relay closes the connection cleanly within [`PROMPT`] without sending
    /// anything more.
    async fn expect_closed(&mut self, case: &str) {
        let started = Instant::now();
        let (frames, end) = self.rest(PROMPT).await;
        assert_eq!(
            (frames, end),
            (vec![], End::Eof),
            "{case}: the relay must close the session (after {:?})",
            started.elapsed()
        );
    }

    async fn half_close(&mut self) {
        self.stream.shutdown().await.expect("shutdown(SHUT_WR)");
    }
}

/// A frame in wire form.
fn wire(frame: &Frame) -> Vec<u8> {
    let mut out = vec![0x2a, frame.channel];
    out.extend_from_slice(&frame.seq.to_be_bytes());
    out.extend_from_slice(&u16::try_from(frame.payload.len()).unwrap().to_be_bytes());
    out.extend_from_slice(&frame.payload);
    out
}

/// A FLAP header and payload built by hand, lengths as given (they may lie).
fn raw_flap(channel: u8, seq: u16, declared_len: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0x2a, channel];
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&declared_len.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// An ICBM 0x0004/0x0006 SNAC to "bob" on channel 1 whose TLV section is `tlvs`, verbatim.
fn icbm_send_with_tlvs(tlvs: &[u8]) -> Vec<u8> {
    let mut snac = vec![0x00, 0x04, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07];
    snac.extend_from_slice(b"COOKIE!!"); // ICBM cookie
    snac.extend_from_slice(&[0x00, 0x01]); // channel 1
    snac.push(3);
    snac.extend_from_slice(b"bob");
    snac.extend_from_slice(tlvs);
    snac
}

/// An IM whose TLV 0x0002 declares 0x0100 bytes and carries 4.
fn lying_outer_tlv() -> Vec<u8> {
    icbm_send_with_tlvs(&[0x00, 0x02, 0x01, 0x00, 0x05, 0x01, 0x00, 0x01])
}

/// An IM whose TLV 0x0002 is consistent but whose text fragment (0x0101) inside it declares
/// 0x0200 bytes and carries 4.
fn lying_text_fragment() -> Vec<u8> {
    icbm_send_with_tlvs(&[
        0x00, 0x02, 0x00, 0x0d, // TLV 2, 13 bytes
        0x05, 0x01, 0x00, 0x01, 0x01, // capabilities fragment
        0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, // text fragment: lies (0x200)
    ])
}

/// Logs `name` in through the relay by hand (BUCP MD5), checks the login reply hands out the
/// relay's own address, and returns the BOS connection once the lab's HOST_ONLINE arrived.
async fn sign_on_raw(relay: SocketAddr, name: &str) -> Raw {
    let mut auth = Raw::connect(relay).await;
    auth.send_bytes(&CLIENT_HELLO).await;
    auth.seq = 2;
    let mut req = KeyRequest::default();
    req.tlvs.set(TLV_SCREEN_NAME, name.as_bytes().to_vec());
    auth.send_snac(&req, 1).await;
    let key = KeyReply::from_snac(&auth.frame().await.snac()).unwrap().key;
    let mut login = LoginRequest::default();
    login.tlvs.set(TLV_SCREEN_NAME, name.as_bytes().to_vec());
    login.tlvs.set(
        TLV_PASSWORD_HASH,
        lab::strong_hash(&key, PASSWORD.as_bytes()).to_vec(),
    );
    login.tlvs.push(Tlv::flag(TLV_STRONG_HASH));
    auth.send_snac(&login, 2).await;
    let reply = LoginReply::from_snac(&auth.frame().await.snac()).unwrap();
    assert_eq!(reply.error_code(), None, "login of {name} refused");
    let address = reply.address().unwrap().unwrap();
    assert_eq!(
        (address.host.as_str(), address.port),
        ("127.0.0.1", Some(relay.port())),
        "the BOS address handed out through the relay must be the relay's"
    );
    let cookie = reply.cookie().unwrap().clone();
    // The lab closes the authorizer connection with an empty channel-4 frame.
    let (rest, end) = auth.rest(WAIT).await;
    assert_eq!(
        (rest.iter().map(|f| f.channel).collect::<Vec<_>>(), end),
        (vec![4], End::Eof)
    );

    let mut bos = Raw::connect(relay).await;
    bos.send(SignonHello::with_cookie(cookie).to_flap().unwrap())
        .await;
    let online = bos.frame().await.snac();
    assert!(
        online.header.is(Family::OSERVICE, 0x0003),
        "expected HOST_ONLINE, got {online:?}"
    );
    bos
}

/// Waits until the lab no longer has a BOS session for `name`: the relay closed its
/// upstream leg too.
async fn wait_offline(lab: &LabServer, name: &str) {
    let deadline = Instant::now() + PROMPT;
    while lab.is_online(name) {
        assert!(
            Instant::now() < deadline,
            "{name}'s upstream session outlived its client session"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Two scripted users logged in through the relay, and every IM they exchanged.
struct Pair {
    alice: LabClient,
    bob: LabClient,
    sent: Vec<ImRecord>,
}

impl Pair {
    async fn login(relay: SocketAddr) -> Self {
        Self {
            alice: LabClient::login(relay, "alice", PASSWORD).await.unwrap(),
            bob: LabClient::login(relay, "bob", PASSWORD).await.unwrap(),
            sent: Vec::new(),
        }
    }

    /// One IM each way, both delivered.
    async fn still_talk(&mut self, after: &str) {
        let there = format!("alice to bob after {after}");
        self.alice.send_im("bob", &there).await.unwrap();
        let got = self.bob.expect_im("alice", WAIT).await;
        assert_eq!(got.unwrap_or_else(|e| panic!("after {after}: {e}")), there);
        let back = format!("bob to alice after {after}");
        self.bob.send_im("alice", &back).await.unwrap();
        let got = self.alice.expect_im("bob", WAIT).await;
        assert_eq!(got.unwrap_or_else(|e| panic!("after {after}: {e}")), back);
        self.sent.push(ImRecord::new(
            "aim", "alice", "bob", "internal", "alice", &there,
        ));
        self.sent.push(ImRecord::new(
            "aim", "bob", "alice", "internal", "bob", &back,
        ));
    }
}

async fn lab_with(names: &[&str]) -> LabServer {
    LabServer::start(LabConfig {
        accounts: Accounts::from_pairs(names.iter().map(|n| (*n, PASSWORD))),
        ..LabConfig::ephemeral()
    })
    .await
    .unwrap()
}

/// The archive's IM records, sorted, with everything but the comparable fields checked.
async fn archived_ims(archive: &std::path::Path) -> Vec<ImRecord> {
    let records = search(IMTEGRITY, archive, &["--kind", "im"]).await;
    for r in &records {
        assert_eq!(r["kind"], "im", "{r}");
        assert_eq!(r["node"], NODE, "{r}");
    }
    let mut ims: Vec<ImRecord> = records.iter().map(ImRecord::from_json).collect();
    ims.sort();
    ims
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_hostile_client_ends_only_its_own_session() {
    let started = Instant::now();
    let lab = lab_with(&["alice", "bob", "carol", "dave", "erin"]).await;
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    let gw = Gateway::start(IMTEGRITY, &lab.auth_addr.to_string(), &archive, NODE, &[]).await;
    let relay = gw.relay;
    let mut pair = Pair::login(relay).await;
    pair.still_talk("login").await;

    // A bad FLAP marker where the second frame should start, after a valid hello (the relay
    // has connected upstream by then): OSCAR cannot resynchronise, so the session ends.
    let mut c = Raw::connect(relay).await;
    c.send_bytes(&CLIENT_HELLO).await;
    c.send_bytes(&[0x2b, 0x02, 0x00, 0x02, 0x00, 0x00]).await;
    c.expect_closed("bad marker").await;
    pair.still_talk("a bad FLAP marker").await;

    // The largest length a FLAP header can declare (65 535, exactly the default cap, so not
    // over it) with only part of the payload, then a half-close: the relay must not wait
    // for the rest.
    let mut c = Raw::connect(relay).await;
    c.send_bytes(&CLIENT_HELLO).await;
    c.send_bytes(&raw_flap(2, 2, u16::MAX, &[0u8; 1000])).await;
    c.half_close().await;
    c.expect_closed("a 65535-byte frame cut short").await;
    pair.still_talk("a 65535-byte frame cut short").await;

    // A truncated frame (half a header), then close.
    let mut c = Raw::connect(relay).await;
    c.send_bytes(&CLIENT_HELLO).await;
    c.send_bytes(&[0x2a, 0x02, 0x00]).await;
    c.half_close().await;
    c.expect_closed("a truncated header").await;
    pair.still_talk("a truncated header").await;

    // After a login-less hello, an IM (here one whose TLV length lies, TLV 0x0002 claims
    // 0x0100 bytes and carries 4). Messages travel only on sessions that signed on with a
    // cookie, so the relay ends this one: nothing unauthenticated reaches the archive and
    // nothing is relayed unrecorded.
    let mut c = Raw::connect(relay).await;
    c.send_bytes(&CLIENT_HELLO).await;
    c.seq = 2;
    c.send(Flap::new(oscar::Channel::DATA, lying_outer_tlv()))
        .await;
    c.expect_closed("an IM before signing on").await;
    pair.still_talk("an IM with a lying TLV length").await;

    // The same lie after a complete sign-on: the relay cannot read it, so (strict mode)
    // it is not relayed; erin is told, in her conversation with bob. Then she leaves.
    let mut erin = sign_on_raw(relay, "erin").await;
    erin.seq = 2;
    erin.send(Flap::new(oscar::Channel::DATA, lying_outer_tlv()))
        .await;
    let notice = erin.frame().await.snac();
    assert!(notice.header.is(Family::ICBM, 0x0007), "{notice:?}");
    erin.half_close().await;
    erin.expect_closed("erin left after the notice").await;
    wait_offline(&lab, "erin").await;
    pair.still_talk("a lying TLV after sign-on").await;

    // A signed-on user's IM whose text fragment lies inside a consistent TLV 0x0002: a
    // recipient's client shows nothing for it, so (strict mode) it is not relayed, and it is
    // archived as refused, with its sender and bytes. Then garbage: the session ends, and
    // so does the upstream one.
    let mut carol = sign_on_raw(relay, "carol").await;
    assert!(lab.is_online("carol"));
    carol.seq = 2;
    carol
        .send(Flap::new(oscar::Channel::DATA, lying_text_fragment()))
        .await;
    let notice = carol.frame().await.snac();
    assert!(notice.header.is(Family::ICBM, 0x0007), "{notice:?}");
    carol
        .send_bytes(b"GET / HTTP/1.1\r\nHost: imtegrity\r\n\r\n")
        .await;
    carol.expect_closed("garbage after sign-on").await;
    wait_offline(&lab, "carol").await;
    pair.still_talk("garbage after sign-on").await;

    // A cookie nobody handed out through this gateway: a channel-4 frame with error code 4,
    // then the close. Nothing is connected upstream.
    let mut c = Raw::connect(relay).await;
    c.send(
        SignonHello::with_cookie(vec![0x42u8; 256])
            .to_flap()
            .unwrap(),
    )
    .await;
    let (frames, end) = c.rest(PROMPT).await;
    assert_eq!(
        (frames, end),
        (
            vec![Frame {
                channel: 4,
                seq: 2,
                payload: [TLV_ERROR_CODE.to_be_bytes(), [0, 2], [0, 4]].concat(),
            }],
            End::Eof
        ),
        "unknown cookie"
    );
    pair.still_talk("an unknown cookie").await;

    // A connection that reads the hello, sends nothing and closes.
    let c = Raw::connect(relay).await;
    drop(c);
    pair.still_talk("a silent connection that closed").await;

    // A half-close after a complete sign-on ends the session (OSCAR has no use for one).
    let mut dave = sign_on_raw(relay, "dave").await;
    dave.half_close().await;
    dave.expect_closed("half-close after sign-on").await;
    wait_offline(&lab, "dave").await;
    pair.still_talk("a half-close after sign-on").await;

    assert!(lab.is_online("alice") && lab.is_online("bob"));
    let Pair { alice, bob, sent } = pair;
    alice.logout().await.unwrap();
    bob.logout().await.unwrap();
    let stopped = gw.stop().await;
    // alice, bob, carol, dave, erin: 2 connections each; 5 single-connection cases. The
    // connection that closed without sending a frame is not a session (it is what a health
    // check looks like).
    assert_eq!(stopped["sessions"], 15, "{stopped}");
    let mut want = sent;
    // carol's IM with the lying text fragment and erin's whose outer TLV lies: each
    // recorded once, refused, without text.
    want.push(ImRecord::new(
        "aim", "carol", "bob", "internal", "carol", "",
    ));
    want.push(ImRecord::new("aim", "erin", "bob", "internal", "erin", ""));
    want.sort();
    // And a session_start and session_end for each of the five who signed on.
    assert_eq!(stopped["records"], want.len() + 10, "{stopped}");
    assert_eq!(archived_ims(&archive).await, want);
    let from_carol = search(IMTEGRITY, &archive, &["--user", "carol", "--kind", "im"]).await;
    assert_eq!(from_carol.len(), 1, "{from_carol:#?}");
    let carol_hex: String = lying_text_fragment()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        from_carol[0]["detail"],
        format!(
            "unreadable message (a channel-1 IM whose last text fragment shows nothing), \
             not relayed; {} bytes, payload hex: {carol_hex}",
            lying_text_fragment().len()
        )
    );
    assert_eq!(from_carol[0]["raw"], "");
    let from_erin = search(IMTEGRITY, &archive, &["--user", "erin", "--kind", "im"]).await;
    assert_eq!(from_erin.len(), 1, "{from_erin:#?}");
    let detail = from_erin[0]["detail"].as_str().unwrap();
    assert!(
        detail.starts_with(
            "unreadable message (a channel-1 IM without a message-data TLV (0x0002)), not relayed"
        ),
        "{detail}"
    );
    verify_intact(IMTEGRITY, &archive).await;
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_over_relay_max_frame_ends_only_that_session() {
    let started = Instant::now();
    let lab = lab_with(&["alice", "bob"]).await;
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    let gw = Gateway::start(
        IMTEGRITY,
        &lab.auth_addr.to_string(),
        &archive,
        NODE,
        &["relay.max_frame=1024"],
    )
    .await;
    let mut pair = Pair::login(gw.relay).await;
    pair.still_talk("login").await;

    let mut c = Raw::connect(gw.relay).await;
    c.send_bytes(&CLIENT_HELLO).await;
    c.seq = 2;
    // Exactly at the cap: accepted and relayed (a keep-alive, which the lab ignores); the
    // session goes on, as the answered key request shows.
    c.send(Flap::new(oscar::Channel::KEEPALIVE, vec![0u8; 1024]))
        .await;
    let mut req = KeyRequest::default();
    req.tlvs.set(TLV_SCREEN_NAME, &b"mallory"[..]);
    c.send_snac(&req, 5).await;
    let refusal = LoginReply::from_snac(&c.frame().await.snac()).unwrap();
    assert_eq!(refusal.error_code(), Some(lab::ERR_UNKNOWN_ACCOUNT));
    // Over it: the session ends at once, though the connection stays open on our side.
    c.send(Flap::new(oscar::Channel::DATA, vec![0u8; 2000]))
        .await;
    c.expect_closed("a 2000-byte frame over a 1024-byte cap")
        .await;
    pair.still_talk("a 2000-byte frame").await;

    let Pair { alice, bob, sent } = pair;
    alice.logout().await.unwrap();
    bob.logout().await.unwrap();
    let stopped = gw.stop().await;
    assert_eq!(stopped["sessions"], 5, "{stopped}");
    // Four IMs, and alice's and bob's session_start and session_end.
    assert_eq!(stopped["records"], 8, "{stopped}");
    let mut want = sent;
    want.sort();
    assert_eq!(archived_ims(&archive).await, want);
    verify_intact(IMTEGRITY, &archive).await;
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_upstream_gets_the_client_a_channel_4_frame_promptly() {
    // A port that was just free and is closed now: connecting is refused at once.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(
        IMTEGRITY,
        &closed.to_string(),
        &dir.path().join("archive"),
        NODE,
        &[],
    )
    .await;
    for _ in 0..2 {
        let started = Instant::now();
        let mut c = Raw::connect(gw.relay).await;
        c.send_bytes(&CLIENT_HELLO).await;
        let (frames, end) = c.rest(PROMPT).await;
        // Error code 0x0014: "service temporarily unavailable".
        assert_eq!(
            (frames, end),
            (
                vec![Frame {
                    channel: 4,
                    seq: 2,
                    payload: [TLV_ERROR_CODE.to_be_bytes(), [0, 2], [0, 0x14]].concat(),
                }],
                End::Eof
            ),
        );
        assert!(started.elapsed() < PROMPT, "took {:?}", started.elapsed());
    }
    let stopped = gw.stop().await;
    assert_eq!(
        (stopped["sessions"].as_u64(), stopped["records"].as_u64()),
        (Some(2), Some(0)),
        "{stopped}"
    );
}

// Relay bugs found while writing the tests above, fixed since: each test states what the
// relay must do.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ims_on_a_connection_that_never_signed_on_are_not_archived() {
    let lab = lab_with(&["alice", "bob"]).await;
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    let gw = Gateway::start(IMTEGRITY, &lab.auth_addr.to_string(), &archive, NODE, &[]).await;
    let mut c = Raw::connect(gw.relay).await;
    c.send_bytes(&CLIENT_HELLO).await;
    c.seq = 2;
    // To the authorizer, which routes no IMs, with nobody logged in: the relay must neither
    // archive it (an empty sender, unauthenticated text) nor relay it unrecorded.
    let forged = oscar::message::IcbmSend::text(
        *b"FORGED!!",
        &oscar::ScreenName::parse(b"bob").unwrap(),
        "nobody logged in to send this",
    )
    .unwrap();
    c.send_snac(&forged, 3).await;
    c.expect_closed("an IM before signing on").await;
    let stopped = gw.stop().await;
    let records = search(IMTEGRITY, &archive, &[]).await;
    assert_eq!(stopped["records"], 0, "{records:#?}");
}

/// An in-process relay with a one-second sign-on deadline and idle timeout in front of
/// `upstream`.
async fn in_process_relay(
    upstream: SocketAddr,
) -> (SocketAddr, tokio_util::sync::CancellationToken) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let relay = std::sync::Arc::new(
        intercept::Relay::new(
            intercept::RelaySettings {
                upstream_login: upstream.into(),
                signon_timeout: Duration::from_secs(1),
                idle_timeout: Duration::from_secs(1),
                connect_timeout: Duration::from_secs(1),
                ..intercept::RelaySettings::default()
            },
            None,
        )
        .expect("relay"),
    );
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(intercept::serve(listener, relay, stop.clone()));
    (addr, stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_sends_its_hello_is_closed_by_the_signon_deadline() {
    let lab = lab_with(&["alice"]).await;
    let (relay, stop) = in_process_relay(lab.auth_addr).await;
    let mut c = Raw::connect(relay).await;
    let (frames, end) = c.rest(Duration::from_secs(4)).await;
    stop.cancel();
    assert_eq!((frames, end), (vec![], End::Eof));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_never_sends_its_hello_ends_the_session() {
    // Accepts connections and never writes.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = silent.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            open.push(stream);
        }
    });
    let (relay, stop) = in_process_relay(upstream).await;
    let mut c = Raw::connect(relay).await;
    c.send_bytes(&CLIENT_HELLO).await;
    let (frames, end) = c.rest(Duration::from_secs(4)).await;
    stop.cancel();
    held.abort();
    assert_eq!(end, End::Eof, "frames before the end: {frames:?}");
}
