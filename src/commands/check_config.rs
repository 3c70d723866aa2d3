//! `imtegrity check-config FILE [--set KEY=VALUE]... [--print]`: parses and validates a
//! configuration exactly as the gateway would, without binding or opening anything.

use std::path::Path;

use policy::{Directory, PolicyEngine};
use serde_json::json;
use settings::{Config, UnknownScreenNames};

use crate::exit::UsageError;
use crate::output::emit;
use crate::policy_setup::PolicySetupError;

/// Prints `ok: <path>`, what the DNS responder would redirect for whom and a summary of the
/// policy, or with `print` the effective configuration as TOML; with `json`,
/// `{"ok":true,"path":...,"config":{...},"policy":{...}}` either way.
///
/// The employee directory is read when it can be: a directory that does not parse is an
/// error (the gateway would refuse it), one that cannot be read here (another machine's
/// path, permissions) is only noted.
pub(crate) fn check(
    path: &Path,
    overrides: &[String],
    print: bool,
    json: bool,
) -> crate::CmdResult {
    // `?` boxes the UsageError itself (not a Box of it), so main's `is::<UsageError>()`
    // sees it and exits with 64.
    let config = crate::config_file::read(path, overrides)?;
    let policy = PolicySummary::of(&config)?;
    let ingest_note = ingest_tokens(&config)?;
    let text = if print {
        config.to_toml().trim_end().to_owned()
    } else {
        let mut text = format!(
            "ok: {}\n{}\n{}",
            path.display(),
            dns_summary(&config),
            policy.text
        );
        if let Some(note) = &ingest_note {
            text.push_str(&format!("\ningest: token file not read here ({note})"));
        }
        text
    };
    let value = json!({
        "ok": true,
        "path": path.display().to_string(),
        "overrides": overrides,
        "config": serde_json::to_value(&config)?,
        "policy": policy.json,
        "ingest_note": ingest_note,
    });
    emit(json, &text, &value);
    Ok(())
}

/// The ingest clients' token files, checked as `run` checks them: a weak or shared token
/// is an error; a file that cannot be read here (another machine's path, permissions) is
/// only noted. Nothing of a token is ever shown.
fn ingest_tokens(config: &Config) -> Result<Option<String>, UsageError> {
    if config.ingest.listen.is_empty() {
        return Ok(None);
    }
    match crate::ingest_clients::ingest_auth(config) {
        Ok(_) => Ok(None),
        Err(e @ crate::ingest_clients::TokenFileError::Read { .. }) => Ok(Some(e.to_string())),
        Err(e) => Err(UsageError(e.to_string())),
    }
}

