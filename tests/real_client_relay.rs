//! The real libpurple AIM/ICQ client (Debian bullseye's 2.14.1 plugins inside bitlbee, driven
//! over IRC) signing on **through `imtegrity run`** (a child process) to an in-process lab
//! server: IMs with the lab's echo bot (outside the gateway) and with a scripted user behind
//! the same gateway, every one archived exactly once with the right direction; the capture of
//! every leg (client↔relay, relay↔authorizer, relay↔BOS) decodes in tshark with no malformed
//! frame.
//!
//! Chat rooms are not covered: libpurple joins a room only through the chat-navigation
//! service (0x000D), which the lab does not offer (see
//! `libpurple_through_the_relay_talks_to_the_bot_and_a_scripted_user_once_each`).
//!
//! Needs `tests/peers/install.sh` (run by `.ci/run`); skipped with a message otherwise, and a
//! failure in CI.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::gateway::{Gateway, ImRecord, search, verify_intact};
use imtegrity_tests::{
    AimClient, AimLogin, Bitlbee, Capture, Peers, Protocol, aim_field_values, malformed_count,
    require_peers,
};
use lab::{Accounts, LabConfig, LabServer};

/// Bound on each wait for an IM.
const WAIT: Duration = Duration::from_secs(10);
/// How long the client gets to join a chat room before we conclude it cannot.
const CHAT_WAIT: Duration = Duration::from_secs(3);
/// The gateway's node name in records.
const NODE: &str = "relay-test";

/// A lab server behind a gateway, with a capture of every port a session touches.
struct Setup {
    lab: LabServer,
    gateway: Gateway,
    capture: Capture,
    /// Relay, authorizer, BOS and chat ports: everything decoded as AIM.
    ports: Vec<u16>,
    /// The gateway's archive directory.
    archive: PathBuf,
    /// Holds the archive and the capture file.
    _dir: tempfile::TempDir,
}

impl Setup {
    async fn start(peers: &Peers, accounts: &[(&str, &str)]) -> Self {
        let lab = LabServer::start(LabConfig {
            accounts: Accounts::from_pairs(accounts.iter().copied()),
            ..LabConfig::ephemeral()
        })
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let gateway = Gateway::start(
            &lab.auth_addr.to_string(),
            &dir.path().join("archive"),
            NODE,
            &[],
        )
        .await;
        let ports = vec![
            gateway.relay.port(),
            lab.auth_addr.port(),
            lab.bos_addr.port(),
            lab.chat_addr.port(),
        ];
        let capture = Capture::start(peers, &ports, &dir.path().join("relay.pcapng"))
            .await
            .unwrap();
        Self {
            lab,
            gateway,
            capture,
            ports,
            archive: dir.path().join("archive"),
            _dir: dir,
        }
    }
}

/// Every archived record must be an IM, from this gateway, with a loopback client address;
/// returns them as comparable values, sorted.
fn ims_of(records: &[serde_json::Value]) -> Vec<ImRecord> {
    for r in records {
        assert_eq!(r["kind"], "im", "{r}");
        assert_eq!(r["node"], NODE, "{r}");
        assert!(
            r["client_addr"]
                .as_str()
                .is_some_and(|a| a.starts_with("127.0.0.1:")),
            "{r}"
        );
        assert_eq!(r["verdict"], "allowed", "{r}");
    }
    let mut ims: Vec<ImRecord> = records.iter().map(ImRecord::from_json).collect();
    ims.sort();
    ims
}

