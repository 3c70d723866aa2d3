//! The real libpurple AIM/ICQ client (Debian bullseye's 2.14.1 plugins inside bitlbee, driven
//! over IRC) signing on **through `imtegrity run`** (a child process) to an in-process lab
//! server: IMs with the lab's echo bot (outside the gateway) and with a scripted user behind
//! the same gateway, every one archived exactly once with the right direction; a chat room
//! that libpurple creates through chat navigation (0x000D) and joins, where it and the
//! scripted user talk, every message archived once with the joins and the leave; the capture
//! of every leg (client↔relay, relay↔authorizer, relay↔BOS/chatnav, relay↔chat) decodes in
//! tshark with no malformed frame except the chat messages tshark 4.0 cannot parse (see
//! `imtegrity_harness::malformed_packets`).
//!
//! Needs `tests/peers/install.sh` (run by `.ci/run`); skipped with a message otherwise, and a
//! failure in CI.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use imtegrity_harness::{
    AimClient, AimLogin, AimPacket, Binary, Bitlbee, Capture, Gateway, ImRecord, Peers,
    PurpleProtocol, aim_field_values, malformed_count, malformed_packets, require_peers, search,
    standard_ims, verify_intact,
};
use lab::{Accounts, LabConfig, LabServer};

const IMTEGRITY: Binary = Binary::at(env!("CARGO_BIN_EXE_imtegrity"));

