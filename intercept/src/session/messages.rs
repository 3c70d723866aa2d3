//! Default-deny for messages: every ICBM (0x0004/0x0006 from the client, 0x0004/0x0007 to
//! it) on any channel, and every chat message (0x000E/0x0005, 0x000E/0x0006), either
//! becomes a record of what its recipient is shown, or is handled as unreadable: in strict
//! mode not relayed (the sender gets a notice, the archive a `blocked` record with the raw
//! bytes), in relaxed mode relayed and recorded raw. Nothing is relayed without a record.

use std::time::Instant;

use archive::{Direction, Kind, Verdict};
use oscar::message::SnacMessage;
use oscar::message::icbm::TLV_SEND_TIME;
use oscar::message::icbm_reading::{IcbmFrame, Shown, TextShape};
use oscar::{Family, Flap, Message, MessageText};
use record::normalize_screen_name;

use super::decide::{Handled, PolicyInput, decide, policy_kind};
use super::frame::Decoded;
use super::state::{State, capturer, lossy, with_employee};
use crate::config::CaptureMode;
use crate::enforce::Rebuild;
use crate::error::{SessionError, Side};
use crate::relay::Relay;

/// The rule name a refused unreadable message's record carries.
const UNREADABLE_RULE: &str = "unreadable";

/// Decides an ICBM `flap` from `from`, read as its recipient's client reads it, whether or
/// not the strict decoder accepted its body.
pub(super) fn icbm(
    relay: &Relay,
    state: &State,
    flap: &Flap,
    decoded: &Decoded,
    from: Side,
) -> Result<Handled, SessionError> {
    let me = state.me();
    let typed = decoded.body();
    let split = decoded.snac().and_then(|snac| {
        let frame = match from {
            Side::Client => IcbmFrame::of_send(snac.body.clone()),
            Side::Upstream => IcbmFrame::of_receive(snac.body.clone()),
        };
        frame.ok().map(|frame| (snac.header.request_id, frame))
    });
    let Some((request_id, frame)) = split else {
        let direction = match from {
            Side::Client => Direction::Outbound,
            Side::Upstream => Direction::Inbound,
        };
        return Ok(unreadable(
            relay,
            state,
            flap,
            Unreadable {
                kind: Kind::Im,
                sender: if from == Side::Client { &me } else { "" },
                recipient: if from == Side::Client { "" } else { &me },
                from,
                direction,
                why: "an ICBM whose header does not parse",
                texts: &[],
            },
        ));
    };
    let peer = lossy(&frame.peer);
    // A message between two users behind this gateway that the sender's session recorded
    // (this very ICBM cookie): one record, not two. Found nothing: recorded here, as a
    // duplicate is better than a gap.
    if from == Side::Upstream
        && relay.recorded_icbms.was_recorded(
            &normalize_screen_name(&peer),
            &normalize_screen_name(&me),
            frame.cookie,
            Instant::now(),
        )
    {
        return Ok(Handled::forward());
    }
    // Whose session records it (both ends here: the sender's) is one question; whether the
    // other party is the organisation's (the direction, the disclaimer) is the policy's
    // one rule, which a directory decides when there is one.
    let peer_signed_on_here = relay.is_local(&normalize_screen_name(&peer));
    let (me_ours, peer_ours) = relay.policy().map_or((true, peer_signed_on_here), |p| {
        let engine = p.engine();
        (
            engine.is_ours(&me, true),
            engine.is_ours(&peer, peer_signed_on_here),
        )
    });
    let sent_here = from == Side::Client;
    let ((sender, sender_ours), (recipient, recipient_ours)) = if sent_here {
        ((&me, me_ours), (&peer, peer_ours))
    } else {
        ((&peer, peer_ours), (&me, me_ours))
    };
    let direction = policy::direction_of(sender_ours, recipient_ours, sent_here);
    let reading = frame.reading();
    if let Shown::Unreadable(why) = reading.shown {
        return Ok(unreadable(
            relay,
            state,
            flap,
            Unreadable {
                kind: Kind::Im,
                sender,
                recipient,
                from,
                direction,
                why,
                texts: &reading.variants,
            },
        ));
    }
    let offline = match typed {
        Some(SnacMessage::IcbmReceive(im)) => im.tlvs.get(TLV_SEND_TIME),
        _ => None,
    };
    let time = offline
        .and_then(oscar::Tlv::as_u32)
        .map_or_else(archive::now_ns, |secs| i64::from(secs) * 1_000_000_000);
    let event = capturer(relay, state)
        .reading(sender, recipient, &reading, &flap.payload, direction, time)
        .map(|mut event| {
            if offline.is_some() {
                let offline = "offline message delivered at sign-on";
                event.detail = Some(match event.detail.take() {
                    Some(more) => format!("{offline}; {more}"),
                    None => offline.to_owned(),
                });
            }
            event
        });
    // Masking rebuilds the frame with one text; only where that text is certainly the
    // one shown (otherwise masking falls back to blocking).
    let plain_text = reading.is_certain()
        && matches!(
            reading.shown,
            Shown::Text {
                shape: TextShape::ChannelOne,
                ..
            }
        );
    let rebuild = match typed {
        Some(SnacMessage::IcbmSend(im)) if plain_text => Rebuild::Send(im, request_id),
        Some(SnacMessage::IcbmReceive(im)) if plain_text => Rebuild::Receive(im, request_id),
        _ => Rebuild::Unsupported,
    };
    let noted = from == Side::Client && peer_signed_on_here && event.is_some();
    // Where clients may differ, every text is put to the policy, not just the one shown.
    let variants: Vec<String> = reading.variants.iter().map(|t| t.plain.clone()).collect();
    let handled = decide(
        relay,
        state,
        PolicyInput {
            event,
            variants: &variants,
            remote: &peer,
            from,
            rebuild,
            keep: true,
        },
    )?;
    // Noted before the frame can leave (it waits for its record), so the recipient's
    // session finds it when the delivery comes back.
    if noted {
        relay.recorded_icbms.note(
            &normalize_screen_name(&me),
            &normalize_screen_name(&peer),
            frame.cookie,
            Instant::now(),
        );
    }
    // A disclaimer the gateway sends the other party is recorded here as a policy action;
    // their session, if it is here too, must not record it again as an IM.
    if peer_signed_on_here {
        for (side, injected) in &handled.plan.before {
            if let (
                Side::Upstream,
                Ok(Message::Snac {
                    body: SnacMessage::IcbmSend(im),
                    ..
                }),
            ) = (side, Message::decode(injected))
            {
                relay.recorded_icbms.note(
                    &normalize_screen_name(&me),
                    &normalize_screen_name(&peer),
                    im.cookie,
                    Instant::now(),
                );
            }
        }
    }
    Ok(handled)
}

