//! Messages a client that does not play by the rules sends through `imtegrity run` (a child
//! process) to the lab server: every shape is either archived with the text its recipient's
//! client (libpurple) shows, or, when the relay cannot read it, refused with a notice in
//! strict mode and relayed but recorded raw in relaxed mode. Never relayed unrecorded.
//!
//! alice signs on through the relay; bob, the outsider, signs on to the lab directly. Each
//! hostile ICBM is followed by an ordinary one (a mark), so what arrived before the mark is
//! exactly what the hostile one produced.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use imtegrity_harness::{Binary, Gateway, LibpurpleRecipient, search, verify_intact};
use lab::{Accounts, ClientEvent, LabClient, LabConfig, LabServer};
use oscar::message::IcbmSend;
use oscar::message::icbm::{CAP_BUDDY_ICON, CAP_CHAT, CAP_ICQ_SERVER_RELAY, text_message_data};
use oscar::message::icbm_reading::icq_server_relay_data;
use oscar::{ScreenName, TlvList};
use serde_json::Value;

const IMTEGRITY: Binary = Binary::at(env!("CARGO_BIN_EXE_imtegrity"));

const WAIT: Duration = Duration::from_secs(5);
const NODE: &str = "hostile-messages";
const PASSWORD: &str = "pw";
/// What the sender of a refused unreadable message is shown.
const NOTICE: &str =
    "[IMtegrity] This message could not be delivered: the gateway could not read it to archive it.";

/// One hostile ICBM: its channel and TLVs, verbatim.
struct Shape {
    name: &'static str,
    channel: u16,
    tlvs: Vec<(u16, Vec<u8>)>,
}

fn im(channel: u16, to: &str, tlvs: &[(u16, Vec<u8>)], cookie: u8) -> IcbmSend {
    let mut list = TlvList::new();
    for (kind, value) in tlvs {
        list.push(oscar::Tlv::new(*kind, value.clone()));
    }
    IcbmSend {
        cookie: [cookie; 8],
        channel,
        recipient: ScreenName::parse(to.as_bytes()).unwrap().to_bytes(),
        tlvs: list,
    }
}

