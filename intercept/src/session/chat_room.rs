//! Which room a chat connection is in: what the server says on it. The room-info update
//! (0x000E/0x0002) the chat service sends after the client's ready names the room; the
//! room the client asked for in its service request is only a claim, compared and warned
//! about. Chat-family traffic (0x000E) on a connection no room is known for (before the
//! server named it, on a connection that is not a chat service's, or where the server's
//! word could not be read) is never relayed unrecorded: in strict mode not relayed and
//! recorded as refused, in relaxed mode relayed and recorded raw.

use archive::{Direction, Event, Kind, Verdict};
use oscar::message::{ChatReceive, ChatSend, RoomInfo, SnacMessage, UserInfo};
use oscar::{Family, Flap, MessageText};
use record::normalize_screen_name;

use super::decide::Handled;
use super::frame::Decoded;
use super::messages::{self, Unreadable};
use super::state::{State, capturer, with_employee};
use crate::config::CaptureMode;
use crate::error::Side;
use crate::plan::{Fate, Plan};
use crate::relay::Relay;
use crate::room_members::{Joined, RoomMembers};

/// The chat service's room-info update: room info, detail level, counted TLVs.
const ROOM_INFO_UPDATE: u16 = 0x0002;

/// Why unattributed chat traffic is refused or recorded raw; the record says it.
const UNATTRIBUTED: &str = "chat traffic on a connection no room is known for";

/// The room a room-info update from the server names, if `decoded` is one that reads.
pub(super) fn room_of_update(decoded: &Decoded) -> Option<RoomInfo> {
    if decoded.chat_subtype() != Some(ROOM_INFO_UPDATE) {
        return None;
    }
    let snac = decoded.snac()?;
    RoomInfo::decode_leading(snac.body.clone())
        .ok()
        .map(|(room, _)| room)
}

/// Takes the room the server names on a chat service connection (`decoded` from upstream)
/// as this connection's room. Returns whether the room changed (membership starts over).
pub(super) fn learn_room(state: &mut State, decoded: &Decoded) -> bool {
    if state.service != Some(Family::CHAT) {
        return false;
    }
    let Some(room) = room_of_update(decoded) else {
        if decoded.chat_subtype() == Some(ROOM_INFO_UPDATE) {
            tracing::warn!(
                known = state.room.is_some(),
                "unreadable room-info update from the chat service"
            );
        }
        return false;
    };
    if state.room.as_ref() == Some(&room) {
        return false;
    }
    if let Some(claimed) = state.claimed_room.as_ref().filter(|c| **c != room) {
        tracing::warn!(
            sn = state.login.user().unwrap_or(""),
            claimed = %claimed.name(),
            room = %room.name(),
            "the client asked for another room than the server put it in; recording under \
             the server's"
        );
    }
    if let Some(before) = &state.room {
        tracing::warn!(before = %before.name(), room = %room.name(),
            "the chat service renamed this connection's room");
    }
    tracing::debug!(room = %room.name(), "chat connection's room, as the server says");
    state.room = Some(room);
    true
}

