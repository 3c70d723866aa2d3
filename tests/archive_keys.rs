//! Keys and verification that say what they mean (issue 17, deliverable 4), against the real
//! binary: the signing key outside the archive directory, a valid but different
//! `--public-key`, and a store with pages sled cannot read (verify, search, salvage).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

fn imtegrity(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_imtegrity"))
        .args(args)
        .output()
        .expect("run imtegrity")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ok(args: &[&str]) -> Output {
    let out = imtegrity(args);
    assert!(
        out.status.success(),
        "imtegrity {args:?} failed: {}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// `generate --json` into `dir` (with the key at `key`, if given); its one JSON line.
fn generate(dir: &Path, key: Option<&Path>, count: u64) -> serde_json::Value {
    let count = count.to_string();
    let mut args = vec![
        "--json",
        "generate",
        "--archive",
        dir.to_str().unwrap(),
        "--count",
        &count,
        "--users",
        "12",
        "--days",
        "20",
        "--seed",
        "7",
    ];
    if let Some(key) = key {
        args.extend(["--signing-key", key.to_str().unwrap()]);
    }
    let out = ok(&args);
    let lines = json_lines(&text(&out.stdout));
    assert_eq!(lines.len(), 1, "{lines:?}");
    lines.into_iter().next().unwrap()
}

/// A key created outside the archive directory: owner-only (its new directory too), nothing
/// of it in the archive directory, its public key printed once with the advice to keep it
/// elsewhere, and every later command given only the directory finds it.
#[test]
fn a_signing_key_outside_the_archive_directory_is_owner_only_announced_and_found() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, key) = (
        tmp.path().join("archive"),
        tmp.path().join("keys/archive.key"),
    );
    let generated = generate(&dir, Some(&key), 40);
    assert_eq!(mode(&key), 0o600);
    assert_eq!(mode(key.parent().unwrap()), 0o700);
    assert_eq!(std::fs::metadata(&key).unwrap().len(), 32);
    assert!(!dir.join("signing.key").exists());
    let signing = &generated["signing_key"];
    assert_eq!(signing["created"], true, "{generated}");
    assert_eq!(signing["path"], key.to_str().unwrap());
    let public = signing["public_key"].as_str().unwrap().to_owned();
    assert_eq!(public.len(), 64);
    assert!(
        signing["fingerprint"]
            .as_str()
            .unwrap()
            .starts_with("sha256:"),
        "{generated}"
    );
    assert!(
        signing["advice"]
            .as_str()
            .unwrap()
            .contains("somewhere other than this machine"),
        "{generated}"
    );

    // In text, on stderr: the path, the public key and the sentence; only when created.
    let other = tmp.path().join("other");
    let out = ok(&[
        "generate",
        "--archive",
        other.to_str().unwrap(),
        "--count",
        "1",
    ]);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "created the archive signing key {}",
            other.join("signing.key").display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("Keep a copy of this public key somewhere other than this machine"),
        "{stderr}"
    );
    let again = ok(&[
        "generate",
        "--archive",
        other.to_str().unwrap(),
        "--count",
        "1",
    ]);
    assert_eq!(text(&again.stderr), "", "no notice for an existing key");

    // Given only the directory, verify finds the key where the archive recorded it, and
    // the stored key is the printed one.
    let out = ok(&["--json", "verify", "--archive", dir.to_str().unwrap()]);
    let report = &json_lines(&text(&out.stdout))[0];
    assert_eq!(report["intact"], true, "{report}");
    assert_eq!(report["public_key"], public.as_str());
    let out = ok(&[
        "verify",
        "--archive",
        dir.to_str().unwrap(),
        "--public-key",
        &public,
    ]);
    assert!(
        text(&out.stdout).contains(": intact"),
        "{}",
        text(&out.stdout)
    );

    // A missing key is an error naming it, never a reason to make a new one.
    let moved = tmp.path().join("moved.key");
    std::fs::rename(&key, &moved).unwrap();
    let out = imtegrity(&["verify", "--archive", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains(&format!(
            "the archive signing key {} does not exist",
            key.display()
        )),
        "{}",
        text(&out.stderr)
    );
    assert!(!key.exists());
    // Named where it now is, it is used, and recorded there.
    generate(&dir, Some(&moved), 1);
    let out = ok(&["--json", "verify", "--archive", dir.to_str().unwrap()]);
    assert_eq!(json_lines(&text(&out.stdout))[0]["intact"], true);
}

/// An archive made with the key inside its directory keeps working; pointed at a new key
/// path before the key was moved there, it is refused with the `mv` that fixes it.
#[test]
fn an_archive_with_its_key_inside_keeps_working_and_moving_the_key_is_explained() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("archive");
    generate(&dir, None, 20);
    assert_eq!(mode(&dir.join("signing.key")), 0o600);
    let d = dir.to_str().unwrap();
    ok(&["verify", "--archive", d]);
    let outside = tmp.path().join("keys/archive.key");
    let out = imtegrity(&[
        "generate",
        "--archive",
        d,
        "--count",
        "1",
        "--signing-key",
        outside.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "this archive's key is still in its directory: move it there (`mv {} {}`)",
            dir.join("signing.key").display(),
            outside.display()
        )),
        "{stderr}"
    );
    assert!(!outside.exists(), "no new key was made");
    std::fs::create_dir(outside.parent().unwrap()).unwrap();
    std::fs::rename(dir.join("signing.key"), &outside).unwrap();
    generate(&dir, Some(&outside), 1);
    let out = ok(&["--json", "verify", "--archive", d]);
    assert_eq!(json_lines(&text(&out.stdout))[0]["intact"], true);
}

