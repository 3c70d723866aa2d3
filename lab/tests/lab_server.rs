//! The lab server and scripted client against each other over real loopback sockets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use lab::{Accounts, ClientEvent, LabClient, LabConfig, LabError, LabServer, LoginMethod};
use oscar::message::icbm::TypingEvent;

const WAIT: Duration = Duration::from_secs(5);

async fn server_with(accounts: Accounts) -> LabServer {
    LabServer::start(LabConfig {
        accounts,
        ..LabConfig::ephemeral()
    })
    .await
    .unwrap()
}

fn accounts() -> Accounts {
    Accounts::from_pairs([("Alice", "wonderland"), ("bob", "builder"), ("carol", "c")])
}

#[tokio::test]
async fn every_login_method_succeeds_with_the_right_password() {
    let lab = server_with(accounts()).await;
    for method in [
        LoginMethod::Md5Strong,
        LoginMethod::Md5Weak,
        LoginMethod::Legacy,
    ] {
        let client = LabClient::login_with(lab.auth_addr, "alice", "wonderland", method)
            .await
            .unwrap_or_else(|e| panic!("{method:?}: {e}"));
        assert_eq!(client.screen_name.display(), "alice");
        assert!(lab.is_online("Alice"));
        client.logout().await.unwrap();
    }
}

#[tokio::test]
async fn wrong_password_and_unknown_account_get_the_error_tlv() {
    let lab = server_with(accounts()).await;
    for method in [
        LoginMethod::Md5Strong,
        LoginMethod::Md5Weak,
        LoginMethod::Legacy,
    ] {
        let err = LabClient::login_with(lab.auth_addr, "alice", "nope", method)
            .await
            .unwrap_err();
        assert!(
            matches!(err, LabError::LoginRefused { code } if code == lab::ERR_BAD_PASSWORD),
            "{method:?}: {err}"
        );
    }
    let err = LabClient::login(lab.auth_addr, "mallory", "x")
        .await
        .unwrap_err();
    assert!(matches!(err, LabError::LoginRefused { code } if code == lab::ERR_UNKNOWN_ACCOUNT));
}

