//! The compliance policy with the real client: libpurple's AIM plugin (Debian bullseye's
//! 2.14.1, inside bitlbee, driven over IRC) signs on through `imtegrity run --config FILE`
//! whose `[policy]` disclaims, blocks, strips file offers, alerts and excludes, while scripted
//! users talk to it from outside the gateway (straight to the lab):
//!
//! - the disclaimer reaches both parties before the first message of a conversation, whoever
//!   starts it;
//! - a message with the banned word is not delivered, and libpurple gets the gateway's notice
//!   in the same conversation (bitlbee shows it as a message from the other party);
//! - a file libpurple offers (bitlbee's DCC SEND from the IRC side, which libpurple turns into
//!   an OSCAR rendezvous proposal) never reaches the other party, and libpurple gets the
//!   notice; a file offered to libpurple never reaches it, and the sender gets the notice;
//! - a message with an alert keyword is delivered, archived as alerted and posted to a
//!   webhook on loopback (without its text);
//! - a message to the employee-assistance line is delivered and its text is not archived;
//! - editing the config file changes the banned word for new messages, without dropping the
//!   session;
//! - and throughout, libpurple stays signed on: the relay injects notices and disclaimers and
//!   drops frames, renumbering each leg's FLAP sequence numbers, and bitlbee shows no
//!   disconnect, login error or reconnect.
//!
//! A capture of every leg shows, decoded by tshark, that what was blocked never left the
//! gateway towards the lab (nor, for the offer to libpurple, towards libpurple), and that
//! every leg's FLAP sequence numbers have no gap and no repeat. That last check is the one
//! that matters for other clients: libpurple 2.14.1 records the sequence number of each FLAP
//! it reads and never compares it (`flap_connection.c`), so its staying signed on proves
//! the framing, not the numbering. Plain loopback, as in `real_client_relay.rs`.
//!
//! Needs `tests/peers/install.sh` (run by `.ci/run`); skipped with a message otherwise, and a
//! failure in CI.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use imtegrity_harness::{
    AimClient, Binary, Bitlbee, Capture, FieldRow, Gateway, IrcLine, Peers, field_rows,
    malformed_count, require_peers, search, verify_intact,
};
use lab::{Accounts, ClientEvent, LabClient, LabConfig, LabServer};
use oscar::ScreenName;
use oscar::message::icbm::{CAP_SEND_FILE, IcbmSend, TLV_MESSAGE_DATA, TLV_RDV_SERVICE_DATA};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const IMTEGRITY: Binary = Binary::at(env!("CARGO_BIN_EXE_imtegrity"));

/// Bound on each wait for an IM.
const WAIT: Duration = Duration::from_secs(10);
/// How long a message that must not arrive is waited for.
const QUIET: Duration = Duration::from_millis(1500);
/// The gateway's node name in records.
const NODE: &str = "policy-real";
const DISCLAIMER: &str = "[IMtegrity] This conversation is recorded by Example Corp.";
const BLOCK_REASON: &str = "that word is not allowed";
const FILE_REASON: &str = "file transfers are not recorded, so they are blocked";

/// The policy under test: `blocked_word` is what the `banned-word` rule blocks.
fn config_text(webhook: SocketAddr, blocked_word: &str) -> String {
    format!(
        r#"[policy]
default_profile = "standard"

[policy.profiles.standard]
disclaimer = "{DISCLAIMER}"
notice = "[IMtegrity] Not delivered: {{reason}}"
notice_interval_secs = 1
alert_webhook = "http://{webhook}/imtegrity/alerts"

[[policy.profiles.standard.rules]]
name = "eap-line"
remote = ["eapcounsel"]
action = "no_log"

[[policy.profiles.standard.rules]]
name = "no-files"
kinds = ["file", "direct_im"]
action = "block"
reason = "{FILE_REASON}"

[[policy.profiles.standard.rules]]
name = "banned-word"
keywords = ["{blocked_word}"]
action = "block"
reason = "{BLOCK_REASON}"

[[policy.profiles.standard.rules]]
name = "insider-talk"
keywords = ["insider"]
action = "alert"
"#
    )
}

/// What the gateway tells a blocked sender, by the notice template above.
fn notice(reason: &str) -> String {
    format!("[IMtegrity] Not delivered: {reason}")
}

