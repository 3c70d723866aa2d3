//! Policy evaluation: who a user is ([`PolicyEngine::identify`]), whether they may sign on
//! ([`PolicyEngine::admit`]), and what happens to each message ([`PolicyEngine::decide`]),
//! with the reasons ([`PolicyEngine::explain`]).
//!
//! # Semantics
//!
//! - Groups are tried in order; the first one the user is in (by directory id, screen name
//!   or client subnet) gives the profile; in no group, `policy.default_profile`.
//! - A profile's rules are tried in order; the first whose every condition holds decides.
//!   No rule matching means [`Action::Log`]: deliver and record.
//! - A rule with keywords or patterns matches only text in which one is found, so file and
//!   direct-IM offers (no text) are blocked by rules with `kinds` and no keywords.

mod compile;
mod decision;
mod disclaimer_clock;
mod enforcement;
mod explain;
mod identity;
mod load;
mod membership;
mod message;
mod notice_limiter;
mod pattern;
mod recent;
#[cfg(test)]
mod tests;
mod text_match;

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

pub use self::decision::Decision;
pub use self::disclaimer_clock::DisclaimerClock;
pub use self::enforcement::{
    CanCarry, DEFAULT_BLOCK_NOTICE, Delivery, Enforcement, Keep, ToEnforce, conversation_key,
    enforce,
};
pub use self::explain::{Explanation, GroupCheck, RuleCheck, RuleOutcome};
pub use self::identity::{Admission, EmployeeRef, IdentifiedBy, Identity};
pub use self::load::load_config;
pub use self::membership::{NoDisclaimer, direction_of};
pub use self::message::MessageContext;
use self::message::kind_bit;
pub use self::notice_limiter::NoticeLimiter;
use self::pattern::NamePatterns;
use self::text_match::TextMatcher;
use crate::Directory;
use record::{Direction, normalize_screen_name};
use settings::{Action, ConfigError, MessageKind, PolicyConfig, SecretUrl, UnknownScreenNames};

/// `[policy]` and the directory, compiled: immutable, cheap to share in an `Arc`; a reload
/// builds a new one.
#[derive(Debug)]
pub struct PolicyEngine {
    directory: Directory,
    unknown_screen_names: UnknownScreenNames,
    groups: Vec<Group>,
    profiles: Vec<Profile>,
    by_name: HashMap<String, usize>,
    default_profile: usize,
    warnings: Vec<String>,
    /// `policy.disclaimer_opt_out`: directory ids (lower case) and normalised screen names.
    opted_out: std::collections::HashSet<String>,
}

/// A compiled `[[policy.groups]]` entry.
#[derive(Debug)]
struct Group {
    name: String,
    /// Directory ids, lower case.
    employees: Vec<String>,
    screen_names: NamePatterns,
    /// Truncated to their prefix.
    subnets: Vec<IpNet>,
    /// Index into `PolicyEngine::profiles`.
    profile: usize,
}

/// A profile: what its users are told, and (privately) its rules.
#[derive(Debug)]
pub struct Profile {
    /// Its name (`default` for the built-in one).
    pub name: String,
    /// The disclaimer sent to both parties, if any.
    pub disclaimer: Option<String>,
    /// After this much silence in a conversation the disclaimer is due again (zero: before
    /// every message); see [`DisclaimerClock`].
    pub disclaimer_every: Duration,
    /// Users cannot opt out of the disclaimer.
    pub disclaimer_mandatory: bool,
    /// The notice template (`{reason}`, `{rule}`); [`Decision::notice`] is rendered.
    pub notice: String,
    /// At most one notice per conversation in this time; see [`NoticeLimiter`].
    pub notice_interval: Duration,
    /// What masked characters become.
    pub mask_char: char,
    /// Where alerts are posted, if anywhere.
    pub alert_webhook: Option<SecretUrl>,
    rules: Vec<Rule>,
}

impl Profile {
    /// The rules' names, in order.
    pub fn rule_names(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.name.as_str())
    }

    /// How many rules.
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }
}

/// A compiled rule.
#[derive(Debug)]
struct Rule {
    name: String,
    local: Option<NamePatterns>,
    remote: Option<NamePatterns>,
    /// `MessageKind::bit`s; 0 for every kind.
    kinds: u8,
    direction: Option<Direction>,
    text: TextMatcher,
    action: Action,
    reason: Option<String>,
}

/// The first condition of a rule that does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Miss {
    Kind,
    Direction,
    Local,
    Remote,
    Text,
}

/// The two screen names of a message, normalised on first use.
struct Names<'a> {
    local: &'a str,
    remote: &'a str,
    local_normalized: Option<String>,
    remote_normalized: Option<String>,
}

impl<'a> Names<'a> {
    fn new(msg: &MessageContext<'a>) -> Self {
        Self {
            local: &msg.local.screen_name,
            remote: msg.remote,
            local_normalized: None,
            remote_normalized: None,
        }
    }

