//! What the gateway's policy means for each Sametime call: from the parties and the text to
//! the policy's decision, the server messages and how the message is delivered. Pure: the
//! disclaimer clock and the notice limiter are passed in, nothing is recorded here.
//!
//! # Who is local
//!
//! Who the organisation's users are is the policy's one rule (`PolicyEngine::is_ours`, as
//! in the relay): with a directory, the names it lists, whichever community they are on;
//! with none, this Sametime community's users (every user type but
//! `ST_DDA_CL_EXTERNAL_USER`, a user of another community). `SpiPolicy::classified` applies
//! it to each party as a call comes in ([`OwnedEntity::is_outsider`]). Admission is the
//! server's word still: every user of this community is `identify`d by their Sametime id
//! and `admit`ted (`unknown_screen_names = "block"` refuses the ones the directory does not
//! list), as the relay admits every name that signs on through it.
//!
//! A message is judged once, as the relay judges it: from one of the organisation's users
//! to an outsider it is outbound with the sender as local; from an outsider, inbound with
//! the (first) receiver who is ours as local; between two of ours, internal with the sender
//! as local; between two outsiders, the sender stands for the organisation when on this
//! community (outbound), else the receiver (inbound). In a place the other party is the
//! place (its session id), as a chat room is for AIM.

use std::time::Duration;

use policy::{
    Admission, CanCarry, DEFAULT_BLOCK_NOTICE, Decision, Delivery, Identity, Keep, MessageContext,
    PolicyEngine, ToEnforce,
};
use record::{Direction, normalize_screen_name};
use settings::MessageKind;

use crate::ffi_strings::OwnedEntity;
use crate::srv_msgs::{Destination, EntryResult, Reply, SrvMsg};

/// A message's or a chat's parties as the policy sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parties<'a> {
    /// The organisation's user whose profile applies.
    pub local: &'a OwnedEntity,
    /// The other party's id, or the place's session id.
    pub remote: String,
    /// Which way it goes.
    pub direction: Direction,
}

/// Who is local and remote when `sender` talks to `recipients` (in `room`, a place's
/// session id, if any); see the module documentation.
pub fn parties<'a>(
    sender: &'a OwnedEntity,
    recipients: &[&'a OwnedEntity],
    room: Option<&str>,
) -> Parties<'a> {
    let ours = recipients.iter().copied().find(|r| !r.is_outsider());
    let outsider = recipients.iter().copied().find(|r| r.is_outsider());
    let (local, other, direction) = match (sender.is_outsider(), ours, outsider) {
        (false, _, Some(outsider)) => (sender, Some(outsider), Direction::Outbound),
        (false, _, None) => (sender, recipients.first().copied(), Direction::Internal),
        (true, Some(ours), _) => (ours, Some(sender), Direction::Inbound),
        // Two outsiders: the side on this community stands for the organisation.
        (true, None, _) if !sender.is_external() => {
            (sender, recipients.first().copied(), Direction::Outbound)
        }
        (true, None, _) => (
            recipients
                .iter()
                .copied()
                .find(|r| !r.is_external())
                .unwrap_or(sender),
            Some(sender),
            Direction::Inbound,
        ),
    };
    Parties {
        local,
        remote: room.map_or_else(
            || other.map(|o| o.id.clone()).unwrap_or_default(),
            str::to_owned,
        ),
        direction,
    }
}

/// Why a chat or a join is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// What the initiator is told: the profile's notice, rendered.
    pub notice: String,
    /// Why, for the record.
    pub why: String,
    /// The rule that refused, or `unknown_screen_names`.
    pub rule: String,
}

