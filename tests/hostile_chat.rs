//! Chat rooms a client that does not play by the rules tries to hide, against
//! `imtegrity run` (a child process) in front of an in-process lab server, with alice
//! scripted in raw OSCAR through the gateway and carol, the outsider, in the room directly:
//!
//! - a service request that reuses the request id of one still outstanding (a room, then
//!   another service or another room, in one write) ends the session: no redirect reaches
//!   the client, nothing is said in the room;
//! - a chat connection's room is what the server says on it: a request naming two rooms
//!   (the gateway reads one, the lab the other) records the lines under the room the
//!   server put alice in;
//! - chat-family SNACs on a connection no room is known for (the BOS connection, or a chat
//!   connection before the server named its room): strict mode refuses and records them,
//!   relaxed mode relays them and records them raw.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use imtegrity_harness::scripted::{End, Scripted, WAIT, bos_cookie, present};
use imtegrity_harness::{Binary, Gateway, search, verify_intact};
use lab::{Accounts, ChatClient, ClientEvent, LabClient, LabConfig, LabServer, room_for};
use oscar::message::oservice::TLV_ROOM_INFO;
use oscar::message::{
    ChatMessage, ChatReceive, ChatSend, ChatUsersJoined, ServiceRequest, ServiceResponse, UserList,
};
use oscar::{Family, Flap, SnacBody, Tlv, TlvList};
use serde_json::{Value, json};

const IMTEGRITY: Binary = Binary::at(env!("CARGO_BIN_EXE_imtegrity"));

const NODE: &str = "hostile-chat";
const PASSWORD: &str = "pw";
const HOME: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// How long silence must last to count as nothing delivered.
const QUIET: Duration = Duration::from_millis(700);
/// What the sender of a refused unreadable message is shown.
const NOTICE: &str =
    "[IMtegrity] This message could not be delivered: the gateway could not read it to archive it.";

/// The lab with alice and carol, the gateway in front of it, carol (outside) in
/// `secretroom`, and alice's BOS connection through the gateway.
struct Setup {
    lab: LabServer,
    gw: Gateway,
    archive: std::path::PathBuf,
    carol: LabClient,
    carol_room: ChatClient,
    alice: Scripted,
    _dir: tempfile::TempDir,
}

impl Setup {
    async fn start(extra: &[&str]) -> Self {
        let lab = LabServer::start(LabConfig {
            accounts: Accounts::from_pairs([("alice", PASSWORD), ("carol", PASSWORD)]),
            ..LabConfig::ephemeral()
        })
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("archive");
        let gw = Gateway::start(IMTEGRITY, &lab.auth_addr.to_string(), &archive, NODE, extra).await;
        let mut carol = LabClient::login(lab.auth_addr, "carol", PASSWORD)
            .await
            .unwrap();
        let carol_room = carol.join_chat("secretroom").await.unwrap();
        let cookie = bos_cookie(gw.relay, HOME, "alice", PASSWORD).await;
        let alice = present(gw.relay, HOME, &cookie).await;
        Self {
            lab,
            gw,
            archive,
            carol,
            carol_room,
            alice,
            _dir: dir,
        }
    }

    /// Sends `request` on alice's BOS connection, follows the chat service's redirect
    /// through the gateway and returns the chat connection, signed on but not yet ready.
    async fn request_chat(&mut self, request: &ServiceRequest, request_id: u32) -> Scripted {
        self.alice.send_snac(request, request_id).await;
        let answer = self
            .alice
            .until(ServiceResponse::FAMILY, ServiceResponse::SUBTYPE, WAIT)
            .await
            .expect("the chat service redirect");
        let answer = ServiceResponse::from_snac(&answer).unwrap();
        let cookie = oscar::message::Redirect::cookie(&answer).unwrap().to_vec();
        present(self.gw.relay, HOME, &cookie).await
    }

    /// Stops everything and returns the archive's records of the kinds given.
    async fn finish(self, kinds: &[&str]) -> Vec<Value> {
        drop(self.alice);
        self.carol_room.leave().await.unwrap();
        self.carol.logout().await.unwrap();
        self.gw.stop().await;
        let mut filters = Vec::new();
        for kind in kinds {
            filters.extend(["--kind", kind]);
        }
        let records = search(IMTEGRITY, &self.archive, &filters).await;
        verify_intact(IMTEGRITY, &self.archive).await;
        drop(self.lab);
        records
    }
}