    fn local(&mut self) -> &str {
        self.local_normalized
            .get_or_insert_with(|| normalize_screen_name(self.local))
    }

    fn remote(&mut self) -> &str {
        self.remote_normalized
            .get_or_insert_with(|| normalize_screen_name(self.remote))
    }
}

impl Rule {
    fn check(&self, msg: &MessageContext<'_>, names: &mut Names<'_>) -> Result<(), Miss> {
        if self.kinds != 0 && self.kinds & kind_bit(msg.kind) == 0 {
            return Err(Miss::Kind);
        }
        if self.direction.is_some_and(|d| d != msg.direction) {
            return Err(Miss::Direction);
        }
        if let Some(local) = &self.local
            && local.first_match(names.local()).is_none()
        {
            return Err(Miss::Local);
        }
        if let Some(remote) = &self.remote
            && remote.first_match(names.remote()).is_none()
        {
            return Err(Miss::Remote);
        }
        if !self.text.is_empty() && !self.text.is_match(msg.text) {
            return Err(Miss::Text);
        }
        Ok(())
    }

    /// Whether it matches every message (so no later rule can apply).
    fn is_catch_all(&self) -> bool {
        self.kinds == 0
            && self.direction.is_none()
            && self.local.is_none()
            && self.remote.is_none()
            && self.text.is_empty()
    }

    /// Its kind filter, in documentation order.
    fn kind_names(&self) -> Vec<&'static str> {
        MessageKind::ALL
            .into_iter()
            .filter(|k| self.kinds & kind_bit(*k) != 0)
            .map(MessageKind::as_str)
            .collect()
    }
}

impl PolicyEngine {
    /// Checks and compiles `config` against `directory`. Everything
    /// [`load_config`](crate::load_config) accepted compiles; an error names the key
    /// (without the file position, which `load_config` adds). Group employees missing from
    /// the directory are [`warnings`](Self::warnings), not errors: the directory may be
    /// edited separately.
    pub fn compile(config: &PolicyConfig, directory: Directory) -> Result<Self, ConfigError> {
        let compiled = compile::compile(config, &directory)?;
        Ok(Self {
            directory,
            unknown_screen_names: config.unknown_screen_names,
            groups: compiled.groups,
            profiles: compiled.profiles,
            by_name: compiled.by_name,
            default_profile: compiled.default_profile,
            warnings: compiled.warnings,
            opted_out: config
                .disclaimer_opt_out
                .iter()
                .flat_map(|who| [who.to_lowercase(), normalize_screen_name(who)])
                .collect(),
        })
    }

    /// The disclaimer `who`'s conversations get: their profile's, unless they opted out
    /// (`policy.disclaimer_opt_out`, by directory id or screen name) and the profile does
    /// not make it mandatory.
    pub fn disclaimer_for(&self, who: &Identity) -> Option<&str> {
        let profile = self.profile(who);
        let text = profile.disclaimer.as_deref()?;
        let opted_out = self
            .opted_out
            .contains(&normalize_screen_name(&who.screen_name))
            || who
                .employee
                .as_ref()
                .is_some_and(|e| self.opted_out.contains(&e.id.to_lowercase()));
        if opted_out && !profile.disclaimer_mandatory {
            return None;
        }
        Some(text)
    }

    /// Who `screen_name` (connecting from `client`) is: the employee with that screen name,
    /// else the one whose network holds `client`; the first group they are in; its profile.
    pub fn identify(&self, screen_name: &str, client: Option<IpAddr>) -> Identity {
        let normalized = normalize_screen_name(screen_name);
        let employee = self
            .directory
            .by_normalized(&normalized)
            .map(|e| (e, IdentifiedBy::ScreenName))
            .or_else(|| {
                client
                    .and_then(|c| self.directory.by_address(c))
                    .map(|e| (e, IdentifiedBy::Address))
            })
            .map(|(e, by)| EmployeeRef {
                id: e.id.clone(),
                name: e.name.clone(),
                by,
            });
        let employee_id = employee.as_ref().map(|e| e.id.to_lowercase());
        let group = self.groups.iter().find(|g| {
            g.why_member(employee_id.as_deref(), &normalized, client)
                .is_some()
        });
        Identity {
            screen_name: screen_name.to_owned(),
            client,
            employee,
            group: group.map(|g| g.name.clone()),
            profile: self.profiles[group.map_or(self.default_profile, |g| g.profile)]
                .name
                .clone(),
        }
    }

    /// Whether `who` may sign on: with `policy.unknown_screen_names = "block"`, only screen
    /// names in the directory may (being at an employee's address is not enough).
    pub fn admit(&self, who: &Identity) -> Admission {
        let registered = who
            .employee
            .as_ref()
            .is_some_and(|e| e.by == IdentifiedBy::ScreenName);
        if self.unknown_screen_names == UnknownScreenNames::Block && !registered {
            Admission::Refuse {
                reason: format!(
                    "screen name {:?} is not in the directory (policy.unknown_screen_names = \"block\")",
                    who.screen_name
                ),
            }
        } else {
            Admission::Allow
        }
    }