/// Whether `sender` may start talking to `recipients` (a one-to-one chat: both insiders
/// must be admitted) or join `room` (the joiner must be). Refused too when the policy would
/// block every such message: a rule matching an empty text of `kind` from `sender` blocks
/// (one without keywords or patterns, such as "no IM with competitor.com").
pub fn refusal(
    engine: &PolicyEngine,
    kind: MessageKind,
    sender: &OwnedEntity,
    recipients: &[&OwnedEntity],
    room: Option<&str>,
) -> Option<Refusal> {
    let parties = parties(sender, recipients, room);
    let local = engine.identify(&parties.local.id, None);
    let profile = engine.profile(&local);
    let must_be_admitted = std::iter::once(sender).chain(if room.is_none() {
        recipients.to_vec()
    } else {
        Vec::new()
    });
    for who in must_be_admitted.filter(|w| !w.is_external()) {
        if let Admission::Refuse { reason } = engine.admit(&engine.identify(&who.id, None)) {
            let rule = "unknown_screen_names";
            let shown = format!(
                "{} is not registered in your organisation's IM directory",
                who.id
            );
            return Some(Refusal {
                notice: render(&profile.notice, &shown, rule),
                why: reason,
                rule: rule.to_owned(),
            });
        }
    }
    let decision = engine.decide(&context(kind, &parties, &local, ""));
    if decision.deliver {
        return None;
    }
    let rule = decision.rule.clone().unwrap_or_default();
    Some(Refusal {
        notice: decision
            .notice
            .unwrap_or_else(|| DEFAULT_BLOCK_NOTICE.to_owned()),
        why: format!(
            "rule {rule:?} blocks {kind} from {} to {}",
            sender.id, parties.remote
        ),
        rule,
    })
}

/// One text message, as [`plan_message`] needs it.
#[derive(Debug, Clone, Copy)]
pub struct MessageInput<'a> {
    /// `Im` (two-way chats, announcements) or `Chat` (places).
    pub kind: MessageKind,
    /// Who sent it.
    pub sender: &'a OwnedEntity,
    /// Who gets it.
    pub recipients: &'a [&'a OwnedEntity],
    /// The place's session id, for a place.
    pub room: Option<&'a str>,
    /// The plain text, which rules search.
    pub text: &'a str,
    /// The bytes the server gave (HTML from a rich-text sender).
    pub raw: &'a [u8],
    /// The sender's client sends HTML.
    pub rich: bool,
    /// A two-way chat: where disclaimers go with the first message.
    pub two_way: bool,
    /// The server accepts server messages (the `*WithSrvMsg` entry point, out-pointers
    /// not NULL).
    pub replies: bool,
}

/// What happens to one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessagePlan {
    /// The code and server messages for the server.
    pub outcome: EntryResult,
    /// The policy's decision, for alerts.
    pub decision: Decision,
    /// What the receiver gets.
    pub delivery: Delivery,
    /// The disclaimer sent to both parties before it, if one was.
    pub disclaimer: Option<String>,
    /// What the archive keeps of the message.
    pub keep: Keep,
    /// The local user's id, for a record of a message not logged.
    pub local: String,
}

/// Decides `input` by the one enforcement plan (`policy::enforce`, as the relay does) and
/// renders it as server messages:
///
/// - block: `MsgChanged` with only the notice to the sender (if `notice_permitted` for the
///   profile's interval); the message is not delivered;
/// - mask: `MsgChanged` with the masked text to the receiver (HTML masked as the rule masks
///   it, for a rich-text sender); when the server accepts no server messages, the masked
///   text cannot be delivered and the message is dropped instead, never delivered unmasked;
/// - alert, log, allow, no_log: delivered, `Allowed`;
/// - a disclaimer due (two-way chat with an outsider, message delivered and recorded,
///   `disclaimer_due` for the conversation key): `MsgChanged` with the disclaimer to the
///   sender and to the receiver, then the message (as sent, or masked) to the receiver, as
///   IBM's sample sends its disclaimer. A message with a NUL cannot be re-sent as a server
///   message, so it goes as it is, without the disclaimer (due at the next one).
pub fn plan_message(
    engine: &PolicyEngine,
    input: &MessageInput<'_>,
    disclaimer_due: impl FnOnce(&str, Duration) -> bool,
    notice_permitted: impl FnOnce(&str, Duration) -> bool,
) -> MessagePlan {
    let parties = parties(input.sender, input.recipients, input.room);
    let local = engine.identify(&parties.local.id, None);
    // A rich-text sender's HTML, masked in place when a rule masks.
    let html = input.rich.then(|| String::from_utf8_lossy(input.raw));
    // What a server message can carry: the message re-sent (for a replacement or after a
    // disclaimer) only when the server takes server messages and the bytes have no NUL.
    let resendable = input.replies && SrvMsg::carries(input.raw);
    let plan = policy::enforce(
        engine,
        &ToEnforce {
            message: context(input.kind, &parties, &local, input.text),
            sender: &input.sender.id,
            variants: &[],
            html: html.as_deref(),
            carry: CanCarry {
                can_replace: resendable,
                can_notify: input.replies,
                can_disclaim: input.two_way && resendable,
            },
        },
        disclaimer_due,
        notice_permitted,
    );
    let mut messages = Vec::new();
    if let Some(text) = &plan.disclaimer {
        messages.extend(SrvMsg::new(Destination::Sender, text.as_str()));
        messages.extend(SrvMsg::new(Destination::Receiver, text.as_str()));
    }
    let delivery = match plan.delivery {
        Delivery::AsIs if plan.disclaimer.is_some() => {
            messages.extend(SrvMsg::new(Destination::Receiver, input.raw));
            Delivery::AsIs
        }
        Delivery::Replaced(text) => match SrvMsg::new(Destination::Receiver, text.as_str()) {
            Some(m) => {
                messages.push(m);
                Delivery::Replaced(text)
            }
            // Never delivered unmasked.
            None => Delivery::Dropped,
        },
        other => other,
    };
    if let Some(notice) = &plan.notice {
        messages.extend(SrvMsg::new(Destination::Sender, notice.as_str()));
    }
    let reply = if delivery == Delivery::AsIs && plan.disclaimer.is_none() {
        Reply::Allowed
    } else {
        Reply::MsgChanged
    };
    MessagePlan {
        outcome: EntryResult { reply, messages },
        decision: plan.decision,
        delivery,
        disclaimer: plan.disclaimer,
        keep: plan.keep,
        local: parties.local.id.clone(),
    }
}

