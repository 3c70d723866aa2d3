//! `[policy]` → the compiled engine. Every check the types cannot make happens here, with
//! the key at fault, so [`load_config`](crate::load_config) and
//! [`PolicyEngine::compile`](super::PolicyEngine::compile) can never disagree.

use std::collections::HashMap;
use std::time::Duration;

use ipnet::IpNet;

use super::message::kind_bit;
use super::pattern::NamePatterns;
use super::text_match::{TextField, TextMatcher};
use super::{Group, Profile, Rule};
use crate::Directory;
use settings::{
    Action, ConfigError, DEFAULT_PROFILE, GroupConfig, PolicyConfig, ProfileConfig, RuleConfig,
    UnknownScreenNames,
};

/// The placeholders a notice may use.
const PLACEHOLDERS: [&str; 2] = ["{reason}", "{rule}"];

/// Everything but the directory, checked.
pub(super) struct Compiled {
    pub(super) groups: Vec<Group>,
    pub(super) profiles: Vec<Profile>,
    pub(super) by_name: HashMap<String, usize>,
    pub(super) default_profile: usize,
    pub(super) warnings: Vec<String>,
}

pub(super) fn compile(
    config: &PolicyConfig,
    directory: &Directory,
) -> Result<Compiled, ConfigError> {
    if let Some(path) = &config.directory {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_lowercase);
        if !matches!(ext.as_deref(), Some("csv" | "toml")) {
            return Err(ConfigError::invalid(
                "policy.directory",
                format!(
                    "{:?}: the file name must end in .csv or .toml (its format)",
                    path.display().to_string()
                ),
            ));
        }
    }
    if config.unknown_screen_names == UnknownScreenNames::Block && config.directory.is_none() {
        return Err(ConfigError::invalid(
            "policy.unknown_screen_names",
            "\"block\" with no policy.directory would refuse every user",
        ));
    }
    let mut profiles = Vec::with_capacity(config.profiles.len() + 1);
    let mut by_name = HashMap::new();
    let mut warnings = Vec::new();
    for (name, profile) in &config.profiles {
        by_name.insert(name.clone(), profiles.len());
        profiles.push(compile_profile(name, profile, &mut warnings)?);
    }
    if !by_name.contains_key(DEFAULT_PROFILE) {
        by_name.insert(DEFAULT_PROFILE.to_owned(), profiles.len());
        profiles.push(compile_profile(
            DEFAULT_PROFILE,
            &ProfileConfig::default(),
            &mut warnings,
        )?);
    }
    let known = |name: &str| -> Result<usize, String> {
        by_name.get(name).copied().ok_or_else(|| {
            let mut names: Vec<&str> = by_name.keys().map(String::as_str).collect();
            names.sort_unstable();
            format!("no profile {name:?} (profiles: {})", names.join(", "))
        })
    };
    let default_profile = known(&config.default_profile)
        .map_err(|e| ConfigError::invalid("policy.default_profile", e))?;
    let mut groups = Vec::with_capacity(config.groups.len());
    for (i, group) in config.groups.iter().enumerate() {
        let key = |k: &str| format!("policy.groups[{i}].{k}");
        if group.name.trim().is_empty() {
            return Err(ConfigError::invalid(
                key("name"),
                "empty; a group needs a name",
            ));
        }
        if config.groups[..i].iter().any(|g| g.name == group.name) {
            return Err(ConfigError::invalid(
                key("name"),
                format!("{:?} is used by an earlier group", group.name),
            ));
        }
        let profile = known(&group.profile).map_err(|e| ConfigError::invalid(key("profile"), e))?;
        groups.push(compile_group(i, group, profile)?);
        for id in &group.employees {
            // An empty directory is one not read (check-config on another machine) as often
            // as an empty file: every id would be reported.
            if !directory.is_empty() && directory.by_id(id).is_none() {
                warnings.push(format!(
                    "group {:?}: employee {id:?} is not in the directory",
                    group.name
                ));
            }
        }
    }
    Ok(Compiled {
        groups,
        profiles,
        by_name,
        default_profile,
        warnings,
    })
}

