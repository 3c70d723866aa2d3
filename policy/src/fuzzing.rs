//! Entry points for the cargo-fuzz targets in `fuzz/`: the employee directory's two file
//! formats, and message text through a policy with keyword, pattern and mask rules.

use crate::{Directory, MessageContext, PolicyEngine};
use record::Direction;
use settings::{Config, MessageKind};

/// A directory file, CSV or TOML by the first byte, on arbitrary text: parsing never
/// panics, and every employee it yields can be found again by each of its screen names.
pub fn directory(data: &[u8]) {
    let Some((&format, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let parsed = if format % 2 == 0 {
        Directory::parse_csv(text)
    } else {
        Directory::parse_toml(text)
    };
    let Ok(directory) = parsed else {
        return;
    };
    for employee in directory.employees() {
        for sn in &employee.screen_names {
            assert!(
                directory.by_screen_name(sn).is_some(),
                "{sn:?} of {} cannot be found",
                employee.id
            );
        }
    }
}

/// The policy the `policy_text` target decides with: every action, keyword and pattern
/// rules, wildcard and regex names.
const POLICY: &str = r#"
[policy]
default_profile = "p"
[policy.profiles.p]
disclaimer = "recorded"
[[policy.profiles.p.rules]]
name = "quiet"
remote = ["eap*"]
action = "no_log"
[[policy.profiles.p.rules]]
name = "block"
keywords = ["insider", "guaranteed return"]
action = "block"
[[policy.profiles.p.rules]]
name = "mask"
patterns = ['re:\b\d{3}-\d{2}-\d{4}\b', 're:(?i)card [0-9 ]{12,19}']
action = "mask"
[[policy.profiles.p.rules]]
name = "alert"
keywords = ["merger"]
remote = ["re:^fx[0-9]+$", "partner*"]
action = "alert"
"#;

/// Arbitrary message text (and, after a NUL, the other party's name) through [`POLICY`]:
/// deciding never panics; a masked text has as many characters as the original and the
/// masked number no longer matches; a block always comes with a notice.
pub fn policy_text(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (text, remote) = text.split_once('\0').unwrap_or((text, "bob"));
    // Compiled once: regular expressions take far longer to build than to run.
    static ENGINE: std::sync::OnceLock<Option<PolicyEngine>> = std::sync::OnceLock::new();
    let engine = ENGINE.get_or_init(|| {
        let config = Config::load("fuzz.toml", POLICY, &[]).ok()?;
        PolicyEngine::compile(&config.policy, Directory::default()).ok()
    });
    let Some(engine) = engine else {
        panic!("the fuzz policy does not compile");
    };
    let who = engine.identify("alice", None);
    for kind in MessageKind::ALL {
        let msg = MessageContext {
            kind,
            direction: Direction::Outbound,
            local: &who,
            remote,
            text,
        };
        let decision = engine.decide(&msg);
        if let Some(masked) = &decision.text {
            assert_eq!(
                masked.chars().count(),
                text.chars().count(),
                "{text:?} -> {masked:?}"
            );
            let again = MessageContext {
                text: masked,
                ..msg
            };
            assert_ne!(
                engine.decide(&again).rule.as_deref(),
                Some("mask"),
                "{masked:?} still matches the mask rule"
            );
        }
        if !decision.deliver {
            assert!(decision.notice.is_some(), "a block without a notice");
        }
        let _ = engine.explain(&msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_do_not_trip_the_checks() {
        policy_text(b"my ssn is 123-45-6789, card 4111 1111 1111 1111");
        policy_text(b"an insider tip");
        policy_text(b"merger talk\0fx12");
        policy_text(b"hi\0eapcounsel");
        policy_text("ünïcödé 123-45-6789 ☃".as_bytes());
        directory(b"\x00id,name,email,screen_names,addresses\njs,J S,,JS Trader;js2,10.0.0.0/8\n");
        directory(b"\x01[[employee]]\nid = \"js\"\nname = \"J\"\nscreen_names = [\"a b\"]\n");
        directory(b"");
    }
}
