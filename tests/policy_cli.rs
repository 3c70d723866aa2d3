//! `imtegrity policy explain` and the policy part of `check-config`, run as the real binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn imtegrity(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_imtegrity"))
        .args(args)
        .output()
        .expect("run imtegrity")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const DIRECTORY: &str = "\
id,name,email,screen_names,addresses
jsmith,John Smith,jsmith@example.com,JSmith Trader,10.20.1.7
akumar,Asha Kumar,,akumar,
";

const POLICY: &str = r#"
default_profile = "standard"

[[policy.groups]]
name = "traders"
employees = ["jsmith"]
profile = "trading"

[policy.profiles.standard]
disclaimer = "This conversation is recorded."

[[policy.profiles.standard.rules]]
name = "eap-line"
remote = ["eapcounsel"]
action = "no_log"

[[policy.profiles.standard.rules]]
name = "no-files"
kinds = ["file", "direct_im"]
action = "block"
reason = "files bypass the archive"

[policy.profiles.trading]

[[policy.profiles.trading.rules]]
name = "insider-talk"
keywords = ["insider", "guaranteed return"]
action = "alert"

[[policy.profiles.trading.rules]]
name = "ssn"
patterns = ['\d{3}-\d{2}-\d{4}']
action = "mask"
"#;

/// A configuration file and its directory in a temporary directory.
struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
}

fn setup(policy: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let people = dir.path().join("people.csv");
    std::fs::write(&people, DIRECTORY).unwrap();
    let config = dir.path().join("imtegrity.toml");
    let text = format!(
        "[policy]\ndirectory = {:?}\n{policy}",
        people.display().to_string()
    );
    std::fs::write(&config, text).unwrap();
    Setup { dir, config }
}

fn explain(config: &Path, args: &[&str]) -> Output {
    let mut all = vec!["policy", "explain", "--config", config.to_str().unwrap()];
    all.extend_from_slice(args);
    imtegrity(&all)
}

