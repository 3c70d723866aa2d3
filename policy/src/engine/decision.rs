//! What policy decides for one message, and what the relay does with it.

use serde::Serialize;
use settings::Action;

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
