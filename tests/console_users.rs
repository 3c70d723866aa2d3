//! `imtegrity console user ...`: the console's accounts from the command line, as the
//! network team manages them: passwords only on stdin and never shown, an owner-only file
//! of argon2id hashes, scopes checked against the configured directory groups, mistakes
//! exit 64, disabled accounts kept.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const PASSWORD: &str = "correct horse battery staple";

/// Runs `imtegrity [--json] console user ARGS` with `users` as the accounts file, `config`
/// as the configuration and `stdin` on stdin.
fn user(config: &Path, users: &Path, args: &[&str], stdin: &str, json: bool) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_imtegrity"));
    if json {
        command.arg("--json");
    }
    let mut child = command
        .args(["console", "user"])
        .args(args)
        .arg("--config")
        .arg(config)
        .arg("--set")
        .arg(format!("console.users={}", users.display()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(out: &Output) -> String {
    imtegrity_harness::output_text(out)
}

#[test]
fn accounts_are_added_listed_and_disabled_without_a_password_or_hash_ever_shown() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("imtegrity.toml");
    std::fs::write(
        &config,
        "[[policy.groups]]\nname = \"traders\"\nscreen_names = [\"trader*\"]\nprofile = \"default\"\n",
    )
    .unwrap();
    let users = dir.path().join("console/users.toml");
    let line = format!("{PASSWORD}\n");
    let mut shown = String::new();

    let add = user(
        &config,
        &users,
        &[
            "add",
            "rita",
            "--role",
            "reviewer",
            "--scope",
            "traders",
            "--password-stdin",
        ],
        &line,
        false,
    );
    assert!(add.status.success(), "{}", text(&add));
    assert!(
        text(&add).starts_with("added rita: reviewer of traders; created "),
        "{}",
        text(&add)
    );
    shown.push_str(&text(&add));
    let add = user(
        &config,
        &users,
        &["add", "al", "--role", "auditor", "--password-stdin"],
        &line,
        false,
    );
    assert!(add.status.success(), "{}", text(&add));
    shown.push_str(&text(&add));

    // Mistakes exit 64 and change nothing.
    for (args, stdin, says) in [
        (
            vec![
                "add",
                "sam",
                "--role",
                "reviewer",
                "--scope",
                "sales",
                "--password-stdin",
            ],
            line.as_str(),
            "names no directory group",
        ),
        (
            vec!["add", "sam", "--role", "reviewer", "--password-stdin"],
            line.as_str(),
            "needs at least one --scope",
        ),
        (
            vec![
                "add",
                "ada",
                "--role",
                "admin",
                "--scope",
                "traders",
                "--password-stdin",
            ],
            line.as_str(),
            "reads no message content",
        ),
        (
            vec!["add", "sam", "--role", "root", "--password-stdin"],
            line.as_str(),
            "unknown role",
        ),
        (
            vec!["add", "rita", "--role", "auditor", "--password-stdin"],
            line.as_str(),
            "exists already",
        ),
        (
            vec!["add", "sam", "--role", "auditor", "--password-stdin"],
            "too short\n",
            "shorter than 12",
        ),
        (
            vec!["add", "sam", "--role", "auditor", "--password-stdin"],
            "",
            "no password",
        ),
        (vec!["disable", "nobody"], "", "no console account named"),
    ] {
        let out = user(&config, &users, &args, stdin, false);
        assert_eq!(out.status.code(), Some(64), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(says), "{args:?}: {}", text(&out));
        shown.push_str(&text(&out));
    }

    let list = user(&config, &users, &["list"], "", true);
    assert!(list.status.success(), "{}", text(&list));
    let listed: Vec<serde_json::Value> = String::from_utf8(list.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary: Vec<(String, String, bool)> = listed
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_owned(),
                a["role"].as_str().unwrap().to_owned(),
                a["enabled"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("rita".to_owned(), "reviewer".to_owned(), true),
            ("al".to_owned(), "auditor".to_owned(), true)
        ]
    );
    assert_eq!(listed[0]["scopes"], serde_json::json!(["traders"]));
    shown.push_str(&text(&list));

    let disable = user(&config, &users, &["disable", "rita"], "", false);
    assert!(disable.status.success(), "{}", text(&disable));
    assert!(text(&disable).contains("DISABLED"), "{}", text(&disable));
    shown.push_str(&text(&disable));
    let again = user(
        &config,
        &users,
        &["add", "rita", "--role", "auditor", "--password-stdin"],
        &line,
        false,
    );
    assert_eq!(
        again.status.code(),
        Some(64),
        "a disabled name is not free again"
    );

    let set = user(
        &config,
        &users,
        &["password", "al", "--password-stdin"],
        "a brand new passphrase\n",
        false,
    );
    assert!(set.status.success(), "{}", text(&set));
    shown.push_str(&text(&set));

    let file = std::fs::read_to_string(&users).unwrap();
    assert_eq!(
        std::fs::metadata(&users).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(users.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700
    );
    assert_eq!(file.matches("$argon2id$").count(), 2, "{file}");
    for secret in [PASSWORD, "a brand new passphrase"] {
        assert!(!file.contains(secret));
        assert!(!shown.contains(secret), "{shown}");
    }
    assert!(!shown.contains("argon2"), "{shown}");
}

#[test]
fn an_accounts_file_others_can_read_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("imtegrity.toml");
    std::fs::write(&config, "").unwrap();
    let users = dir.path().join("users.toml");
    let add = user(
        &config,
        &users,
        &["add", "al", "--role", "auditor", "--password-stdin"],
        &format!("{PASSWORD}\n"),
        false,
    );
    assert!(add.status.success(), "{}", text(&add));
    std::fs::set_permissions(&users, std::fs::Permissions::from_mode(0o644)).unwrap();
    let list = user(&config, &users, &["list"], "", false);
    assert!(!list.status.success());
    assert!(text(&list).contains("users.toml"), "{}", text(&list));
}
