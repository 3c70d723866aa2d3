//! `imtegrity run` as a child process in front of an upstream, stopped with SIGTERM, and the
//! archive read back with the CLI (`search --json`, `verify --json`), all bounded in time.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;

use super::Imtegrity;

/// Bound on a CLI run (`search`, `verify`) and on the gateway's shutdown.
const CLI_TIMEOUT: Duration = Duration::from_secs(20);

/// A running `imtegrity run`: relay on an ephemeral loopback port, archive in `archive`.
pub(crate) struct Gateway {
    pub(crate) process: Imtegrity,
    /// Where clients connect (the relay listener, as printed in the `running` line).
    pub(crate) relay: SocketAddr,
    /// The archive directory.
    pub(crate) archive: PathBuf,
    /// The `running` line.
    pub(crate) running: Value,
}

impl Gateway {
    /// Starts `imtegrity --json run` relaying to `upstream` (any `host:port`), archiving into
    /// `archive` as node `node`, with `extra` further `--set KEY=VALUE` overrides.
    pub(crate) async fn start(upstream: &str, archive: &Path, node: &str, extra: &[&str]) -> Self {
        Self::start_with(&[], upstream, archive, node, extra).await
    }

    /// [`start`](Self::start) with `leading` arguments to `run` before the overrides, e.g.
    /// `["--config", FILE]`.
    pub(crate) async fn start_with(
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
        let mut process = Imtegrity::spawn(&args);
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

    /// Sends SIGTERM, waits for the `stopped` line and a zero exit status, and returns the line.
    /// Reload lines before it are skipped: a watched config file may reload at any time.
    pub(crate) async fn stop(mut self) -> Value {
        let pid = self
            .process
            .child
            .id()
            .expect("the gateway is still running");
        imtegrity_harness::process::terminate_process(pid);
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

/// Runs `imtegrity --json ARGS...` to completion (bounded); returns (exit code, stdout, stderr).
pub(crate) async fn cli(args: &[&str]) -> (Option<i32>, String, String) {
    let child = Command::new(env!("CARGO_BIN_EXE_imtegrity"))
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

/// Every record of `imtegrity --json search --archive DIR FILTERS...`, in archive order.
pub(crate) async fn search(archive: &Path, filters: &[&str]) -> Vec<Value> {
    let dir = archive.to_str().expect("UTF-8 archive path");
    let mut args = vec!["search", "--archive", dir];
    args.extend_from_slice(filters);
    let (code, stdout, stderr) = cli(&args).await;
    assert_eq!(code, Some(0), "search failed: {stderr}");
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect()
}

/// `imtegrity --json verify --archive DIR`: asserts exit code 0 and `"intact": true`, returns
/// the report, with `records` counting what the gateway captured: the `access` records the
/// test's own searches added to the chain are moved to `access_records`.
pub(crate) async fn verify_intact(archive: &Path) -> Value {
    let dir = archive.to_str().expect("UTF-8 archive path");
    let (code, stdout, stderr) = cli(&["verify", "--archive", dir]).await;
    assert_eq!(code, Some(0), "verify failed: {stdout}\n{stderr}");
    let mut report: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("verify printed no JSON: {stdout:?}: {e}"));
    assert_eq!(report["intact"], true, "{report}");
    // The trail ends with verify's own access, recorded after its report was made.
    let trail = search(archive, &["--kind", "access"]).await;
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

/// What an archived IM record says, for exact comparison: (protocol, sender, recipients,
/// direction, local user, text, conversation).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ImRecord {
    pub(crate) protocol: String,
    pub(crate) sender: String,
    pub(crate) recipients: Vec<String>,
    pub(crate) direction: String,
    pub(crate) local_user: String,
    pub(crate) text: String,
    pub(crate) conversation: String,
}

impl ImRecord {
    /// The record as the archive's JSON line has it; panics on a missing field.
    pub(crate) fn from_json(v: &Value) -> Self {
        let s = |k: &str| {
            v[k].as_str()
                .unwrap_or_else(|| panic!("field {k} missing in {v}"))
                .to_owned()
        };
        Self {
            protocol: s("protocol"),
            sender: s("sender"),
            recipients: v["recipients"]
                .as_array()
                .unwrap_or_else(|| panic!("recipients missing in {v}"))
                .iter()
                .map(|r| r.as_str().expect("recipient is a string").to_owned())
                .collect(),
            direction: s("direction"),
            local_user: s("local_user"),
            text: s("text"),
            conversation: s("conversation"),
        }
    }

    /// An expected record.
    pub(crate) fn new(
        protocol: &str,
        sender: &str,
        recipient: &str,
        direction: &str,
        local_user: &str,
        text: &str,
    ) -> Self {
        let (a, b) = (sender.to_lowercase(), recipient.to_lowercase());
        let (first, second) = if a <= b { (a, b) } else { (b, a) };
        Self {
            protocol: protocol.to_owned(),
            sender: sender.to_owned(),
            recipients: vec![recipient.to_owned()],
            direction: direction.to_owned(),
            local_user: local_user.to_owned(),
            text: text.to_owned(),
            conversation: format!("{protocol}:{first}|{second}"),
        }
    }
}

/// The four IMs the real-client tests exchange, as the archive must hold them, sorted:
/// tester1 (libpurple) and the echo bot both ways, alice (a lab client) to tester1 and back.
pub(crate) fn standard_ims(to_bot: &str, to_tester: &str, to_alice: &str) -> Vec<ImRecord> {
    let mut want = vec![
        ImRecord::new("aim", "tester1", "labbot", "outbound", "tester1", to_bot),
        ImRecord::new("aim", "labbot", "tester1", "inbound", "tester1", to_bot),
        ImRecord::new("aim", "alice", "tester1", "internal", "alice", to_tester),
        ImRecord::new("aim", "tester1", "alice", "internal", "tester1", to_alice),
    ];
    want.sort();
    want
}

/// Checks that `records` (every `im` record) are those four IMs, from node `node`, allowed,
/// tester1's from `client_ip` (the client namespace) and alice's from `gateway_ip`.
pub(crate) fn assert_standard_ims(
    records: &[Value],
    node: &str,
    (client_ip, gateway_ip): (std::net::Ipv4Addr, std::net::Ipv4Addr),
    (to_bot, to_tester, to_alice): (&str, &str, &str),
) {
    assert_eq!(records.len(), 4, "{records:#?}");
    for r in records {
        assert_eq!(r["node"], node, "{r}");
        assert_eq!(r["verdict"], "allowed", "{r}");
        let from = match r["local_user"].as_str() {
            Some("tester1") => client_ip,
            Some("alice") => gateway_ip,
            _ => panic!("unexpected local user in {r}"),
        };
        assert!(
            r["client_addr"]
                .as_str()
                .is_some_and(|a| a.starts_with(&format!("{from}:"))),
            "{r}"
        );
    }
    let mut got: Vec<ImRecord> = records.iter().map(ImRecord::from_json).collect();
    got.sort();
    assert_eq!(got, standard_ims(to_bot, to_tester, to_alice));
}