/// `check-config` takes `archive.signing_key` from `--set` and refuses one naming no file.
#[test]
fn check_config_takes_and_checks_archive_signing_key() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("imtegrity.toml");
    std::fs::write(
        &config,
        "[archive]\nsigning_key = \"/etc/imtegrity/keys/\"\n",
    )
    .unwrap();
    let out = imtegrity(&["check-config", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(64), "{}", text(&out.stdout));
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        said.contains(":2:15: invalid archive.signing_key: not a file name"),
        "{said}"
    );
    std::fs::write(&config, "").unwrap();
    ok(&[
        "check-config",
        config.to_str().unwrap(),
        "--set",
        "archive.signing_key=/etc/imtegrity/archive.key",
    ]);
}

/// `verify --public-key` with another archive's valid key: exit 3, "not signed by that key"
/// naming both fingerprints, never "TAMPERED"; with the right key, intact; a key that is not
/// a key stays a usage error of another kind (exit 1).
#[test]
fn verify_with_another_valid_key_says_not_signed_by_it_with_exit_3() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, stranger) = (tmp.path().join("archive"), tmp.path().join("stranger"));
    let ours = generate(&dir, None, 30)["signing_key"].clone();
    let theirs = generate(&stranger, None, 1)["signing_key"].clone();
    let d = dir.to_str().unwrap();
    let their_key = theirs["public_key"].as_str().unwrap();

    let out = imtegrity(&["verify", "--archive", d, "--public-key", their_key]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let first = stdout.lines().next().unwrap();
    assert!(
        first.starts_with(&format!(
            "archive {d}: NOT SIGNED BY THAT KEY: this archive was not signed by that key ({}); \
             its ",
            theirs["fingerprint"].as_str().unwrap()
        )),
        "{stdout}"
    );
    assert!(
        first.ends_with(&format!(
            "signatures are all by the key stored in it, {} (public key {})",
            ours["fingerprint"].as_str().unwrap(),
            ours["public_key"].as_str().unwrap()
        )),
        "{stdout}"
    );
    assert!(!stdout.contains("TAMPERED"), "{stdout}");

    let out = imtegrity(&[
        "--json",
        "verify",
        "--archive",
        d,
        "--public-key",
        their_key,
    ]);
    assert_eq!(out.status.code(), Some(3));
    let report = &json_lines(&text(&out.stdout))[0];
    assert_eq!(report["intact"], false);
    assert_eq!(report["tamper"], serde_json::Value::Null);
    assert_eq!(report["not_signed_by"]["given"], theirs["public_key"]);
    assert_eq!(
        report["not_signed_by"]["given_fingerprint"],
        theirs["fingerprint"]
    );
    assert_eq!(report["not_signed_by"]["signed_by"], ours["public_key"]);
    assert_eq!(
        report["not_signed_by"]["signed_by_fingerprint"],
        ours["fingerprint"]
    );

    let out = ok(&[
        "verify",
        "--archive",
        d,
        "--public-key",
        ours["public_key"].as_str().unwrap(),
    ]);
    assert!(text(&out.stdout).contains(": intact"));
    let out = imtegrity(&["verify", "--archive", d, "--public-key", "abcd"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("invalid public key"),
        "{}",
        text(&out.stderr)
    );

    // --help says what exit 3 means.
    let help = text(&ok(&["verify", "--help"]).stdout);
    assert!(
        help.contains("3 not signed by the --public-key given"),
        "{help}"
    );
}