fn chat_request(room: &str) -> ServiceRequest {
    ServiceRequest::chat(&room_for(room)).unwrap()
}

fn snac_flap<T: SnacBody>(body: &T, request_id: u32) -> Flap {
    body.to_snac(request_id).unwrap().to_flap().unwrap()
}

/// A chat line as a client sends it.
fn chat_line(text: &str) -> ChatSend {
    ChatSend(ChatMessage::public(*b"HIDDEN01", text).unwrap())
}

/// Waits `wait` for a line from `from` in `room`; `None` if none came.
async fn line_within(room: &mut ChatClient, from: &str, wait: Duration) -> Option<String> {
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

/// Whether `room` is told that `who` joined within `wait`.
async fn joined_within(room: &mut ChatClient, who: &str, wait: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match room.next_event(left).await {
            Ok(ClientEvent::ChatJoined(names)) if names.iter().any(|n| n.normalized() == who) => {
                return true;
            }
            Ok(_) => {}
            Err(_) => return false,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_service_request_id_ends_the_session() {
    let second_requests = [
        (
            "another service",
            snac_flap(
                &ServiceRequest {
                    family: Family(0x0010),
                    tlvs: TlvList::new(),
                },
                5,
            ),
        ),
        ("another room", snac_flap(&chat_request("decoy"), 5)),
    ];
    for (case, second) in second_requests {
        let mut t = Setup::start(&[]).await;
        // One write: the room, and under the same request id something else.
        t.alice
            .send_together(vec![snac_flap(&chat_request("secretroom"), 5), second])
            .await;
        let (seen, end) = t.alice.drain(WAIT).await;
        assert_eq!(end, End::Closed, "{case}: the session ends");
        let redirects: Vec<_> = seen
            .iter()
            .filter(|s| {
                s.header
                    .is(ServiceResponse::FAMILY, ServiceResponse::SUBTYPE)
            })
            .collect();
        assert!(
            redirects.is_empty(),
            "{case}: a redirect reached the client: {redirects:?}"
        );
        assert!(
            !joined_within(&mut t.carol_room, "alice", QUIET).await,
            "{case}: alice joined the room"
        );
        let chat = t.finish(&["chat_message", "chat_join", "chat_leave"]).await;
        assert_eq!(chat, Vec::<Value>::new(), "{case}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_connection_is_recorded_under_the_room_the_server_names() {
    let mut t = Setup::start(&[]).await;
    // Two room-info TLVs: the gateway reads the first (decoy), the lab the last.
    let mut request = chat_request("decoy");
    let secret = ServiceRequest::chat(&room_for("secretroom")).unwrap();
    let secret = secret.tlvs.value(TLV_ROOM_INFO).unwrap().clone();
    request.tlvs.push(Tlv::new(TLV_ROOM_INFO, secret));
    let mut chat = t.request_chat(&request, 9).await;
    chat.send_empty(Family::OSERVICE, 0x0002, 1).await;
    // The lab put alice in secretroom: carol sees her join and her line.
    assert!(joined_within(&mut t.carol_room, "alice", WAIT).await);
    chat.until(ChatUsersJoined::FAMILY, ChatUsersJoined::SUBTYPE, WAIT)
        .await
        .expect("the room's members");
    chat.send_snac(&chat_line("from behind two rooms"), 2).await;
    assert_eq!(
        line_within(&mut t.carol_room, "alice", WAIT)
            .await
            .as_deref(),
        Some("from behind two rooms")
    );
    t.carol_room.send("carol to the room").await.unwrap();
    // alice's own line comes back first (she asked for reflection); then carol's.
    for _ in 0..2 {
        let line = chat.until(Family::CHAT, 0x0006, WAIT).await;
        let line = ChatReceive::from_snac(&line.expect("carol's line reaches alice")).unwrap();
        if line.0.sender().unwrap().unwrap().screen_name.as_ref() == b"carol" {
            break;
        }
    }
    drop(chat);
    let records = t.finish(&["chat_message"]).await;
    let lines: Vec<(&str, &str, &str)> = records
        .iter()
        .map(|r| {
            (
                r["room"].as_str().unwrap(),
                r["sender"].as_str().unwrap(),
                r["text"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        vec![
            ("secretroom", "alice", "from behind two rooms"),
            ("secretroom", "carol", "carol to the room"),
        ]
    );
}

/// The chat record of `kind` in `records`, checked to be alice's, refused or relayed raw.
fn raw_record<'a>(records: &'a [Value], kind: &str, verdict: &Value) -> &'a Value {
    let r = records
        .iter()
        .find(|r| r["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} record: {records:#?}"));
    assert_eq!(
        (
            &r["sender"],
            &r["local_user"],
            &r["direction"],
            &r["verdict"]
        ),
        (
            &json!("alice"),
            &json!("alice"),
            &json!("outbound"),
            verdict
        ),
        "{r}"
    );
    let detail = r["detail"].as_str().unwrap();
    assert!(
        detail.contains("chat traffic on a connection no room is known for"),
        "{detail}"
    );
    assert!(detail.contains("payload hex: "), "{detail}");
    r
}

/// Chat-family SNACs from alice on her BOS connection: a line and a join list.
async fn chat_snacs_on_bos(alice: &mut Scripted) {
    alice.send_snac(&chat_line("said on BOS"), 3).await;
    let joined = ChatUsersJoined(UserList {
        users: vec![oscar::message::UserInfo::new(
            &oscar::ScreenName::parse(b"alice").unwrap(),
        )],
    });
    alice.send_snac(&joined, 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_mode_refuses_chat_traffic_it_cannot_attribute_and_records_it() {
    let mut t = Setup::start(&[]).await;
    chat_snacs_on_bos(&mut t.alice).await;
    // The refused line's sender is told.
    let notice = t
        .alice
        .until(Family::CHAT, 0x0006, WAIT)
        .await
        .expect("a notice for the refused line");
    let notice = ChatReceive::from_snac(&notice).unwrap();
    assert_eq!(notice.0.text().unwrap().unwrap().plain, NOTICE);

    // A chat connection that speaks before the server named its room: carol hears nothing.
    let mut chat = t.request_chat(&chat_request("secretroom"), 10).await;
    chat.send_snac(&chat_line("before the room is known"), 2)
        .await;
    assert_eq!(line_within(&mut t.carol_room, "alice", QUIET).await, None);
    drop(chat);

    let records = t.finish(&["chat_message", "chat_join"]).await;
    let refused = json!({"blocked": "unreadable"});
    assert_eq!(records.len(), 3, "{records:#?}");
    let line = raw_record(&records[..1], "chat_message", &refused);
    assert_eq!(line["text"], "said on BOS");
    raw_record(&records[1..2], "chat_join", &refused);
    let early = raw_record(&records[2..], "chat_message", &refused);
    assert_eq!(
        (&early["text"], &early["room"]),
        (&json!("before the room is known"), &json!("secretroom")),
        "the room asked for, as a claim"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relaxed_mode_relays_chat_traffic_it_cannot_attribute_and_records_it_raw() {
    let mut t = Setup::start(&["archive.mode=relaxed"]).await;
    chat_snacs_on_bos(&mut t.alice).await;
    let (seen, end) = t.alice.drain(QUIET).await;
    assert_eq!(end, End::StillOpen);
    assert!(
        !seen.iter().any(|s| s.header.family == Family::CHAT),
        "no notice in relaxed mode: {seen:?}"
    );

    // The early line on a chat connection is relayed: the lab delivers it to the room.
    let mut chat = t.request_chat(&chat_request("secretroom"), 10).await;
    chat.send_snac(&chat_line("before the room is known"), 2)
        .await;
    assert_eq!(
        line_within(&mut t.carol_room, "alice", WAIT)
            .await
            .as_deref(),
        Some("before the room is known")
    );
    drop(chat);

    let records = t.finish(&["chat_message", "chat_join"]).await;
    let relayed = json!("allowed");
    assert_eq!(records.len(), 3, "{records:#?}");
    assert_eq!(
        raw_record(&records[..1], "chat_message", &relayed)["text"],
        "said on BOS"
    );
    raw_record(&records[1..2], "chat_join", &relayed);
    assert_eq!(
        raw_record(&records[2..], "chat_message", &relayed)["text"],
        "before the room is known"
    );
}
