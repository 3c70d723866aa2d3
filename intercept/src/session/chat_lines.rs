//! A chat line, sent or delivered, as a room record: every local member's connection sees
//! the same line (and the sender's sees its own reflected), so the first sighting records
//! it and the rest only apply the policy.

use archive::{Direction, Kind};
use oscar::Flap;
use oscar::message::{ChatMessage, ChatReceive, ChatSend, RoomInfo};
use record::normalize_screen_name;

use super::chat_room::room_event;
use super::decide::{Handled, PolicyInput, decide};
use super::messages::{self, Unreadable};
use super::state::{State, lossy};
use crate::enforce::Rebuild;
use crate::error::{SessionError, Side};
use crate::relay::Relay;

/// A line the client sends to its room: recorded and decided the first time it is seen.
pub(super) fn sent(
    relay: &Relay,
    state: &State,
    flap: &Flap,
    send: &ChatSend,
) -> Result<Handled, SessionError> {
    let me = state.me();
    let text = send.0.text().and_then(Result::ok);
    let (Some(room), Some(text)) = (state.room.as_ref().map(RoomInfo::name), text) else {
        let room = state.room_name();
        return Ok(messages::unreadable(
            relay,
            state,
            flap,
            Unreadable {
                kind: Kind::ChatMessage,
                sender: &me,
                recipient: &room,
                from: Side::Client,
                direction: Direction::Outbound,
                why: "a chat message without a known room or readable text",
                texts: &[],
            },
        ));
    };
    // The room will deliver this to every local member too; only this record counts.
    let key = chat_key(&room, &me, &send.0);
    if !relay.first_sighting(key) {
        return Ok(Handled::forward());
    }
    let event = room_event(relay, state, Kind::ChatMessage, &me, Some(&text));
    decide(
        relay,
        state,
        PolicyInput {
            event: Some(event),
            variants: &[],
            remote: &room,
            from: Side::Client,
            rebuild: Rebuild::Unsupported,
            keep: true,
        },
    )
}

/// A line the room delivers: the policy applies to every copy; only the first is recorded
/// (reflections of our own line and copies other local members see were recorded already).
pub(super) fn received(
    relay: &Relay,
    state: &State,
    flap: &Flap,
    rx: &ChatReceive,
) -> Result<Handled, SessionError> {
    let room = state.room.as_ref().map(RoomInfo::name);
    let sender = rx.0.sender().and_then(Result::ok);
    let text = rx.0.text().and_then(Result::ok);
    let (Some(room), Some(sender), Some(_)) = (room, sender, &text) else {
        let room = state.room_name();
        return Ok(messages::unreadable(
            relay,
            state,
            flap,
            Unreadable {
                kind: Kind::ChatMessage,
                sender: "",
                recipient: &room,
                from: Side::Upstream,
                direction: Direction::Inbound,
                why: "a chat message without a known room, sender or readable text",
                texts: &[],
            },
        ));
    };
    let from = lossy(&sender.screen_name);
    let first = relay.first_sighting(chat_key(&room, &from, &rx.0));
    let event = room_event(relay, state, Kind::ChatMessage, &from, text.as_ref());
    decide(
        relay,
        state,
        PolicyInput {
            event: Some(event),
            variants: &[],
            remote: &room,
            from: Side::Upstream,
            rebuild: Rebuild::Unsupported,
            keep: first,
        },
    )
}

/// What makes a chat line the same line when several local members see it: room, sender,
/// message cookie, and the message itself (clients that reuse a cookie for every line, as
/// some do, must not have their later lines taken for copies of the first).
fn chat_key(room: &str, sender: &str, message: &ChatMessage) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    // The message info (text and encoding), which the sent line and every delivered copy
    // carry alike; the sender and flags TLVs differ between them.
    message
        .tlvs
        .value(oscar::message::chat::TLV_CHAT_MESSAGE_INFO)
        .hash(&mut hasher);
    let cookie = record::hex(&message.cookie);
    format!(
        "chat|{room}|{}|{cookie}|{:016x}",
        normalize_screen_name(sender),
        hasher.finish()
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use oscar::ScreenName;
    use oscar::message::UserInfo;

    use super::*;

    #[test]
    fn a_sent_line_and_its_delivered_copy_share_a_key_and_other_lines_do_not() {
        let sent = ChatMessage::public(*b"cookie01", "hello").unwrap();
        let alice = UserInfo::new(&ScreenName::parse(b"Alice").unwrap());
        let delivered = sent.delivery(&alice).unwrap();
        let key = chat_key("room", "Alice", &sent);
        assert_eq!(key, chat_key("room", "alice", &delivered));
        assert!(
            key.starts_with("chat|room|alice|636f6f6b69653031|"),
            "{key}"
        );
        // The same cookie reused for another line is another line.
        let other = ChatMessage::public(*b"cookie01", "again").unwrap();
        assert_ne!(key, chat_key("room", "Alice", &other));
        assert_ne!(key, chat_key("another room", "Alice", &sent));
    }
}