/// The DNS part in a network engineer's words: where it listens, how many names, which
/// group goes where.
fn dns_summary(config: &Config) -> String {
    // As the responder applies it: views with their policy groups' subnets.
    let dns = &config.effective_dns();
    if dns.listen.is_empty() {
        return "dns: off (dns.listen is empty)".to_owned();
    }
    let listen: Vec<String> = dns.listen.iter().map(ToString::to_string).collect();
    let upstream = if dns.upstream.is_empty() {
        "the nameservers in /etc/resolv.conf".to_owned()
    } else {
        let list: Vec<String> = dns.upstream.iter().map(ToString::to_string).collect();
        list.join(", ")
    };
    // Validation has already parsed every name, so this cannot fail here.
    let names = settings::dns::NameSet::from_config(dns.builtin_names, &dns.names)
        .map_or(0, |set| set.len());
    let mut lines = vec![
        format!(
            "dns: listening on {}, forwarding to {upstream}",
            listen.join(", ")
        ),
        format!(
            "  {names} names redirected (ttl {} s), clients allowed from {} networks, rate limit {}",
            dns.ttl,
            dns.allow.len(),
            if dns.rate_limit == 0 {
                "off".to_owned()
            } else {
                format!("{}/s per client", dns.rate_limit)
            }
        ),
    ];
    let table = settings::dns::ViewTable::from_config(dns);
    for (i, view) in table.views().iter().enumerate() {
        let subnets: Vec<String> = if i == 0 {
            vec!["every other client".to_owned()]
        } else {
            dns.views[i - 1]
                .subnets
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        let target = if !view.redirect {
            "not redirected (forwarded)".to_owned()
        } else if view.gateway.is_empty() {
            "this host's address".to_owned()
        } else {
            let list: Vec<String> = view.gateway.iter().map(ToString::to_string).collect();
            list.join(", ")
        };
        let fail = match view.fail {
            settings::FailPolicy::Closed => "fail-closed",
            settings::FailPolicy::Open => "fail-open",
        };
        lines.push(format!(
            "  view {} ({}) -> {target}; {fail}",
            view.name,
            subnets.join(", ")
        ));
    }
    lines.join("\n")
}

/// The policy part in a compliance officer's words: the directory, which group gets which
/// profile, and what each profile does.
struct PolicySummary {
    text: String,
    json: serde_json::Value,
}

impl PolicySummary {
    fn of(config: &Config) -> Result<Self, UsageError> {
        let policy = &config.policy;
        let (directory, note) = match crate::policy_setup::directory_path(config) {
            None => (Directory::default(), None),
            Some(path) => match crate::policy_setup::read_directory(path) {
                Ok(directory) => (directory, None),
                Err(e @ PolicySetupError::Read { .. }) => {
                    (Directory::default(), Some(e.to_string()))
                }
                Err(e) => return Err(e.into()),
            },
        };
        let entries = directory.len();
        let engine =
            PolicyEngine::compile(policy, directory).map_err(|e| UsageError(e.to_string()))?;
        let mut lines = Vec::new();
        let unknown = match policy.unknown_screen_names {
            UnknownScreenNames::Allow => "unknown screen names allowed",
            UnknownScreenNames::Block => "unknown screen names refused at sign-on",
        };
        lines.push(match (crate::policy_setup::directory_path(config), &note) {
            (None, _) => format!("policy: no employee directory; {unknown}"),
            (Some(path), None) => format!(
                "policy: directory {} ({entries} employees); {unknown}",
                path.display()
            ),
            (Some(path), Some(note)) => format!(
                "policy: directory {} not read here ({note}); {unknown}",
                path.display()
            ),
        });
        for group in &policy.groups {
            let mut who = Vec::new();
            for (n, what) in [
                (group.employees.len(), "employee"),
                (group.screen_names.len(), "screen-name pattern"),
                (group.subnets.len(), "subnet"),
            ] {
                if n > 0 {
                    who.push(format!("{n} {what}{}", if n == 1 { "" } else { "s" }));
                }
            }
            lines.push(format!(
                "  group {} ({}) -> profile {}",
                group.name,
                who.join(", "),
                group.profile
            ));
        }
        lines.push(format!(
            "  {} -> profile {}",
            if policy.groups.is_empty() {
                "everyone"
            } else {
                "everyone else"
            },
            policy.default_profile
        ));
        let mut profiles = Vec::new();
        // The built-in profile is shown only when someone gets it.
        let used = |name: &str| {
            policy.profiles.contains_key(name)
                || policy.default_profile == name
                || policy.groups.iter().any(|g| g.profile == name)
        };
        for profile in engine.profiles().iter().filter(|p| used(&p.name)) {
            let rules: Vec<&str> = profile.rule_names().collect();
            let mut what = vec![if rules.is_empty() {
                "no rules (everything delivered and recorded)".to_owned()
            } else {
                format!(
                    "{} rule{} ({})",
                    rules.len(),
                    if rules.len() == 1 { "" } else { "s" },
                    rules.join(", ")
                )
            }];
            if profile.disclaimer.is_some() {
                what.push(format!(
                    "disclaimer, again after {} h of silence",
                    profile.disclaimer_every.as_secs() / 3600
                ));
            }
            if let Some(url) = &profile.alert_webhook {
                what.push(format!("alerts to {url}"));
            }
            lines.push(format!("  profile {}: {}", profile.name, what.join("; ")));
            profiles.push(json!({
                "name": profile.name,
                "rules": rules,
                "disclaimer": profile.disclaimer,
                "alert_webhook": profile.alert_webhook,
            }));
        }
        for warning in engine.warnings() {
            lines.push(format!("  warning: {warning}"));
        }
        let groups: Vec<serde_json::Value> = policy
            .groups
            .iter()
            .map(|g| json!({"name": g.name, "profile": g.profile}))
            .collect();
        Ok(Self {
            text: lines.join("\n"),
            json: json!({
                "directory": crate::policy_setup::directory_path(config).map(|p| p.display().to_string()),
                "directory_entries": note.is_none().then_some(entries),
                "directory_note": note,
                "unknown_screen_names": policy.unknown_screen_names,
                "groups": groups,
                "default_profile": policy.default_profile,
                "profiles": profiles,
                "warnings": engine.warnings(),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &tempfile::TempDir, text: &str) -> std::path::PathBuf {
        let path = dir.path().join("imtegrity.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn the_policy_summary_names_groups_profiles_and_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let people = dir.path().join("people.csv");
        std::fs::write(&people, "id,screen_names\njsmith,js\nakumar,ak\n").unwrap();
        let text = format!(
            "[policy]\ndirectory = {:?}\ndefault_profile = \"standard\"\n\
             [[policy.groups]]\nname = \"traders\"\nemployees = [\"jsmith\", \"gone\"]\n\
             subnets = [\"10.20.0.0/16\"]\nprofile = \"trading\"\n\
             [policy.profiles.standard]\ndisclaimer = \"Recorded.\"\n\
             [policy.profiles.trading]\n[[policy.profiles.trading.rules]]\nname = \"no-files\"\n\
             kinds = [\"file\"]\naction = \"block\"\n",
            people.display().to_string()
        );
        let config = Config::load("imtegrity.toml", &text, &[]).unwrap();
        let summary = PolicySummary::of(&config).unwrap();
        assert_eq!(
            summary.text,
            format!(
                "policy: directory {} (2 employees); unknown screen names allowed\n\
                 \x20 group traders (2 employees, 1 subnet) -> profile trading\n\
                 \x20 everyone else -> profile standard\n\
                 \x20 profile standard: no rules (everything delivered and recorded); disclaimer, again after 24 h of silence\n\
                 \x20 profile trading: 1 rule (no-files)\n\
                 \x20 warning: group \"traders\": employee \"gone\" is not in the directory",
                people.display()
            )
        );
        assert_eq!(summary.json["directory_entries"], 2);

        // Unreadable here: noted. Readable but wrong: an error naming file and line.
        std::fs::remove_file(&people).unwrap();
        let summary = PolicySummary::of(&config).unwrap();
        assert!(
            summary
                .text
                .contains(" not read here (cannot read the employee directory "),
            "{}",
            summary.text
        );
        assert!(summary.json["directory_entries"].is_null());
        std::fs::write(&people, "id\njsmith\njsmith\n").unwrap();
        let err = PolicySummary::of(&config).err().unwrap();
        assert_eq!(
            err.0,
            format!("{}:3: id \"jsmith\" is listed twice", people.display())
        );
    }

    #[test]
    fn check_maps_a_bad_config_to_a_usage_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "[relay]\nlisten = []\n");
        let err = check(&path, &[], false, false).unwrap_err();
        assert!(err.is::<UsageError>(), "{err}");
    }
}
