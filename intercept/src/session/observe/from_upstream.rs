//! A frame from the upstream: it may answer the login, prove the user, name the room or
//! its members, carry a message, or hand out an address the client must be sent back to
//! the gateway from (rewritten, its cookie routed).

use std::sync::atomic::Ordering;

use archive::{Direction, Event, Kind};
use oscar::message::SnacMessage;
use oscar::{Family, Flap, Message};

use super::{Looked, Observation};
use crate::error::{SessionError, Side};
use crate::relay::Relay;
use crate::rewrite::{RewriteContext, Rewritten, rewrite};
use crate::session::chat_lines;
use crate::session::chat_room;
use crate::session::decide::Handled;
use crate::session::frame::{Decoded, MessageFrame};
use crate::session::login::Input;
use crate::session::messages::{self, Unreadable};
use crate::session::sign_on;
use crate::session::state::State;

/// An OSERVICE error (0x0001/0x0001): the server refused a request.
const OSERVICE_ERROR: u16 = 0x0001;

/// Observes a frame from the upstream, bound for the client.
pub(super) fn observe(
    relay: &Relay,
    state: &mut State,
    flap: Flap,
) -> Result<Observation, SessionError> {
    // Records the frame showed before it is looked at: the user's sign-on, when this is
    // the first data frame of a proven BOS session.
    let mut first = Vec::new();
    let input = Input::FromUpstream(flap.channel);
    if let Some(reason) = sign_on::while_relaying(relay, state, input, &mut first)? {
        return Ok(Observation::Refused(reason));
    }
    let decoded = Decoded::of(&flap);
    if let Some(handled) = as_it_came(relay, state, &flap, &decoded)? {
        return Ok(Observation::of(
            Side::Client,
            flap,
            first,
            Looked::Handled(handled),
        ));
    }
    let answered = match decoded.message() {
        Ok(Message::Snac {
            header,
            body: SnacMessage::ServiceResponse(resp),
            ..
        }) => Some(state.services.answer(header.request_id, resp.family())),
        Ok(Message::Snac { header, .. }) if header.is(Family::OSERVICE, OSERVICE_ERROR) => {
            state.services.refused(header.request_id);
            None
        }
        _ => None,
    };
    let Ok(mut message) = decoded.into_message() else {
        // Not ours to judge: relayed unchanged.
        let forward = Looked::Handled(Handled::forward());
        return Ok(Observation::of(Side::Client, flap, first, forward));
    };
    let cx = RewriteContext {
        advertised: &state.advertised,
        upstream_port: state.upstream_port,
        local_user: state.login.user(),
        answered: answered.as_ref(),
        upstream_tls: state.upstream_tls.as_deref(),
        client_tls: relay.config.tls.as_ref(),
    };
    let out = match rewrite(&mut message, &cx) {
        Some(Rewritten::Routed { cookie, route }) => {
            sign_on::while_relaying(relay, state, Input::Routed, &mut first)?;
            relay.stats.rewrites.fetch_add(1, Ordering::Relaxed);
            relay.cookies.insert(cookie, route, state.client_addr.ip());
            message.to_flap()?
        }
        Some(Rewritten::Unroutable) => message.to_flap()?,
        None => flap,
    };
    let looked = what_it_says(relay, state, &out, &message, &mut first)?;
    Ok(Observation::of(Side::Client, out, first, looked))
}

/// The plan for a frame that is decided as it came, never rewritten: one whose SNAC header
/// does not read, chat traffic where no room is known, and messages (`None`: any other).
fn as_it_came(
    relay: &Relay,
    state: &mut State,
    flap: &Flap,
    decoded: &Decoded,
) -> Result<Option<Handled>, SessionError> {
    if decoded.header_unreadable() {
        return Ok(Some(messages::unreadable_snac(
            relay,
            state,
            flap,
            Side::Upstream,
        )));
    }
    if let Some(subtype) = decoded.chat_subtype() {
        if chat_room::learn_room(state, decoded) {
            state.members.clear();
        }
        if state.room.is_none() {
            let handled =
                chat_room::unattributed(relay, state, flap, decoded, Side::Upstream, subtype);
            return Ok(Some(handled));
        }
    }
    match decoded.message_frame(Side::Upstream) {
        Some(MessageFrame::Icbm) => {
            messages::icbm(relay, state, flap, decoded, Side::Upstream).map(Some)
        }
        Some(MessageFrame::Chat) if decoded.body().is_none() => {
            let room = state.room_name();
            let unreadable = Unreadable {
                kind: Kind::ChatMessage,
                sender: "",
                recipient: &room,
                from: Side::Upstream,
                direction: Direction::Inbound,
                why: "a chat message that does not parse",
                texts: &[],
            };
            Ok(Some(messages::unreadable(relay, state, flap, unreadable)))
        }
        _ => Ok(None),
    }
}

/// What a decoded server message says for the archive and the sign-on: the server naming
/// the user (who the policy may refuse), a chat line, members joining or leaving. Records
/// that come before any decision go to `first`.
fn what_it_says(
    relay: &Relay,
    state: &mut State,
    frame: &Flap,
    message: &Message,
    first: &mut Vec<Event>,
) -> Result<Looked, SessionError> {
    let Message::Snac { body, .. } = message else {
        return Ok(Looked::Handled(Handled::forward()));
    };
    match body {
        SnacMessage::SelfInfo(info) => {
            if let Ok(name) = info.user.name() {
                let input = Input::Named(name.display().to_owned());
                if let Some(reason) = sign_on::while_relaying(relay, state, input, first)? {
                    return Ok(Looked::Refused(reason));
                }
            }
        }
        SnacMessage::ChatReceive(rx) => {
            return chat_lines::received(relay, state, frame, rx).map(Looked::Handled);
        }
        SnacMessage::ChatUsersJoined(list) => {
            first.extend(chat_room::presence(
                relay,
                state,
                Kind::ChatJoin,
                &list.0.users,
            ));
        }
        SnacMessage::ChatUsersLeft(list) => {
            first.extend(chat_room::presence(
                relay,
                state,
                Kind::ChatLeave,
                &list.0.users,
            ));
        }
        _ => {}
    }
    Ok(Looked::Handled(Handled::forward()))
}
