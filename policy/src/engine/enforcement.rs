//! One enforcement plan for every capture point: what the relay (OSCAR frames) and the
//! Sametime module (server messages) do with a message once policy has decided it.
//!
//! The decision says block, mask, alert, log or do not log; turning it into "deliver as is,
//! deliver this text instead, or drop; tell the sender; send the disclaimer first; record it
//! or record only that a rule excluded it" is the same question on both protocols, so it is
//! answered once, here, without I/O. Each capture point renders the [`Enforcement`] in its
//! own terms (frames, server messages) and keeps its own limits on what it can carry
//! ([`CanCarry`]).

use std::time::Duration;

use record::{Verdict, normalize_screen_name};

use super::{Decision, MessageContext, PolicyEngine};
use settings::Action;

/// The notice a sender gets when a message is not delivered and no rule wrote its own.
pub const DEFAULT_BLOCK_NOTICE: &str =
    "[IMtegrity] This message could not be delivered as the policy requires.";

/// What the capture point can carry for this message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CanCarry {
    /// Other text can be delivered in the message's place (the relay can rebuild the frame;
    /// the Sametime server accepts server messages). When not, a masked message is dropped:
    /// unmasked text is never delivered.
    pub can_replace: bool,
    /// A gateway message can reach the sender: the notice about a message not delivered.
    pub can_notify: bool,
    /// The disclaimer can reach both parties before this message (the Sametime module can
    /// send it only within a two-way chat, and only with the message re-sent after it).
    pub can_disclaim: bool,
}

/// One message as the plan needs it.
#[derive(Debug, Clone, Copy)]
pub struct ToEnforce<'a> {
    /// What the rules look at: kind, direction, local user, other party, plain text.
    pub message: MessageContext<'a>,
    /// Who sent it, as seen: notices are limited per sender.
    pub sender: &'a str,
    /// Every other text the recipient's client might show (an uncertain reading's
    /// variants): each is decided too and the strictest decision wins, so a hidden variant
    /// cannot carry a blocked word past the rules.
    pub variants: &'a [String],
    /// The body as the sender wrote it, when it is HTML: a masked message keeps its markup
    /// and has the rule's matches masked in place.
    pub html: Option<&'a str>,
    /// What the capture point can carry.
    pub carry: CanCarry,
}

/// What the receiver gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The message as sent.
    AsIs,
    /// This text instead (masked), in the sender's format.
    Replaced(String),
    /// Nothing: blocked, or masked where no replacement can be delivered.
    Dropped,
}

impl Delivery {
    /// Whether the receiver gets anything.
    pub fn delivered(&self) -> bool {
        !matches!(self, Self::Dropped)
    }
}

/// What the archive keeps of the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Keep {
    /// The message's record, with this verdict and, when masked, the text the receiver got
    /// (the record's raw part keeps what was sent).
    Record {
        /// The verdict.
        verdict: Verdict,
        /// The masked text, for a masked message.
        shown_text: Option<String>,
    },
    /// Only that the named rule excluded it (a privacy exclusion): no text, no other party,
    /// so the exclusion itself is accountable.
    NotLogged {
        /// The rule.
        rule: String,
    },
}

/// What happens to one message, in order: the disclaimer to both parties, then the
/// delivery, then the notice to the sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enforcement {
    /// The decision, for alerts and logs.
    pub decision: Decision,
    /// The disclaimer to send both parties before the message, if one is due.
    pub disclaimer: Option<String>,
    /// What the receiver gets.
    pub delivery: Delivery,
    /// The notice to tell the sender, if the message was not delivered and a notice is
    /// permitted now.
    pub notice: Option<String>,
    /// What the archive keeps.
    pub keep: Keep,
}

/// The key disclaimers are counted per: the local user and the other party, normalised.
pub fn conversation_key(message: &MessageContext<'_>) -> String {
    format!(
        "{}|{}",
        normalize_screen_name(&message.local.screen_name),
        normalize_screen_name(message.remote)
    )
}