/// A message the relay cannot turn into a record of what is shown.
pub(super) struct Unreadable<'a> {
    /// IM or chat message.
    pub(super) kind: Kind,
    /// Who sent it, as far as known.
    pub(super) sender: &'a str,
    /// The other party, or the room for chat.
    pub(super) recipient: &'a str,
    /// The leg it arrived on.
    pub(super) from: Side,
    /// Which way it goes.
    pub(super) direction: Direction,
    /// Why it cannot be read.
    pub(super) why: &'static str,
    /// Whatever text could be read.
    pub(super) texts: &'a [MessageText],
}

/// Strict: not relayed, recorded as refused with its raw bytes, the sender told. Relaxed:
/// relayed and recorded raw.
pub(super) fn unreadable(
    relay: &Relay,
    state: &State,
    flap: &Flap,
    msg: Unreadable<'_>,
) -> Handled {
    // Relaxed mode relays what it cannot read, but not past the policy: a readable part a
    // rule blocks (an earlier fragment, say) stops it as in strict mode.
    let blocked_by = match relay.config.mode {
        CaptureMode::Strict => None,
        CaptureMode::Relaxed => blocking_rule(relay, state, &msg),
    };
    let strict = relay.config.mode == CaptureMode::Strict || blocked_by.is_some();
    tracing::warn!(
        why = msg.why,
        strict,
        bytes = flap.payload.len(),
        "unreadable message; {}",
        if strict {
            "not relayed"
        } else {
            "relayed, recorded raw"
        }
    );
    let verdict = match (&blocked_by, strict) {
        (Some(rule), _) => Verdict::Blocked(rule.clone()),
        (None, true) => Verdict::Blocked(UNREADABLE_RULE.into()),
        (None, false) => Verdict::Allowed,
    };
    let event = capturer(relay, state).unreadable(
        msg.kind,
        msg.sender,
        msg.recipient,
        msg.why,
        msg.texts,
        &flap.payload,
        msg.direction,
        verdict,
    );
    let events = vec![with_employee(state, event)];
    if !strict {
        return Handled {
            plan: crate::plan::Plan::forward(),
            events,
        };
    }
    let policy = relay.policy().zip(state.login.identity());
    let remote = match msg.from {
        Side::Client => msg.recipient,
        Side::Upstream => msg.sender,
    };
    let plan = crate::enforce::refuse_unreadable(
        policy,
        remote,
        msg.why,
        msg.from,
        msg.kind == Kind::ChatMessage,
        Instant::now(),
    );
    Handled { plan, events }
}

/// A SNAC whose header does not read, from `from`: nobody can say what it is, so it may
/// be a message, and it is handled as an unreadable one (an IM, or a chat line on a chat
/// connection) rather than relayed unrecorded.
pub(super) fn unreadable_snac(relay: &Relay, state: &State, flap: &Flap, from: Side) -> Handled {
    let me = state.me();
    let chat = state.service == Some(Family::CHAT);
    let room = state.room_name();
    let (kind, peer) = if chat {
        (Kind::ChatMessage, room.as_str())
    } else {
        (Kind::Im, "")
    };
    let (sender, recipient, direction) = match from {
        Side::Client => (me.as_str(), peer, Direction::Outbound),
        Side::Upstream if chat => ("", peer, Direction::Inbound),
        Side::Upstream => ("", me.as_str(), Direction::Inbound),
    };
    let msg = Unreadable {
        kind,
        sender,
        recipient,
        from,
        direction,
        why: "a SNAC whose header does not parse",
        texts: &[],
    };
    unreadable(relay, state, flap, msg)
}

/// The rule that blocks a readable part of an unreadable message, if any: every text that
/// could be read is put to the policy, as an uncertain reading's variants are.
fn blocking_rule(relay: &Relay, state: &State, msg: &Unreadable<'_>) -> Option<String> {
    let (runtime, who) = relay.policy().zip(state.login.identity())?;
    let engine = runtime.engine();
    let remote = match msg.from {
        Side::Client => msg.recipient,
        Side::Upstream => msg.sender,
    };
    msg.texts.iter().find_map(|text| {
        let decision = engine.decide(&policy::MessageContext {
            kind: policy_kind(msg.kind),
            direction: msg.direction,
            local: who,
            remote,
            text: &text.plain,
        });
        (!decision.deliver).then(|| decision.rule.unwrap_or_default())
    })
}
