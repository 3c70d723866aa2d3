//! Lab clients log in *through* the relay to the lab server: redirects are rewritten, the
//! follow-on connections come back through the relay, and every message is archived once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use archive::{Archive, ArchiveOptions, Direction, Kind, Query, Record};
use intercept::{CaptureMode, Relay, RelaySettings};
use lab::{ClientEvent, LabClient, LabConfig, LabServer, LoginMethod};
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(5);

struct Gateway {
    addr: SocketAddr,
    relay: Arc<Relay>,
    archive: Archive,
    lab: LabServer,
    _dir: tempfile::TempDir,
    stop: CancellationToken,
}

async fn gateway(mode: CaptureMode) -> Gateway {
    let lab = LabServer::start(LabConfig::ephemeral()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let archive = Archive::open(dir.path(), ArchiveOptions::default()).unwrap();
    let config = RelaySettings {
        upstream_login: lab.auth_addr.into(),
        mode,
        node: "gw-test".into(),
        ..RelaySettings::default()
    };
    let relay = Arc::new(Relay::new(config, Some(archive.clone())).expect("relay"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    tokio::spawn(intercept::serve(listener, relay.clone(), stop.clone()));
    Gateway {
        addr,
        relay,
        archive,
        lab,
        _dir: dir,
        stop,
    }
}

async fn records(archive: &Archive) -> Vec<Record> {
    archive.sync().await.unwrap();
    archive
        .search(&Query::default())
        .map(Result::unwrap)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ims_both_ways_are_relayed_and_archived_once() {
    let gw = gateway(CaptureMode::Strict).await;
    let mut alice = LabClient::login(gw.addr, "Alice", "x").await.unwrap();
    let mut bob = LabClient::login_with(gw.addr, "bob", "y", LoginMethod::Legacy)
        .await
        .unwrap();
    alice.send_im("bob", "hello bob").await.unwrap();
    assert_eq!(bob.expect_im("alice", WAIT).await.unwrap(), "hello bob");
    bob.send_im("Alice", "привет, Алиса ☃").await.unwrap();
    assert_eq!(
        alice.expect_im("bob", WAIT).await.unwrap(),
        "привет, Алиса ☃"
    );
    // The bot is not behind the gateway: its echo is an inbound message.
    alice.send_im("labbot", "echo me").await.unwrap();
    assert_eq!(alice.expect_im("labbot", WAIT).await.unwrap(), "echo me");

    let ims: Vec<Record> = records(&gw.archive)
        .await
        .into_iter()
        .filter(|r| r.event.kind == Kind::Im)
        .collect();
    let summary: Vec<(String, String, Direction, String)> = ims
        .iter()
        .map(|r| {
            (
                r.event.sender.clone(),
                r.event.recipients.join(","),
                r.event.direction,
                r.event.text.clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "Alice".into(),
                "bob".into(),
                Direction::Internal,
                "hello bob".into()
            ),
            (
                "bob".into(),
                "Alice".into(),
                Direction::Internal,
                "привет, Алиса ☃".into()
            ),
            (
                "Alice".into(),
                "labbot".into(),
                Direction::Outbound,
                "echo me".into()
            ),
            (
                "labbot".into(),
                "Alice".into(),
                Direction::Inbound,
                "echo me".into()
            ),
        ]
    );
    assert_eq!(ims[1].event.charset.as_deref(), Some("ucs-2be"));
    assert_eq!(ims[0].event.local_user, "Alice");
    assert!(
        gw.relay
            .stats
            .rewrites
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 2
    );
    assert!(gw.archive.verify().unwrap().is_intact());
    gw.stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_room_through_the_rewritten_service_redirect() {
    let gw = gateway(CaptureMode::Strict).await;
    let mut alice = LabClient::login(gw.addr, "alice", "x").await.unwrap();
    let mut bob = LabClient::login(gw.addr, "bob", "y").await.unwrap();
    let mut a_room = alice.join_chat("Compliance").await.unwrap();
    let mut b_room = bob.join_chat("Compliance").await.unwrap();
    b_room.send("standup in 5").await.unwrap();
    assert_eq!(
        a_room.expect_message("bob", WAIT).await.unwrap(),
        "standup in 5"
    );
    assert_eq!(
        b_room.expect_message("bob", WAIT).await.unwrap(),
        "standup in 5"
    );
    a_room.send("ok").await.unwrap();
    assert_eq!(b_room.expect_message("alice", WAIT).await.unwrap(), "ok");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let chat: Vec<(Kind, String, String)> = records(&gw.archive)
        .await
        .into_iter()
        .filter(|r| r.event.room.is_some())
        .map(|r| (r.event.kind, r.event.sender, r.event.text))
        .collect();
    assert_eq!(
        chat,
        vec![
            (Kind::ChatJoin, "alice".into(), String::new()),
            (Kind::ChatJoin, "bob".into(), String::new()),
            (Kind::ChatMessage, "bob".into(), "standup in 5".into()),
            (Kind::ChatMessage, "alice".into(), "ok".into()),
        ],
        "each message once, despite reflection and two local members"
    );
    drop(a_room);
    gw.stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_is_rewritten_and_the_session_keeps_being_captured() {
    let gw = gateway(CaptureMode::Relaxed).await;
    let mut alice = LabClient::login(gw.addr, "alice", "x").await.unwrap();
    let mut bob = LabClient::login(gw.addr, "bob", "y").await.unwrap();
    assert!(gw.lab.migrate("alice").await.unwrap());
    let ClientEvent::Migrated(to) = alice
        .expect_event(WAIT, "migration", |e| matches!(e, ClientEvent::Migrated(_)))
        .await
        .unwrap()
    else {
        unreachable!()
    };
    assert_eq!(
        to,
        gw.addr.to_string(),
        "the migration points back at the gateway"
    );
    bob.send_im("alice", "after the move").await.unwrap();
    assert_eq!(
        alice.expect_im("bob", WAIT).await.unwrap(),
        "after the move"
    );
    let texts: Vec<String> = records(&gw.archive)
        .await
        .into_iter()
        .filter(|r| r.event.kind == Kind::Im)
        .map(|r| r.event.text)
        .collect();
    assert_eq!(texts, vec!["after the move".to_owned()]);
    gw.stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_cookie_gets_a_sign_off_and_an_unreachable_upstream_an_error() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let gw = gateway(CaptureMode::Strict).await;
    let mut s = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let hello = oscar::message::SignonHello::with_cookie(&b"forged"[..])
        .to_flap()
        .unwrap();
    s.write_all(&hello.to_bytes().unwrap()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(buf[..2], [0x2a, 0x01]);
    assert_eq!(buf[10..12], [0x2a, 0x04], "{buf:02x?}");

    // A relay whose upstream is a closed port tells the client instead of hanging.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let relay = Arc::new(
        Relay::new(
            RelaySettings {
                upstream_login: closed.into(),
                connect_timeout: Duration::from_secs(2),
                ..RelaySettings::default()
            },
            None,
        )
        .expect("relay"),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(intercept::serve(listener, relay, CancellationToken::new()));
    let err = LabClient::login(addr, "alice", "x").await.unwrap_err();
    assert!(
        matches!(
            err,
            lab::LabError::Closed(_) | lab::LabError::Decode(_) | lab::LabError::Protocol(_)
        ),
        "{err}"
    );
    // The first gateway still serves.
    LabClient::login(gw.addr, "carol", "z").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_offers_direct_im_requests_and_icq_messages_are_archived() {
    use bytes::{BufMut, BytesMut};
    use oscar::message::IcbmSend;
    use oscar::message::icbm::{
        CAP_DIRECT_IM, CAP_SEND_FILE, ICBM_CHANNEL_ICQ, ICBM_CHANNEL_RENDEZVOUS, TLV_CHANNEL_DATA,
        TLV_RDV_SERVICE_DATA,
    };
    use oscar::{Tlv, TlvList};

    let gw = gateway(CaptureMode::Strict).await;
    let mut alice = LabClient::login(gw.addr, "alice", "x").await.unwrap();
    // The peer is outside the gateway: it logs in to the lab directly.
    let mut outside = LabClient::login(gw.lab.auth_addr, "Buddy Out", "y")
        .await
        .unwrap();
    let to = oscar::ScreenName::parse(b"Buddy Out").unwrap();

    let rendezvous = |cookie: [u8; 8], capability: [u8; 16], service: Option<Vec<u8>>| {
        let mut inner = TlvList::new();
        if let Some(data) = service {
            inner.push(Tlv::new(TLV_RDV_SERVICE_DATA, data));
        }
        let mut data = BytesMut::new();
        data.put_u16(0); // propose
        data.put_slice(&cookie);
        data.put_slice(&capability);
        inner.encode_rest(&mut data).unwrap();
        let mut tlvs = TlvList::new();
        tlvs.push(Tlv::new(TLV_CHANNEL_DATA, data.freeze()));
        IcbmSend {
            cookie,
            channel: ICBM_CHANNEL_RENDEZVOUS,
            recipient: to.to_bytes(),
            tlvs,
        }
    };
    let mut file = BytesMut::new();
    file.put_u16(1);
    file.put_u16(1);
    file.put_u32(4096);
    file.put_slice(b"q3-report.pdf\0");
    alice
        .send_icbm(rendezvous([1; 8], CAP_SEND_FILE, Some(file.to_vec())))
        .await
        .unwrap();
    alice
        .send_icbm(rendezvous([2; 8], CAP_DIRECT_IM, None))
        .await
        .unwrap();
    // An old-style ICQ message (channel 4, little-endian).
    let mut icq = BytesMut::new();
    icq.put_u32_le(123_456);
    icq.put_u8(0x01);
    icq.put_u8(0x00);
    icq.put_u16_le(9);
    icq.put_slice(b"hi there\0");
    let mut tlvs = TlvList::new();
    tlvs.push(Tlv::new(TLV_CHANNEL_DATA, icq.freeze()));
    alice
        .send_icbm(IcbmSend {
            cookie: [3; 8],
            channel: ICBM_CHANNEL_ICQ,
            recipient: to.to_bytes(),
            tlvs,
        })
        .await
        .unwrap();
    // A text IM after them proves they all crossed (the lab delivers in order).
    alice.send_im("Buddy Out", "done").await.unwrap();
    assert_eq!(outside.expect_im("alice", WAIT).await.unwrap(), "done");

    let got: Vec<(Kind, String, Option<String>, String)> = records(&gw.archive)
        .await
        .into_iter()
        .filter(|r| r.event.kind != Kind::SessionStart)
        .map(|r| {
            (
                r.event.kind,
                r.event.recipients.join(","),
                r.event.detail,
                r.event.text,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                Kind::FileOffer,
                "Buddy Out".into(),
                Some("file q3-report.pdf, 4096 bytes".into()),
                String::new()
            ),
            (
                Kind::DirectImOffer,
                "Buddy Out".into(),
                Some("direct IM requested: messages in it would bypass the gateway".into()),
                String::new()
            ),
            (
                Kind::Im,
                "Buddy Out".into(),
                Some("ICQ channel 4, type 0x01".into()),
                "hi there".into()
            ),
            (Kind::Im, "Buddy Out".into(), None, "done".into()),
        ]
    );
    gw.stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_messages_are_archived_when_delivered_with_their_send_time() {
    let gw = gateway(CaptureMode::Strict).await;
    let mut alice = LabClient::login(gw.addr, "alice", "x").await.unwrap();
    alice
        .send_im_storable("bob", "read this when you are back")
        .await
        .unwrap();
    // The stored message has left alice's session (recorded there as sent) before she goes.
    alice.send_im("labbot", "sync").await.unwrap();
    alice.expect_im("labbot", WAIT).await.unwrap();
    alice.logout().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut bob = LabClient::login(gw.addr, "bob", "y").await.unwrap();
    bob.fetch_offline().await.unwrap();
    assert_eq!(
        bob.expect_im("alice", WAIT).await.unwrap(),
        "read this when you are back"
    );
    let offline: Vec<Record> = records(&gw.archive)
        .await
        .into_iter()
        .filter(|r| r.event.text == "read this when you are back")
        .collect();
    // Sent (bob was offline, so not behind the gateway then) and delivered at his sign-on.
    // Search orders by time, and the delivery carries the (earlier) send time: order by id.
    let mut offline = offline;
    offline.sort_by_key(|r| r.id);
    assert_eq!(offline.len(), 2, "{offline:#?}");
    assert_eq!(
        (
            offline[0].event.direction,
            offline[0].event.local_user.as_str()
        ),
        (Direction::Outbound, "alice")
    );
    let delivered = &offline[1].event;
    assert_eq!(
        (delivered.direction, delivered.local_user.as_str()),
        (Direction::Inbound, "bob")
    );
    assert_eq!(
        delivered.detail.as_deref(),
        Some("offline message delivered at sign-on")
    );
    // Recorded with the original send time (whole seconds), not the delivery time.
    let sent = offline[0].event.time_ns;
    assert!(
        delivered.time_ns <= sent && sent - delivered.time_ns < 1_000_000_000,
        "{sent} vs {}",
        delivered.time_ns
    );
    gw.stop.cancel();
}
