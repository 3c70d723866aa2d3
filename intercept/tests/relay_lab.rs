//! Lab clients log in *through* the relay to the lab server: redirects are rewritten, the
//! follow-on connections come back through the relay, and every message is archived once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use archive::{Archive, ArchiveOptions, Direction, Kind, Query, Record};
use intercept::{CaptureMode, Relay, RelayConfig};
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
    let config = RelayConfig {
        upstream_login: lab.auth_addr.to_string(),
        mode,
        node: "gw-test".into(),
        ..RelayConfig::default()
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
            RelayConfig {
                upstream_login: closed.to_string(),
                connect_timeout: Duration::from_secs(2),
                ..RelayConfig::default()
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
