//! `upstream.resolver`: the relay resolves the upstream login name with the configured DNS
//! server (a real dnsmasq on loopback), not the system resolver, which does not know it.
//!
//! Needs dnsmasq (tests/peers/install.sh); skipped locally without it, a failure in CI.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::time::{Duration, Instant};

use imtegrity_harness::{Binary, Gateway, free_loopback_port};
use lab::{LabClient, LabConfig, LabServer};
use tokio::process::Command;

const IMTEGRITY: Binary = Binary::at(env!("CARGO_BIN_EXE_imtegrity"));

/// A name only the test's dnsmasq knows (`.test` is reserved, RFC 6761).
const NAME: &str = "login.imtegrity-lab.test";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_name_is_resolved_with_the_configured_resolver() {
    let dnsmasq = std::path::Path::new("/usr/sbin/dnsmasq");
    if !dnsmasq.exists() {
        imtegrity_harness::skip_or_fail(
            "the_login_name_is_resolved_with_the_configured_resolver",
            "install dnsmasq-base (tests/peers/install.sh)",
        );
        return;
    }
    let lab = LabServer::start(LabConfig::ephemeral()).await.unwrap();
    let port = free_loopback_port().unwrap();
    let _dns = Command::new(dnsmasq)
        .args([
            "--no-daemon",
            "--conf-file=/dev/null",
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            &format!("--port={port}"),
            "--no-resolv",
            "--no-hosts",
            "--no-poll",
            &format!("--address=/{NAME}/127.0.0.1"),
            "--pid-file=",
            "--user=root",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let upstream = format!("{NAME}:{}", lab.auth_addr.port());
    let resolver = format!(r#"upstream.resolver=["127.0.0.1:{port}"]"#);
    let gw = Gateway::start(
        IMTEGRITY,
        &upstream,
        &dir.path().join("a"),
        "gw-dns",
        &[resolver.as_str()],
    )
    .await;
    // dnsmasq may still be binding: retry the login for a bounded time.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut alice = loop {
        match LabClient::login(gw.relay, "alice", "a").await {
            Ok(c) => break c,
            Err(e) if Instant::now() < deadline => {
                eprintln!("retrying: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("login through the relay failed: {e}"),
        }
    };
    alice.send_im("labbot", "resolved").await.unwrap();
    assert_eq!(
        alice
            .expect_im("labbot", Duration::from_secs(5))
            .await
            .unwrap(),
        "resolved"
    );
    let stopped = gw.stop().await;
    // The IM and the bot's answer, and alice's session_start and session_end.
    assert_eq!(stopped["records"], 4, "{stopped}");

    // Without the resolver the same name does not resolve: the test above used it.
    let gw = Gateway::start(IMTEGRITY, &upstream, &dir.path().join("b"), "gw-dns", &[]).await;
    assert!(LabClient::login(gw.relay, "alice", "a").await.is_err());
    let stopped = gw.stop().await;
    assert_eq!(stopped["records"], 0, "{stopped}");
}