/// The plan for chat-family `flap` from `from` on a connection no room is known for: never
/// relayed unrecorded. A chat message goes the way of any unreadable message (a notice to
/// a refused sender); membership and other chat SNACs are recorded the same way, without
/// a notice (nobody sent them).
pub(super) fn unattributed(
    relay: &Relay,
    state: &State,
    flap: &Flap,
    decoded: &Decoded,
    from: Side,
    subtype: u16,
) -> Handled {
    let me = state.me();
    let room = state
        .claimed_room
        .as_ref()
        .map(RoomInfo::name)
        .unwrap_or_default();
    let (sender, direction) = match from {
        Side::Client => (me.as_str(), Direction::Outbound),
        Side::Upstream => ("", Direction::Inbound),
    };
    let kind = match subtype {
        0x0003 => Kind::ChatJoin,
        0x0004 => Kind::ChatLeave,
        _ => Kind::ChatMessage,
    };
    if matches!(subtype, 0x0005 | 0x0006) {
        // The words, where they read: the record keeps them even though no room does.
        let text = match decoded.body() {
            Some(SnacMessage::ChatSend(ChatSend(m)) | SnacMessage::ChatReceive(ChatReceive(m))) => {
                m.text().and_then(Result::ok)
            }
            _ => None,
        };
        return messages::unreadable(
            relay,
            state,
            flap,
            Unreadable {
                kind,
                sender,
                recipient: &room,
                from,
                direction,
                why: UNATTRIBUTED,
                texts: text.as_slice(),
            },
        );
    }
    let strict = relay.config.mode == CaptureMode::Strict;
    tracing::warn!(subtype, %from, strict, "{UNATTRIBUTED}; {}",
        if strict { "not relayed" } else { "relayed, recorded raw" });
    let verdict = if strict {
        Verdict::Blocked("unreadable".into())
    } else {
        Verdict::Allowed
    };
    let mut event = capturer(relay, state).unreadable(
        Kind::ChatMessage,
        sender,
        &room,
        &format!("{UNATTRIBUTED} (SNAC 000e/{subtype:04x})"),
        &[],
        &flap.payload,
        direction,
        verdict,
    );
    event.kind = kind;
    let plan = if strict {
        Plan {
            before: Vec::new(),
            fate: Fate::Drop,
            after: Vec::new(),
        }
    } else {
        Plan::forward()
    };
    Handled {
        plan,
        events: vec![with_employee(state, event)],
    }
}

/// A room record's direction, by the one rule for rooms over the policy's rule for who is
/// ours (`Relay::is_ours`): `internal` when the sender and every member the connection knows
/// of are the organisation's, `outbound` when the sender is and someone in the room is not,
/// `inbound` when the sender is not. When no one in it is the organisation's, the
/// connection's own user (`me`) stands for it: their lines are `outbound`.
pub(super) fn room_direction(
    relay: &Relay,
    me: &str,
    sender: &str,
    members: &RoomMembers,
) -> Direction {
    let me = normalize_screen_name(me);
    let ours = |name: &str| relay.is_ours(name, normalize_screen_name(name) == me);
    let sender_key = normalize_screen_name(sender);
    let mut others = members.normalized().filter(|m| *m != sender_key);
    if ours(sender) {
        if others.all(&ours) {
            Direction::Internal
        } else {
            Direction::Outbound
        }
    } else if sender_key == me && !others.any(&ours) {
        Direction::Outbound
    } else {
        Direction::Inbound
    }
}

/// A record in this connection's room (which the caller knows): `sender` did `kind`, and
/// every other member at this moment is a recipient.
pub(super) fn room_event(
    relay: &Relay,
    state: &State,
    kind: Kind,
    sender: &str,
    text: Option<&MessageText>,
) -> Event {
    let room = state.room_name();
    let me = state.me();
    let direction = room_direction(relay, &me, sender, &state.members);
    let mut event =
        capturer(relay, state).chat(kind, &room, sender, text, direction, archive::now_ns());
    event.recipients = state.members.others(sender);
    event
}

/// The de-duplication key of `who`'s `kind` in `room` (a join or leave every local member's
/// connection is told of).
fn presence_key(kind: Kind, room: &str, who: &str) -> String {
    format!("{kind}|{room}|{}", normalize_screen_name(who))
}

/// Takes a join or leave notice from the server; returns the records it makes. The
/// connection's own user's join (the member list sent on joining) is recorded here, by
/// them; a local member's other joins and leaves are their own connections' to record; an
/// outsider's, the first local member's connection that is told of it.
pub(super) fn presence(
    relay: &Relay,
    state: &mut State,
    kind: Kind,
    users: &[UserInfo],
) -> Vec<Event> {
    let mut events = Vec::new();
    let Some(room) = state.room.as_ref().map(RoomInfo::name) else {
        return events;
    };
    let me = state.me();
    let names: Vec<String> = users
        .iter()
        .map(|u| String::from_utf8_lossy(&u.screen_name).into_owned())
        .collect();
    let moved = match kind {
        Kind::ChatJoin => match state.members.joined(&me, &names) {
            Joined::List if !state.joined_room => {
                state.joined_room = true;
                relay.first_sighting(presence_key(kind, &room, &me));
                let event = room_event(relay, state, kind, &me, None);
                events.push(with_employee(state, event));
                Vec::new()
            }
            Joined::List => Vec::new(),
            Joined::Now(names) => names,
        },
        _ => state.members.left(&names),
    };
    for who in moved {
        let key = normalize_screen_name(&who);
        if key == normalize_screen_name(&me) || relay.is_local(&key) {
            continue;
        }
        if relay.first_sighting(presence_key(kind, &room, &who)) {
            let event = room_event(relay, state, kind, &who, None);
            events.push(with_employee(state, event));
        }
    }
    events
}