fn compile_group(i: usize, group: &GroupConfig, profile: usize) -> Result<Group, ConfigError> {
    let key = |k: &str| format!("policy.groups[{i}].{k}");
    if group.employees.is_empty() && group.screen_names.is_empty() && group.subnets.is_empty() {
        return Err(ConfigError::invalid(
            format!("policy.groups[{i}]"),
            format!(
                "group {:?} has no employees, screen_names or subnets: no one would be in it",
                group.name
            ),
        ));
    }
    let mut employees = Vec::with_capacity(group.employees.len());
    for (j, id) in group.employees.iter().enumerate() {
        if id.trim().is_empty() {
            return Err(ConfigError::invalid(
                format!("{}[{j}]", key("employees")),
                "empty id",
            ));
        }
        employees.push(id.trim().to_lowercase());
    }
    let screen_names = NamePatterns::parse(&group.screen_names)
        .map_err(|(j, e)| ConfigError::invalid(format!("{}[{j}]", key("screen_names")), e))?;
    let subnets = group
        .subnets
        .iter()
        .enumerate()
        .map(|(j, s)| {
            crate::directory::address(s)
                .map(|n: IpNet| n.trunc())
                .map_err(|e| ConfigError::invalid(format!("{}[{j}]", key("subnets")), e))
        })
        .collect::<Result<_, _>>()?;
    Ok(Group {
        name: group.name.clone(),
        employees,
        screen_names,
        subnets,
        profile,
    })
}

fn compile_profile(
    name: &str,
    profile: &ProfileConfig,
    warnings: &mut Vec<String>,
) -> Result<Profile, ConfigError> {
    let key = |k: &str| format!("policy.profiles.{name}.{k}");
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(ConfigError::invalid(
            format!("policy.profiles.{name}"),
            format!("{name:?}: a profile name is letters, digits, '-' and '_'"),
        ));
    }
    if profile
        .disclaimer
        .as_ref()
        .is_some_and(|d| d.trim().is_empty())
    {
        return Err(ConfigError::invalid(
            key("disclaimer"),
            "empty; leave the key out for no disclaimer",
        ));
    }
    if profile.notice.trim().is_empty() {
        return Err(ConfigError::invalid(
            key("notice"),
            "empty: the sender of a blocked message would be told nothing, and retry",
        ));
    }
    check_placeholders(&profile.notice).map_err(|e| ConfigError::invalid(key("notice"), e))?;
    if profile.notice_interval_secs == 0 {
        return Err(ConfigError::invalid(
            key("notice_interval_secs"),
            format!(
                "0 would answer every retry of a blocked message with a notice (default: {})",
                ProfileConfig::default().notice_interval_secs
            ),
        ));
    }
    let mut mask_chars = profile.mask_char.chars();
    let (Some(mask_char), None) = (mask_chars.next(), mask_chars.next()) else {
        return Err(ConfigError::invalid(
            key("mask_char"),
            format!("{:?}: exactly one character", profile.mask_char),
        ));
    };
    if let Some(url) = &profile.alert_webhook {
        check_webhook(url.expose()).map_err(|e| ConfigError::invalid(key("alert_webhook"), e))?;
    }
    let mut rules: Vec<Rule> = Vec::with_capacity(profile.rules.len());
    for (i, rule) in profile.rules.iter().enumerate() {
        let rule_key = format!("policy.profiles.{name}.rules[{i}]");
        if rule.name.trim().is_empty() {
            return Err(ConfigError::invalid(
                format!("{rule_key}.name"),
                "empty; a rule needs a name (records and notices show it)",
            ));
        }
        if profile.rules[..i].iter().any(|r| r.name == rule.name) {
            return Err(ConfigError::invalid(
                format!("{rule_key}.name"),
                format!("{:?} is used by an earlier rule of this profile", rule.name),
            ));
        }
        let compiled = compile_rule(&rule_key, rule)?;
        if let Some(catch_all) = rules.iter().find(|r| r.is_catch_all()) {
            warnings.push(format!(
                "profile {name:?}: rule {:?} never applies: rule {:?} before it matches every message",
                rule.name, catch_all.name
            ));
        }
        rules.push(compiled);
    }
    Ok(Profile {
        name: name.to_owned(),
        disclaimer: profile.disclaimer.clone(),
        disclaimer_every: Duration::from_secs(u64::from(profile.disclaimer_every_hours) * 3600),
        disclaimer_mandatory: profile.disclaimer_mandatory,
        notice: profile.notice.clone(),
        notice_interval: Duration::from_secs(profile.notice_interval_secs),
        mask_char,
        alert_webhook: profile.alert_webhook.clone(),
        rules,
    })
}

