//! `[policy]`: who is logged, what is blocked, what users are told; edited by the
//! compliance team. The keys are checked (patterns compiled, profiles resolved) by the
//! engine that compiles them, `policy::PolicyEngine::compile`; `policy::load_config` runs it
//! (with an empty directory) as part of loading, so a bad regex is reported with its line
//! like any other mistake. [`Config::validate`](super::Config::validate) alone does not:
//! the rules' syntax is the engine's, and this crate sits below it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use record::Direction;

use super::{Action, MessageKind};
use crate::SecretUrl;

/// The profile every user is in when no `[policy]` section says otherwise: log everything,
/// no rules, no disclaimer.
pub const DEFAULT_PROFILE: &str = "default";

/// `[policy]`: the directory that maps screen names to employees, the groups that pick each
/// user's profile, and the profiles with their rules.
///
/// With no `[policy]` at all, every user is in the built-in `default` profile: every
/// message is delivered and recorded, nothing is injected.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// The employee directory: a `.csv` (header `id,name,email,screen_names,addresses`) or
    /// `.toml` (`[[employee]]` tables) file, read by the binary and re-read when it changes.
    /// Default: unset, no directory (users are known by screen name only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub directory: Option<PathBuf>,
    /// What happens to a screen name that is not in the directory at sign-on: `allow`, or
    /// `block` (signed off with a reason, as the seed product's "unregistered screen names"
    /// option did). Default: `allow`.
    pub unknown_screen_names: UnknownScreenNames,
    /// The profile of users in no group. Default: `default`, the built-in profile (log
    /// everything), unless `[policy.profiles.default]` redefines it.
    pub default_profile: String,
    /// `[[policy.groups]]`: who gets which profile, first matching group wins.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupConfig>,
    /// `[policy.profiles.NAME]`: what applies to a group's users. Names are letters, digits,
    /// `-` and `_`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub profiles: BTreeMap<String, ProfileConfig>,
    /// Users (directory ids or screen names) who do not send the disclaimer: honoured only
    /// under a profile whose `disclaimer_mandatory` is false. Default: empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub disclaimer_opt_out: Vec<String>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            directory: None,
            unknown_screen_names: UnknownScreenNames::Allow,
            default_profile: DEFAULT_PROFILE.to_owned(),
            groups: Vec::new(),
            profiles: BTreeMap::new(),
            disclaimer_opt_out: Vec::new(),
        }
    }
}

/// `policy.unknown_screen_names`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownScreenNames {
    /// Sign on like anyone else (identified by client address if the directory has it).
    #[default]
    Allow,
    /// Refused at sign-on: only screen names in the directory may use the gateway.
    Block,
}

/// `[[policy.groups]]`: a set of users, by directory id, screen name or client subnet (any
/// one of them puts a user in the group), and the profile they get.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    /// Shown in records, `policy explain` and `check-config`; unique.
    pub name: String,
    /// Directory ids (the `id` column), compared case-insensitively.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub employees: Vec<String>,
    /// Screen-name patterns: exact (`jsmith`), wildcard (`trader*`, `?` for one character)
    /// or a regular expression after `re:` (`re:^fx[0-9]+$`), compared with the normalised
    /// name (lower case, no spaces), case-insensitively.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub screen_names: Vec<String>,
    /// Client networks (`10.20.0.0/16`, or one address), by the address the client connects
    /// from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subnets: Vec<String>,
    /// The profile its users get.
    pub profile: String,
}

/// `[policy.profiles.NAME]`: what its users are told and the rules their messages meet.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProfileConfig {
    /// Sent to both parties at the start of a conversation (and again after
    /// `disclaimer_every_hours` of silence), and recorded. Default: unset, none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disclaimer: Option<String>,
    /// Hours of silence in a conversation after which the disclaimer is sent again; 0 sends
    /// it before every message. Default: 24.
    pub disclaimer_every_hours: u32,
    /// Users cannot opt out of the disclaimer (per-user opt-out is not offered yet, so today
    /// every disclaimer is sent). Default: true.
    pub disclaimer_mandatory: bool,
    /// What the sender of a blocked message or file offer is told; `{reason}` is the rule's
    /// reason, `{rule}` its name. Default: `[IMtegrity] Your message was not delivered:
    /// {reason}`.
    pub notice: String,
    /// At most one notice per conversation in this many seconds (clients retry blocked
    /// messages). Default: 60.
    pub notice_interval_secs: u64,
    /// The character each character of masked text is replaced with. Default: `*`.
    pub mask_char: String,
    /// An `http://` or `https://` URL the gateway posts alerts to. Default: unset; alerts go
    /// to the archive and the log only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert_webhook: Option<SecretUrl>,
    /// `[[policy.profiles.NAME.rules]]`: first match wins; no match: deliver and record.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RuleConfig>,
}

impl Default for ProfileConfig {
    fn default() -> Self {
        Self {
            disclaimer: None,
            disclaimer_every_hours: DISCLAIMER_EVERY_HOURS,
            disclaimer_mandatory: true,
            notice: DEFAULT_NOTICE.to_owned(),
            notice_interval_secs: NOTICE_INTERVAL_SECS,
            mask_char: "*".to_owned(),
            alert_webhook: None,
            rules: Vec::new(),
        }
    }
}

/// `policy.profiles.*.disclaimer_every_hours`: a working day's silence and more.
const DISCLAIMER_EVERY_HOURS: u32 = 24;
/// `policy.profiles.*.notice_interval_secs`: IMSpector's `filtered_mins` idea, in seconds.
const NOTICE_INTERVAL_SECS: u64 = 60;
/// `policy.profiles.*.notice`.
const DEFAULT_NOTICE: &str = "[IMtegrity] Your message was not delivered: {reason}";

/// `[[policy.profiles.NAME.rules]]`: which messages it applies to (every condition given
/// must hold) and what happens to them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Shown in records, notices (`{rule}`) and `policy explain`; unique in its profile.
    pub name: String,
    /// Screen-name patterns (as in groups) the organisation's user must match. Default: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<Vec<String>>,
    /// Screen-name patterns the other party must match. Default: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<Vec<String>>,
    /// `im`, `chat`, `file` (file-transfer offers), `direct_im` (direct-connection offers).
    /// Default: every kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kinds: Option<Vec<MessageKind>>,
    /// `inbound`, `outbound` or `internal`. Default: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// Words or phrases, case-insensitive, matched as whole words (`bet` does not match
    /// `alphabet`); spaces in a phrase match any run of white space. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    /// Regular expressions (Rust `regex` syntax, a `re:` prefix is allowed) searched for in
    /// the text, case-sensitive unless they say `(?i)`. Default: none. With keywords or
    /// patterns, the rule matches only text where one of them is found.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patterns: Vec<String>,
    /// `log`, `no_log`, `block`, `mask`, `alert` or `allow`.
    pub action: Action,
    /// Why, for the `{reason}` of the notice. Default: a sentence naming what was blocked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
