//! Turning SPI calls into `record::Event`s: the same record model as AIM and ICQ, protocol
//! `sametime`.
//!
//! Conversation keys: a two-way chat is `record::conversation_for_pair` of its two parties
//! (the same key whichever side speaks), a place (n-way chat) is
//! `record::conversation_for_room` of its session id, an announcement is
//! `sametime:announcement:<session id>`. A session's start record is written before anyone
//! joins, when its kind is not known yet, so it is keyed `sametime:session:<session id>`;
//! every record carries the session id in `detail`, which ties them together.

use policy::Decision;
use record::{
    Direction, Event, Kind, Protocol, Verdict, conversation_for_pair, conversation_for_room, now_ns,
};
use serde_json::{Value, json};

use crate::data_msgs::html_to_text;
use crate::ffi_strings::OwnedEntity;
use crate::sessions::{Session, SessionKind};

/// Why a session's end record was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndedBy {
    /// The server called `stDdaClSessionEnded`.
    Server,
    /// `stDdaClTerminate` closed a session still open (IBM's sample does the same).
    Terminate,
}

/// The key of a session before its kind is known.
fn session_key(session_id: &str) -> String {
    format!(
        "{}:session:{}",
        Protocol::Sametime,
        session_id.trim().to_lowercase()
    )
}

/// The key of an announcement session.
fn announcement_key(session_id: &str) -> String {
    format!(
        "{}:announcement:{}",
        Protocol::Sametime,
        session_id.trim().to_lowercase()
    )
}

/// The conversation a record of `session` belongs to; for a two-way chat, the pair of
/// `speaker` and `other` when both are known, else of its first two members.
fn conversation(session: &Session, speaker: Option<&str>, other: Option<&str>) -> String {
    match session.kind {
        SessionKind::Place => conversation_for_room(Protocol::Sametime, &session.id),
        SessionKind::Announcement => announcement_key(&session.id),
        SessionKind::TwoWay => {
            let pair = match (speaker, other) {
                (Some(a), Some(b)) => Some((a, b)),
                _ => match session.joined.as_slice() {
                    [a, b, ..] => Some((a.id.as_str(), b.id.as_str())),
                    _ => None,
                },
            };
            pair.map_or_else(
                || session_key(&session.id),
                |(a, b)| conversation_for_pair(Protocol::Sametime, a, b),
            )
        }
        SessionKind::Undecided => session_key(&session.id),
    }
}

/// A record with the fields every Sametime record shares.
fn base(node: &str, kind: Kind, conversation: String, session: &Session) -> Event {
    let mut event = bare(node, kind, conversation);
    event.room = (session.kind == SessionKind::Place).then(|| session.id.clone());
    event
}

/// A record of no session (a policy check comes before its session starts).
fn bare(node: &str, kind: Kind, conversation: String) -> Event {
    Event {
        time_ns: now_ns(),
        protocol: Protocol::Sametime,
        kind,
        conversation,
        sender: String::new(),
        recipients: Vec::new(),
        direction: Direction::Internal,
        local_user: String::new(),
        room: None,
        client_addr: None,
        node: node.to_owned(),
        text: String::new(),
        raw: String::new(),
        charset: None,
        verdict: Verdict::Allowed,
        detail: None,
        employee: None,
    }
}

/// `stDdaClSessionStarted(ByOrgName)`.
pub fn session_start(node: &str, session: &Session) -> Event {
    let key = match session.kind {
        SessionKind::Announcement => announcement_key(&session.id),
        _ => session_key(&session.id),
    };
    let mut event = base(node, Kind::SessionStart, key, session);
    event.detail =
        Some(json!({ "session": session.id, "organization": session.organization }).to_string());
    event
}

/// A join or leave of a place (n-way chat).
pub fn place_presence(node: &str, session: &Session, who: &OwnedEntity, kind: Kind) -> Event {
    let mut event = base(node, kind, conversation(session, None, None), session);
    event.sender.clone_from(&who.id);
    event.local_user.clone_from(&who.id);
    event.recipients = session
        .present
        .iter()
        .filter(|m| m.id != who.id)
        .map(|m| m.id.clone())
        .collect();
    event.detail =
        Some(json!({ "session": session.id, "entity_type": who.entity_type }).to_string());
    event
}

