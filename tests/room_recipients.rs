//! Who received a room message: a three-user room through `imtegrity run` (a
//! child process) in front of an in-process lab server, alice and bob behind the gateway,
//! carol outside it (logged in to the lab directly). Every room record lists the room's
//! other members at that moment as recipients, joins, leaves and lines carry the local user
//! and direction docs/archive.md's rule for rooms gives, so each member's custodian search and
//! export (`--user`) holds every line they received; AIM sign-on and sign-off are
//! `session_start` / `session_end` records.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use imtegrity_harness::{Binary, Gateway, cli, search, verify_intact};
use lab::{Accounts, ChatClient, ClientEvent, LabClient, LabConfig, LabServer};
use serde_json::Value;

const IMTEGRITY: Binary = Binary::at(env!("CARGO_BIN_EXE_imtegrity"));

const WAIT: Duration = Duration::from_secs(5);
const NODE: &str = "room-recipients";
const PASSWORD: &str = "pw";

/// Waits until `room` is told of `what` about `who`.
async fn told(room: &mut ChatClient, who: &str, joined: bool) {
    room.expect_event(WAIT, "a join or leave", |e| match e {
        ClientEvent::ChatJoined(names) if joined => names.iter().any(|n| n.normalized() == who),
        ClientEvent::ChatLeft(names) if !joined => names.iter().any(|n| n.normalized() == who),
        _ => false,
    })
    .await
    .unwrap();
}

/// `text` from `from`, said in `rooms[0]`'s room, reaching every other room in `rooms`.
async fn say(from: &str, text: &str, rooms: &mut [&mut ChatClient]) {
    let (speaker, hearers) = rooms.split_first_mut().unwrap();
    speaker.send(text).await.unwrap();
    for room in hearers {
        assert_eq!(room.expect_message(from, WAIT).await.unwrap(), text);
    }
}

/// One room record, for exact comparison: (kind, sender, recipients, direction, text).
fn row(r: &Value) -> (String, String, Vec<String>, String, String) {
    let s = |k: &str| {
        r[k].as_str()
            .unwrap_or_else(|| panic!("{k} in {r}"))
            .to_owned()
    };
    let recipients = r["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    (
        s("kind"),
        s("sender"),
        recipients,
        s("direction"),
        s("text"),
    )
}

fn want(
    kind: &str,
    sender: &str,
    recipients: &[&str],
    direction: &str,
    text: &str,
) -> (String, String, Vec<String>, String, String) {
    (
        kind.into(),
        sender.into(),
        recipients.iter().map(|r| (*r).to_owned()).collect(),
        direction.into(),
        text.into(),
    )
}

/// The chat-line texts among `records`.
fn lines(records: &[Value]) -> BTreeSet<String> {
    records
        .iter()
        .filter(|r| r["kind"] == "chat_message")
        .map(|r| r["text"].as_str().unwrap().to_owned())
        .collect()
}

fn set(texts: &[&str]) -> BTreeSet<String> {
    texts.iter().map(|t| (*t).to_owned()).collect()
}

