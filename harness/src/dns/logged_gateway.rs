//! `imtegrity run` with its DNS responder on loopback and its log on stderr kept, for tests
//! that check what it logs.

// These helpers assert as the calling test would: a failure panics with what went wrong.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

use crate::{Binary, cli};

/// `imtegrity run` with its stderr captured: the process, its DNS address, its archive
/// directory, and the task collecting stderr.
pub struct LoggedGateway {
    /// The process.
    pub child: tokio::process::Child,
    /// The responder's address, from the `running` line.
    pub dns: SocketAddr,
    /// Holds the archive.
    pub dir: TempDir,
    /// The binary it runs, for `status`.
    pub binary: Binary,
    stderr: tokio::task::JoinHandle<String>,
}

impl LoggedGateway {
    /// Starts `binary` with `sets` as `--set` arguments after the defaults: DNS and relay on
    /// ephemeral loopback ports, a dead upstream and login server, a fresh archive.
    pub async fn start(binary: Binary, sets: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let archive = format!("archive.path={}", dir.path().join("archive").display());
        let mut command = Command::new(binary.path());
        command.args(["--json", "run"]);
        for set in [
            r#"relay.listen=["127.0.0.1:0"]"#,
            r#"dns.listen=["127.0.0.1:0"]"#,
            r#"dns.upstream=["127.0.0.1:9"]"#,
            "upstream.login=127.0.0.1:9",
            archive.as_str(),
        ]
        .iter()
        .chain(sets)
        {
            command.args(["--set", set]);
        }
        let mut child = command
            .env("IMTEGRITY_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut err = child.stderr.take().unwrap();
        // Drained as it comes, so the child never blocks on a full pipe.
        let stderr = tokio::spawn(async move {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text).await;
            text
        });
        let line = tokio::time::timeout(Duration::from_secs(20), stdout.next_line())
            .await
            .expect("imtegrity printed nothing in time")
            .unwrap()
            .expect("imtegrity closed stdout");
        let running: Value = serde_json::from_str(&line).unwrap();
        let dns = running["dns"][0].as_str().unwrap().parse().unwrap();
        Self {
            child,
            dns,
            dir,
            binary,
            stderr,
        }
    }

    /// `owner.dns.stats` of `imtegrity --json status`.
    pub async fn stats(&self) -> Value {
        let archive = self.dir.path().join("archive");
        let (code, stdout, stderr) = cli(
            self.binary,
            &["status", "--archive", archive.to_str().unwrap()],
        )
        .await;
        assert_eq!(code, Some(0), "status failed: {stderr}");
        let status: Value = serde_json::from_str(stdout.trim()).unwrap();
        status["owner"]["dns"]["stats"].clone()
    }

    /// SIGTERM, a clean exit, and everything it wrote to stderr.
    pub async fn stop(mut self) -> String {
        let pid = rustix::process::Pid::from_raw(i32::try_from(self.child.id().unwrap()).unwrap())
            .unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
        let status = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("the gateway stops on SIGTERM")
            .unwrap();
        assert!(status.success(), "{status}");
        self.stderr.await.unwrap()
    }
}