/// A file-transfer proposal to `to`, laid out as libpurple sends one (ICBM channel 2,
/// rendezvous type 0 with the send-file capability, oscar.md §4.3): request number, the
/// sender's address and listening port, and the file's name and size.
fn file_proposal(to: &str, name: &str, size: u32) -> IcbmSend {
    let cookie = *b"rdv-0001";
    let mut rendezvous = Vec::new();
    rendezvous.extend_from_slice(&0_u16.to_be_bytes()); // propose
    rendezvous.extend_from_slice(&cookie);
    rendezvous.extend_from_slice(&CAP_SEND_FILE);
    let mut service = Vec::new();
    service.extend_from_slice(&1_u16.to_be_bytes()); // single file, not multiple
    service.extend_from_slice(&1_u16.to_be_bytes()); // file count
    service.extend_from_slice(&size.to_be_bytes());
    service.extend_from_slice(name.as_bytes());
    service.push(0);
    for (kind, value) in [
        (0x000a, &1_u16.to_be_bytes()[..]),          // first proposal
        (0x000f, &[][..]),                           // request host check
        (0x0003, &Ipv4Addr::LOCALHOST.octets()[..]), // requester IP
        (0x0005, &5999_u16.to_be_bytes()[..]),       // and port
        (TLV_RDV_SERVICE_DATA, &service[..]),
    ] {
        rendezvous.extend_from_slice(&u16::to_be_bytes(kind));
        rendezvous.extend_from_slice(&u16::try_from(value.len()).unwrap().to_be_bytes());
        rendezvous.extend_from_slice(value);
    }
    let mut offer =
        IcbmSend::text(cookie, &ScreenName::parse(to.as_bytes()).unwrap(), "-").unwrap();
    offer.channel = 2;
    offer.tlvs.remove(TLV_MESSAGE_DATA);
    offer.tlvs.set(0x0005, rendezvous);
    offer
}

/// A webhook receiver on loopback: answers every POST with 204 and hands over its path and
/// body. Stopped when dropped.
struct Webhook {
    addr: SocketAddr,
    posts: mpsc::UnboundedReceiver<(String, String)>,
    task: tokio::task::JoinHandle<()>,
}

impl Webhook {
    async fn start() -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, posts) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    if let Ok(Some(post)) = tokio::time::timeout(WAIT, read_post(&mut stream)).await
                    {
                        let _ = stream
                            .write_all(
                                b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                            )
                            .await;
                        let _ = tx.send(post);
                    }
                });
            }
        });
        Self { addr, posts, task }
    }

    /// The next post within `wait`, as (path, JSON body).
    async fn next(&mut self, wait: Duration) -> Option<(String, Value)> {
        let (path, body) = tokio::time::timeout(wait, self.posts.recv())
            .await
            .ok()
            .flatten()?;
        let body = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("webhook body is not JSON: {body:?}: {e}"));
        Some((path, body))
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One HTTP/1.1 POST with a Content-Length body: (path, body); `None` for anything else.
async fn read_post(stream: &mut tokio::net::TcpStream) -> Option<(String, String)> {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 64 * 1024 {
            return None;
        }
        let mut chunk = [0_u8; 4096];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(chunk.get(..n)?);
    };
    let head = String::from_utf8_lossy(buf.get(..head_end)?).into_owned();
    let mut lines = head.lines();
    let mut request = lines.next()?.split(' ');
    if request.next()? != "POST" {
        return None;
    }
    let path = request.next()?.to_owned();
    let length: usize = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())?;
    let mut body = buf.get(head_end..)?.to_vec();
    while body.len() < length {
        let mut chunk = [0_u8; 4096];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(chunk.get(..n)?);
    }
    Some((path, String::from_utf8_lossy(&body).into_owned()))
}

/// The next IM `client` gets from `from` within `wait`, if any.
async fn im_within(client: &mut LabClient, from: &str, wait: Duration) -> Option<String> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match client.next_event(left).await {
            Ok(ClientEvent::Im {
                from: who, plain, ..
            }) if who.normalized() == from => return Some(plain),
            Ok(ClientEvent::Disconnected) => panic!("{} was disconnected", client.screen_name),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
}