/// Every record of a `--format jsonl` export of `--user user`.
async fn exported(archive: &std::path::Path, user: &str, out: &std::path::Path) -> Vec<Value> {
    let (code, _, stderr) = cli(
        IMTEGRITY,
        &[
            "export",
            "--archive",
            archive.to_str().unwrap(),
            "--user",
            user,
            "--format",
            "jsonl",
            "--out",
            out.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(code, Some(0), "export failed: {stderr}");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let mut records = Vec::new();
    for file in manifest["files"].as_array().unwrap() {
        let text = std::fs::read_to_string(out.join(file["name"].as_str().unwrap())).unwrap();
        records.extend(
            text.lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap()),
        );
    }
    records
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_member_is_a_recipient_of_what_the_room_heard_while_they_were_in_it() {
    let lab = LabServer::start(LabConfig {
        accounts: Accounts::from_pairs([
            ("alice", PASSWORD),
            ("bob", PASSWORD),
            ("carol", PASSWORD),
        ]),
        ..LabConfig::ephemeral()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    let gw = Gateway::start(IMTEGRITY, &lab.auth_addr.to_string(), &archive, NODE, &[]).await;
    let mut alice = LabClient::login(gw.relay, "alice", PASSWORD).await.unwrap();
    let mut bob = LabClient::login(gw.relay, "bob", PASSWORD).await.unwrap();
    let mut carol = LabClient::login(lab.auth_addr, "carol", PASSWORD)
        .await
        .unwrap();

    let mut a = alice.join_chat("compliance").await.unwrap();
    let mut c = carol.join_chat("compliance").await.unwrap();
    told(&mut a, "carol", true).await;
    let mut b = bob.join_chat("compliance").await.unwrap();
    told(&mut a, "bob", true).await;
    told(&mut c, "bob", true).await;
    say("alice", "a1 from alice", &mut [&mut a, &mut b, &mut c]).await;
    say("carol", "c1 from carol", &mut [&mut c, &mut a, &mut b]).await;
    say("bob", "b1 from bob", &mut [&mut b, &mut a, &mut c]).await;
    c.leave().await.unwrap();
    told(&mut a, "carol", false).await;
    told(&mut b, "carol", false).await;
    say("bob", "b2 among us", &mut [&mut b, &mut a]).await;
    a.leave().await.unwrap();
    told(&mut b, "alice", false).await;
    b.leave().await.unwrap();
    for client in [alice, bob, carol] {
        client.logout().await.unwrap();
    }
    // The sign-offs reach the gateway as the clients close: wait (bounded) for both
    // session ends, read through the running gateway's admin socket, before stopping it.
    for _ in 0..50 {
        if search(IMTEGRITY, &archive, &["--kind", "session_end"])
            .await
            .len()
            == 2
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    gw.stop().await;

    let room = search(IMTEGRITY, &archive, &["--room", "compliance"]).await;
    let got: Vec<_> = room.iter().map(row).collect();
    assert_eq!(
        got,
        vec![
            want("chat_join", "alice", &[], "internal", ""),
            want("chat_join", "carol", &["alice"], "inbound", ""),
            want("chat_join", "bob", &["alice", "carol"], "outbound", ""),
            want(
                "chat_message",
                "alice",
                &["bob", "carol"],
                "outbound",
                "a1 from alice"
            ),
            want(
                "chat_message",
                "carol",
                &["alice", "bob"],
                "inbound",
                "c1 from carol"
            ),
            want(
                "chat_message",
                "bob",
                &["alice", "carol"],
                "outbound",
                "b1 from bob"
            ),
            want("chat_leave", "carol", &["alice", "bob"], "inbound", ""),
            want("chat_message", "bob", &["alice"], "internal", "b2 among us"),
            want("chat_leave", "alice", &["bob"], "internal", ""),
            want("chat_leave", "bob", &[], "internal", ""),
        ],
        "{room:#?}"
    );
    // A local member's own join, leave and lines are theirs, from their own client; an
    // outsider's are the local member's whose connection recorded them.
    for r in &room {
        let sender = r["sender"].as_str().unwrap();
        let local = r["local_user"].as_str().unwrap();
        match sender {
            "carol" => assert!(local == "alice" || local == "bob", "{r}"),
            own => assert_eq!(local, own, "{r}"),
        }
        assert!(
            r["client_addr"].as_str().unwrap().starts_with("127.0.0.1:"),
            "{r}"
        );
    }

    // Each member's custodian search and export hold every line they sent or received.
    let heard = [
        (
            "alice",
            set(&[
                "a1 from alice",
                "c1 from carol",
                "b1 from bob",
                "b2 among us",
            ]),
        ),
        (
            "bob",
            set(&[
                "a1 from alice",
                "c1 from carol",
                "b1 from bob",
                "b2 among us",
            ]),
        ),
        (
            "carol",
            set(&["a1 from alice", "c1 from carol", "b1 from bob"]),
        ),
    ];
    for (user, texts) in &heard {
        let found = search(
            IMTEGRITY,
            &archive,
            &["--user", user, "--kind", "chat_message"],
        )
        .await;
        assert_eq!(&lines(&found), texts, "search --user {user}");
        let out = dir.path().join(format!("export-{user}"));
        assert_eq!(
            &lines(&exported(&archive, user, &out).await),
            texts,
            "export --user {user}"
        );
    }

    // AIM sign-on and sign-off, for the two users behind the gateway only.
    for (kind, detail) in [
        (
            "session_start",
            "AIM signed on: the server took a BOS cookie routed through this gateway",
        ),
        ("session_end", "AIM signed off"),
    ] {
        let sessions = search(IMTEGRITY, &archive, &["--kind", kind]).await;
        let mut who: Vec<(&str, &str, &str)> = sessions
            .iter()
            .map(|r| {
                (
                    r["sender"].as_str().unwrap(),
                    r["local_user"].as_str().unwrap(),
                    r["detail"].as_str().unwrap(),
                )
            })
            .collect();
        who.sort_unstable();
        assert_eq!(
            who,
            vec![("alice", "alice", detail), ("bob", "bob", detail)],
            "{kind}: {sessions:#?}"
        );
    }
    verify_intact(IMTEGRITY, &archive).await;
    drop(lab);
}