fn text_fragment(text: &[u8]) -> Vec<u8> {
    let mut out = vec![0x01, 0x01];
    out.extend_from_slice(&u16::try_from(text.len() + 4).unwrap().to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(text);
    out
}

/// A channel-2 payload (TLV 0x0005): propose, `cookie`, `capability`, then `inner` TLVs.
fn rendezvous(capability: [u8; 16], inner: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut out = vec![0x00, 0x00];
    out.extend_from_slice(&[0x77; 8]);
    out.extend_from_slice(&capability);
    for (kind, value) in inner {
        out.extend_from_slice(&kind.to_be_bytes());
        out.extend_from_slice(&u16::try_from(value.len()).unwrap().to_be_bytes());
        out.extend_from_slice(value);
    }
    out
}

/// Shapes the relay can read: (shape, the text libpurple shows, the record's detail up to
/// its payload hex, or `None` when it has none).
fn readable() -> Vec<(Shape, &'static str, Option<&'static str>)> {
    let mut fragments = vec![0x05, 0x01, 0x00, 0x01, 0x01];
    fragments.extend(text_fragment(b"one"));
    fragments.extend(text_fragment(b"two"));
    vec![
        (
            Shape {
                name: "two message-data TLVs",
                channel: 1,
                tlvs: vec![
                    (2, text_message_data("first").unwrap().to_vec()),
                    (2, text_message_data("second").unwrap().to_vec()),
                ],
            },
            "second",
            Some(
                "uncertain reading (several message-data TLVs (0x0002), several text \
                 fragments); shown as libpurple shows it; every text: [1] \"first\" \
                 [2] \"second\"; payload hex: ",
            ),
        ),
        (
            Shape {
                name: "two text fragments",
                channel: 1,
                tlvs: vec![(2, fragments)],
            },
            "two",
            Some(
                "uncertain reading (several text fragments); shown as libpurple shows it; \
                 every text: [1] \"one\" [2] \"two\"; payload hex: ",
            ),
        ),
        (
            Shape {
                name: "ICQ type-2",
                channel: 2,
                tlvs: vec![(
                    5,
                    rendezvous(
                        CAP_ICQ_SERVER_RELAY,
                        &[(0x2711, icq_server_relay_data(b"type two").unwrap().to_vec())],
                    ),
                )],
            },
            "type two",
            Some("ICQ server-relayed (type-2) message, channel 2"),
        ),
        (
            Shape {
                name: "chat invitation",
                channel: 2,
                tlvs: vec![(
                    5,
                    rendezvous(CAP_CHAT, &[(0x000c, b"come to room".to_vec())]),
                )],
            },
            "come to room",
            Some("chat invitation text, channel 2"),
        ),
        (
            Shape {
                name: "buddy icon",
                channel: 2,
                tlvs: vec![(
                    5,
                    rendezvous(CAP_BUDDY_ICON, &[(0x2711, b"\x00\x01GIF89a".to_vec())]),
                )],
            },
            "",
            Some("buddy icon sent (rendezvous, channel 2), no text; 8 bytes of service data"),
        ),
    ]
}

/// Shapes the relay cannot read, with the reason its record names.
fn unreadable() -> Vec<(Shape, &'static str)> {
    vec![
        (
            Shape {
                name: "channel 3",
                channel: 3,
                tlvs: vec![(2, text_message_data("on channel three").unwrap().to_vec())],
            },
            "an ICBM on a channel clients do not show as an IM",
        ),
        (
            Shape {
                name: "text in TLV 5",
                channel: 1,
                tlvs: vec![(5, text_message_data("in tlv five").unwrap().to_vec())],
            },
            "a channel-1 IM without a message-data TLV (0x0002)",
        ),
        (
            Shape {
                name: "unknown capability",
                channel: 2,
                tlvs: vec![(5, rendezvous([0x42; 16], &[(0x000c, b"hidden".to_vec())]))],
            },
            "a rendezvous with a capability the gateway does not interpret",
        ),
    ]
}

async fn lab() -> LabServer {
    LabServer::start(LabConfig {
        accounts: Accounts::from_pairs([("alice", PASSWORD), ("bob", PASSWORD)]),
        ..LabConfig::ephemeral()
    })
    .await
    .unwrap()
}

/// Sends `shape` from `from` to `to`, then a mark; returns the IM texts `to` got from
/// `from` before the mark, and those `from` got from `to` (notices) meanwhile.
async fn exchange(
    from: &mut LabClient,
    from_name: &str,
    to: &mut LabClient,
    to_name: &str,
    shape: &Shape,
    n: u8,
) -> (Vec<String>, Vec<String>) {
    from.send_icbm(im(shape.channel, to_name, &shape.tlvs, n))
        .await
        .unwrap();
    let mark = format!("mark {n}");
    from.send_im(to_name, &mark).await.unwrap();
    let mut delivered = Vec::new();
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = to
            .expect_event(left, "an IM", |e| matches!(e, ClientEvent::Im { .. }))
            .await
            .unwrap_or_else(|e| panic!("{}: waiting for {mark}: {e}", shape.name));
        if let ClientEvent::Im { from: f, plain, .. } = event {
            assert_eq!(f.display(), from_name);
            if plain == mark {
                break;
            }
            delivered.push(plain);
        }
    }
    // Notices are sent right after the refused frame, before the mark is relayed; a short
    // wait for each is enough to collect them.
    let mut notices = Vec::new();
    while let Ok(text) = from.expect_im(to_name, Duration::from_millis(300)).await {
        notices.push(text);
    }
    (delivered, notices)
}

/// The IM records other than marks, in archive order.
async fn records(archive: &std::path::Path) -> Vec<Value> {
    search(IMTEGRITY, archive, &["--kind", "im"])
        .await
        .into_iter()
        .filter(|r| !r["text"].as_str().unwrap_or("").starts_with("mark "))
        .collect()
}