/// A text message: an IM in a two-way chat or an announcement, a chat message in a place.
/// `receiver == None` is "to all": everyone present but the sender.
pub fn text_message(
    node: &str,
    session: &Session,
    sender: &OwnedEntity,
    receiver: Option<&OwnedEntity>,
    bytes: &[u8],
) -> Event {
    let kind = if session.kind == SessionKind::Place {
        Kind::ChatMessage
    } else {
        Kind::Im
    };
    let recipients = recipients(session, sender, receiver);
    let other = receiver.map(|r| r.id.as_str()).or_else(|| {
        (session.kind == SessionKind::TwoWay && recipients.len() == 1)
            .then(|| recipients[0].id.as_str())
    });
    let mut event = base(
        node,
        kind,
        conversation(session, Some(&sender.id), other),
        session,
    );
    event.sender.clone_from(&sender.id);
    event.recipients = recipients.iter().map(|r| r.id.clone()).collect();
    event.direction = direction_of(sender, &recipients);
    event.local_user = local_user_of(sender, &recipients);
    let raw = String::from_utf8_lossy(bytes).into_owned();
    event.text = if session.rich_text_senders.contains(&sender.id) {
        html_to_text(&raw)
    } else {
        raw.clone()
    };
    event.raw = raw;
    let mut detail = json!({ "session": session.id, "to_all": receiver.is_none() });
    if std::str::from_utf8(bytes).is_err() {
        // The text fields hold a lossy rendering; keep the exact bytes for review.
        detail["raw_hex"] = json!(record::hex(bytes));
    }
    event.detail = Some(detail.to_string());
    event
}

/// Who a message of `sender` reaches: its receiver, or (to all) everyone else present.
pub fn recipients<'a>(
    session: &'a Session,
    sender: &OwnedEntity,
    receiver: Option<&'a OwnedEntity>,
) -> Vec<&'a OwnedEntity> {
    match receiver {
        Some(r) => vec![r],
        None => session
            .present
            .iter()
            .filter(|m| m.id != sender.id)
            .collect(),
    }
}

/// `detail` (a JSON object, or nothing) with one more key.
pub fn with_detail(detail: Option<&str>, key: &str, value: impl Into<serde_json::Value>) -> String {
    let mut object = detail
        .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .filter(serde_json::Value::is_object)
        .unwrap_or_else(|| json!({}));
    object[key] = value.into();
    object.to_string()
}

/// The end of a session: everyone who took part, and what its data messages were.
pub fn session_end(node: &str, session: &Session, ended_by: EndedBy) -> Event {
    let mut event = base(
        node,
        Kind::SessionEnd,
        conversation(session, None, None),
        session,
    );
    event.recipients = session.joined.iter().map(|m| m.id.clone()).collect();
    let data = &session.data;
    event.detail = Some(
        json!({
            "session": session.id,
            "organization": session.organization,
            "session_kind": session.kind.as_str(),
            "ended_by": match ended_by { EndedBy::Server => "server", EndedBy::Terminate => "terminate" },
            "data_messages": {
                "typing": data.typing,
                "rich_text": data.rich_text,
                "images": data.images,
                "image_bytes": data.image_bytes,
                "other": data.other,
            },
        })
        .to_string(),
    );
    event
}

/// `stDdaClSessionPolicycheckFunc` refused a one-to-one chat: the notice the initiator got is
/// the record's text. There is no session yet; the conversation is the pair's.
pub fn chat_declined(
    node: &str,
    initiator: &OwnedEntity,
    target: &OwnedEntity,
    local: &str,
    detail: Value,
    notice: &str,
) -> Event {
    let conversation = conversation_for_pair(Protocol::Sametime, &initiator.id, &target.id);
    let mut event = bare(node, Kind::PolicyAction, conversation);
    event.sender.clone_from(&initiator.id);
    event.recipients = vec![target.id.clone()];
    event.direction = direction_of(initiator, &[target]);
    event.local_user = local.to_owned();
    event.text = notice.to_owned();
    event.raw = notice.to_owned();
    event.detail = Some(detail.to_string());
    event
}

