//! The relay reaches its upstream through real corporate proxies from Debian: dante
//! (SOCKS5) and tinyproxy (HTTP CONNECT). Logins, the BOS redirect and IMs all cross the
//! proxy; a proxy that refuses the tunnel gets the client a prompt OSCAR error.
//!
//! Needs `tests/peers/install.sh` (dante-server, tinyproxy); skipped locally without them,
//! a failure in CI.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use imtegrity_harness::ports::accepts_connections;
use imtegrity_harness::{Binary, Gateway, free_loopback_port, search, verify_intact};
use lab::{LabClient, LabConfig, LabServer};
use tokio::process::{Child, Command};

const IMTEGRITY: Binary = Binary::at(env!("CARGO_BIN_EXE_imtegrity"));

const WAIT: Duration = Duration::from_secs(10);

/// The proxy binaries, or `None` (with a note) when they are not installed; in CI a missing
/// proxy is a failure, never a silent skip.
fn proxies(test: &str) -> Option<(PathBuf, PathBuf)> {
    let danted = PathBuf::from("/usr/sbin/danted");
    let tinyproxy = PathBuf::from("/usr/bin/tinyproxy");
    if danted.exists() && tinyproxy.exists() {
        return Some((danted, tinyproxy));
    }
    imtegrity_harness::skip_or_fail(
        test,
        "install dante-server and tinyproxy (run tests/peers/install.sh as root)",
    );
    None
}