fn compile_rule(key: &str, rule: &RuleConfig) -> Result<Rule, ConfigError> {
    let names =
        |field: &str, list: &Option<Vec<String>>| -> Result<Option<NamePatterns>, ConfigError> {
            match list {
                None => Ok(None),
                Some(list) if list.is_empty() => Err(ConfigError::invalid(
                    format!("{key}.{field}"),
                    "empty: the rule would match no one; leave the key out to match everyone",
                )),
                Some(list) => NamePatterns::parse(list)
                    .map(Some)
                    .map_err(|(j, e)| ConfigError::invalid(format!("{key}.{field}[{j}]"), e)),
            }
        };
    let local = names("local", &rule.local)?;
    let remote = names("remote", &rule.remote)?;
    let kinds = match &rule.kinds {
        None => 0,
        Some(kinds) if kinds.is_empty() => {
            return Err(ConfigError::invalid(
                format!("{key}.kinds"),
                "empty: the rule would match nothing; leave the key out to match every kind",
            ));
        }
        Some(kinds) => kinds.iter().fold(0, |bits, k| bits | kind_bit(*k)),
    };
    let text = TextMatcher::new(&rule.keywords, &rule.patterns).map_err(|(field, j, e)| {
        let field = match field {
            TextField::Keywords => "keywords",
            TextField::Patterns => "patterns",
        };
        ConfigError::invalid(format!("{key}.{field}[{j}]"), e)
    })?;
    if rule.action == Action::Mask && text.is_empty() {
        return Err(ConfigError::invalid(
            format!("{key}.action"),
            "\"mask\" needs keywords or patterns: they say what to mask",
        ));
    }
    if rule.reason.as_ref().is_some_and(|r| r.trim().is_empty()) {
        return Err(ConfigError::invalid(
            format!("{key}.reason"),
            "empty; leave the key out for the default reason",
        ));
    }
    Ok(Rule {
        name: rule.name.clone(),
        local,
        remote,
        kinds,
        direction: rule.direction,
        text,
        action: rule.action,
        reason: rule.reason.clone(),
    })
}

/// Every `{...}` in a notice is a known placeholder.
fn check_placeholders(notice: &str) -> Result<(), String> {
    let mut rest = notice;
    while let Some(open) = rest.find('{') {
        let tail = &rest[open..];
        let Some(close) = tail.find('}') else {
            return Err(format!(
                "an unclosed {{ (placeholders: {})",
                PLACEHOLDERS.join(", ")
            ));
        };
        let placeholder = &tail[..=close];
        if !PLACEHOLDERS.contains(&placeholder) {
            return Err(format!(
                "unknown placeholder {placeholder} (placeholders: {})",
                PLACEHOLDERS.join(", ")
            ));
        }
        rest = &tail[close + 1..];
    }
    Ok(())
}

/// An `http://` or `https://` URL with a host and no white space. Errors show the URL
/// redacted: its path or query may be a secret.
fn check_webhook(url: &str) -> Result<(), String> {
    let shown = settings::redact(url);
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("{shown:?}: an http:// or https:// URL"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || url.chars().any(char::is_whitespace) {
        return Err(format!("{shown:?}: not a URL with a host"));
    }
    Ok(())
}
