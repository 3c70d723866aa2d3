//! The admin socket lets no one in where they don't belong: a user who is not the archive's
//! owner is refused by the peer-credential check (though the socket file lets them
//! connect), and admitted once in `archive.admin_group` (as a supplementary group); an
//! over-long or missing request line is refused; and every search, through the socket or
//! directly, leaves an `access` record that `search --kind access` shows.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read as _, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use imtegrity_harness::{Binary, Gateway, cli, search};
use serde_json::Value;

const IMTEGRITY: Binary = Binary::at(env!("CARGO_BIN_EXE_imtegrity"));

const SETPRIV: &str = "/usr/bin/setpriv";
/// `nobody`: a user that owns nothing here.
const NOBODY: u32 = 65534;
/// A group no account has: only setpriv puts `nobody` in it.
const REVIEWERS: u32 = 4242;

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Whether this test can switch users: root (as CI runs tests) and setpriv. Else skipped
/// locally with a `skipped:` line, failed under CI=true.
fn can_switch_users(test: &str) -> bool {
    if !imtegrity_harness::tools_present(test, &[SETPRIV]) {
        return false;
    }
    if rustix::process::geteuid().is_root() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test}: CI runs the tests as root; this one needs it"
    );
    let _ = writeln!(
        std::io::stderr(),
        "{test}: skipped: needs root to run setpriv"
    );
    false
}

/// `imtegrity --json search --archive DIR` as `nobody`, with `groups` as its supplementary
/// groups.
fn search_as_nobody(archive: &Path, groups: Option<u32>) -> Output {
    let mut command = Command::new(SETPRIV);
    command.args([format!("--reuid={NOBODY}"), format!("--regid={NOBODY}")]);
    match groups {
        Some(gid) => command.arg(format!("--groups={gid}")),
        None => command.arg("--clear-groups"),
    };
    command
        .arg(env!("CARGO_BIN_EXE_imtegrity"))
        .args(["--json", "search", "--archive", archive.to_str().unwrap()])
        .output()
        .unwrap()
}

fn generate(archive: &Path, count: u32) {
    let out = Command::new(env!("CARGO_BIN_EXE_imtegrity"))
        .args(["generate", "--archive", archive.to_str().unwrap()])
        .args(["--count", &count.to_string(), "--seed", "5"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_non_owner_is_refused_by_credentials_and_admitted_in_the_admin_group() {
    if !can_switch_users("a_non_owner_is_refused_by_credentials_and_admitted_in_the_admin_group") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    chmod(tmp.path(), 0o711);
    let archive = tmp.path().join("archive");
    generate(&archive, 40);

    let gateway = Gateway::start(IMTEGRITY, "127.0.0.1:1", &archive, "gw", &[]).await;
    // Let nobody reach the socket file, so what refuses them is the credential check.
    chmod(&archive, 0o711);
    chmod(&archive.join("admin.sock"), 0o666);
    let refused = search_as_nobody(&archive, None);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "the archive's owning process refused the request: permission denied: \
             nobody (uid 65534) is not the archive's owner (uid 0), root, or a member of its \
             admin group"
        ),
        "{stderr}"
    );
    assert!(refused.stdout.is_empty(), "no record leaked");
    gateway.stop().await;

    // In the admin group (a supplementary group of the process), admitted; the socket and
    // directory are the group's now, so no chmod is needed.
    let group = format!("archive.admin_group={REVIEWERS}");
    let gateway = Gateway::start(IMTEGRITY, "127.0.0.1:1", &archive, "gw", &[&group]).await;
    let admitted = search_as_nobody(&archive, Some(REVIEWERS));
    let stderr = String::from_utf8_lossy(&admitted.stderr);
    assert!(admitted.status.success(), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&admitted.stdout).lines().count(),
        40
    );
    // Primary group alone does not make a reviewer of someone outside the group.
    let outsider = search_as_nobody(&archive, None);
    assert_eq!(outsider.status.code(), Some(1));

    // The admitted search is on the trail, as nobody's, through the socket; the refused
    // ones reached nothing and left nothing.
    let trail = search(IMTEGRITY, &archive, &["--kind", "access"]).await;
    gateway.stop().await;
    let by_nobody: Vec<&Value> = trail
        .iter()
        .filter(|r| r["access"]["uid"] == NOBODY)
        .collect();
    assert_eq!(by_nobody.len(), 1, "{trail:#?}");
    let access = &by_nobody[0]["access"];
    assert_eq!(access["user"], "nobody");
    assert_eq!(access["via"], "socket");
    assert_eq!(access["command"], "search");
    assert_eq!(access["count"], 40);
}

