//! A frame from the client: messages only on a signed-on connection, chat traffic only
//! where a room is known, service requests noted so their answers can be routed, and the
//! user's claimed name taken for what it is.

use std::sync::atomic::Ordering;

use archive::{Direction, Kind};
use oscar::message::{RoomInfo, SnacMessage};
use oscar::{Family, Flap};

use super::{Looked, Observation};
use crate::error::{SessionError, Side};
use crate::relay::Relay;
use crate::session::chat_lines;
use crate::session::chat_room;
use crate::session::decide::Handled;
use crate::session::frame::{Decoded, MessageFrame};
use crate::session::login::Input;
use crate::session::messages::{self, Unreadable};
use crate::session::service_requests::{self, Refusal};
use crate::session::sign_on;
use crate::session::state::{State, lossy};

/// Observes a frame from the client, bound for the upstream.
pub(super) fn observe(
    relay: &Relay,
    state: &mut State,
    flap: Flap,
) -> Result<Observation, SessionError> {
    let decoded = Decoded::of(&flap);
    let looked = look(relay, state, &flap, &decoded)?;
    Ok(Observation::of(Side::Upstream, flap, Vec::new(), looked))
}

/// What a client frame comes to, in the order the checks must run: a message on a
/// connection that has not signed on ends the session before anything reads it.
fn look(
    relay: &Relay,
    state: &mut State,
    flap: &Flap,
    decoded: &Decoded,
) -> Result<Looked, SessionError> {
    let message = decoded.message_frame(Side::Client);
    if message.is_some() || decoded.header_unreadable() {
        let input = Input::ClientMessage(decoded.header().copied());
        // A message does not name a user, so the sign-on can only end the session here.
        sign_on::while_relaying(relay, state, input, &mut Vec::new())?;
    }
    if decoded.header_unreadable() {
        let handled = messages::unreadable_snac(relay, state, flap, Side::Client);
        return Ok(Looked::Handled(handled));
    }
    if state.room.is_none()
        && let Some(subtype) = decoded.chat_subtype()
    {
        let handled = chat_room::unattributed(relay, state, flap, decoded, Side::Client, subtype);
        return Ok(Looked::Handled(handled));
    }
    if let Some(request_id) = decoded.service_request_id() {
        let (family, room) = match decoded.body() {
            Some(SnacMessage::ServiceRequest(req)) => {
                (Some(req.family), req.room().and_then(Result::ok))
            }
            _ => (None, None),
        };
        ask_service(state, request_id, family, room)?;
    }
    match message {
        Some(MessageFrame::Icbm) => {
            let handled = messages::icbm(relay, state, flap, decoded, Side::Client)?;
            return Ok(Looked::Handled(handled));
        }
        Some(MessageFrame::Chat) if decoded.body().is_none() => {
            let me = state.me();
            let room = state.room_name();
            let unreadable = Unreadable {
                kind: Kind::ChatMessage,
                sender: &me,
                recipient: &room,
                from: Side::Client,
                direction: Direction::Outbound,
                why: "a chat message that does not parse",
                texts: &[],
            };
            let handled = messages::unreadable(relay, state, flap, unreadable);
            return Ok(Looked::Handled(handled));
        }
        _ => {}
    }
    let claimed = match decoded.body() {
        Some(SnacMessage::KeyRequest(req)) => req.screen_name().map(|b| lossy(b)),
        Some(SnacMessage::LoginRequest(req)) => req.screen_name().map(|b| lossy(b)),
        Some(SnacMessage::Typing(_)) => {
            relay.stats.typing.fetch_add(1, Ordering::Relaxed);
            None
        }
        Some(SnacMessage::ChatSend(send)) => {
            let handled = chat_lines::sent(relay, state, flap, send)?;
            return Ok(Looked::Handled(handled));
        }
        _ => None,
    };
    if let Some(name) = claimed {
        // A claim adds no records (it proves nothing), but the policy may refuse the name.
        let mut none = Vec::new();
        if let Some(reason) =
            sign_on::while_relaying(relay, state, Input::Claimed(name), &mut none)?
        {
            return Ok(Looked::Refused(reason));
        }
    }
    Ok(Looked::Handled(Handled::forward()))
}

/// Notes a service request; a reused outstanding id (or too many outstanding) ends the
/// session, so no answer can be taken for another request than its own.
fn ask_service(
    state: &mut State,
    request_id: u32,
    family: Option<Family>,
    room: Option<RoomInfo>,
) -> Result<(), SessionError> {
    state
        .services
        .ask(request_id, family, room)
        .map_err(|refusal| {
            let sn = state.login.user().unwrap_or("");
            match refusal {
                Refusal::Reused(request_id) => {
                    tracing::warn!(client = %state.client_addr, %sn, request_id,
                        "service request reusing the id of one still outstanding; ending the session");
                    SessionError::ReusedRequestId { request_id }
                }
                Refusal::TooMany => {
                    tracing::warn!(client = %state.client_addr, %sn,
                        "too many service requests outstanding; ending the session");
                    SessionError::TooManyServiceRequests {
                        max: service_requests::MAX_OUTSTANDING,
                    }
                }
            }
        })
}