/// Decides `input` and plans its enforcement. `disclaimer_due(conversation, every)` is asked
/// only when a disclaimer would go with this message (delivered, recorded, to an outsider,
/// configured, not opted out, and the channel can carry it) and marks it sent when it says
/// yes; `notice_permitted(key, interval)` likewise only for a dropped message, per sender,
/// kind and conversation. Both are the caller's clocks; the plan reads none.
pub fn enforce(
    engine: &PolicyEngine,
    input: &ToEnforce<'_>,
    disclaimer_due: impl FnOnce(&str, Duration) -> bool,
    notice_permitted: impl FnOnce(&str, Duration) -> bool,
) -> Enforcement {
    let message = &input.message;
    let decision = input
        .variants
        .iter()
        .filter(|v| v.as_str() != message.text)
        .map(|v| {
            engine.decide(&MessageContext {
                text: v,
                ..*message
            })
        })
        .fold(engine.decide(message), strictest);
    let profile = engine.profile(message.local);
    let delivery = match (decision.deliver, decision.action, decision.text.as_deref()) {
        (false, _, _) => Delivery::Dropped,
        (true, Action::Mask, Some(masked)) if input.carry.can_replace => Delivery::Replaced(
            input
                .html
                .and_then(|html| engine.mask_as(&decision, html))
                .unwrap_or_else(|| masked.to_owned()),
        ),
        (true, Action::Mask, _) => Delivery::Dropped,
        (true, _, _) => Delivery::AsIs,
    };
    // Built only when a disclaimer or a notice is in question, not for every message.
    let conversation = || conversation_key(message);
    // Not before a message that will not be recorded (saying "recorded" would be false) or
    // not delivered (the next one that is gets it): the one rule `policy explain` shows.
    let disclaimer = match engine.disclaimer_applies(message, &decision) {
        Ok(text)
            if input.carry.can_disclaim
                && delivery.delivered()
                && disclaimer_due(&conversation(), profile.disclaimer_every) =>
        {
            Some(text.to_owned())
        }
        _ => None,
    };
    let notice = if delivery.delivered() || !input.carry.can_notify {
        None
    } else {
        // Per sender, kind and conversation: a retried blocked file does not silence the
        // notice about a blocked message, nor one party's notices the other's.
        let key = format!(
            "{}|{}|{}",
            normalize_screen_name(input.sender),
            message.kind.as_str(),
            conversation()
        );
        notice_permitted(&key, profile.notice_interval).then(|| {
            decision
                .notice
                .clone()
                .unwrap_or_else(|| DEFAULT_BLOCK_NOTICE.to_owned())
        })
    };
    let keep = if decision.record {
        let rule = decision.rule.clone().unwrap_or_default();
        let (verdict, shown_text) = match (decision.action, &delivery) {
            // Masking that could not be done blocks instead: the verdict says so.
            (Action::Block, _) | (Action::Mask, Delivery::Dropped) => {
                (Verdict::Blocked(rule), None)
            }
            (Action::Mask, _) => (Verdict::Masked(rule), decision.text.clone()),
            (Action::Alert, _) => (Verdict::Alerted(rule), None),
            (Action::Log | Action::NoLog | Action::Allow, _) => (Verdict::Allowed, None),
        };
        Keep::Record {
            verdict,
            shown_text,
        }
    } else {
        Keep::NotLogged {
            rule: decision.rule.clone().unwrap_or_default(),
        }
    };
    Enforcement {
        decision,
        disclaimer,
        delivery,
        notice,
        keep,
    }
}

/// Of two decisions for one message (its shown text and another variant), the one that
/// does most: not delivering, then masking, alerting, recording; a privacy exclusion
/// (`no_log`) last, so a variant cannot take a message out of the archive. On a tie, the
/// first.
fn strictest(first: Decision, other: Decision) -> Decision {
    fn weight(d: &Decision) -> u8 {
        match d.action {
            _ if !d.deliver => 4,
            Action::Mask => 3,
            Action::Alert => 2,
            _ if d.record => 1,
            _ => 0,
        }
    }
    if weight(&other) > weight(&first) {
        other
    } else {
        first
    }
}

#[cfg(test)]
mod tests;
