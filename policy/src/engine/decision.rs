//! What policy decides for one message, and what the relay does with it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What a rule does with the messages it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Deliver and record: what happens when no rule matches. As a rule, it stops later
    /// rules from applying.
    Log,
    /// Deliver, do not record: privacy exclusions such as an employee-assistance line.
    NoLog,
    /// Do not deliver; record the blocked message with the rule, and tell the sender why.
    Block,
    /// Replace each keyword or pattern match with the profile's mask character (one per
    /// character), deliver and record the masked text, keeping the original in the record.
    Mask,
    /// Deliver and record, with an alert (a log event, the record's verdict, and the
    /// profile's webhook if it has one).
    Alert,
    /// Deliver and record: an explicit exception that stops later rules (a block further
    /// down, say) from applying.
    Allow,
}

impl Action {
    /// Every action.
    pub const ALL: [Self; 6] = [
        Self::Log,
        Self::NoLog,
        Self::Block,
        Self::Mask,
        Self::Alert,
        Self::Allow,
    ];

    /// The name used in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Log => "log",
            Self::NoLog => "no_log",
            Self::Block => "block",
            Self::Mask => "mask",
            Self::Alert => "alert",
            Self::Allow => "allow",
        }
    }

    /// Whether the message is delivered.
    pub fn delivers(self) -> bool {
        self != Self::Block
    }

    /// Whether the message is archived.
    pub fn records(self) -> bool {
        self != Self::NoLog
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to do with one message: [`PolicyEngine::decide`](super::PolicyEngine::decide)'s
/// answer.
///
/// # Recording
///
/// When `record` is true the relay archives the message with a verdict from `action`:
/// `Block` → blocked by `rule`, `Mask` → masked by `rule`, `Alert` → alerted by `rule`
/// (with `alert` as the record's detail), otherwise allowed. A masked message is recorded
/// with the masked `text` (what the recipient got) as the record's `text` and the original,
/// as sent, in its `raw`: the archive keeps what was said, and archive search (which looks
/// at both) finds it by the masked words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// The profile whose rules decided.
    pub profile: String,
    /// The rule that matched; `None` when none did (the default: log).
    pub rule: Option<String>,
    /// What happens.
    pub action: Action,
    /// Archive it.
    pub record: bool,
    /// Pass it on to the recipient.
    pub deliver: bool,
    /// For `Mask`: the text to deliver and record instead (the same number of characters).
    pub text: Option<String>,
    /// For `Block`: the notice for the sender, rendered (subject to the profile's
    /// `notice_interval`, see [`NoticeLimiter`](super::NoticeLimiter)).
    pub notice: Option<String>,
    /// For `Alert`: what matched, naming the rule and the keyword or pattern (never the
    /// message text, which may be sensitive and is in the record anyway).
    pub alert: Option<String>,
}

impl Decision {
    /// No rule matched: deliver and record.
    pub(crate) fn default_for(profile: &str) -> Self {
        Self {
            profile: profile.to_owned(),
            rule: None,
            action: Action::Log,
            record: true,
            deliver: true,
            text: None,
            notice: None,
            alert: None,
        }
    }
}
