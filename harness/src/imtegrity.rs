//! The real `imtegrity` binary as a child process, and its `--json` lines.

// These helpers assert as the calling test would: a failure panics with what went wrong.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

use crate::Binary;

/// A running `imtegrity` child, killed when dropped.
pub struct Imtegrity {
    /// The process.
    pub child: Child,
    /// Its stdout, line by line.
    pub stdout: Lines<BufReader<ChildStdout>>,
}

impl Imtegrity {
    /// Starts `binary --json ARGS...`.
    pub fn spawn(binary: Binary, args: &[&str]) -> Self {
        let mut child = Command::new(binary.path())
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
    pub async fn next_json(&mut self) -> serde_json::Value {
        let line = tokio::time::timeout(Duration::from_secs(20), self.stdout.next_line())
            .await
            .expect("imtegrity printed nothing in time")
            .expect("read stdout")
            .expect("imtegrity closed stdout");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}"))
    }
}