/// How many of `values` contain `text`.
fn occurrences(values: &[String], text: &str) -> usize {
    values.iter().filter(|v| v.contains(text)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libpurple_through_the_relay_talks_to_the_bot_and_a_scripted_user_once_each() {
    let Some(peers) =
        require_peers("libpurple_through_the_relay_talks_to_the_bot_and_a_scripted_user_once_each")
    else {
        return;
    };
    let started = Instant::now();
    let setup = Setup::start(&peers, &[("tester1", "secret"), ("alice", "pw")]).await;
    let bitlbee = Bitlbee::start(&peers).await.unwrap();
    let mut aim = AimClient::connect(&bitlbee, setup.gateway.relay, "tester1", "secret")
        .await
        .unwrap_or_else(|e| panic!("libpurple could not sign on through the relay: {e}"));
    assert!(setup.lab.is_online("tester1"), "the lab has no BOS session");

    // The bot is outside the gateway: one outbound and one inbound record.
    let to_bot = "hello labbot, via the gateway";
    aim.send_im("labbot", to_bot).await.unwrap();
    let echo = aim.wait_im("labbot", to_bot, WAIT).await;
    let echo = echo.unwrap_or_else(|e| panic!("no echo: {e}\n{}", bitlbee.log()));
    assert_eq!(echo.text, to_bot);

    // A scripted user behind the same gateway: internal, recorded once per message.
    let mut alice = lab::LabClient::login(setup.gateway.relay, "alice", "pw")
        .await
        .unwrap();
    let to_tester = "hi tester1, alice here through the gateway";
    alice.send_im("tester1", to_tester).await.unwrap();
    let got = aim.wait_im("alice", to_tester, WAIT).await;
    assert_eq!(
        got.unwrap_or_else(|e| panic!("{e}")).text,
        to_tester,
        "libpurple got alice's IM"
    );
    let to_alice = "hello alice, libpurple answering";
    aim.send_im("alice", to_alice).await.unwrap();
    assert_eq!(alice.expect_im("tester1", WAIT).await.unwrap(), to_alice);

    // Chat: libpurple's oscar_join_chat() asks BOS for the chat-navigation service
    // (0x0001/0x0004 for family 0x000D, "chatnav does not exist, opening chatnav" in its
    // debug log) and creates the room there; only the chatnav answer (0x000D/0x0009) leads
    // to the chat service request the lab understands. The lab offers no chatnav, so the
    // JOIN never completes and room traffic through the relay cannot be tested with the
    // real client. We check that the request at least went through the relay unchanged (in
    // the capture below) and that no join happened; if this starts failing because the
    // client joined, the lab grew chatnav: add the room checks here.
    aim.irc()
        .command("chat add aim compliance #compliance")
        .await
        .unwrap();
    aim.irc()
        .wait_for("the `chat add` reply", WAIT, |l| {
            // bitlbee puts the command in bold (^B).
            l.root_text().map(|t| t.replace('\u{2}', "")).as_deref()
                == Some("Chatroom successfully added, join with /join #compliance")
        })
        .await
        .unwrap();
    aim.irc().send_raw("JOIN #compliance").await.unwrap();
    let joined = aim
        .irc()
        .wait_for("our JOIN to #compliance", CHAT_WAIT, |l| {
            l.command == "JOIN" && l.target() == Some("#compliance")
        })
        .await;
    assert!(
        joined.is_err(),
        "libpurple joined a room without chatnav: {joined:?}"
    );

    aim.sign_off().await.unwrap();
    alice.logout().await.unwrap();
    let stopped = setup.gateway.stop().await;
    // tester1 and alice: one authorizer and one BOS connection each, all through the relay.
    assert_eq!(stopped["sessions"], 4, "{stopped}");
    assert_eq!(stopped["records"], 4, "{stopped}");

    let pcap = setup.capture.stop().await.unwrap();
    assert_eq!(
        malformed_count(&peers, &pcap, &setup.ports).await.unwrap(),
        0,
        "tshark found malformed AIM frames on the relay or lab ports"
    );
    let texts = aim_field_values(&peers, &pcap, &setup.ports, "aim.messageblock.message")
        .await
        .unwrap();
    // Each IM crosses four legs: sender→relay, relay→lab, lab→relay, relay→recipient.
    for want in [to_bot, to_tester, to_alice] {
        assert_eq!(occurrences(&texts, want), 4, "{want:?} in {texts:?}");
    }
    // Service requests (0x0001/0x0004), each seen on the client leg and again on the
    // upstream leg: at sign-on libpurple asks for alert (0x0018) and chatnav (0x000D), and
    // the JOIN asks for chatnav once more. The lab answers none of them.
    let services = aim_field_values(
        &peers,
        &pcap,
        &setup.ports,
        "aim_generic.servicereq.service",
    )
    .await
    .unwrap();
    let count = |family: &str| services.iter().filter(|s| *s == family).count();
    assert_eq!(
        (count("0x0018"), count("0x000d"), services.len()),
        (2, 4, 6),
        "{services:?}"
    );

    let archive = setup.archive;
    let records = search(&archive, &[]).await;
    assert_eq!(records.len(), 4, "{records:#?}");
    let want = {
        let mut v = vec![
            ImRecord::new("aim", "tester1", "labbot", "outbound", "tester1", to_bot),
            ImRecord::new("aim", "labbot", "tester1", "inbound", "tester1", to_bot),
            ImRecord::new("aim", "alice", "tester1", "internal", "alice", to_tester),
            ImRecord::new("aim", "tester1", "alice", "internal", "tester1", to_alice),
        ];
        v.sort();
        v
    };
    assert_eq!(ims_of(&records), want);
    // libpurple wraps what it sends in HTML; the record keeps it as sent.
    let raw_of = |text: &str, sender: &str| {
        records
            .iter()
            .find(|r| r["text"] == text && r["sender"] == sender)
            .map(|r| r["raw"].as_str().unwrap().to_owned())
            .unwrap()
    };
    assert_eq!(
        raw_of(to_alice, "tester1"),
        format!("<HTML><BODY>{to_alice}</BODY></HTML>")
    );
    assert_eq!(raw_of(to_tester, "alice"), to_tester);
    let report = verify_intact(&archive).await;
    assert_eq!(report["records"], 4, "{report}");
    check_duration(started);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libpurple_icq_uin_through_the_relay_is_archived_as_icq() {
    let Some(peers) = require_peers("libpurple_icq_uin_through_the_relay_is_archived_as_icq")
    else {
        return;
    };
    let started = Instant::now();
    let uin = "123456789";
    let setup = Setup::start(&peers, &[(uin, "secret")]).await;
    let bitlbee = Bitlbee::start(&peers).await.unwrap();
    let login = AimLogin {
        protocol: Protocol::Icq,
        ..AimLogin::new(setup.gateway.relay, uin, "secret")
    };
    let mut icq = AimClient::connect_with(&bitlbee, &login)
        .await
        .unwrap_or_else(|e| panic!("libpurple ICQ could not sign on through the relay: {e}"));
    assert_eq!(icq.tag(), "icq");
    let text = "icq hello to the bot, via the gateway";
    icq.send_im("labbot", text).await.unwrap();
    let echo = icq.wait_im("labbot", text, WAIT).await;
    assert_eq!(
        echo.unwrap_or_else(|e| panic!("no echo: {e}\n{}", bitlbee.log()))
            .text,
        text
    );
    icq.sign_off().await.unwrap();
    let stopped = setup.gateway.stop().await;
    assert_eq!(stopped["sessions"], 2, "{stopped}");
    assert_eq!(stopped["records"], 2, "{stopped}");

    let pcap = setup.capture.stop().await.unwrap();
    assert_eq!(
        malformed_count(&peers, &pcap, &setup.ports).await.unwrap(),
        0,
        "tshark found malformed AIM frames"
    );
    let texts = aim_field_values(&peers, &pcap, &setup.ports, "aim.messageblock.message")
        .await
        .unwrap();
    assert_eq!(occurrences(&texts, text), 4, "{texts:?}");

    let archive = setup.archive;
    let records = search(&archive, &["--protocol", "icq"]).await;
    let mut want = vec![
        ImRecord::new("icq", uin, "labbot", "outbound", uin, text),
        ImRecord::new("icq", "labbot", uin, "inbound", uin, text),
    ];
    want.sort();
    assert_eq!(ims_of(&records), want);
    assert!(
        search(&archive, &["--protocol", "aim"]).await.is_empty(),
        "nothing of the ICQ session may be archived as AIM"
    );
    verify_intact(&archive).await;
    check_duration(started);
}

/// Each test is meant to stay well under half a minute.
fn check_duration(started: Instant) {
    let took = started.elapsed();
    assert!(took < Duration::from_secs(30), "took {took:?}");
}
