//! A custodian search by employee: `search --employee ID` finds every record of every
//! screen name the directory lists for them, and an id the directory no longer lists is
//! still searched (by the stamp on records), with a warning.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::process::{Command, Output};

fn imtegrity(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_imtegrity"))
        .args(args)
        .output()
        .expect("run imtegrity")
}

fn ok(args: &[&str]) -> String {
    let out = imtegrity(args);
    assert!(
        out.status.success(),
        "imtegrity {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn ids(text: &str) -> BTreeSet<u64> {
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["id"].as_u64().unwrap()
        })
        .collect()
}

#[test]
fn an_employee_search_covers_every_screen_name_the_directory_lists() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    let a = archive.to_str().unwrap();
    ok(&[
        "generate",
        "--archive",
        a,
        "--count",
        "1500",
        "--users",
        "12",
        "--seed",
        "3",
    ]);
    let directory = tmp.path().join("directory.csv");
    std::fs::write(
        &directory,
        "id,name,email,screen_names,addresses\njsmith,John Smith,,alice;Bob,\n",
    )
    .unwrap();
    let config = tmp.path().join("imtegrity.toml");
    std::fs::write(
        &config,
        format!("[policy]\ndirectory = {:?}\n", directory.to_str().unwrap()),
    )
    .unwrap();
    let c = config.to_str().unwrap();
    let alice = ids(&ok(&[
        "--json",
        "search",
        "--archive",
        a,
        "--user",
        "alice",
    ]));
    let bob = ids(&ok(&["--json", "search", "--archive", a, "--user", "bob"]));
    assert!(!alice.is_empty() && !bob.is_empty());
    let both: BTreeSet<u64> = alice.union(&bob).copied().collect();
    let jsmith = ids(&ok(&[
        "--json",
        "search",
        "--archive",
        a,
        "--employee",
        "JSmith",
        "--config",
        c,
    ]));
    assert_eq!(jsmith, both);
    // Narrowed like any other filter.
    let rooms = ids(&ok(&[
        "--json",
        "search",
        "--archive",
        a,
        "--employee",
        "jsmith",
        "--config",
        c,
        "--kind",
        "chat_message",
    ]));
    assert!(!rooms.is_empty() && rooms.is_subset(&both) && rooms.len() < both.len());

    // Counts read as written.
    let one = ok(&[
        "search",
        "--archive",
        a,
        "--employee",
        "jsmith",
        "--config",
        c,
        "--limit",
        "1",
    ]);
    assert_eq!(
        one.lines().last(),
        Some("1 record in 1 conversation"),
        "{one}"
    );

    // Someone who has left: searched by the stamp (generated records carry none).
    let out = imtegrity(&[
        "--json",
        "search",
        "--archive",
        a,
        "--employee",
        "gone",
        "--config",
        c,
    ]);
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "warning: gone is not in the directory {}; searching only records stamped with that id",
            directory.display()
        )),
        "{stderr}"
    );
    // Without a directory there is nothing to resolve the id with: a usage error.
    let out = imtegrity(&["search", "--archive", a, "--employee", "jsmith"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "--employee jsmith: no directory to look in; give --config FILE whose policy.directory names it"
        ),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_hold_that_covers_nothing_yet_is_placed_with_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    let a = archive.to_str().unwrap();
    ok(&[
        "generate",
        "--archive",
        a,
        "--count",
        "200",
        "--users",
        "6",
        "--seed",
        "5",
    ]);
    let hold = |flag: &str, value: &str| {
        let out = imtegrity(&[
            "hold",
            "add",
            "--archive",
            a,
            flag,
            value,
            "--reason",
            "matter 7",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stderr).unwrap()
    };
    // A custodian with records: no warning.
    assert_eq!(hold("--user", "Alice"), "");
    // A typo: placed, and said.
    assert_eq!(
        hold("--user", "alcie").trim_end(),
        "warning: hold 2: no record has alcie as a participant yet (screen names compare case- \
         and space-insensitively); it will cover matching records archived from now on"
    );
    assert!(
        hold("--conversation", "aim:alice|nobody")
            .starts_with("warning: hold 3: no record is in conversation aim:alice|nobody yet")
    );
    let list = ok(&["hold", "list", "--archive", a]);
    assert_eq!(list.lines().count(), 3, "{list}");
}
