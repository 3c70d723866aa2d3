//! Why a message gets the decision it gets: every group and rule considered, for
//! `imtegrity policy explain` and for compliance officers checking their rules.

use serde::Serialize;

use super::{Decision, Identity, MessageContext, Miss, Names, PolicyEngine, Rule};
use record::{Direction, normalize_screen_name};
use settings::MessageKind;

/// The reasoning behind one [`Decision`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// The local user, as identified.
    pub identity: Identity,
    /// Every group in order: the first the user is in, those before it (not matched) and
    /// those after it (not reached).
    pub groups: Vec<GroupCheck>,
    /// Whether the profile is `policy.default_profile` because no group matched.
    pub default_profile: bool,
    /// The message's kind.
    pub kind: MessageKind,
    /// The message's direction.
    pub direction: Direction,
    /// The other party.
    pub remote: String,
    /// Every rule of the profile in order, as for the groups.
    pub rules: Vec<RuleCheck>,
    /// What [`PolicyEngine::decide`] decides.
    pub decision: Decision,
}

/// One group, considered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupCheck {
    /// Its name.
    pub name: String,
    /// The profile it gives.
    pub profile: String,
    /// Whether the user is in it.
    pub outcome: RuleOutcome,
    /// Why (not).
    pub why: String,
}

/// One rule, considered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleCheck {
    /// Its name.
    pub name: String,
    /// What it does when it matches.
    pub action: super::Action,
    /// Whether it matched.
    pub outcome: RuleOutcome,
    /// Which conditions held, or the first that did not.
    pub why: String,
}

/// How a group or rule fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleOutcome {
    /// It applies (and decides: first match wins).
    Matched,
    /// A condition does not hold.
    NotMatched,
    /// An earlier one matched, so this one is not considered.
    NotReached,
}

impl RuleOutcome {
    /// `matched`, `not matched`, `not reached`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Matched => "matched",
            Self::NotMatched => "not matched",
            Self::NotReached => "not reached",
        }
    }
}

impl PolicyEngine {
    /// [`decide`](Self::decide), with every group and rule considered and why each matched
    /// or not.
    pub fn explain(&self, msg: &MessageContext<'_>) -> Explanation {
        let who = msg.local;
        let normalized = normalize_screen_name(&who.screen_name);
        let employee_id = who.employee.as_ref().map(|e| e.id.to_lowercase());
        let mut decided = false;
        let groups = self
            .groups
            .iter()
            .map(|g| {
                let profile = self.profiles[g.profile].name.clone();
                if decided {
                    return GroupCheck {
                        name: g.name.clone(),
                        profile,
                        outcome: RuleOutcome::NotReached,
                        why: "an earlier group matched".to_owned(),
                    };
                }
                match g.why_member(employee_id.as_deref(), &normalized, who.client) {
                    Some(why) => {
                        decided = true;
                        GroupCheck {
                            name: g.name.clone(),
                            profile,
                            outcome: RuleOutcome::Matched,
                            why,
                        }
                    }
                    None => GroupCheck {
                        name: g.name.clone(),
                        profile,
                        outcome: RuleOutcome::NotMatched,
                        why: why_not_member(g, employee_id.as_deref(), &normalized, who),
                    },
                }
            })
            .collect();
        let profile = self.profile(who);
        let mut names = Names::new(msg);
        let mut decided = false;
        let rules = profile
            .rules
            .iter()
            .map(|rule| {
                let (outcome, why) = if decided {
                    (
                        RuleOutcome::NotReached,
                        "an earlier rule decided".to_owned(),
                    )
                } else {
                    match rule.check(msg, &mut names) {
                        Ok(()) => {
                            decided = true;
                            (RuleOutcome::Matched, why_matched(rule, msg, &mut names))
                        }
                        Err(miss) => (
                            RuleOutcome::NotMatched,
                            why_missed(rule, miss, msg, &mut names),
                        ),
                    }
                };
                RuleCheck {
                    name: rule.name.clone(),
                    action: rule.action,
                    outcome,
                    why,
                }
            })
            .collect();
        Explanation {
            identity: who.clone(),
            groups,
            default_profile: who.group.is_none(),
            kind: msg.kind,
            direction: msg.direction,
            remote: msg.remote.to_owned(),
            rules,
            decision: self.decide(msg),
        }
    }
}