/// Where in `lines` the first IM from screen name `from` ending with `text` is.
fn position(lines: &[IrcLine], from: &str, text: &str) -> Option<usize> {
    lines.iter().position(|l| {
        l.command == "PRIVMSG"
            && l.host() == Some("aim")
            && l.user().is_some_and(|u| u.eq_ignore_ascii_case(from))
            && l.trailing().is_some_and(|t| t.ends_with(text))
    })
}

/// bitlbee's account messages (`aim - ...` from root) in `lines` that say the session ended
/// or started again.
fn session_breaks(lines: &[IrcLine]) -> Vec<String> {
    lines
        .iter()
        .filter_map(IrcLine::root_text)
        .filter(|t| {
            t.starts_with("aim - ")
                && [
                    "Disconnected",
                    "Login error",
                    "Reconnecting",
                    "Logging in",
                    "Signing off",
                    "Error",
                ]
                .iter()
                .any(|w| t.contains(w))
        })
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libpurple_under_policy_is_disclaimed_blocked_stripped_alerted_and_stays_signed_on() {
    let Some(peers) = require_peers(
        "libpurple_under_policy_is_disclaimed_blocked_stripped_alerted_and_stays_signed_on",
    ) else {
        return;
    };
    let started = Instant::now();
    let mut webhook = Webhook::start().await;
    let lab = LabServer::start(LabConfig {
        accounts: Accounts::from_pairs([
            ("tester1", "secret"),
            ("bob", "pw"),
            ("carol", "pw"),
            ("dave", "pw"),
            ("eapcounsel", "pw"),
        ]),
        ..LabConfig::ephemeral()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("imtegrity.toml");
    std::fs::write(&config, config_text(webhook.addr, "forbidden")).unwrap();
    let archive = dir.path().join("archive");
    let mut gw = Gateway::start_with(
        IMTEGRITY,
        &["--config", config.to_str().unwrap()],
        &lab.auth_addr.to_string(),
        &archive,
        NODE,
        &[],
    )
    .await;
    let ports = vec![
        gw.relay.port(),
        lab.auth_addr.port(),
        lab.bos_addr.port(),
        lab.chat_addr.port(),
    ];
    let capture = Capture::start(&peers, &ports, &dir.path().join("policy.pcapng"))
        .await
        .unwrap();
    let bitlbee = Bitlbee::start_with_debug(&peers).await.unwrap();
    let mut aim = AimClient::connect(&bitlbee, gw.relay, "tester1", "secret")
        .await
        .unwrap_or_else(|e| panic!("libpurple could not sign on through the relay: {e}"));
    // Everything bitlbee says from here on must not show the session ending.
    let signed_on = aim.irc().mark();
    // 1. A file offer to carol: bitlbee fetches it over DCC, libpurple proposes the transfer
    // (ICBM channel 2), the gateway drops the proposal and tells libpurple why, in the
    // conversation with carol. carol is not signed on: the lab announces every user to
    // everyone with user info that lists no capabilities, and libpurple offers no file to a
    // screen name it knows without the send-file capability (`oscar_can_receive_file`). The
    // capture shows the proposal never left the gateway towards the lab.
    let file = b"Q3 numbers: not for outside eyes\n".repeat(32);
    aim.send_file("carol", "q3-report.pdf", &file)
        .await
        .unwrap_or_else(|e| panic!("bitlbee did not take the file: {e}\n{}", bitlbee.log()));
    let file_notice = aim
        .wait_im("carol", &notice(FILE_REASON), WAIT)
        .await
        .unwrap_or_else(|e| panic!("no notice for the file: {e}\n{}", bitlbee.log()));
    assert_eq!(file_notice.text, notice(FILE_REASON));

    // And the other way: carol, now signed on, offers libpurple a file. The gateway strips
    // the proposal before libpurple sees it (bitlbee would pass it on as a CTCP DCC SEND
    // from carol), and carol is told.
    let mut carol = LabClient::login(lab.auth_addr, "carol", "pw")
        .await
        .unwrap();
    let mark = aim.irc().mark();
    carol
        .send_icbm(file_proposal("tester1", "q4-plan.xls", 4096))
        .await
        .unwrap();
    assert_eq!(
        carol.expect_im("tester1", WAIT).await.unwrap(),
        notice(FILE_REASON)
    );
    aim.irc().read_for(QUIET).await.unwrap();
    let offered: Vec<&str> = aim
        .irc()
        .lines_since(mark)
        .iter()
        .map(|l| l.raw.as_str())
        .filter(|l| l.contains("DCC") || l.contains("q4-plan"))
        .collect();
    assert!(offered.is_empty(), "libpurple saw the offer: {offered:?}");

    let (mut bob, mut dave, mut eap) = (
        LabClient::login(lab.auth_addr, "bob", "pw").await.unwrap(),
        LabClient::login(lab.auth_addr, "dave", "pw").await.unwrap(),
        LabClient::login(lab.auth_addr, "eapcounsel", "pw")
            .await
            .unwrap(),
    );

    // 2. The first message to bob: the disclaimer reaches both parties before it.
    let mark = aim.irc().mark();
    aim.send_im("bob", "good morning bob").await.unwrap();
    assert_eq!(bob.expect_im("tester1", WAIT).await.unwrap(), DISCLAIMER);
    assert_eq!(
        bob.expect_im("tester1", WAIT).await.unwrap(),
        "good morning bob"
    );
    aim.wait_im("bob", DISCLAIMER, WAIT).await.unwrap();

    // 3. The banned word: not delivered; libpurple is told, in the conversation with bob.
    let blocked = "a forbidden thing";
    aim.send_im("bob", blocked).await.unwrap();
    let told = aim.wait_im("bob", &notice(BLOCK_REASON), WAIT).await;
    assert_eq!(told.unwrap().text, notice(BLOCK_REASON));
    assert_eq!(im_within(&mut bob, "tester1", QUIET).await, None);

    // 4. An alert keyword: delivered, and posted to the webhook without the text.
    let alerted = "an insider tip for you";
    aim.send_im("bob", alerted).await.unwrap();
    assert_eq!(bob.expect_im("tester1", WAIT).await.unwrap(), alerted);
    let (path, alert) = webhook.next(WAIT).await.expect("the alert is posted");
    assert_eq!(path, "/imtegrity/alerts");
    assert_eq!(alert["event"], "policy_alert", "{alert}");
    assert_eq!(alert["rule"], "insider-talk", "{alert}");
    assert_eq!(alert["local"], "tester1", "{alert}");
    assert_eq!(alert["remote"], "bob", "{alert}");
    assert_eq!(alert["direction"], "outbound", "{alert}");
    assert_eq!(alert["node"], NODE, "{alert}");
    assert!(!alert.to_string().contains("tip for you"), "{alert}");

    // 5. The employee-assistance line: delivered, no disclaimer (nothing is recorded).
    let private = "I would like to talk about my stress";
    aim.send_im("eapcounsel", private).await.unwrap();
    assert_eq!(eap.expect_im("tester1", WAIT).await.unwrap(), private);

    // 6. A conversation the outsider starts: the disclaimer first, to both.
    let from_dave = "hi tester1, dave from outside";
    dave.send_im("tester1", from_dave).await.unwrap();
    assert_eq!(dave.expect_im("tester1", WAIT).await.unwrap(), DISCLAIMER);
    aim.wait_im("dave", from_dave, WAIT).await.unwrap();

    // 7. The compliance team changes the banned word; libpurple's open session follows.
    std::fs::write(&config, config_text(webhook.addr, "verboten")).unwrap();
    gw.reloaded().await;
    let again = "a forbidden thing, again";
    aim.send_im("bob", again).await.unwrap();
    assert_eq!(bob.expect_im("tester1", WAIT).await.unwrap(), again);
    let newly_blocked = "a verboten thing";
    aim.send_im("bob", newly_blocked).await.unwrap();
    let told = aim.wait_im("bob", &notice(BLOCK_REASON), WAIT).await;
    assert_eq!(told.unwrap().text, notice(BLOCK_REASON));
    assert_eq!(im_within(&mut bob, "tester1", QUIET).await, None);
    // And bob still reaches libpurple on the same session.
    let from_bob = "still there, tester1?";
    bob.send_im("tester1", from_bob).await.unwrap();
    aim.wait_im("bob", from_bob, WAIT).await.unwrap();

    // Order on the IRC side: the disclaimers came before the first message of each
    // conversation.
    let lines = aim.irc().lines_since(mark).to_vec();
    let first = |from: &str, text: &str| {
        position(&lines, from, text).unwrap_or_else(|| panic!("no {text:?} from {from}"))
    };
    assert!(first("dave", DISCLAIMER) < first("dave", from_dave));
    // Each conversation was disclaimed once.
    let disclaimers = lines
        .iter()
        .filter(|l| l.trailing().is_some_and(|t| t.ends_with(DISCLAIMER)))
        .count();
    assert_eq!(disclaimers, 2, "{}", aim.transcript());

    // 8. Signed on throughout: bitlbee said nothing about the session until we signed off.
    let breaks = session_breaks(aim.irc().lines_since(signed_on));
    assert!(breaks.is_empty(), "{breaks:?}\n{}", aim.transcript());
    // libpurple's own debug log: the only OSCAR connection it has closed is the
    // authorizer's, after the login (`Destroying oscar connection (0x...) of type 0x0017`).
    let log = bitlbee.log();
    let closed: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("Destroying oscar connection"))
        .collect();
    assert!(
        closed.len() == 1 && closed[0].contains("of type 0x0017"),
        "{closed:?}"
    );
    assert!(!log.contains("Login error"), "{log}");
    assert!(
        lab.is_online("tester1"),
        "the lab lost libpurple's BOS session"
    );
    aim.sign_off().await.unwrap();
    for client in [bob, carol, dave, eap] {
        client.logout().await.unwrap();
    }
    let relay = gw.relay.port();
    let stopped = gw.stop().await;
    // libpurple's authorizer, BOS and chat-navigation connections; twelve records, and
    // tester1's session_start and session_end.
    assert_eq!(stopped["sessions"], 3, "{stopped}");
    assert_eq!(stopped["records"], 14, "{stopped}");

    let pcap = capture.stop().await.unwrap();
    assert_eq!(
        malformed_count(&peers, &pcap, &ports).await.unwrap(),
        0,
        "tshark found malformed AIM frames"
    );
    check_capture(&peers, &pcap, &ports, relay, lab.bos_addr.port()).await;
    check_archive(&archive).await;
    let took = started.elapsed();
    eprintln!("real_client_policy took {took:?}");
    assert!(took < Duration::from_secs(45), "took {took:?}");
}

/// The capture, decoded by tshark: where each message went, and every leg's FLAP sequence
/// numbers.
async fn check_capture(peers: &Peers, pcap: &Path, ports: &[u16], relay: u16, bos: u16) {
    let rows = field_rows(
        peers,
        pcap,
        ports,
        "aim_messaging.channelid",
        &[
            "tcp.srcport",
            "tcp.dstport",
            "aim_messaging.channelid",
            "aim_messaging.rendezvous.msg_type",
            "aim.messageblock.message",
        ],
    )
    .await
    .unwrap();
    let port = |row: &FieldRow, field: &str| -> u16 { row[field][0].parse().unwrap() };
    // The file proposals (channel 2): libpurple's to the gateway, which went no further;
    // carol's to the lab and on to the gateway, which did not pass it to libpurple.
    let proposals: Vec<(u16, u16)> = rows
        .iter()
        .filter(|r| r["aim_messaging.channelid"].iter().any(|c| c == "0x0002"))
        .map(|r| (port(r, "tcp.srcport"), port(r, "tcp.dstport")))
        .collect();
    let count = |f: &dyn Fn(&(u16, u16)) -> bool| proposals.iter().filter(|p| f(p)).count();
    assert_eq!(
        (
            proposals.len(),
            count(&|p| p.1 == relay),
            count(&|p| p.1 == bos),
            count(&|p| p.0 == bos),
            count(&|p| p.0 == relay),
        ),
        (3, 1, 1, 1, 0),
        "(all, libpurple's, carol's to the lab, the lab's to the gateway, to libpurple) \
         in {proposals:?}"
    );
    // Where each text went: (towards the gateway, from the gateway, towards the lab's BOS).
    let legs = |text: &str| {
        let carrying: Vec<&FieldRow> = rows
            .iter()
            .filter(|r| {
                r["aim.messageblock.message"]
                    .iter()
                    .any(|m| m.contains(text))
            })
            .collect();
        let count = |f: &dyn Fn(&FieldRow) -> bool| carrying.iter().filter(|r| f(r)).count();
        (
            count(&|r| port(r, "tcp.dstport") == relay),
            count(&|r| port(r, "tcp.srcport") == relay),
            count(&|r| port(r, "tcp.dstport") == bos),
        )
    };
    // Blocked: libpurple sent it, and it stopped at the gateway.
    assert_eq!(legs(">a forbidden thing<"), (1, 0, 0), "{rows:#?}");
    assert_eq!(legs("a verboten thing"), (1, 0, 0), "{rows:#?}");
    // Delivered to the outsider: client to gateway, gateway to the lab.
    for text in [
        "good morning bob",
        "an insider tip for you",
        "I would like to talk about my stress",
        "a forbidden thing, again",
    ] {
        assert_eq!(legs(text), (1, 0, 1), "{text:?}: {rows:#?}");
    }
    // The notices: to libpurple from the gateway, and for carol's offer to the lab.
    assert_eq!(legs(&notice(FILE_REASON)), (0, 1, 1), "{rows:#?}");
    assert_eq!(legs(&notice(BLOCK_REASON)), (0, 2, 0), "{rows:#?}");
    // The disclaimers: to libpurple twice (bob, dave), and to the lab twice, once for each
    // outsider (the copies the lab delivers to bob and dave go out from the lab's port).
    assert_eq!(legs(DISCLAIMER), (0, 2, 2), "{rows:#?}");

    // Every FLAP on every leg, client and upstream, numbered one more than the last one in
    // its direction (modulo 2^16): the notices and disclaimers the gateway injected and the
    // frames it dropped left no gap and no repeat.
    let flaps = field_rows(
        peers,
        pcap,
        ports,
        "aim && !tcp.analysis.retransmission",
        &["tcp.stream", "tcp.srcport", "tcp.dstport", "aim.seqno"],
    )
    .await
    .unwrap();
    let mut last: BTreeMap<(String, String, String), u16> = BTreeMap::new();
    let mut checked = 0;
    for row in &flaps {
        let key = (
            row["tcp.stream"].concat(),
            row["tcp.srcport"].concat(),
            row["tcp.dstport"].concat(),
        );
        for seq in &row["aim.seqno"] {
            let seq = parse_number(seq);
            if let Some(prev) = last.insert(key.clone(), seq) {
                assert_eq!(
                    seq,
                    prev.wrapping_add(1),
                    "FLAP sequence jump on {key:?}: {prev} then {seq}"
                );
                checked += 1;
            }
        }
    }
    eprintln!(
        "FLAP sequence numbers: {checked} checked on {} directions",
        last.len()
    );
    assert!(checked > 100, "{flaps:#?}");
}

/// `0x002a` or `42`.
fn parse_number(text: &str) -> u16 {
    match text.strip_prefix("0x") {
        Some(hex) => u16::from_str_radix(hex, 16).unwrap(),
        None => text.parse().unwrap(),
    }
}

/// The archive: every decision recorded with its rule, the excluded message's text nowhere.
async fn check_archive(archive: &Path) {
    let records = search(IMTEGRITY, archive, &[]).await;
    let find = |kind: &str, text: &str| {
        records
            .iter()
            .find(|r| r["kind"] == kind && r["text"] == text)
            .unwrap_or_else(|| panic!("no {kind} record of {text:?}: {records:#?}"))
    };
    let verdict = |text: &str| find("im", text)["verdict"].clone();
    let offers: Vec<(&Value, &Value, &Value, &Value)> = records
        .iter()
        .filter(|r| r["kind"] == "file_offer")
        .map(|r| {
            (
                &r["direction"],
                &r["recipients"],
                &r["detail"],
                &r["verdict"],
            )
        })
        .collect();
    let blocked = json!({"blocked": "no-files"});
    assert_eq!(
        offers,
        [
            (
                &json!("outbound"),
                &json!(["carol"]),
                &json!("file q3-report.pdf, 1056 bytes"),
                &blocked
            ),
            (
                &json!("inbound"),
                &json!(["tester1"]),
                &json!("file q4-plan.xls, 4096 bytes"),
                &blocked
            ),
        ],
        "{records:#?}"
    );
    assert_eq!(verdict("good morning bob"), "allowed");
    assert_eq!(
        verdict("a forbidden thing"),
        json!({"blocked": "banned-word"})
    );
    let alert = find("im", "an insider tip for you");
    assert_eq!(
        alert["verdict"],
        json!({"alerted": "insider-talk"}),
        "{alert}"
    );
    assert_eq!(verdict("hi tester1, dave from outside"), "allowed");
    assert_eq!(verdict("a forbidden thing, again"), "allowed");
    assert_eq!(
        verdict("a verboten thing"),
        json!({"blocked": "banned-word"})
    );
    assert_eq!(verdict("still there, tester1?"), "allowed");
    // The excluded message: an accountable trace that a rule said so, and nothing of it.
    let excluded = find("policy_action", "");
    assert_eq!(
        excluded["detail"], "not logged: rule eap-line",
        "{excluded}"
    );
    assert_eq!(excluded["recipients"], json!([]), "{excluded}");
    let all = serde_json::to_string(&records).unwrap();
    assert!(!all.contains("stress"), "{records:#?}");
    assert!(!all.contains("eapcounsel"), "{records:#?}");
    // One disclaimer record per conversation with an outsider.
    let disclaimers: Vec<&str> = records
        .iter()
        .filter(|r| r["kind"] == "policy_action" && r["text"] == DISCLAIMER)
        .map(|r| r["conversation"].as_str().unwrap())
        .collect();
    assert_eq!(disclaimers, ["aim:bob|tester1", "aim:dave|tester1"]);
    // Twelve of the messages and the policy's actions, and tester1's session_start and
    // session_end.
    assert_eq!(records.len(), 14, "{records:#?}");
    let report = verify_intact(IMTEGRITY, archive).await;
    assert_eq!(report["records"], 14, "{report}");
}

/// A screen name the directory does not know, with `unknown_screen_names = "block"`: the real
/// client is refused with sign-off error 0x0011, which libpurple shows as a suspended
/// account (its error table, `oscar.c`, entry 0x11), and the refusal is archived as one
/// `policy_action` record (docs/policy.md, "Refused sign-ons").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libpurple_with_an_unknown_screen_name_is_refused_with_0x0011_and_recorded() {
    let Some(peers) =
        require_peers("libpurple_with_an_unknown_screen_name_is_refused_with_0x0011_and_recorded")
    else {
        return;
    };
    let lab = LabServer::start(LabConfig {
        accounts: Accounts::from_pairs([("tester1", "secret"), ("stranger", "secret")]),
        ..LabConfig::ephemeral()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let directory = dir.path().join("directory.csv");
    std::fs::write(
        &directory,
        "id,name,email,screen_names,addresses\ntjones,Tess Jones,,tester1,\n",
    )
    .unwrap();
    let config = dir.path().join("imtegrity.toml");
    std::fs::write(
        &config,
        format!(
            "[policy]\ndirectory = {:?}\nunknown_screen_names = \"block\"\n",
            directory.display().to_string()
        ),
    )
    .unwrap();
    let archive = dir.path().join("archive");
    let gw = Gateway::start_with(
        IMTEGRITY,
        &["--config", config.to_str().unwrap()],
        &lab.auth_addr.to_string(),
        &archive,
        NODE,
        &[],
    )
    .await;
    let bitlbee = Bitlbee::start(&peers).await.unwrap();
    let refused = AimClient::connect(&bitlbee, gw.relay, "stranger", "secret").await;
    match refused {
        Err(imtegrity_harness::HarnessError::LoginFailed { reason, .. }) => assert_eq!(
            reason, "Your account is currently suspended",
            "libpurple's text for error 0x0011"
        ),
        Err(e) => panic!("expected a login error, got {e}"),
        Ok(_) => panic!("a screen name outside the directory signed on"),
    }
    assert!(!lab.is_online("stranger"));
    gw.stop().await;
    let records = search(IMTEGRITY, &archive, &[]).await;
    let refusals: Vec<&Value> = records
        .iter()
        .filter(|r| r["kind"] == "policy_action" && r["local_user"] == "stranger")
        .collect();
    assert!(
        !refusals.is_empty(),
        "the refusal is archived: {records:#?}"
    );
    for refusal in &refusals {
        assert_eq!(
            refusal["verdict"],
            json!({"blocked": "unknown_screen_names"}),
            "{refusal}"
        );
    }
    verify_intact(IMTEGRITY, &archive).await;
}