#[test]
fn explain_names_the_employee_group_profile_rules_and_decision() {
    let s = setup(POLICY);
    let out = explain(
        &s.config,
        &[
            "--from",
            "JSmith Trader",
            "--to",
            "bob",
            "--text",
            "a Guaranteed Return!",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for line in [
        "message:  outbound im, JSmith Trader -> bob (only the sender is in the directory; --direction to choose)",
        "local:    JSmith Trader = employee jsmith (John Smith), by screen name",
        "  traders -> profile trading: matched: employee jsmith is listed",
        "profile:  trading",
        "  1. insider-talk (alert): matched: keyword \"guaranteed return\" found",
        "  2. ssn (mask): not reached",
        "decision: alert by rule insider-talk: delivered and recorded, with an alert: rule \"insider-talk\" matched: keyword \"guaranteed return\" found",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in:\n{text}"
        );
    }
}

#[test]
fn explain_shows_blocks_masks_and_exclusions() {
    let s = setup(POLICY);
    // Inbound file offer to akumar: guessed from the directory, blocked with the notice.
    let out = explain(
        &s.config,
        &["--from", "outsider", "--to", "akumar", "--kind", "file"],
    );
    let text = stdout(&out);
    assert!(
        text.contains("message:  inbound file, outsider -> akumar"),
        "{text}"
    );
    assert!(
        text.contains("  2. no-files (block): matched: kind file is one of file, direct_im"),
        "{text}"
    );
    assert!(
        text.contains(
            "decision: block by rule no-files: not delivered, recorded; the sender is told \"[IMtegrity] Your message was not delivered: files bypass the archive\""
        ),
        "{text}"
    );
    // Blocked: no disclaimer before it, by the relay's own rule.
    assert!(
        text.lines().any(|l| l
            == "  disclaimer: none: the message is not delivered (the next one that is gets it)"),
        "{text}"
    );
    // Delivered to an outsider: the disclaimer goes first, as the relay sends it.
    let out = explain(&s.config, &["--from", "akumar", "--to", "outsider"]);
    let text = stdout(&out);
    assert!(
        text.lines().any(|l| l
            == "  disclaimer: sent to both parties before this message if the conversation \
                has been silent 24 h or is new (mandatory): \"This conversation is recorded.\""),
        "{text}"
    );
    // Between two of the directory's users: internal, and none.
    let out = explain(&s.config, &["--from", "akumar", "--to", "JSmithTrader"]);
    let text = stdout(&out);
    assert!(
        text.contains("message:  internal im, akumar -> JSmithTrader"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l == "  disclaimer: none: an internal message"),
        "{text}"
    );
    // A trader's SSN is masked; found by client address alone.
    let out = explain(
        &s.config,
        &[
            "--from",
            "unlisted",
            "--to",
            "bob",
            "--client-addr",
            "10.20.1.7",
            "--text",
            "ssn 123-45-6789",
            "--direction",
            "outbound",
        ],
    );
    let text = stdout(&out);
    assert!(
        text.contains("= employee jsmith (John Smith), by client address; client 10.20.1.7"),
        "{text}"
    );
    assert!(
        text.contains("decision: mask by rule ssn: delivered and recorded as \"ssn ***********\""),
        "{text}"
    );
    // The employee-assistance line is not recorded.
    let out = explain(&s.config, &["--from", "akumar", "--to", "EAP Counsel"]);
    let text = stdout(&out);
    assert!(
        text.contains("  1. eap-line (no_log): matched: remote eapcounsel matches \"eapcounsel\""),
        "{text}"
    );
    assert!(
        text.contains("decision: no_log by rule eap-line: delivered, not recorded"),
        "{text}"
    );
}

#[test]
fn explain_json_is_one_object() {
    let s = setup(POLICY);
    let out = explain(
        &s.config,
        &[
            "--json",
            "--from",
            "akumar",
            "--to",
            "bob",
            "--kind",
            "direct_im",
            "--direction",
            "outbound",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["identity"]["employee"]["id"], "akumar");
    assert_eq!(v["identity"]["profile"], "standard");
    assert_eq!(v["default_profile"], true);
    assert_eq!(v["direction"], "outbound");
    assert_eq!(v["direction_guessed"], false);
    assert_eq!(v["kind"], "direct_im");
    assert_eq!(v["groups"][0]["outcome"], "not_matched");
    assert_eq!(v["rules"][0]["name"], "eap-line");
    assert_eq!(v["rules"][0]["outcome"], "not_matched");
    assert_eq!(v["rules"][1]["outcome"], "matched");
    assert_eq!(v["decision"]["action"], "block");
    assert_eq!(v["decision"]["deliver"], false);
    assert_eq!(v["decision"]["record"], true);
    assert_eq!(v["decision"]["rule"], "no-files");
    assert_eq!(v["admission"]["admission"], "allow");
    assert_eq!(v["disclaimer"], "This conversation is recorded.");
    assert_eq!(
        v["disclaimer_sent"],
        serde_json::json!({"sent": false, "why": "not_delivered"})
    );
}

#[test]
fn explain_without_a_configuration_logs_everything() {
    let out = imtegrity(&[
        "policy", "explain", "--from", "alice", "--to", "bob", "--text", "insider",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("rules:    none (every message is delivered and recorded)"),
        "{text}"
    );
    assert!(
        text.contains("decision: log (no rule matched): delivered and recorded"),
        "{text}"
    );
    // Refused screen names are shown as such.
    let s = setup(&POLICY.replace(
        "default_profile = \"standard\"",
        "default_profile = \"standard\"\nunknown_screen_names = \"block\"",
    ));
    let text = stdout(&explain(&s.config, &["--from", "stranger", "--to", "bob"]));
    assert!(
        text.contains("sign-on:  refused: screen name \"stranger\" is not in the directory"),
        "{text}"
    );
}

#[test]
fn check_config_summarises_the_policy() {
    let s = setup(POLICY);
    let out = imtegrity(&["check-config", s.config.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let people = s.dir.path().join("people.csv");
    for line in [
        format!(
            "policy: directory {} (2 employees); unknown screen names allowed",
            people.display()
        ),
        "  group traders (1 employee) -> profile trading".to_owned(),
        "  everyone else -> profile standard".to_owned(),
        "  profile standard: 2 rules (eap-line, no-files); disclaimer, again after 24 h of silence"
            .to_owned(),
        "  profile trading: 2 rules (insider-talk, ssn)".to_owned(),
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in:\n{text}"
        );
    }
    let out = imtegrity(&["check-config", s.config.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["policy"]["directory_entries"], 2);
    assert_eq!(v["policy"]["groups"][0]["profile"], "trading");
}

#[test]
fn policy_mistakes_are_usage_errors_naming_file_line_and_key() {
    // A bad regex: the file, line and column, and the key.
    let s = setup(&POLICY.replace(r"'\d{3}-\d{2}-\d{4}'", r"'\d{3'"));
    let config = s.config.to_str().unwrap();
    for args in [
        vec!["check-config", config],
        vec![
            "policy", "explain", "--config", config, "--from", "a", "--to", "b",
        ],
    ] {
        let out = imtegrity(&args);
        assert_eq!(out.status.code(), Some(64), "{args:?}");
        let err = stderr(&out);
        assert!(
            err.contains(&format!(
                "error: {config}:34:13: invalid policy.profiles.trading.rules[1].patterns[0]: \"\\\\d{{3\": not a regular expression: unclosed counted repetition"
            )),
            "{err}"
        );
    }
    // An unknown profile given on the command line names the --set argument.
    let s = setup(POLICY);
    let out = imtegrity(&[
        "check-config",
        s.config.to_str().unwrap(),
        "--set",
        "policy.default_profile=standrad",
    ]);
    assert_eq!(out.status.code(), Some(64));
    assert!(
        stderr(&out).contains("error: --set policy.default_profile: invalid policy.default_profile: no profile \"standrad\" (profiles: default, standard, trading)"),
        "{}",
        stderr(&out)
    );
    // A directory that does not parse: its file and line.
    let people = s.dir.path().join("people.csv");
    std::fs::write(&people, "id,screen_names\njsmith,js\nakumar,JS\n").unwrap();
    for args in [
        vec!["check-config", s.config.to_str().unwrap()],
        vec![
            "policy",
            "explain",
            "--config",
            s.config.to_str().unwrap(),
            "--from",
            "a",
            "--to",
            "b",
        ],
    ] {
        let out = imtegrity(&args);
        assert_eq!(out.status.code(), Some(64), "{args:?}");
        assert!(
            stderr(&out).contains(&format!(
                "error: {}:3: screen name \"JS\" of akumar is already jsmith's",
                people.display()
            )),
            "{}",
            stderr(&out)
        );
    }
    // One that cannot be read: check-config notes it, explain (like run) cannot go on.
    std::fs::remove_file(&people).unwrap();
    let out = imtegrity(&["check-config", s.config.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(" not read here (cannot read the employee directory "),
        "{}",
        stdout(&out)
    );
    let out = explain(&s.config, &["--from", "a", "--to", "b"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(
        stderr(&out).contains("cannot read the employee directory"),
        "{}",
        stderr(&out)
    );
}
