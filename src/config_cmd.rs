//! `imtegrity check-config FILE [--set KEY=VALUE]... [--print]`: parses and validates a
//! configuration exactly as the gateway would, without binding or opening anything.

use std::path::Path;

use policy::Config;
use serde_json::json;

use crate::cli::UsageError;
use crate::output::emit;

/// Reads `path`, applies `overrides` and validates. Every failure, an unreadable file
/// included, is a [`UsageError`] (exit code 64) naming the file or the `--set` argument.
pub(crate) fn read(path: &Path, overrides: &[String]) -> Result<Config, UsageError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        UsageError(format!(
            "cannot read configuration file {}: {e}",
            path.display()
        ))
    })?;
    Config::load(&path.display().to_string(), &text, overrides)
        .map_err(|e| UsageError(e.to_string()))
}

/// Prints `ok: <path>` and what the DNS responder would redirect for whom, or with `print`
/// the effective configuration as TOML; with `json`, `{"ok":true,"path":...,"config":{...}}`
/// either way.
pub(crate) fn check(
    path: &Path,
    overrides: &[String],
    print: bool,
    json: bool,
) -> crate::CmdResult {
    // `?` boxes the UsageError itself (not a Box of it), so main's `is::<UsageError>()`
    // sees it and exits with 64.
    let config = read(path, overrides)?;
    let text = if print {
        config.to_toml().trim_end().to_owned()
    } else {
        format!("ok: {}\n{}", path.display(), dns_summary(&config))
    };
    let value = json!({
        "ok": true,
        "path": path.display().to_string(),
        "overrides": overrides,
        "config": serde_json::to_value(&config)?,
    });
    emit(json, &text, &value);
    Ok(())
}

/// The DNS part in a network engineer's words: where it listens, how many names, which
/// group goes where.
fn dns_summary(config: &Config) -> String {
    let dns = &config.dns;
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
    let names =
        policy::dns::NameSet::from_config(dns.builtin_names, &dns.names).map_or(0, |set| set.len());
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
    let table = policy::dns::ViewTable::from_config(dns);
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
            policy::FailPolicy::Closed => "fail-closed",
            policy::FailPolicy::Open => "fail-open",
        };
        lines.push(format!(
            "  view {} ({}) -> {target}; {fail}",
            view.name,
            subnets.join(", ")
        ));
    }
    lines.join("\n")
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
    fn a_valid_file_with_overrides_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "[archive]\nmode = \"relaxed\"\n");
        let config = read(&path, &["upstream.login=127.0.0.1:15190".to_owned()]).unwrap();
        assert_eq!(config.upstream.login.to_string(), "127.0.0.1:15190");
        assert_eq!(config.archive.mode, policy::ArchiveMode::Relaxed);
    }

    #[test]
    fn errors_are_usage_errors_naming_the_file_or_argument() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("absent.toml");
        let err = read(&missing, &[]).unwrap_err();
        assert!(
            err.0.starts_with("cannot read configuration file "),
            "{}",
            err.0
        );
        assert!(err.0.contains("absent.toml"), "{}", err.0);

        let path = write(&dir, "[relay]\nlissten = 1\n");
        let err = read(&path, &[]).unwrap_err();
        assert!(
            err.0
                .starts_with(&format!("{}:2:1: unknown field `lissten`", path.display())),
            "{}",
            err.0
        );

        let path = write(&dir, "");
        let err = read(&path, &["relay.idle_timeout_secs=60".to_owned()]).unwrap_err();
        assert!(
            err.0.starts_with("--set relay.idle_timeout_secs: invalid"),
            "{}",
            err.0
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