#[tokio::test(flavor = "multi_thread")]
async fn over_long_and_missing_request_lines_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    let gateway = Gateway::start(IMTEGRITY, "127.0.0.1:1", &archive, "gw", &[]).await;
    let path = archive.join("admin.sock");
    let answer = tokio::task::spawn_blocking(move || {
        let mut long = UnixStream::connect(&path).unwrap();
        long.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        // 64 KiB of filters and no end of line: the server stops reading at the bound.
        let mut request = br#"{"op":"search","query":{"text":""#.to_vec();
        request.resize(70 * 1024, b'a');
        let _ = long.write_all(&request); // the server may close its end first
        let _ = long.shutdown(std::net::Shutdown::Write);
        let mut too_long = String::new();
        long.read_to_string(&mut too_long).unwrap();

        let mut silent = UnixStream::connect(&path).unwrap();
        silent
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let started = std::time::Instant::now();
        let mut nothing_sent = String::new();
        silent.read_to_string(&mut nothing_sent).unwrap();
        (too_long, nothing_sent, started.elapsed())
    })
    .await
    .unwrap();
    gateway.stop().await;
    let (too_long, nothing_sent, waited) = answer;
    assert_eq!(
        too_long,
        "{\"error\":\"request line longer than 65536 bytes\"}\n"
    );
    assert_eq!(nothing_sent, "{\"error\":\"no request line within 5 s\"}\n");
    assert!(
        waited >= Duration::from_secs(5) && waited < Duration::from_secs(8),
        "{waited:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn search_and_export_leave_access_records_that_search_kind_access_shows() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    generate(&archive, 30);
    let a = archive.to_str().unwrap();

    // Directly (no gateway): recorded as this process's user.
    let all = search(IMTEGRITY, &archive, &[]).await;
    // A Sametime session's start names no party (the server says who only as they join or
    // write), so the custodian is the first record's that has a sender.
    let name = all
        .iter()
        .filter_map(|r| r["sender"].as_str())
        .find(|s| !s.is_empty())
        .unwrap()
        .to_owned();
    let alice = search(IMTEGRITY, &archive, &["--user", &name]).await;
    assert!(!alice.is_empty());
    let out = tmp.path().join("out");
    let (code, _, stderr) = cli(
        IMTEGRITY,
        &[
            "export",
            "--archive",
            a,
            "--format",
            "jsonl",
            "--out",
            out.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(code, Some(0), "{stderr}");
    // A plain search shows the messages only; the trail is asked for by kind.
    assert_eq!(all.len(), 30);

    let trail = search(IMTEGRITY, &archive, &["--kind", "access"]).await;
    let commands: Vec<&str> = trail
        .iter()
        .map(|r| r["access"]["command"].as_str().unwrap())
        .collect();
    assert_eq!(commands, ["search", "search", "export"], "{trail:#?}");
    assert_eq!(trail[0]["access"]["count"], 30);
    let first = &trail[1];
    assert_eq!(first["kind"], "access");
    let uid = rustix::process::geteuid().as_raw();
    assert_eq!(first["access"]["uid"], uid);
    assert_eq!(first["access"]["via"], "direct");
    assert_eq!(first["access"]["query"]["user"], name.as_str());
    assert_eq!(first["access"]["count"], alice.len());
    assert_eq!(trail[2]["access"]["args"]["format"], "jsonl");
    assert_eq!(trail[2]["access"]["count"], 30);
    let user = first["access"]["user"].as_str().unwrap();
    assert_eq!(first["sender"], user);
    assert_eq!(
        first["text"],
        format!(
            "{user} (uid {uid}) ran search directly: {} records",
            alice.len()
        )
    );

    // The transcript shows it too.
    let plain = Command::new(env!("CARGO_BIN_EXE_imtegrity"))
        .args(["search", "--archive", a, "--kind", "access"])
        .output()
        .unwrap();
    let plain = String::from_utf8_lossy(&plain.stdout);
    assert!(
        plain.contains(&format!(
            "! archive access: {user} (uid {uid}) ran export directly: 30 records"
        )),
        "{plain}"
    );

    // Through a running gateway's socket: recorded by the owner, as `socket`.
    let gateway = Gateway::start(IMTEGRITY, "127.0.0.1:1", &archive, "gw", &[]).await;
    let via_socket = search(IMTEGRITY, &archive, &["--user", &name]).await;
    let trail = search(IMTEGRITY, &archive, &["--kind", "access"]).await;
    gateway.stop().await;
    // search twice, export, search --kind access twice, and the one through the socket.
    assert_eq!(trail.len(), 6, "{trail:#?}");
    let last = &trail[5]["access"];
    assert_eq!(last["via"], "socket");
    assert_eq!(last["uid"], uid);
    assert_eq!(last["query"]["user"], name.as_str());
    assert_eq!(last["count"], via_socket.len());
}