/// The connection's own user's leave, when their chat connection ends after they joined:
/// the server tells only the others, so this connection records it (and notes it, so the
/// others' connections, told next, do not record it again).
pub(super) fn own_leave(relay: &Relay, state: &mut State) -> Option<Event> {
    if !std::mem::take(&mut state.joined_room) {
        return None;
    }
    let room = state.room.as_ref().map(RoomInfo::name)?;
    let me = state.me();
    relay.first_sighting(presence_key(Kind::ChatLeave, &room, &me));
    let event = room_event(relay, state, Kind::ChatLeave, &me, None);
    Some(with_employee(state, event))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use bytes::{BufMut, BytesMut};
    use oscar::{Snac, SnacHeader};

    fn update(room: &RoomInfo) -> Flap {
        let mut body = BytesMut::new();
        room.encode(&mut body).unwrap();
        body.put_u8(2);
        body.put_u16(0);
        Snac::new(
            SnacHeader::new(Family::CHAT, ROOM_INFO_UPDATE, 9),
            body.freeze(),
        )
        .to_flap()
        .unwrap()
    }

    #[test]
    fn one_direction_rule_for_every_room_record() {
        let relay = Relay::new(crate::config::RelaySettings::default(), None).unwrap();
        relay.sign_in("alice");
        relay.sign_in("bob");
        let mut members = RoomMembers::default();
        let names = |list: &[&str]| list.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        members.joined("alice", &names(&["Alice", "bob"]));
        assert_eq!(
            room_direction(&relay, "alice", "Alice", &members),
            Direction::Internal
        );
        members.joined("alice", &names(&["carol"]));
        assert_eq!(
            room_direction(&relay, "alice", "bob", &members),
            Direction::Outbound
        );
        assert_eq!(
            room_direction(&relay, "alice", "carol", &members),
            Direction::Inbound
        );
        members.left(&names(&["carol"]));
        assert_eq!(
            room_direction(&relay, "alice", "bob", &members),
            Direction::Internal
        );
        // An outsider's line is inbound even in a room of locals.
        assert_eq!(
            room_direction(&relay, "alice", "dave", &members),
            Direction::Inbound
        );
    }

    #[test]
    fn the_room_info_update_names_the_room() {
        let room = RoomInfo {
            exchange: 4,
            cookie: bytes::Bytes::from_static(b"4-0-secretroom"),
            instance: 0,
        };
        let flap = update(&room);
        let decoded = Decoded::of(&flap);
        assert_eq!(decoded.chat_subtype(), Some(ROOM_INFO_UPDATE));
        assert_eq!(room_of_update(&decoded), Some(room));
        // Cut short inside the room info: no room.
        let mut cut = flap.clone();
        cut.payload = cut.payload.slice(..14);
        assert_eq!(room_of_update(&Decoded::of(&cut)), None);
        // Another chat SNAC, or a non-chat one, names none.
        let mut other = flap.clone();
        let mut payload = other.payload.to_vec();
        payload[3] = 0x05;
        other.payload = payload.into();
        assert_eq!(room_of_update(&Decoded::of(&other)), None);
        assert_eq!(Decoded::of(&other).chat_subtype(), Some(0x0005));
        payload = other.payload.to_vec();
        payload[1] = 0x01;
        other.payload = payload.into();
        assert_eq!(Decoded::of(&other).chat_subtype(), None);
    }
}
