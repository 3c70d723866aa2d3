use settings::{ConfigError, LineCol, Origin};

use super::*;

const FILE: &str = "imtegrity.toml";

fn at(line: usize, column: usize) -> Origin {
    Origin::File {
        name: FILE.into(),
        at: Some(LineCol { line, column }),
    }
}

/// A profile with one valid rule, for errors further down to be added to.
const PROFILE: &str = "[policy.profiles.standard]\n[[policy.profiles.standard.rules]]\nname = \"ok\"\naction = \"log\"\n";

#[test]
fn unusable_policy_values_name_their_line_and_key() {
    let rule = |body: &str| format!("{PROFILE}[[policy.profiles.standard.rules]]\n{body}");
    let group = |body: &str| format!("{PROFILE}[[policy.groups]]\n{body}");
    for (text, key, line, column, message) in [
        (
            "[policy]\ndirectory = \"/etc/imtegrity/people.xlsx\"\n".to_owned(),
            "policy.directory",
            2,
            13,
            "\"/etc/imtegrity/people.xlsx\": the file name must end in .csv or .toml",
        ),
        (
            "[policy]\nunknown_screen_names = \"block\"\n".to_owned(),
            "policy.unknown_screen_names",
            2,
            24,
            "\"block\" with no policy.directory would refuse every user",
        ),
        (
            "[policy]\ndefault_profile = \"standrad\"\n[policy.profiles.standard]\n".to_owned(),
            "policy.default_profile",
            2,
            19,
            "no profile \"standrad\" (profiles: default, standard)",
        ),
        (
            group("name = \" \"\nscreen_names = [\"a\"]\nprofile = \"standard\"\n"),
            "policy.groups[0].name",
            6,
            8,
            "empty; a group needs a name",
        ),
        (
            format!(
                "{}[[policy.groups]]\nname = \"g\"\nsubnets = [\"10.1.0.0/16\"]\nprofile = \"standard\"\n",
                group("name = \"g\"\nscreen_names = [\"a\"]\nprofile = \"standard\"\n")
            ),
            "policy.groups[1].name",
            10,
            8,
            "\"g\" is used by an earlier group",
        ),
        (
            group("name = \"g\"\nscreen_names = [\"a\"]\nprofile = \"trading\"\n"),
            "policy.groups[0].profile",
            8,
            11,
            "no profile \"trading\" (profiles: default, standard)",
        ),
        (
            group("name = \"g\"\nprofile = \"standard\"\n"),
            "policy.groups[0]",
            5,
            1,
            "group \"g\" has no employees, screen_names or subnets: no one would be in it",
        ),
        (
            group("name = \"g\"\nemployees = [\"a\", \"\"]\nprofile = \"standard\"\n"),
            "policy.groups[0].employees[1]",
            7,
            19,
            "empty id",
        ),
        (
            group("name = \"g\"\nscreen_names = [\"a\", \"re:fx[\"]\nprofile = \"standard\"\n"),
            "policy.groups[0].screen_names[1]",
            7,
            22,
            "\"re:fx[\": not a regular expression: unclosed character class",
        ),
        (
            group("name = \"g\"\nsubnets = [\"10.20.0.0/33\"]\nprofile = \"standard\"\n"),
            "policy.groups[0].subnets[0]",
            7,
            12,
            "\"10.20.0.0/33\" is not an IP address or network",
        ),
        (
            "[policy.profiles.\"trading desk\"]\n".to_owned(),
            "policy.profiles.trading desk",
            1,
            1,
            "\"trading desk\": a profile name is letters, digits, '-' and '_'",
        ),
        (
            "[policy.profiles.standard]\ndisclaimer = \"\"\n".to_owned(),
            "policy.profiles.standard.disclaimer",
            2,
            14,
            "empty; leave the key out for no disclaimer",
        ),
        (
            "[policy.profiles.standard]\nnotice = \" \"\n".to_owned(),
            "policy.profiles.standard.notice",
            2,
            10,
            "empty: the sender of a blocked message would be told nothing",
        ),
        (
            "[policy.profiles.standard]\nnotice = \"Blocked: {reason} by {who}\"\n".to_owned(),
            "policy.profiles.standard.notice",
            2,
            10,
            "unknown placeholder {who} (placeholders: {reason}, {rule})",
        ),
        (
            "[policy.profiles.standard]\nnotice_interval_secs = 0\n".to_owned(),
            "policy.profiles.standard.notice_interval_secs",
            2,
            24,
            "0 would answer every retry of a blocked message with a notice (default: 60)",
        ),
        (
            "[policy.profiles.standard]\nmask_char = \"**\"\n".to_owned(),
            "policy.profiles.standard.mask_char",
            2,
            13,
            "\"**\": exactly one character",
        ),
        (
            "[policy.profiles.standard]\nalert_webhook = \"hooks.example.com/im\"\n".to_owned(),
            "policy.profiles.standard.alert_webhook",
            2,
            17,
            "\"…\": an http:// or https:// URL",
        ),
        (
            rule("name = \"\"\naction = \"log\"\n"),
            "policy.profiles.standard.rules[1].name",
            6,
            8,
            "empty; a rule needs a name",
        ),
        (
            rule("name = \"ok\"\naction = \"block\"\n"),
            "policy.profiles.standard.rules[1].name",
            6,
            8,
            "\"ok\" is used by an earlier rule of this profile",
        ),
        (
            rule("name = \"r\"\nlocal = []\naction = \"block\"\n"),
            "policy.profiles.standard.rules[1].local",
            7,
            9,
            "empty: the rule would match no one; leave the key out to match everyone",
        ),
        (
            rule("name = \"r\"\nremote = [\"bob\", \"re:(\"]\naction = \"block\"\n"),
            "policy.profiles.standard.rules[1].remote[1]",
            7,
            18,
            "\"re:(\": not a regular expression: unclosed group",
        ),
        (
            rule("name = \"r\"\nkinds = []\naction = \"block\"\n"),
            "policy.profiles.standard.rules[1].kinds",
            7,
            9,
            "empty: the rule would match nothing; leave the key out to match every kind",
        ),
        (
            rule("name = \"r\"\nkeywords = [\"insider\", \"  \"]\naction = \"alert\"\n"),
            "policy.profiles.standard.rules[1].keywords[1]",
            7,
            24,
            "empty keyword",
        ),
        (
            rule("name = \"r\"\npatterns = ['\\d{3', 'x']\naction = \"block\"\n"),
            "policy.profiles.standard.rules[1].patterns[0]",
            7,
            13,
            "\"\\\\d{3\": not a regular expression: unclosed counted repetition",
        ),
        (
            rule("name = \"r\"\npatterns = ['x', 're:\\s*']\naction = \"block\"\n"),
            "policy.profiles.standard.rules[1].patterns[1]",
            7,
            18,
            "\"re:\\\\s*\" matches empty text, so it would match every message",
        ),
        (
            rule("name = \"r\"\nremote = [\"bob\"]\naction = \"mask\"\n"),
            "policy.profiles.standard.rules[1].action",
            8,
            10,
            "\"mask\" needs keywords or patterns: they say what to mask",
        ),
        (
            rule("name = \"r\"\naction = \"block\"\nreason = \"\"\n"),
            "policy.profiles.standard.rules[1].reason",
            8,
            10,
            "empty; leave the key out for the default reason",
        ),
    ] {
        let err = load_config(FILE, &text, &[]).unwrap_err();
        assert!(
            matches!(err, ConfigError::Invalid { .. }),
            "{text}: {err:?}"
        );
        assert_eq!(err.key(), Some(key), "{text}: {err}");
        assert_eq!(err.origin(), Some(&at(line, column)), "{text}: {err}");
        let expected = format!("imtegrity.toml:{line}:{column}: invalid {key}: {message}");
        assert!(err.to_string().starts_with(&expected), "{text}: {err}");
    }
}

