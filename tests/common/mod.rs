//! Helpers shared by the root package's end-to-end tests: running the real `imtegrity`
//! binary as a child process and reading its `--json` lines.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub(crate) mod dns;
pub(crate) mod fixed_resolver;
pub(crate) mod gateway;
pub(crate) mod gateway_ca;
pub(crate) mod ingest;
pub(crate) mod libpurple_recipient;
pub(crate) mod scripted;

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// A running `imtegrity` child, killed when dropped.
pub(crate) struct Imtegrity {
    pub(crate) child: Child,
    pub(crate) stdout: Lines<BufReader<ChildStdout>>,
}

impl Imtegrity {
    /// Starts `imtegrity --json ARGS...`.
    pub(crate) fn spawn(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_imtegrity"))
            .arg("--json")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn imtegrity");
        let stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
        Self { child, stdout }
    }

    /// The next JSON line on stdout.
    pub(crate) async fn next_json(&mut self) -> serde_json::Value {
        let line = tokio::time::timeout(Duration::from_secs(20), self.stdout.next_line())
            .await
            .expect("imtegrity printed nothing in time")
            .expect("read stdout")
            .expect("imtegrity closed stdout");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}"))
    }
}

/// Whether every program in `tools` (absolute paths) is installed. A missing one skips the
/// calling test locally with a `skipped:` line, but fails it in CI (`CI=true`), where
/// `.ci/run` installs them with tests/peers/install.sh.
pub(crate) fn tools_present(test: &str, tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|p| !std::path::Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    imtegrity_harness::skip_or_fail(
        test,
        &format!("install {missing:?} (tests/peers/install.sh; .ci/run does)"),
    );
    false
}

/// Starts `imtegrity lab` on ephemeral loopback ports; returns it with its auth, BOS and
/// chat addresses as printed.
pub(crate) async fn start_lab(extra: &[&str]) -> (Imtegrity, SocketAddr, SocketAddr, SocketAddr) {
    let mut args = vec!["lab", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let mut lab = Imtegrity::spawn(&args);
    let line = lab.next_json().await;
    assert_eq!(line["event"], "listening", "{line}");
    let addr = |k: &str| line[k].as_str().unwrap().parse::<SocketAddr>().unwrap();
    let (auth, bos, chat) = (addr("auth"), addr("bos"), addr("chat"));
    (lab, auth, bos, chat)
}

/// `cp -a` for a closed archive: a directory of regular files and subdirectories.
pub(crate) fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