fn why_not_member(
    group: &super::Group,
    employee_id: Option<&str>,
    normalized: &str,
    who: &Identity,
) -> String {
    let mut parts = Vec::new();
    if !group.employees.is_empty() {
        parts.push(match employee_id {
            Some(id) => format!("employee {id} is not listed"),
            None => "not a known employee".to_owned(),
        });
    }
    if !group.screen_names.is_empty() {
        parts.push(format!(
            "screen name {normalized} matches none of {}",
            quoted_list(&group.screen_names.sources())
        ));
    }
    if !group.subnets.is_empty() {
        let nets: Vec<String> = group.subnets.iter().map(ToString::to_string).collect();
        parts.push(match who.client {
            Some(c) => format!(
                "client {} is in none of {}",
                c.to_canonical(),
                nets.join(", ")
            ),
            None => "the client's address is not known".to_owned(),
        });
    }
    parts.join("; ")
}

/// Every condition of a matched rule, as it held. Names the keyword or pattern found, never
/// the message text.
pub(super) fn why_matched(rule: &Rule, msg: &MessageContext<'_>, names: &mut Names<'_>) -> String {
    let mut parts = Vec::new();
    if rule.kinds != 0 {
        parts.push(format!(
            "kind {} is one of {}",
            msg.kind,
            rule.kind_names().join(", ")
        ));
    }
    if let Some(d) = rule.direction {
        parts.push(format!("direction {d}"));
    }
    if let Some(local) = &rule.local {
        let name = names.local().to_owned();
        if let Some(p) = local.first_match(&name) {
            parts.push(format!("local {name} matches {p:?}"));
        }
    }
    if let Some(remote) = &rule.remote {
        let name = names.remote().to_owned();
        if let Some(p) = remote.first_match(&name) {
            parts.push(format!("remote {name} matches {p:?}"));
        }
    }
    if let Some(hit) = rule.text.first_hit(msg.text) {
        parts.push(format!("{hit} found"));
    }
    if parts.is_empty() {
        "it has no conditions, so it matches every message".to_owned()
    } else {
        parts.join("; ")
    }
}

/// The first condition that did not hold.
fn why_missed(rule: &Rule, miss: Miss, msg: &MessageContext<'_>, names: &mut Names<'_>) -> String {
    match miss {
        Miss::Kind => format!(
            "kind {} is not one of {}",
            msg.kind,
            rule.kind_names().join(", ")
        ),
        Miss::Direction => format!(
            "direction {} is not {}",
            msg.direction,
            rule.direction.map_or("", Direction::as_str)
        ),
        Miss::Local => format!(
            "local {} matches none of {}",
            names.local(),
            quoted_list(&rule.local.as_ref().map(|p| p.sources()).unwrap_or_default())
        ),
        Miss::Remote => format!(
            "remote {} matches none of {}",
            names.remote(),
            quoted_list(
                &rule
                    .remote
                    .as_ref()
                    .map(|p| p.sources())
                    .unwrap_or_default()
            )
        ),
        Miss::Text => {
            let mut looked_for: Vec<String> = rule
                .text
                .keywords()
                .iter()
                .map(|k| format!("keyword {k:?}"))
                .collect();
            looked_for.extend(rule.text.patterns().map(|p| format!("pattern {p:?}")));
            if msg.text.is_empty() {
                format!("no text to search for {}", looked_for.join(", "))
            } else {
                format!("the text has none of {}", looked_for.join(", "))
            }
        }
    }
}

fn quoted_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("{i:?}")).collect();
    quoted.join(", ")
}