#[tokio::test]
async fn ims_route_between_users_with_presence_and_typing() {
    let lab = server_with(Accounts::AnyPassword).await;
    let mut alice = LabClient::login(lab.auth_addr, "alice", "x").await.unwrap();
    let mut bob = LabClient::login(lab.auth_addr, "Bob", "y").await.unwrap();
    alice
        .expect_event(
            WAIT,
            "bob arrives",
            |e| matches!(e, ClientEvent::BuddyArrived(n) if n.normalized() == "bob"),
        )
        .await
        .unwrap();
    alice.send_typing("bob", TypingEvent::BEGUN).await.unwrap();
    bob.expect_event(WAIT, "typing", |e| {
        matches!(e, ClientEvent::Typing { from, event } if from.normalized() == "alice" && *event == TypingEvent::BEGUN)
    })
    .await
    .unwrap();
    alice.send_im("bob", "hello bob, café ☃").await.unwrap();
    assert_eq!(
        bob.expect_im("alice", WAIT).await.unwrap(),
        "hello bob, café ☃"
    );
    bob.send_im("alice", "hi alice").await.unwrap();
    assert_eq!(alice.expect_im("bob", WAIT).await.unwrap(), "hi alice");
    bob.logout().await.unwrap();
    alice
        .expect_event(
            WAIT,
            "bob departs",
            |e| matches!(e, ClientEvent::BuddyDeparted(n) if n.normalized() == "bob"),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn im_to_someone_offline_is_an_icbm_error() {
    let lab = server_with(Accounts::AnyPassword).await;
    let mut alice = LabClient::login(lab.auth_addr, "alice", "x").await.unwrap();
    alice.send_im("nobody", "anyone there?").await.unwrap();
    alice
        .expect_event(WAIT, "ICBM error", |e| matches!(e, ClientEvent::ImError(4)))
        .await
        .unwrap();
}

#[tokio::test]
async fn the_bot_echoes() {
    let lab = server_with(Accounts::AnyPassword).await;
    let mut alice = LabClient::login(lab.auth_addr, "alice", "x").await.unwrap();
    alice
        .send_im(lab::DEFAULT_BOT, "ping <b>bold</b>")
        .await
        .unwrap();
    assert_eq!(alice.expect_im("labbot", WAIT).await.unwrap(), "ping bold");
}

#[tokio::test]
async fn chat_room_through_the_service_redirect() {
    let lab = server_with(Accounts::AnyPassword).await;
    let mut alice = LabClient::login(lab.auth_addr, "alice", "x").await.unwrap();
    let mut bob = LabClient::login(lab.auth_addr, "bob", "y").await.unwrap();
    let mut a_room = alice.join_chat("compliance").await.unwrap();
    let mut b_room = bob.join_chat("compliance").await.unwrap();
    a_room
        .next_event(WAIT)
        .await
        .map(|e| assert!(matches!(e, ClientEvent::ChatJoined(n) if n[0].normalized() == "bob")))
        .unwrap();
    b_room.send("hello room").await.unwrap();
    assert_eq!(
        a_room.expect_message("bob", WAIT).await.unwrap(),
        "hello room"
    );
    // Reflection: the sender gets its own message back too.
    assert_eq!(
        b_room.expect_message("bob", WAIT).await.unwrap(),
        "hello room"
    );
    b_room.leave().await.unwrap();
    a_room
        .next_event(WAIT)
        .await
        .map(|e| assert!(matches!(e, ClientEvent::ChatLeft(n) if n[0].normalized() == "bob")))
        .unwrap();
}

#[tokio::test]
async fn migration_moves_the_session_and_ims_still_flow() {
    let lab = server_with(Accounts::AnyPassword).await;
    let mut alice = LabClient::login(lab.auth_addr, "alice", "x").await.unwrap();
    let mut bob = LabClient::login(lab.auth_addr, "bob", "y").await.unwrap();
    assert!(lab.migrate("alice").await.unwrap());
    alice
        .expect_event(WAIT, "migration", |e| matches!(e, ClientEvent::Migrated(_)))
        .await
        .unwrap();
    bob.send_im("alice", "after the move").await.unwrap();
    assert_eq!(
        alice.expect_im("bob", WAIT).await.unwrap(),
        "after the move"
    );
    assert!(!lab.migrate("nobody").await.unwrap());
}

#[tokio::test]
async fn garbage_on_a_listener_ends_that_connection_only() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let lab = server_with(Accounts::AnyPassword).await;
    for addr in [lab.auth_addr, lab.bos_addr, lab.chat_addr] {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let mut buf = Vec::new();
        // The server sends its hello, then closes on the bad marker.
        tokio::time::timeout(WAIT, s.read_to_end(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf[..2], &[0x2a, 0x01]);
    }
    // An unknown cookie on BOS is refused with a sign-off, not a hang.
    let mut s = tokio::net::TcpStream::connect(lab.bos_addr).await.unwrap();
    let hello = oscar::message::SignonHello::with_cookie(&b"forged"[..])
        .to_flap()
        .unwrap();
    s.write_all(&hello.to_bytes().unwrap()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        buf[10..12],
        [0x2a, 0x04],
        "hello then channel-4 sign-off: {buf:02x?}"
    );
    // The server still serves others.
    LabClient::login(lab.auth_addr, "alice", "x").await.unwrap();
}

#[tokio::test]
async fn chatnav_creates_the_room_that_the_chat_service_joins() {
    let lab = server_with(Accounts::AnyPassword).await;
    let mut alice = LabClient::login(lab.auth_addr, "alice", "x").await.unwrap();
    let mut bob = LabClient::login(lab.auth_addr, "bob", "y").await.unwrap();
    // libpurple's path: chatnav (on the BOS listener), rights, create by name.
    let room = alice.create_room("compliance").await.unwrap();
    assert_eq!(room, lab::room_for("compliance"));
    assert_eq!(room.name(), "compliance");
    let mut a_room = alice.join_room(&room).await.unwrap();
    // The scripted shortcut lands in the same room.
    let mut b_room = bob.join_chat("compliance").await.unwrap();
    a_room
        .expect_event(
            WAIT,
            "bob joins",
            |e| matches!(e, ClientEvent::ChatJoined(n) if n[0].normalized() == "bob"),
        )
        .await
        .unwrap();
    a_room.send("created via chatnav").await.unwrap();
    assert_eq!(
        b_room.expect_message("alice", WAIT).await.unwrap(),
        "created via chatnav"
    );
    // Creating an existing room answers with the same room.
    assert_eq!(bob.create_room("compliance").await.unwrap(), room);
}

#[tokio::test]
async fn chatnav_refuses_an_empty_room_name() {
    let lab = server_with(Accounts::AnyPassword).await;
    let mut alice = LabClient::login(lab.auth_addr, "alice", "x").await.unwrap();
    let err = alice.create_room("  ").await.unwrap_err();
    assert!(
        matches!(&err, LabError::Protocol(m) if m.contains("0x000d")),
        "{err}"
    );
    // The session survives the refusal.
    assert_eq!(
        alice.create_room("after").await.unwrap(),
        lab::room_for("after")
    );
}