/// A policy action in `session` by or about `actor` (a join declined, a disclaimer sent to a
/// joiner): `text` is what was shown, `what` says what happened.
pub fn session_policy_action(
    node: &str,
    session: &Session,
    actor: &OwnedEntity,
    others: &[&OwnedEntity],
    what: Value,
    text: &str,
) -> Event {
    let other = others.first().map(|o| o.id.as_str());
    let mut event = base(
        node,
        Kind::PolicyAction,
        conversation(session, Some(&actor.id), other),
        session,
    );
    event.sender.clone_from(&actor.id);
    event.recipients = others.iter().map(|o| o.id.clone()).collect();
    event.direction = direction_of(actor, others);
    event.local_user = local_user_of(actor, others);
    event.text = text.to_owned();
    event.raw = text.to_owned();
    event.detail = Some(with_session(what, session).to_string());
    event
}

/// The record of a disclaimer sent to both parties before `message` (same conversation and
/// parties as the message).
pub fn disclaimer_sent(message: &Event, session: &Session, text: &str) -> Event {
    let mut event = message.clone();
    event.kind = Kind::PolicyAction;
    event.text = text.to_owned();
    event.raw = text.to_owned();
    event.charset = None;
    event.verdict = Verdict::Allowed;
    event.detail = Some(
        with_session(
            json!({ "policy": "disclaimer sent to both parties" }),
            session,
        )
        .to_string(),
    );
    event
}

/// Sets a message record's verdict as the enforcement plan gave it (`policy::Keep`), as the
/// relay does: masked records hold the text the receiver got (`raw` keeps what was sent),
/// alerted ones the alert in their detail.
pub fn mark(event: &mut Event, verdict: &Verdict, shown_text: Option<&str>, decision: &Decision) {
    if let Some(shown) = shown_text {
        shown.clone_into(&mut event.text);
    }
    if let Verdict::Alerted(_) = verdict {
        let mut detail = event
            .detail
            .as_deref()
            .and_then(|d| serde_json::from_str::<Value>(d).ok())
            .unwrap_or_else(|| json!({}));
        detail["alert"] = json!(decision.alert);
        event.detail = Some(detail.to_string());
    }
    event.verdict = verdict.clone();
}

/// A message a rule says not to log (a privacy exclusion): only that a rule said so, with no
/// text and no other party, so the exclusion itself is accountable (as the relay records it).
pub fn not_logged(message: &Event, session: &Session, rule: &str, local: &str) -> Event {
    let mut event = message.clone();
    event.kind = Kind::PolicyAction;
    event.text.clear();
    event.raw.clear();
    event.charset = None;
    event.recipients.clear();
    event.conversation = format!("policy:{}", local.to_lowercase());
    event.verdict = Verdict::Allowed;
    event.detail = Some(
        with_session(
            json!({ "policy": format!("not logged: rule {rule}") }),
            session,
        )
        .to_string(),
    );
    event
}

/// `what` with the session id, which ties every record of a session together.
fn with_session(mut what: Value, session: &Session) -> Value {
    what["session"] = json!(session.id);
    what
}

/// The policy's one rule (`policy::direction_of`): from an outsider inbound, to one
/// outbound, else internal; when the sender and every other party are outsiders (names a
/// directory does not list), the side on this server's community stands for the
/// organisation, as the gateway's side does in the relay.
fn direction_of(sender: &OwnedEntity, others: &[&OwnedEntity]) -> Direction {
    policy::direction_of(
        !sender.is_outsider(),
        !others.iter().any(|o| o.is_outsider()),
        !sender.is_external(),
    )
}

/// Whose record it is: the sender when ours, else the first of the organisation's users
/// among the others, else the sender.
fn local_user_of(sender: &OwnedEntity, others: &[&OwnedEntity]) -> String {
    if sender.is_outsider() {
        others
            .iter()
            .find(|o| !o.is_outsider())
            .map_or_else(|| sender.id.clone(), |o| o.id.clone())
    } else {
        sender.id.clone()
    }
}