fn detail(r: &Value) -> &str {
    r["detail"].as_str().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_mode_archives_what_is_shown_or_refuses_with_a_notice() {
    let lab = lab().await;
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    let gw = Gateway::start(IMTEGRITY, &lab.auth_addr.to_string(), &archive, NODE, &[]).await;
    let mut alice = LabClient::login(gw.relay, "alice", PASSWORD).await.unwrap();
    let mut bob = LabClient::login(lab.auth_addr, "bob", PASSWORD)
        .await
        .unwrap();

    let mut n = 0;
    for (shape, _, _) in readable() {
        n += 1;
        let (delivered, notices) = exchange(&mut alice, "alice", &mut bob, "bob", &shape, n).await;
        assert_eq!(notices, Vec::<String>::new(), "{}", shape.name);
        // The lab's scripted client shows channel-1 text only (its own strict reading).
        assert_eq!(
            delivered.len(),
            usize::from(shape.channel == 1),
            "{}",
            shape.name
        );
    }
    for (shape, _) in unreadable() {
        n += 1;
        let (delivered, notices) = exchange(&mut alice, "alice", &mut bob, "bob", &shape, n).await;
        assert_eq!(delivered, Vec::<String>::new(), "{}: relayed", shape.name);
        assert_eq!(notices, vec![NOTICE.to_owned()], "{}", shape.name);
    }
    // Inbound: the outsider's channel-3 IM does not reach alice; bob is told.
    let inbound = &unreadable()[0].0;
    let (delivered, notices) = exchange(&mut bob, "bob", &mut alice, "alice", inbound, 99).await;
    assert_eq!(delivered, Vec::<String>::new());
    assert_eq!(notices, vec![NOTICE.to_owned()]);

    alice.logout().await.unwrap();
    bob.logout().await.unwrap();
    gw.stop().await;

    let got = records(&archive).await;
    let readable = readable();
    let unreadable = unreadable();
    assert_eq!(got.len(), readable.len() + unreadable.len() + 1, "{got:#?}");
    for (r, (shape, text, want)) in got.iter().zip(&readable) {
        assert_eq!(
            (
                r["sender"].as_str(),
                r["recipients"][0].as_str(),
                r["text"].as_str()
            ),
            (Some("alice"), Some("bob"), Some(*text)),
            "{}: {r}",
            shape.name
        );
        assert_eq!(r["verdict"], "allowed", "{}", shape.name);
        match want {
            Some(want) if want.ends_with("payload hex: ") => {
                assert!(detail(r).starts_with(want), "{}: {}", shape.name, detail(r));
                let hex = &detail(r)[want.len()..];
                assert!(hex.len() > 40 && hex.bytes().all(|b| b.is_ascii_hexdigit()));
            }
            want => assert_eq!(r["detail"].as_str(), *want, "{}", shape.name),
        }
    }
    for (r, (shape, why)) in got[readable.len()..].iter().zip(&unreadable) {
        assert_eq!(
            (
                r["sender"].as_str(),
                r["recipients"][0].as_str(),
                r["text"].as_str()
            ),
            (Some("alice"), Some("bob"), Some("")),
            "{}: {r}",
            shape.name
        );
        assert_eq!(r["verdict"], serde_json::json!({"blocked": "unreadable"}));
        let want = format!("unreadable message ({why}), not relayed; ");
        assert!(
            detail(r).starts_with(&want),
            "{}: {}",
            shape.name,
            detail(r)
        );
    }
    let last = got.last().unwrap();
    assert_eq!(
        (last["sender"].as_str(), last["direction"].as_str()),
        (Some("bob"), Some("inbound"))
    );
    assert_eq!(
        last["verdict"],
        serde_json::json!({"blocked": "unreadable"})
    );
    verify_intact(IMTEGRITY, &archive).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relaxed_mode_relays_what_it_cannot_read_and_records_it_raw() {
    let lab = lab().await;
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    let gw = Gateway::start(
        IMTEGRITY,
        &lab.auth_addr.to_string(),
        &archive,
        NODE,
        &["archive.mode=relaxed"],
    )
    .await;
    let mut alice = LabClient::login(gw.relay, "alice", PASSWORD).await.unwrap();
    let mut bob = LabClient::login(lab.auth_addr, "bob", PASSWORD)
        .await
        .unwrap();
    let shapes = unreadable();
    for (n, (shape, _)) in (1u8..).zip(&shapes) {
        let (_, notices) = exchange(&mut alice, "alice", &mut bob, "bob", shape, n).await;
        assert_eq!(notices, Vec::<String>::new(), "{}", shape.name);
    }
    // Channel 1 with its text in TLV 5 reaches bob's client, which finds no text in it:
    // relayed, not refused. Channel 3 inbound reaches alice.
    let (_, notices) = exchange(&mut bob, "bob", &mut alice, "alice", &shapes[0].0, 99).await;
    assert_eq!(notices, Vec::<String>::new());
    alice.logout().await.unwrap();
    bob.logout().await.unwrap();
    gw.stop().await;

    let got = records(&archive).await;
    assert_eq!(got.len(), shapes.len() + 1, "{got:#?}");
    for (r, (shape, why)) in got.iter().zip(&shapes) {
        assert_eq!(r["verdict"], "allowed", "{}", shape.name);
        let want = format!("unreadable message ({why}), relayed; ");
        assert!(
            detail(r).starts_with(&want),
            "{}: {}",
            shape.name,
            detail(r)
        );
        let (len, hex) = detail(r)[want.len()..]
            .split_once(" bytes, payload hex: ")
            .unwrap();
        assert_eq!(
            hex.len(),
            2 * len.parse::<usize>().unwrap(),
            "the whole payload"
        );
    }
    assert_eq!(got[shapes.len()]["direction"], "inbound");
    verify_intact(IMTEGRITY, &archive).await;
}

/// The reference: libpurple (bullseye's 2.14.1 prpl in bitlbee), outside the gateway, shown
/// IMs by alice through the relay with two message-text TLVs, with two text fragments, with
/// one trailing byte after valid text, and with 5 000 TLVs (the lab passes the last two on as
/// sent, as AOL's server did). What it displays is what the archive must hold; the 5 000-TLV
/// IM, read with doubt, is recorded with its whole payload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_archive_holds_what_libpurple_shows() {
    let Some(rig) = LibpurpleRecipient::start(
        IMTEGRITY,
        "the_archive_holds_what_libpurple_shows",
        NODE,
        PASSWORD,
    )
    .await
    else {
        return;
    };
    let LibpurpleRecipient {
        mut alice,
        mut aim,
        bitlbee,
        gw,
        archive,
        ..
    } = rig;

    let mut fragments = vec![0x05, 0x01, 0x00, 0x01, 0x01];
    fragments.extend(text_fragment(b"one-frag"));
    fragments.extend(text_fragment(b"two-frag"));
    let mut trailing = tlv_bytes(2, &text_message_data("valid-trail").unwrap());
    trailing.extend(tlv_bytes(3, &[]));
    trailing.push(0x42);
    // 5 000 TLVs: a text near the start, 4 998 empty ones, the text shown at the end, past
    // where a cap of 4 096 TLVs or a 512-byte cut would stop.
    let mut many = tlv_bytes(2, &text_message_data("first-many").unwrap());
    many.extend(std::iter::repeat_n(tlv_bytes(0x0099, &[]), 4998).flatten());
    many.extend(tlv_bytes(2, &text_message_data("last-many").unwrap()));
    let cases = [
        (
            [
                tlv_bytes(2, &text_message_data("first-dup").unwrap()),
                tlv_bytes(2, &text_message_data("second-dup").unwrap()),
            ]
            .concat(),
            "-dup",
        ),
        (tlv_bytes(2, &fragments), "-frag"),
        (trailing, "-trail"),
        (many, "-many"),
    ];
    let mut shown = Vec::new();
    let mut payload_lens = Vec::new();
    for (n, (area, tag)) in (1u8..).zip(&cases) {
        let body = raw_im_body(n, "tester1", area);
        // The frame's payload: the SNAC header, then the body.
        payload_lens.push(10 + body.len());
        alice.send_icbm_body(body).await.unwrap();
        let got = aim.wait_im("alice", tag, WAIT).await;
        shown.push(
            got.unwrap_or_else(|e| panic!("{e}\n{}", bitlbee.log()))
                .text,
        );
    }
    assert_eq!(
        shown,
        ["second-dup", "two-frag", "valid-trail", "last-many"],
        "libpurple's rule changed?"
    );
    alice.logout().await.unwrap();
    gw.stop().await;
    let got = records(&archive).await;
    let texts: Vec<&str> = got.iter().map(|r| r["text"].as_str().unwrap()).collect();
    assert_eq!(texts, shown);
    // Every record reads with doubt and holds the whole payload, the 5 000 TLVs included.
    for ((r, len), (area, tag)) in got.iter().zip(&payload_lens).zip(&cases) {
        assert_eq!(r["verdict"], "allowed", "{tag}");
        let (_, hex) = detail(r)
            .split_once("payload hex: ")
            .unwrap_or_else(|| panic!("{tag}: {}", detail(r)));
        assert_eq!(hex.len(), 2 * len, "{tag}: the whole payload");
        assert!(hex.ends_with(&hex_of(area)), "{tag}");
    }
}

/// A TLV's bytes.
fn tlv_bytes(kind: u16, value: &[u8]) -> Vec<u8> {
    let mut out = kind.to_be_bytes().to_vec();
    out.extend_from_slice(&u16::try_from(value.len()).unwrap().to_be_bytes());
    out.extend_from_slice(value);
    out
}

/// A channel-1 0x0004/0x0006 body to `to` with TLV area `area`, sent as is.
fn raw_im_body(cookie: u8, to: &str, area: &[u8]) -> bytes::Bytes {
    let mut body = vec![cookie; 8];
    body.extend_from_slice(&1u16.to_be_bytes());
    body.push(u8::try_from(to.len()).unwrap());
    body.extend_from_slice(to.as_bytes());
    body.extend_from_slice(area);
    body.into()
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A policy that blocks one word, in the file `imtegrity run --config` reads.
const BLOCKING_POLICY: &str = r#"[policy]
default_profile = "standard"

[policy.profiles.standard]
notice = "[IMtegrity] Not delivered: {reason}"

[[policy.profiles.standard.rules]]
name = "banned-word"
keywords = ["forbidden"]
action = "block"
reason = "that word is not allowed"
"#;

/// Where clients may show different texts, every one of them is put to the policy: a
/// blocked word in the text libpurple does not show (the first of two message-data TLVs,
/// which another client may show) blocks the message as if it were shown, in either
/// direction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_word_in_a_variant_not_shown_is_blocked() {
    let lab = lab().await;
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    let config = dir.path().join("imtegrity.toml");
    std::fs::write(&config, BLOCKING_POLICY).unwrap();
    let gw = Gateway::start_with(
        IMTEGRITY,
        &["--config", config.to_str().unwrap()],
        &lab.auth_addr.to_string(),
        &archive,
        NODE,
        &[],
    )
    .await;
    let mut alice = LabClient::login(gw.relay, "alice", PASSWORD).await.unwrap();
    let mut bob = LabClient::login(lab.auth_addr, "bob", PASSWORD)
        .await
        .unwrap();
    let hidden = |shown: &str| Shape {
        name: "blocked word in the first of two message-data TLVs",
        channel: 1,
        tlvs: vec![
            (2, text_message_data("a forbidden thing").unwrap().to_vec()),
            (2, text_message_data(shown).unwrap().to_vec()),
        ],
    };
    let notice = "[IMtegrity] Not delivered: that word is not allowed".to_owned();
    let (delivered, notices) = exchange(
        &mut alice,
        "alice",
        &mut bob,
        "bob",
        &hidden("harmless out"),
        1,
    )
    .await;
    assert_eq!(delivered, Vec::<String>::new(), "relayed");
    assert_eq!(notices, vec![notice.clone()]);
    let (delivered, notices) = exchange(
        &mut bob,
        "bob",
        &mut alice,
        "alice",
        &hidden("harmless in"),
        2,
    )
    .await;
    assert_eq!(delivered, Vec::<String>::new(), "relayed");
    assert_eq!(notices, vec![notice]);
    // The control: the same shape without the word passes.
    let clean = Shape {
        name: "two clean message-data TLVs",
        channel: 1,
        tlvs: vec![
            (2, text_message_data("a fine thing").unwrap().to_vec()),
            (2, text_message_data("harmless").unwrap().to_vec()),
        ],
    };
    let (delivered, _) = exchange(&mut alice, "alice", &mut bob, "bob", &clean, 3).await;
    // Delivered; the lab's scripted client shows the first TLV (its own strict reading).
    assert_eq!(delivered, ["a fine thing"]);
    alice.logout().await.unwrap();
    bob.logout().await.unwrap();
    gw.stop().await;

    let got = records(&archive).await;
    let summary: Vec<(&str, &str, &Value)> = got
        .iter()
        .map(|r| {
            (
                r["sender"].as_str().unwrap(),
                r["text"].as_str().unwrap(),
                &r["verdict"],
            )
        })
        .collect();
    let blocked = serde_json::json!({"blocked": "banned-word"});
    let allowed = Value::from("allowed");
    assert_eq!(
        summary,
        [
            ("alice", "harmless out", &blocked),
            ("bob", "harmless in", &blocked),
            ("alice", "harmless", &allowed),
        ]
    );
    // The record keeps the variant that was blocked.
    assert!(
        detail(&got[0]).contains("every text: [1] \"a forbidden thing\" [2] \"harmless out\""),
        "{}",
        detail(&got[0])
    );
}

/// Relaxed mode relays what it cannot read, but not past the policy: a readable earlier
/// fragment with a blocked word stops an IM whose last fragment shows nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_relaxed_mode_a_blocked_word_in_a_readable_part_still_blocks() {
    let lab = lab().await;
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    let config = dir.path().join("imtegrity.toml");
    std::fs::write(&config, BLOCKING_POLICY).unwrap();
    let gw = Gateway::start_with(
        IMTEGRITY,
        &["--config", config.to_str().unwrap()],
        &lab.auth_addr.to_string(),
        &archive,
        NODE,
        &["archive.mode=relaxed"],
    )
    .await;
    let mut alice = LabClient::login(gw.relay, "alice", PASSWORD).await.unwrap();
    let mut bob = LabClient::login(lab.auth_addr, "bob", PASSWORD)
        .await
        .unwrap();
    let last_shows_nothing = |first: &[u8]| {
        let mut data = vec![0x05, 0x01, 0x00, 0x01, 0x01];
        data.extend(text_fragment(first));
        data.extend(text_fragment(b""));
        Shape {
            name: "an earlier fragment, then one that shows nothing",
            channel: 1,
            tlvs: vec![(2, data)],
        }
    };
    let (delivered, notices) = exchange(
        &mut alice,
        "alice",
        &mut bob,
        "bob",
        &last_shows_nothing(b"a forbidden thing"),
        1,
    )
    .await;
    assert_eq!(delivered, Vec::<String>::new(), "relayed past the policy");
    assert_eq!(notices.len(), 1, "{notices:?}");
    // The control: without the word, relaxed mode relays it, recorded raw.
    let (delivered, _) = exchange(
        &mut alice,
        "alice",
        &mut bob,
        "bob",
        &last_shows_nothing(b"a fine thing"),
        2,
    )
    .await;
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    alice.logout().await.unwrap();
    bob.logout().await.unwrap();
    gw.stop().await;
    let got = records(&archive).await;
    let verdicts: Vec<&Value> = got
        .iter()
        .filter(|r| !r["text"].as_str().unwrap_or("").starts_with("mark"))
        .map(|r| &r["verdict"])
        .collect();
    assert_eq!(
        verdicts,
        [
            &serde_json::json!({"blocked": "banned-word"}),
            &Value::from("allowed")
        ],
        "{got:#?}"
    );
}
