//! `imtegrity run` as a child process in front of an upstream, stopped with SIGTERM.

// These helpers assert as the calling test would: a failure panics with what went wrong.
#![allow(clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::cli::CLI_TIMEOUT;
use crate::{Binary, Imtegrity};

/// A running `imtegrity run`: relay on an ephemeral loopback port, archive in `archive`.
pub struct Gateway {
    /// The child process.
    pub process: Imtegrity,
    /// Where clients connect (the relay listener, as printed in the `running` line).
    pub relay: SocketAddr,
    /// The archive directory.
    pub archive: PathBuf,
    /// The `running` line.
    pub running: Value,
}

impl Gateway {
    /// Starts `imtegrity --json run` relaying to `upstream` (any `host:port`), archiving into
    /// `archive` as node `node`, with `extra` further `--set KEY=VALUE` overrides.
    pub async fn start(
        binary: Binary,
        upstream: &str,
        archive: &Path,
        node: &str,
        extra: &[&str],
    ) -> Self {
        Self::start_with(binary, &[], upstream, archive, node, extra).await
    }

    /// [`start`](Self::start) with `leading` arguments to `run` before the overrides, e.g.
    /// `["--config", FILE]`.
    pub async fn start_with(
        binary: Binary,
        leading: &[&str],
        upstream: &str,
        archive: &Path,
        node: &str,
        extra: &[&str],
    ) -> Self {
        let sets = [
            r#"relay.listen=["127.0.0.1:0"]"#.to_owned(),
            "dns.listen=[]".to_owned(),
            format!("upstream.login={upstream}"),
            format!("archive.path={}", archive.display()),
            format!("archive.node={node}"),
        ];
        let mut args = vec!["run"];
        args.extend_from_slice(leading);
        for set in sets.iter().map(String::as_str).chain(extra.iter().copied()) {
            args.push("--set");
            args.push(set);
        }
        let mut process = Imtegrity::spawn(binary, &args);
        let running = process.next_json().await;
        assert_eq!(running["event"], "running", "{running}");
        let relay: SocketAddr = running["relay"][0]
            .as_str()
            .expect("relay address")
            .parse()
            .expect("relay address parses");
        assert!(relay.ip().is_loopback(), "{running}");
        assert_eq!(running["upstream"], upstream, "{running}");
        Self {
            process,
            relay,
            archive: archive.to_owned(),
            running,
        }
    }

    /// Waits for the `reloaded` line (the file watcher polls every 2 s).
    pub async fn reloaded(&mut self) {
        let line = tokio::time::timeout(Duration::from_secs(10), self.process.next_json())
            .await
            .expect("a reload in time");
        assert_eq!(line["event"], "reloaded", "{line}");
    }

    /// Sends SIGTERM, waits for the `stopped` line and a zero exit status, and returns the line.
    /// Reload lines before it are skipped: a watched config file may reload at any time.
    pub async fn stop(mut self) -> Value {
        let pid = self
            .process
            .child
            .id()
            .expect("the gateway is still running");
        crate::process::terminate_process(pid);
        let mut stopped = self.process.next_json().await;
        for _ in 0..8 {
            if !matches!(
                stopped["event"].as_str(),
                Some("reloaded" | "reload_failed")
            ) {
                break;
            }
            stopped = self.process.next_json().await;
        }
        assert_eq!(stopped["event"], "stopped", "{stopped}");
        let status = tokio::time::timeout(CLI_TIMEOUT, self.process.child.wait())
            .await
            .expect("the gateway exits after SIGTERM")
            .expect("wait for the gateway");
        assert!(
            status.success(),
            "gateway exit status after SIGTERM: {status}"
        );
        stopped
    }
}