struct Proxy {
    /// Killed on drop.
    _child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Proxy {
    async fn start(program: &Path, args: &[&str], addr: SocketAddr, log: PathBuf) -> Self {
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(program)
            .args(args)
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        // Connection refused until the proxy has bound its port: poll, within a bound.
        let deadline = Instant::now() + WAIT;
        while !accepts_connections(addr, Duration::from_millis(200)).await
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            accepts_connections(addr, WAIT).await,
            "{} did not start: {}",
            program.display(),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        Self {
            _child: child,
            addr,
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

async fn dante(bin: &Path, dir: &Path) -> Proxy {
    let port = free_loopback_port().unwrap();
    let conf = dir.join("danted.conf");
    std::fs::write(
        &conf,
        format!(
            "logoutput: stderr\ninternal: 127.0.0.1 port = {port}\nexternal: 127.0.0.1\n\
             socksmethod: none\nclientmethod: none\nuser.privileged: root\nuser.unprivileged: nobody\n\
             client pass {{ from: 127.0.0.0/8 to: 0.0.0.0/0 log: connect }}\n\
             socks pass {{ from: 127.0.0.0/8 to: 0.0.0.0/0 log: connect }}\n"
        ),
    )
    .unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    Proxy::start(
        bin,
        &["-f", conf.to_str().unwrap(), "-N", "1"],
        addr,
        dir.join("danted.log"),
    )
    .await
}

async fn tinyproxy(bin: &Path, dir: &Path, extra: &str) -> Proxy {
    let port = free_loopback_port().unwrap();
    let conf = dir.join("tinyproxy.conf");
    let log = dir.join("tinyproxy.log");
    std::fs::write(
        &conf,
        format!(
            "User nobody\nGroup nogroup\nPort {port}\nListen 127.0.0.1\nTimeout 60\nAllow 127.0.0.1\n\
             LogLevel Connect\nMaxClients 50\n{extra}"
        ),
    )
    .unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    Proxy::start(bin, &["-d", "-c", conf.to_str().unwrap()], addr, log).await
}

async fn two_users_talk_through(relay: SocketAddr) {
    let mut alice = LabClient::login(relay, "alice", "a").await.unwrap();
    let mut bob = LabClient::login(relay, "bob", "b").await.unwrap();
    alice
        .send_im("bob", "via the corporate proxy")
        .await
        .unwrap();
    assert_eq!(
        bob.expect_im("alice", WAIT).await.unwrap(),
        "via the corporate proxy"
    );
    bob.send_im("alice", "and back").await.unwrap();
    assert_eq!(alice.expect_im("bob", WAIT).await.unwrap(), "and back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_reaches_its_upstream_through_socks5_and_http_connect() {
    let Some((danted, tiny)) =
        proxies("the_relay_reaches_its_upstream_through_socks5_and_http_connect")
    else {
        return;
    };
    let started = Instant::now();
    let lab = LabServer::start(LabConfig::ephemeral()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let socks = dante(&danted, dir.path()).await;
    let http = tinyproxy(&tiny, dir.path(), "").await;
    for (name, proxy) in [("socks5", &socks), ("http", &http)] {
        let archive = dir.path().join(format!("archive-{name}"));
        let set = format!("upstream.proxy={name}://{}", proxy.addr);
        let gw = Gateway::start(
            IMTEGRITY,
            &lab.auth_addr.to_string(),
            &archive,
            "gw-proxy",
            &[set.as_str()],
        )
        .await;
        two_users_talk_through(gw.relay).await;
        let stopped = gw.stop().await;
        // Two IMs, and each user's session_start and session_end.
        assert_eq!(stopped["records"], 6, "{name}: {stopped}");
        let texts: Vec<String> = search(IMTEGRITY, &archive, &["--kind", "im"])
            .await
            .iter()
            .map(|r| r["text"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(texts, ["via the corporate proxy", "and back"], "{name}");
        verify_intact(IMTEGRITY, &archive).await;
    }
    // Both proxies carried the authorizer and the BOS connections.
    let (s, h) = (socks.log(), http.log());
    for port in [lab.auth_addr.port(), lab.bos_addr.port()] {
        assert!(
            s.contains(&format!("127.0.0.1.{port}")),
            "dante log lacks port {port}:\n{s}"
        );
        assert!(
            h.contains(&format!("127.0.0.1:{port}")),
            "tinyproxy log lacks port {port}:\n{h}"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_that_refuses_the_tunnel_gets_the_client_an_error_promptly() {
    let Some((_, tiny)) =
        proxies("a_proxy_that_refuses_the_tunnel_gets_the_client_an_error_promptly")
    else {
        return;
    };
    let lab = LabServer::start(LabConfig::ephemeral()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // CONNECT is allowed to port 1 only: the lab's port is refused with 403.
    let http = tinyproxy(&tiny, dir.path(), "ConnectPort 1\n").await;
    let set = format!("upstream.proxy=http://{}", http.addr);
    let gw = Gateway::start(
        IMTEGRITY,
        &lab.auth_addr.to_string(),
        &dir.path().join("archive"),
        "gw-proxy",
        &[set.as_str()],
    )
    .await;
    let started = Instant::now();
    let err = LabClient::login(gw.relay, "alice", "a").await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    // The relay answers the login with a channel-4 sign-off (not a SNAC), which the scripted
    // client reports as an undecodable reply rather than hanging.
    assert!(matches!(err, lab::LabError::Decode(_)), "{err}");
    let stopped = gw.stop().await;
    assert_eq!(
        (stopped["sessions"].as_u64(), stopped["records"].as_u64()),
        (Some(1), Some(0)),
        "{stopped}"
    );
    drop(http);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_connect_authenticates_with_basic_credentials() {
    let Some((_, tiny)) = proxies("http_connect_authenticates_with_basic_credentials") else {
        return;
    };
    let lab = LabServer::start(LabConfig::ephemeral()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let http = tinyproxy(&tiny, dir.path(), "BasicAuth imgw s3cret-pw\n").await;
    // The right password: logins, the BOS redirect and IMs cross the proxy.
    let set = format!("upstream.proxy=http://imgw:s3cret-pw@{}", http.addr);
    let archive = dir.path().join("archive-ok");
    let gw = Gateway::start(
        IMTEGRITY,
        &lab.auth_addr.to_string(),
        &archive,
        "gw-auth",
        &[&set],
    )
    .await;
    two_users_talk_through(gw.relay).await;
    let stopped = gw.stop().await;
    // Two IMs, and each user's session_start and session_end.
    assert_eq!(stopped["records"], 6, "{stopped}");
    // A wrong one: tinyproxy answers 407 and the client gets an OSCAR error promptly.
    let set = format!("upstream.proxy=http://imgw:wrong@{}", http.addr);
    let archive = dir.path().join("archive-refused");
    let gw = Gateway::start(
        IMTEGRITY,
        &lab.auth_addr.to_string(),
        &archive,
        "gw-auth",
        &[&set],
    )
    .await;
    let started = Instant::now();
    let err = LabClient::login(gw.relay, "alice", "a").await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(matches!(err, lab::LabError::Decode(_)), "{err}");
    let stopped = gw.stop().await;
    assert_eq!(stopped["records"], 0, "{stopped}");
}
