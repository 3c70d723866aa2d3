//! Who the organisation's users are, and when a conversation gets the disclaimer: one
//! definition for the relay, the Sametime module, the records' `direction` and
//! `policy explain`, so that what `explain` says is what the gateway does.
//!
//! The rule: with a directory, the organisation's users are the names it lists, wherever
//! they are signed on. With no directory, they are the names signed on through this gateway
//! (on Sametime, the server's own community). The directory wins when there is one because
//! it is what compliance maintains: a contractor who signs on through the gateway under a
//! name the directory does not list is an outsider as far as the record is concerned, and
//! gets the disclaimer, whichever way the message goes.

use serde::Serialize;

use super::{Decision, MessageContext, PolicyEngine};
use record::Direction;
use settings::{Action, MessageKind};

/// Why a message gets no disclaimer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoDisclaimer {
    /// Both parties are the organisation's.
    Internal,
    /// Room messages get none (a room has many members; the room itself is announced).
    Room,
    /// The message is not recorded (a privacy exclusion): "recorded" would be false.
    NotRecorded,
    /// The message is not delivered; the next one that is gets it.
    NotDelivered,
    /// The local user's profile has no disclaimer.
    NoneConfigured,
    /// The local user opted out and the profile does not make it mandatory.
    OptedOut,
}

impl NoDisclaimer {
    /// Says it in words, for `policy explain`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Internal => "an internal message",
            Self::Room => "room messages get none",
            Self::NotRecorded => "the message is not recorded",
            Self::NotDelivered => "the message is not delivered (the next one that is gets it)",
            Self::NoneConfigured => "the profile has no disclaimer",
            Self::OptedOut => "the user opted out (policy.disclaimer_opt_out)",
        }
    }
}

/// The direction of a message from its sender to its recipient, given which of them are
/// the organisation's ([`PolicyEngine::is_ours`]); when neither is (a name the directory
/// does not list, behind the gateway, with an outsider), the side whose session the gateway
/// holds stands for the organisation: `sent_here` when its user sent it.
pub fn direction_of(sender_ours: bool, recipient_ours: bool, sent_here: bool) -> Direction {
    match (sender_ours, recipient_ours) {
        (true, true) => Direction::Internal,
        (true, false) => Direction::Outbound,
        (false, true) => Direction::Inbound,
        (false, false) if sent_here => Direction::Outbound,
        (false, false) => Direction::Inbound,
    }
}

impl PolicyEngine {
    /// Whether `name` is one of the organisation's users: listed in the directory, or with
    /// no directory, signed on through this gateway (`signed_on_here`, which only the caller
    /// can know; the user of the caller's own session always is).
    pub fn is_ours(&self, name: &str, signed_on_here: bool) -> bool {
        if self.directory().is_empty() {
            signed_on_here
        } else {
            self.directory().by_screen_name(name).is_some()
        }
    }

    /// The disclaimer a message's conversation is due (before the first message and after
    /// a silence, which the caller's clock decides), or why none.
    pub fn disclaimer_applies(
        &self,
        msg: &MessageContext<'_>,
        decision: &Decision,
    ) -> Result<&str, NoDisclaimer> {
        if msg.direction == Direction::Internal {
            return Err(NoDisclaimer::Internal);
        }
        if msg.kind == MessageKind::Chat {
            return Err(NoDisclaimer::Room);
        }
        if !decision.record || decision.action == Action::NoLog {
            return Err(NoDisclaimer::NotRecorded);
        }
        if !decision.deliver {
            return Err(NoDisclaimer::NotDelivered);
        }
        if self.profile(msg.local).disclaimer.is_none() {
            return Err(NoDisclaimer::NoneConfigured);
        }
        self.disclaimer_for(msg.local).ok_or(NoDisclaimer::OptedOut)
    }
}

#[cfg(test)]
mod tests;