/// What a join of a place means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinPlan {
    /// Refused.
    Declined(Refusal),
    /// In; with the disclaimer to send the joiner, if one is due.
    Admitted {
        /// The disclaimer text.
        disclaimer: Option<String>,
    },
}

/// `joiner` joins the place `session_id` where `present` are: refused as [`refusal`] says;
/// else, when the place has an outsider (the joiner or someone present), the server takes
/// messages and the joiner's local profile has a disclaimer due (keyed by place and joiner),
/// the disclaimer for the joiner, as IBM's sample sends one to each joiner of an n-way chat.
pub fn plan_place_join(
    engine: &PolicyEngine,
    joiner: &OwnedEntity,
    present: &[&OwnedEntity],
    session_id: &str,
    replies: bool,
    disclaimer_due: impl FnOnce(&str, Duration) -> bool,
) -> JoinPlan {
    if let Some(refused) = refusal(engine, MessageKind::Chat, joiner, present, Some(session_id)) {
        return JoinPlan::Declined(refused);
    }
    let outsider = joiner.is_outsider() || present.iter().any(|p| p.is_outsider());
    let parties = parties(joiner, present, Some(session_id));
    let local = engine.identify(&parties.local.id, None);
    let recorded = engine
        .decide(&context(MessageKind::Chat, &parties, &local, ""))
        .record;
    let every = engine.profile(&local).disclaimer_every;
    let key = format!(
        "place|{}|{}",
        session_id.to_lowercase(),
        normalize_screen_name(&joiner.id)
    );
    let disclaimer = engine
        .disclaimer_for(&local)
        .filter(|text| outsider && replies && recorded && !text.contains('\0'))
        .filter(|_| disclaimer_due(&key, every))
        .map(str::to_owned);
    JoinPlan::Admitted { disclaimer }
}

fn context<'a>(
    kind: MessageKind,
    parties: &'a Parties<'_>,
    local: &'a Identity,
    text: &'a str,
) -> MessageContext<'a> {
    MessageContext {
        kind,
        direction: parties.direction,
        local,
        remote: &parties.remote,
        text,
    }
}

/// A profile's notice template with `{reason}` and `{rule}` filled in, in one pass (the
/// engine does the same for rule notices; its function is private).
fn render(template: &str, reason: &str, rule: &str) -> String {
    let mut out = String::with_capacity(template.len() + reason.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let tail = &rest[open..];
        let (text, after) = if let Some(after) = tail.strip_prefix("{reason}") {
            (reason, after)
        } else if let Some(after) = tail.strip_prefix("{rule}") {
            (rule, after)
        } else {
            ("{", &tail[1..])
        };
        out.push_str(text);
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests;