    /// What happens to `msg`: the first rule of the local user's profile that matches, or
    /// [`Action::Log`].
    pub fn decide(&self, msg: &MessageContext<'_>) -> Decision {
        let profile = self.profile(msg.local);
        let mut names = Names::new(msg);
        profile
            .rules
            .iter()
            .find(|r| r.check(msg, &mut names).is_ok())
            .map_or_else(
                || Decision::default_for(&profile.name),
                |rule| self.apply(profile, rule, msg, &mut names),
            )
    }

    /// `who`'s profile; the default profile if theirs no longer exists (an identity from
    /// before a reload).
    pub fn profile(&self, who: &Identity) -> &Profile {
        let index = self
            .by_name
            .get(&who.profile)
            .copied()
            .unwrap_or(self.default_profile);
        &self.profiles[index]
    }

    /// `text` masked as `decision`'s rule masks (for the same message in another form, such
    /// as its HTML: every match is masked there too, tags included if a keyword matches
    /// one). `None` unless the decision is a [`Action::Mask`] of one of this engine's rules.
    pub fn mask_as(&self, decision: &Decision, text: &str) -> Option<String> {
        if decision.action != Action::Mask {
            return None;
        }
        let profile = &self.profiles[*self.by_name.get(&decision.profile)?];
        let rule = profile
            .rules
            .iter()
            .find(|r| Some(&r.name) == decision.rule.as_ref())?;
        Some(rule.text.mask(text, profile.mask_char))
    }

    /// Every profile, in name order (the built-in `default` last unless configured).
    pub fn profiles(&self) -> &[Profile] {
        &self.profiles
    }

    /// The directory it was compiled with.
    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// What may be a mistake but does not stop the gateway: group employees missing from
    /// the directory (when it is not empty), rules an earlier catch-all rule shadows.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    fn apply(
        &self,
        profile: &Profile,
        rule: &Rule,
        msg: &MessageContext<'_>,
        names: &mut Names<'_>,
    ) -> Decision {
        let mut decision = Decision {
            profile: profile.name.clone(),
            rule: Some(rule.name.clone()),
            action: rule.action,
            record: rule.action.records(),
            deliver: rule.action.delivers(),
            text: None,
            notice: None,
            alert: None,
        };
        match rule.action {
            Action::Block => {
                let reason = rule
                    .reason
                    .as_deref()
                    .unwrap_or_else(|| default_reason(msg.kind));
                decision.notice = Some(render_notice(&profile.notice, reason, &rule.name));
            }
            Action::Mask => decision.text = Some(rule.text.mask(msg.text, profile.mask_char)),
            Action::Alert => {
                decision.alert = Some(format!(
                    "rule {:?} matched: {}",
                    rule.name,
                    explain::why_matched(rule, msg, names)
                ));
            }
            Action::Log | Action::NoLog | Action::Allow => {}
        }
        decision
    }
}

impl Group {
    /// Why a user is in this group, or `None`.
    fn why_member(
        &self,
        employee_id: Option<&str>,
        normalized: &str,
        client: Option<IpAddr>,
    ) -> Option<String> {
        if let Some(id) = employee_id
            && self.employees.iter().any(|e| e == id)
        {
            return Some(format!("employee {id} is listed"));
        }
        if let Some(pattern) = self.screen_names.first_match(normalized) {
            return Some(format!("screen name {normalized} matches {pattern:?}"));
        }
        let client = client.map(|c| c.to_canonical())?;
        self.subnets
            .iter()
            .find(|n| n.contains(&client))
            .map(|n| format!("client {client} is in {n}"))
    }
}

/// The notice's `{reason}` when a blocking rule gives none.
fn default_reason(kind: MessageKind) -> &'static str {
    match kind {
        MessageKind::File => "file transfers are blocked by your organisation's IM policy",
        MessageKind::DirectIm => "direct connections are blocked by your organisation's IM policy",
        MessageKind::Im | MessageKind::Chat => "it was blocked by your organisation's IM policy",
    }
}

/// `template` with `{reason}` and `{rule}` filled in, in one pass (a reason that contains
/// `{rule}` stays as written).
fn render_notice(template: &str, reason: &str, rule: &str) -> String {
    let mut out = String::with_capacity(template.len() + reason.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let tail = &rest[open..];
        if let Some(after) = tail.strip_prefix("{reason}") {
            out.push_str(reason);
            rest = after;
        } else if let Some(after) = tail.strip_prefix("{rule}") {
            out.push_str(rule);
            rest = after;
        } else {
            out.push('{');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}
