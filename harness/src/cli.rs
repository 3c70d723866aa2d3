//! One `imtegrity` command run to completion, bounded in time, and the archive read back
//! with it (`search --json`, `verify --json`).

// These helpers assert as the calling test would: a failure panics with what went wrong.
#![allow(clippy::expect_used)]

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;

use crate::Binary;

/// Bound on a CLI run (`search`, `verify`) and on the gateway's shutdown.
pub(crate) const CLI_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs `binary --json ARGS...` to completion (bounded); returns (exit code, stdout, stderr).
pub async fn cli(binary: Binary, args: &[&str]) -> (Option<i32>, String, String) {
    let child = Command::new(binary.path())
        .arg("--json")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn imtegrity");
    let out = tokio::time::timeout(CLI_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("imtegrity {args:?} did not finish in {CLI_TIMEOUT:?}"))
        .expect("run imtegrity");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `imtegrity --json status --archive DIR` while the gateway runs.
pub async fn status(binary: Binary, archive: &Path) -> Value {
    let (code, stdout, stderr) = cli(
        binary,
        &[
            "status",
            "--archive",
            archive.to_str().expect("UTF-8 archive path"),
        ],
    )
    .await;
    assert_eq!(code, Some(0), "status failed: {stderr}");
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("status printed no JSON: {stdout:?}: {e}"))
}

/// Every record of `imtegrity --json search --archive DIR FILTERS...`, in archive order.
pub async fn search(binary: Binary, archive: &Path, filters: &[&str]) -> Vec<Value> {
    let dir = archive.to_str().expect("UTF-8 archive path");
    let mut args = vec!["search", "--archive", dir];
    args.extend_from_slice(filters);
    let (code, stdout, stderr) = cli(binary, &args).await;
    assert_eq!(code, Some(0), "search failed: {stderr}");
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect()
}

/// `imtegrity --json verify --archive DIR`: asserts exit code 0 and `"intact": true`, returns
/// the report, with `records` counting what the gateway captured: the `access` records the
/// test's own searches added to the chain are moved to `access_records`.
pub async fn verify_intact(binary: Binary, archive: &Path) -> Value {
    let dir = archive.to_str().expect("UTF-8 archive path");
    let (code, stdout, stderr) = cli(binary, &["verify", "--archive", dir]).await;
    assert_eq!(code, Some(0), "verify failed: {stdout}\n{stderr}");
    let mut report: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("verify printed no JSON: {stdout:?}: {e}"));
    assert_eq!(report["intact"], true, "{report}");
    // The trail ends with verify's own access, recorded after its report was made.
    let trail = search(binary, archive, &["--kind", "access"]).await;
    assert_eq!(
        trail.last().map(|r| &r["access"]["command"]),
        Some(&Value::from("verify"))
    );
    let accesses = trail.len() as u64 - 1;
    let records = report["records"].as_u64().expect("records in the report");
    report["records"] = Value::from(records - accesses);
    report["access_records"] = Value::from(accesses);
    report
}

/// A finished command's stdout then stderr, for assertion messages and for checking that a
/// secret appears in neither.
pub fn output_text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `imtegrity console user add ARGS --password-stdin` with `config` and the accounts file
/// `users`, `password` on stdin; panics unless it succeeds.
pub fn add_console_user(
    binary: Binary,
    config: &Path,
    users: &Path,
    args: &[&str],
    password: &str,
) {
    use std::io::Write as _;
    let mut child = std::process::Command::new(binary.path())
        .args(["console", "user", "add"])
        .args(args)
        .arg("--password-stdin")
        .arg("--config")
        .arg(config)
        .arg("--set")
        .arg(format!("console.users={}", users.display()))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("imtegrity console user add starts");
    if let Some(mut stdin) = child.stdin.take() {
        writeln!(stdin, "{password}").expect("the password is written");
    }
    let status = child.wait().expect("imtegrity console user add ends");
    assert!(status.success(), "console user add {args:?}: {status}");
}
