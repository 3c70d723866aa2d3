//! The real libpurple AIM client (bitlbee + bullseye's 2.14.1 plugins, driven over IRC)
//! against the lab directly, no gateway: it creates the room through chat navigation
//! (0x000D), joins it, and talks with a scripted member. Skipped when the peers are not
//! installed (`tests/peers/install.sh`), a failure under `CI=true`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use imtegrity_harness::{AimClient, Bitlbee, require_peers};
use lab::{Accounts, LabClient, LabConfig, LabServer};

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libpurple_creates_joins_and_talks_in_a_lab_room() {
    let Some(peers) = require_peers("libpurple_creates_joins_and_talks_in_a_lab_room") else {
        return;
    };
    let started = Instant::now();
    let lab = LabServer::start(LabConfig {
        accounts: Accounts::from_pairs([("tester1", "secret"), ("alice", "pw")]),
        ..LabConfig::ephemeral()
    })
    .await
    .unwrap();
    let bitlbee = Bitlbee::start(&peers).await.unwrap();
    let mut aim = AimClient::connect(&bitlbee, lab.auth_addr, "tester1", "secret")
        .await
        .unwrap();
    aim.irc()
        .command("chat add aim lobby #lobby")
        .await
        .unwrap();
    aim.irc()
        .wait_for("the `chat add` reply", WAIT, |l| {
            l.root_text().is_some_and(|t| {
                t.replace('\u{2}', "")
                    .starts_with("Chatroom successfully added")
            })
        })
        .await
        .unwrap();
    aim.irc().send_raw("JOIN #lobby").await.unwrap();
    aim.irc()
        .wait_for("our JOIN to #lobby", WAIT, |l| {
            l.command == "JOIN" && l.nick() == Some("tester") && l.target() == Some("#lobby")
        })
        .await
        .unwrap_or_else(|e| panic!("libpurple did not join: {e}\n{}", bitlbee.log()));

    let mut alice = LabClient::login(lab.auth_addr, "alice", "pw")
        .await
        .unwrap();
    let mut room = alice.join_chat("lobby").await.unwrap();
    aim.irc()
        .wait_for("alice's JOIN", WAIT, |l| {
            l.command == "JOIN" && l.nick() == Some("alice") && l.target() == Some("#lobby")
        })
        .await
        .unwrap();
    aim.irc()
        .send_raw("PRIVMSG #lobby :hi from libpurple")
        .await
        .unwrap();
    assert_eq!(
        room.expect_message("tester1", WAIT).await.unwrap(),
        "hi from libpurple"
    );
    room.send("hi from alice").await.unwrap();
    aim.irc()
        .wait_for("alice's message", WAIT, |l| {
            l.command == "PRIVMSG"
                && l.nick() == Some("alice")
                && l.target() == Some("#lobby")
                && l.trailing() == Some("hi from alice")
        })
        .await
        .unwrap();
    aim.sign_off().await.unwrap();
    let took = started.elapsed();
    eprintln!("direct chat test took {took:?}");
    assert!(took < Duration::from_secs(30), "took {took:?}");
}