/// Bound on each wait for an IM.
const WAIT: Duration = Duration::from_secs(10);
/// Bound on libpurple's whole join: chatnav redirect, rights, create, chat redirect, sign-on.
const CHAT_WAIT: Duration = Duration::from_secs(10);
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
            IMTEGRITY,
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

    // Chat, libpurple's way: oscar_join_chat() asks BOS for chat navigation (0x0001/0x0004
    // family 0x000D), creates the room there (0x000D/0x0008 → 0x000D/0x0009 room info) and
    // asks BOS for the chat service with that room (0x0001/0x0004 family 0x000E). All four
    // connections go through the relay.
    let chat_started = Instant::now();
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
    // bitlbee shows our JOIN when libpurple creates the conversation (`prplcb_conv_new`),
    // which libpurple does once the chat connection's sign-on is through: chatnav create,
    // chat redirect, cookie, versions and rates all went through the relay by then.
    aim.irc()
        .wait_for("our JOIN to #compliance", CHAT_WAIT, |l| {
            l.command == "JOIN" && l.nick() == Some("tester") && l.target() == Some("#compliance")
        })
        .await
        .unwrap_or_else(|e| panic!("libpurple did not join the room: {e}\n{}", bitlbee.log()));
    let libpurple_joined = chat_started.elapsed();

    // The scripted user joins the same room through the relay.
    let mut alice_room = alice.join_chat("compliance").await.unwrap();
    aim.irc()
        .wait_for("alice's JOIN to #compliance", WAIT, |l| {
            l.command == "JOIN" && l.nick() == Some("alice") && l.target() == Some("#compliance")
        })
        .await
        .unwrap();
    let from_libpurple = "hello room, libpurple speaking";
    aim.irc()
        .send_raw(&format!("PRIVMSG #compliance :{from_libpurple}"))
        .await
        .unwrap();
    assert_eq!(
        alice_room.expect_message("tester1", WAIT).await.unwrap(),
        from_libpurple
    );
    let from_alice = "hello libpurple, alice in the room";
    alice_room.send(from_alice).await.unwrap();
    let said = aim
        .irc()
        .wait_for("alice's message in #compliance", WAIT, |l| {
            l.command == "PRIVMSG"
                && l.nick() == Some("alice")
                && l.target() == Some("#compliance")
                && l.trailing() == Some(from_alice)
        })
        .await;
    said.unwrap_or_else(|e| panic!("no room message on IRC: {e}"));
    // Alice's own reflection comes back to her: the room echoes, the archive must not.
    assert_eq!(
        alice_room.expect_message("alice", WAIT).await.unwrap(),
        from_alice
    );
    alice_room.leave().await.unwrap();
    aim.irc()
        .wait_for("alice leaving #compliance", WAIT, |l| {
            l.nick() == Some("alice") && (l.command == "PART" || l.command == "QUIT")
        })
        .await
        .unwrap();
    let chat_took = chat_started.elapsed();
    eprintln!("chat: libpurple joined in {libpurple_joined:?}, whole chat part {chat_took:?}");
    assert!(
        chat_took < Duration::from_secs(15),
        "chat took {chat_took:?}"
    );

    aim.sign_off().await.unwrap();
    alice.logout().await.unwrap();
    let stopped = setup.gateway.stop().await;
    // Through the relay: tester1's authorizer, BOS, chatnav and chat connections, alice's
    // authorizer, BOS and chat connections. Records: four IMs, two chat messages, two joins,
    // two leaves (alice's, then tester1's as the gateway stops), and tester1's and alice's
    // session_start and session_end.
    assert_eq!(stopped["sessions"], 7, "{stopped}");
    assert_eq!(stopped["records"], 14, "{stopped}");

    let pcap = setup.capture.stop().await.unwrap();
    // tshark 4.0.17 throws on every chat message SNAC (0x000E/0x0005 send, 0x0006 receive),
    // libpurple's own included: its chat-message dissector reads a screen-name length at a
    // fixed offset 30 that no real layout has (see `malformed_packets`). Everything else must
    // decode; the chat messages themselves are checked in the archive below.
    let malformed = malformed_packets(&peers, &pcap, &setup.ports)
        .await
        .unwrap();
    let chat_message = |p: &AimPacket| matches!(p.snacs.last(), Some((0x000e, 0x0005 | 0x0006)));
    assert!(
        malformed.iter().all(chat_message),
        "tshark found malformed AIM frames other than chat messages: {malformed:?}"
    );
    // Each chat message crosses two legs to the lab and two back per member it reaches
    // (reflection included): 2 messages × (2 + 2 × 2 members) = 12 frames.
    assert_eq!(malformed.len(), 12, "{malformed:?}");
    assert_eq!(
        malformed_count(&peers, &pcap, &setup.ports).await.unwrap(),
        malformed.len()
    );
    let texts = aim_field_values(&peers, &pcap, &setup.ports, "aim.messageblock.message")
        .await
        .unwrap();
    // Each IM crosses four legs: sender→relay, relay→lab, lab→relay, relay→recipient.
    for want in [to_bot, to_tester, to_alice] {
        assert_eq!(occurrences(&texts, want), 4, "{want:?} in {texts:?}");
    }
    // Service requests (0x0001/0x0004), each seen on the client leg and again on the
    // upstream leg: at sign-on libpurple asks for alert (0x0018) and chatnav (0x000D); the
    // JOIN reuses that chatnav connection and asks for the room's chat service (0x000E), as
    // does alice's join.
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
        (
            count("0x0018"),
            count("0x000d"),
            count("0x000e"),
            services.len()
        ),
        (2, 2, 4, 8),
        "{services:?}"
    );

    let archive = setup.archive;
    // The room: both joins, each message once (not once per member that saw it, nor again
    // for its reflection), and both leaves. Each member's own join, leave and lines are
    // recorded by their own session (docs/archive.md, "Rooms and sessions").
    let room = search(IMTEGRITY, &archive, &["--room", "compliance"]).await;
    let mut got: Vec<(&str, &str, &str, &str)> = room
        .iter()
        .map(|r| {
            assert_eq!(r["room"], "compliance", "{r}");
            assert_eq!(r["conversation"], "aim:room:compliance", "{r}");
            assert_eq!(r["node"], NODE, "{r}");
            assert_eq!(r["verdict"], "allowed", "{r}");
            let s = |k: &str| r[k].as_str().unwrap_or_else(|| panic!("{k} in {r}"));
            (s("kind"), s("sender"), s("local_user"), s("text"))
        })
        .collect();
    got.sort_unstable();
    assert_eq!(
        got,
        vec![
            ("chat_join", "alice", "alice", ""),
            ("chat_join", "tester1", "tester1", ""),
            ("chat_leave", "alice", "alice", ""),
            ("chat_leave", "tester1", "tester1", ""),
            ("chat_message", "alice", "alice", from_alice),
            ("chat_message", "tester1", "tester1", from_libpurple),
        ],
        "{room:#?}"
    );
    let records = search(IMTEGRITY, &archive, &["--kind", "im"]).await;
    assert_eq!(records.len(), 4, "{records:#?}");
    assert_eq!(ims_of(&records), standard_ims(to_bot, to_tester, to_alice));
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
    let report = verify_intact(IMTEGRITY, &archive).await;
    assert_eq!(report["records"], 14, "{report}");
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
        protocol: PurpleProtocol::Icq,
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
    // Authorizer, BOS, and the chat-navigation connection libpurple opens at sign-on.
    assert_eq!(stopped["sessions"], 3, "{stopped}");
    // The IM and its echo, and the ICQ user's session_start and session_end.
    assert_eq!(stopped["records"], 4, "{stopped}");

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
    let records = search(IMTEGRITY, &archive, &["--protocol", "icq", "--kind", "im"]).await;
    let mut want = vec![
        ImRecord::new("icq", uin, "labbot", "outbound", uin, text),
        ImRecord::new("icq", "labbot", uin, "inbound", uin, text),
    ];
    want.sort();
    assert_eq!(ims_of(&records), want);
    assert!(
        search(IMTEGRITY, &archive, &["--protocol", "aim"])
            .await
            .is_empty(),
        "nothing of the ICQ session may be archived as AIM"
    );
    verify_intact(IMTEGRITY, &archive).await;
    check_duration(started);
}

/// Each test is meant to stay well under half a minute.
fn check_duration(started: Instant) {
    let took = started.elapsed();
    assert!(took < Duration::from_secs(30), "took {took:?}");
}
