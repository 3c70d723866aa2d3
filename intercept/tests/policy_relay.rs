//! The compliance policy applied by the relay, with lab clients over loopback: `alice` signs
//! on through the relay (a local user), `bob` straight at the lab (an outsider), so every
//! message crosses the gateway once. Blocked messages are not delivered and the sender gets
//! a notice; masked ones arrive masked; disclaimers reach both parties first; a privacy
//! exclusion is delivered but not archived; file offers are stripped; screen names not in
//! the directory are refused; a reload changes decisions without dropping the session.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use archive::{Archive, ArchiveOptions, Kind, Query, Record, Verdict};
use intercept::{Relay, RelaySettings};
use lab::{ClientEvent, LabClient, LabConfig, LabError, LabServer, LoginMethod};
use oscar::ScreenName;
use oscar::message::icbm::{IcbmSend, TLV_MESSAGE_DATA};
use policy::{Directory, PolicyEngine};
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(5);
/// How long to wait before concluding something did not arrive.
const QUIET: Duration = Duration::from_millis(700);

const DIRECTORY: &str = "id,name,email,screen_names,addresses\n\
    asmith,Alice Smith,alice@example.com,alice,\n\
    cjones,Carol Jones,carol@example.com,carol;carol2,\n";

const POLICY: &str = r#"
[policy]
directory = "directory.csv"
unknown_screen_names = "block"
default_profile = "standard"

[policy.profiles.standard]
disclaimer = "[IMtegrity] This conversation is recorded by Example Corp."
disclaimer_every_hours = 24
notice = "[IMtegrity] Not delivered: {reason}"
notice_interval_secs = 60
#WEBHOOK#

[[policy.profiles.standard.rules]]
name = "eap-line"
remote = ["eapcounsel"]
action = "no_log"

[[policy.profiles.standard.rules]]
name = "no-files"
kinds = ["file", "direct_im"]
action = "block"
reason = "file transfers bypass the archive"

[[policy.profiles.standard.rules]]
name = "insider"
keywords = ["insider tip"]
action = "block"
reason = "insider information"

[[policy.profiles.standard.rules]]
name = "ssn"
patterns = ['re:\b\d{3}-\d{2}-\d{4}\b']
action = "mask"

[[policy.profiles.standard.rules]]
name = "guarantee"
keywords = ["guaranteed"]
action = "alert"
"#;

/// [`POLICY`], alerts posted to `webhook` if given.
fn policy_with(webhook: Option<&str>) -> String {
    let line = webhook.map_or(String::new(), |url| format!("alert_webhook = \"{url}\""));
    POLICY.replace("#WEBHOOK#", &line)
}

/// A webhook receiver on loopback: every POST body it gets, sent on the channel; answers
/// 204.
async fn webhook_receiver() -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<serde_json::Value>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let n = tcp.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).into_owned();
                    let Some((head, body)) = text.split_once("\r\n\r\n") else {
                        continue;
                    };
                    let length: usize = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse().ok())?
                        })
                        .unwrap_or(0);
                    if body.len() < length {
                        continue;
                    }
                    assert!(head.starts_with("POST /hook "), "{head}");
                    let _ = tx.send(serde_json::from_str(body).unwrap());
                    let _ = tcp.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").await;
                    return;
                }
            });
        }
    });
    (url, rx)
}

fn engine(policy_toml: &str) -> Arc<PolicyEngine> {
    let config = settings::Config::load("policy.toml", policy_toml, &[]).unwrap();
    let directory = Directory::parse_csv(DIRECTORY).unwrap();
    Arc::new(PolicyEngine::compile(&config.policy, directory).unwrap())
}

struct Gateway {
    addr: SocketAddr,
    relay: Arc<Relay>,
    archive: Archive,
    lab: LabServer,
    _dir: tempfile::TempDir,
    _stop: tokio_util::sync::DropGuard,
}