#[test]
fn a_policy_value_set_on_the_command_line_is_pointed_at_its_argument() {
    let set = |arg: &str| vec![arg.to_owned()];
    let err = load_config(FILE, PROFILE, &set("policy.default_profile=trading")).unwrap_err();
    assert_eq!(
        err.origin(),
        Some(&Origin::Override {
            key: "policy.default_profile".into()
        })
    );
    assert_eq!(err.key(), Some("policy.default_profile"));
    let config = load_config(FILE, PROFILE, &set("policy.default_profile=standard")).unwrap();
    assert_eq!(config.policy.default_profile, "standard");
}

#[test]
fn webhook_errors_never_quote_a_secret_value() {
    const SECRET: &str = "Pr0xyS3cretXq7";
    for (text, sets) in [
        (
            "[policy.profiles.standard]\nalert_webhook = \"hooks/x\"\n",
            vec![format!(
                "policy.profiles.standard.alert_webhook=hooks.example.com/{SECRET}"
            )],
        ),
        (
            "[policy.profiles.standard]\nalert_webhook = \"https://\"\n",
            vec![format!(
                "policy.profiles.standard.alert_webhook=https:///{SECRET}"
            )],
        ),
    ] {
        let err = load_config(FILE, text, &sets).unwrap_err();
        assert!(!err.to_string().contains(SECRET), "{sets:?}: {err}");
        assert!(!format!("{err:?}").contains(SECRET), "{sets:?}: {err:?}");
    }
}
