//! `imtegrity sametime check-config`: the Sametime administrator reads the module's file with
//! the module's own code before restarting the server: what it would do, or exit 64 with
//! the mistake's line and column; the token is never printed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

const TOKEN: &str = "a-long-enough-ingest-token-0123456789";

fn check(file: &std::path::Path, json: bool) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_imtegrity"));
    if json {
        command.arg("--json");
    }
    command
        .args(["sametime", "check-config"])
        .arg(file)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_good_file_is_summarised_and_mistakes_exit_64_with_where() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ingest.token"), format!("{TOKEN}\n")).unwrap();
    std::fs::write(
        dir.path().join("policy.toml"),
        "[policy]\n[[policy.profiles.default.rules]]\nname = \"watch\"\n\
         keywords = [\"merger\"]\naction = \"alert\"\n",
    )
    .unwrap();
    let file = dir.path().join("imtegrity_stchatlog.toml");
    std::fs::write(
        &file,
        "mode = \"relaxed\"\nspool = \"spool\"\n[gateway]\naddress = \"127.0.0.1:9444\"\n\
         token_file = \"ingest.token\"\n[policy]\nfile = \"policy.toml\"\n",
    )
    .unwrap();

    let out = check(&file, false);
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("  mode: relaxed"), "{shown}");
    assert!(
        shown.contains(&format!("  spool: {}", dir.path().join("spool").display())),
        "{shown}"
    );
    assert!(
        shown.contains(&format!(
            "authenticated by the token in {}",
            dir.path().join("ingest.token").display()
        )),
        "{shown}"
    );
    assert!(shown.contains("(1 rule)"), "{shown}");
    assert!(
        !shown.contains(TOKEN),
        "the token must never be printed: {shown}"
    );
    let out = check(&file, true);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["gateway"]["address"], "127.0.0.1:9444");
    assert_eq!(summary["policy"]["rules"], 1);
    assert!(!text(&out).contains(TOKEN));

    // A typo: exit 64, the line and column.
    std::fs::write(&file, "mode = \"strict\"\nspool = \"spool\"\nmdoe = 1\n").unwrap();
    let out = check(&file, false);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(64), "{shown}");
    assert!(shown.contains("line 3, column 1"), "{shown}");
    assert!(shown.contains("mdoe"), "{shown}");

    // A gateway whose token file is missing: the module would not start shipping.
    std::fs::write(
        &file,
        "[gateway]\naddress = \"127.0.0.1:9444\"\ntoken_file = \"missing.token\"\n",
    )
    .unwrap();
    let out = check(&file, false);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(64), "{shown}");
    assert!(shown.contains("missing.token"), "{shown}");
}