async fn gateway(policy_toml: &str) -> Gateway {
    let lab = LabServer::start(LabConfig::ephemeral()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let archive = Archive::open(dir.path(), ArchiveOptions::default()).unwrap();
    let config = RelaySettings {
        upstream_login: lab.auth_addr.into(),
        node: "gw-policy".into(),
        policy: Some(engine(policy_toml)),
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
        _stop: stop.drop_guard(),
    }
}

async fn records(archive: &Archive) -> Vec<Record> {
    archive.sync().await.unwrap();
    archive
        .search(&Query::default())
        .map(Result::unwrap)
        .collect()
}

/// The next IM `client` gets from `from`, or `None` if none comes within [`QUIET`].
async fn im_within(client: &mut LabClient, from: &str, wait: Duration) -> Option<String> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match client.next_event(left).await {
            Ok(ClientEvent::Im {
                from: who, plain, ..
            }) if who.normalized() == from => {
                return Some(plain);
            }
            Ok(_) => {}
            Err(_) => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disclaimers_blocks_masks_alerts_and_exclusions() {
    let (hook, mut alerts) = webhook_receiver().await;
    let gw = gateway(&policy_with(Some(&hook))).await;
    let mut alice = LabClient::login(gw.addr, "alice", "x").await.unwrap();
    let mut bob = LabClient::login(gw.lab.auth_addr, "bob", "y")
        .await
        .unwrap();

    // First message to an outsider: the disclaimer reaches both parties, before it.
    alice.send_im("bob", "hello bob").await.unwrap();
    let disclaimer = "[IMtegrity] This conversation is recorded by Example Corp.";
    assert_eq!(bob.expect_im("alice", WAIT).await.unwrap(), disclaimer);
    assert_eq!(bob.expect_im("alice", WAIT).await.unwrap(), "hello bob");
    assert_eq!(alice.expect_im("bob", WAIT).await.unwrap(), disclaimer);
    // Not again within the interval, from either side.
    bob.send_im("alice", "hi alice").await.unwrap();
    assert_eq!(alice.expect_im("bob", WAIT).await.unwrap(), "hi alice");

    // Blocked: bob never sees it; alice is told why, in the conversation.
    alice
        .send_im("bob", "here is an insider tip")
        .await
        .unwrap();
    assert_eq!(
        alice.expect_im("bob", WAIT).await.unwrap(),
        "[IMtegrity] Not delivered: insider information"
    );
    assert_eq!(im_within(&mut bob, "alice", QUIET).await, None);

    // Masked: delivered with the number starred out.
    alice
        .send_im("bob", "my ssn is 123-45-6789 ok")
        .await
        .unwrap();
    assert_eq!(
        bob.expect_im("alice", WAIT).await.unwrap(),
        "my ssn is *********** ok"
    );
    // Alerted: delivered unchanged, and posted to the webhook (without the text).
    alice
        .send_im("bob", "returns are guaranteed")
        .await
        .unwrap();
    assert_eq!(
        bob.expect_im("alice", WAIT).await.unwrap(),
        "returns are guaranteed"
    );
    let alert = tokio::time::timeout(WAIT, alerts.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(alert["rule"], "guarantee", "{alert}");
    assert_eq!(alert["local"], "alice", "{alert}");
    assert_eq!(alert["employee"], "asmith", "{alert}");
    assert_eq!(alert["remote"], "bob", "{alert}");
    assert!(!alert.to_string().contains("returns are"), "{alert}");

    // An inbound blocked message: alice never sees it, bob is told.
    bob.send_im("alice", "psst, insider tip").await.unwrap();
    assert_eq!(
        bob.expect_im("alice", WAIT).await.unwrap(),
        "[IMtegrity] Not delivered: insider information"
    );
    assert_eq!(im_within(&mut alice, "bob", QUIET).await, None);

    // A file offer is stripped, with a notice.
    let mut offer = IcbmSend::text([7; 8], &ScreenName::parse(b"bob").unwrap(), "x").unwrap();
    offer.channel = 2;
    offer.tlvs.remove(TLV_MESSAGE_DATA);
    offer.tlvs.set(0x0005, file_offer_rendezvous());
    alice.send_icbm(offer).await.unwrap();
    assert_eq!(
        alice.expect_im("bob", WAIT).await.unwrap(),
        "[IMtegrity] Not delivered: file transfers bypass the archive"
    );

    // The privacy exclusion: delivered, and not archived.
    let mut eap = LabClient::login(gw.lab.auth_addr, "eapcounsel", "z")
        .await
        .unwrap();
    alice
        .send_im("eapcounsel", "I need to talk to someone")
        .await
        .unwrap();
    assert_eq!(
        eap.expect_im("alice", WAIT).await.unwrap(),
        "I need to talk to someone"
    );

    alice.logout().await.unwrap();
    bob.logout().await.unwrap();
    eap.logout().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let all = records(&gw.archive).await;
    let find = |text: &str| {
        all.iter()
            .find(|r| r.event.raw.contains(text) || r.event.text.contains(text))
            .unwrap_or_else(|| panic!("no record of {text:?} in {all:#?}"))
    };
    assert_eq!(find("hello bob").event.verdict, Verdict::Allowed);
    assert_eq!(find("hello bob").event.employee.as_deref(), Some("asmith"));
    let blocked = find("here is an insider tip");
    assert_eq!(blocked.event.verdict, Verdict::Blocked("insider".into()));
    let masked = find("123-45-6789");
    assert_eq!(masked.event.verdict, Verdict::Masked("ssn".into()));
    assert_eq!(masked.event.text, "my ssn is *********** ok");
    assert!(
        masked.event.raw.contains("123-45-6789"),
        "the original is kept"
    );
    assert_eq!(
        find("returns are guaranteed").event.verdict,
        Verdict::Alerted("guarantee".into())
    );
    assert_eq!(
        find("psst, insider tip").event.verdict,
        Verdict::Blocked("insider".into())
    );
    let disclaimers: Vec<&Record> = all
        .iter()
        .filter(|r| r.event.kind == Kind::PolicyAction && r.event.text == disclaimer)
        .collect();
    assert_eq!(disclaimers.len(), 1, "{all:#?}");
    let file = all
        .iter()
        .find(|r| r.event.kind == Kind::FileOffer)
        .unwrap_or_else(|| panic!("no file offer record: {all:#?}"));
    assert_eq!(file.event.verdict, Verdict::Blocked("no-files".into()));
    assert!(
        !all.iter().any(|r| r.event.text.contains("talk to someone")),
        "the excluded conversation was archived"
    );
    let excluded = all
        .iter()
        .find(|r| r.event.detail.as_deref() == Some("not logged: rule eap-line"))
        .unwrap_or_else(|| panic!("no record of the exclusion: {all:#?}"));
    assert!(excluded.event.recipients.is_empty());
    assert!(excluded.event.text.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_screen_names_are_refused_and_a_reload_applies_to_open_sessions() {
    let gw = gateway(&policy_with(None)).await;
    // Not in the directory: refused at login. The lab client reads the sign-off's error
    // code only on a channel-1 login (its BUCP login expects a SNAC); both are refused, and
    // the code is docs/policy.md's 0x0011.
    assert!(
        LabClient::login(gw.addr, "mallory", "x").await.is_err(),
        "an unknown screen name signed on"
    );
    let refused = LabClient::login_with(gw.addr, "mallory", "x", LoginMethod::Legacy)
        .await
        .err();
    assert!(
        matches!(refused, Some(LabError::LoginRefused { code: 0x0011 })),
        "an unknown screen name must get sign-off error 0x0011: {refused:?}"
    );
    assert!(!gw.lab.is_online("mallory"));
    assert_eq!(
        gw.relay
            .stats
            .refused
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
    let mut carol = LabClient::login(gw.addr, "carol2", "x").await.unwrap();
    let mut bob = LabClient::login(gw.lab.auth_addr, "bob", "y")
        .await
        .unwrap();
    carol.send_im("bob", "first").await.unwrap();
    let _disclaimer = bob.expect_im("carol2", WAIT).await.unwrap();
    assert_eq!(bob.expect_im("carol2", WAIT).await.unwrap(), "first");
    carol.send_im("bob", "an insider tip").await.unwrap();
    assert_eq!(im_within(&mut bob, "carol2", QUIET).await, None);

    // The compliance team drops the insider rule: the same session now delivers it.
    let relaxed = policy_with(None).replace(
        "keywords = [\"insider tip\"]",
        "keywords = [\"never-said\"]",
    );
    gw.relay.policy().unwrap().replace(engine(&relaxed));
    carol.send_im("bob", "another insider tip").await.unwrap();
    // The earlier block's notice arrives first on carol's side; bob gets the new message.
    assert_eq!(
        bob.expect_im("carol2", WAIT).await.unwrap(),
        "another insider tip"
    );
    carol.logout().await.unwrap();
    bob.logout().await.unwrap();
    let all = records(&gw.archive).await;
    let refusals: Vec<_> = all
        .iter()
        .filter(|r| r.event.kind == Kind::PolicyAction && r.event.local_user == "mallory")
        .collect();
    assert_eq!(
        refusals.len(),
        2,
        "one record per refused sign-on: {all:#?}"
    );
    let refused = refusals[0];
    assert_eq!(
        refused.event.verdict,
        Verdict::Blocked("unknown_screen_names".into())
    );
    assert!(
        refused
            .event
            .detail
            .as_deref()
            .unwrap_or("")
            .starts_with("sign-on refused")
    );
    let first = all
        .iter()
        .find(|r| r.event.text == "first")
        .unwrap_or_else(|| panic!("{all:#?}"));
    assert_eq!(
        first.event.employee.as_deref(),
        Some("cjones"),
        "carol2 is Carol"
    );
}

/// The rendezvous block (ICBM channel 2, TLV 0x0005) of a file-transfer proposal.
fn file_offer_rendezvous() -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&0u16.to_be_bytes()); // propose
    v.extend_from_slice(&[7; 8]); // cookie
    // Send-file capability GUID.
    v.extend_from_slice(&[
        0x09, 0x46, 0x13, 0x43, 0x4c, 0x7f, 0x11, 0xd1, 0x82, 0x22, 0x44, 0x45, 0x53, 0x54, 0x00,
        0x00,
    ]);
    // TLV 0x000A sequence 1.
    v.extend_from_slice(&[0x00, 0x0a, 0x00, 0x02, 0x00, 0x01]);
    v
}

/// The next chat line `room` gets from `from` within `wait`, if any.
async fn chat_within(room: &mut lab::ChatClient, from: &str, wait: Duration) -> Option<String> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match room.next_event(left).await {
            Ok(ClientEvent::ChatMessage { from: who, plain }) if who.normalized() == from => {
                return Some(plain);
            }
            Ok(_) => {}
            Err(_) => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_lines_are_decided_for_every_local_member() {
    let gw = gateway(&policy_with(None)).await;
    let mut alice = LabClient::login(gw.addr, "alice", "x").await.unwrap();
    let mut carol = LabClient::login(gw.addr, "carol", "x").await.unwrap();
    let mut bob = LabClient::login(gw.lab.auth_addr, "bob", "y")
        .await
        .unwrap();
    let mut a_room = alice.join_chat("desk").await.unwrap();
    let mut c_room = carol.join_chat("desk").await.unwrap();
    let mut b_room = bob.join_chat("desk").await.unwrap();

    // An outsider's blocked line reaches neither local member; an allowed one reaches both.
    b_room.send("an insider tip for the room").await.unwrap();
    b_room.send("lunch at noon").await.unwrap();
    assert_eq!(
        a_room.expect_message("bob", WAIT).await.unwrap(),
        "lunch at noon"
    );
    assert_eq!(
        c_room.expect_message("bob", WAIT).await.unwrap(),
        "lunch at noon"
    );
    // A local member's blocked line is dropped before the room; she is told in the room.
    a_room.send("my insider tip").await.unwrap();
    assert_eq!(
        chat_within(&mut a_room, "imtegrity", WAIT).await.as_deref(),
        Some("[IMtegrity] Not delivered: insider information")
    );
    assert_eq!(chat_within(&mut b_room, "alice", QUIET).await, None);

    for room in [a_room, b_room, c_room] {
        room.leave().await.unwrap();
    }
    for client in [alice, bob, carol] {
        client.logout().await.unwrap();
    }
    let all = records(&gw.archive).await;
    let lines: Vec<(&str, &Verdict)> = all
        .iter()
        .filter(|r| r.event.kind == Kind::ChatMessage)
        .map(|r| (r.event.text.as_str(), &r.event.verdict))
        .collect();
    let blocked = Verdict::Blocked("insider".into());
    for (text, verdict) in [
        ("an insider tip for the room", &blocked),
        ("lunch at noon", &Verdict::Allowed),
        ("my insider tip", &blocked),
    ] {
        assert_eq!(
            lines.iter().filter(|(t, _)| *t == text).count(),
            1,
            "{text} recorded once: {lines:?}"
        );
        assert!(lines.contains(&(text, verdict)), "{text}: {lines:?}");
    }
}
