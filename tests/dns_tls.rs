//! Forwarding over DNS over TLS: `imtegrity run` with `dns.upstream = ["tls://IP:PORT#NAME"]`
//! in front of a real unbound serving DoT on loopback, with a certificate from a test CA made
//! by `openssl`. The gateway trusts what the operating system trusts; here the test CA is
//! handed to it as the system's with `SSL_CERT_FILE`, the standard override. Checked: names
//! are forwarded over TLS and answered; the same upstream is refused when its certificate
//! does not verify (the CA not trusted, or the wrong name), so the client gets SERVFAIL rather
//! than an unauthenticated answer; redirected names never touch the upstream.
//!
//! Needs unbound, openssl and dig (tests/peers/install.sh); skipped locally without them, a
//! failure in CI.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use imtegrity_harness::free_loopback_port;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const UNBOUND: &str = "/usr/sbin/unbound";
const OPENSSL: &str = "/usr/bin/openssl";
const DIG: &str = "/usr/bin/dig";
/// The name on the DoT server's certificate.
const DOT_NAME: &str = "dot.lab.test";
/// What unbound answers for the forwarded name.
const FORWARDED: &str = "192.0.2.8";

/// Runs `openssl ARGS` in `dir`, panicking with its stderr on failure.
fn openssl(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new(OPENSSL)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A test CA and a server certificate for [`DOT_NAME`] it signed; returns the CA's PEM path.
fn make_pki(dir: &Path) -> PathBuf {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend_from_slice(&ec);
    ca.extend_from_slice(&[
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=IMtegrity test DoT CA",
    ]);
    openssl(dir, &ca);
    let mut csr = vec!["req"];
    csr.extend_from_slice(&ec);
    let subject = format!("/CN={DOT_NAME}");
    csr.extend_from_slice(&["-keyout", "srv.key", "-out", "srv.csr", "-subj", &subject]);
    openssl(dir, &csr);
    std::fs::write(
        dir.join("ext"),
        format!(
            "subjectAltName=DNS:{DOT_NAME}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
        ),
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "srv.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "srv.pem",
            "-days",
            "2",
            "-extfile",
            "ext",
        ],
    );
    dir.join("ca.pem")
}

/// unbound serving DoT only, on a loopback port, answering [`FORWARDED`] for
/// `www.example.test` from local data (it never recurses).
struct Unbound {
    child: Child,
    addr: SocketAddr,
}

impl Unbound {
    async fn start(dir: &Path) -> Self {
        for _ in 0..5 {
            let port = free_loopback_port().unwrap();
            let conf = dir.join("unbound.conf");
            std::fs::write(
                &conf,
                format!(
                    "server:\n  interface: 127.0.0.1@{port}\n  tls-port: {port}\n  \
                     tls-service-key: {d}/srv.key\n  tls-service-pem: {d}/srv.pem\n  \
                     do-daemonize: no\n  username: \"\"\n  chroot: \"\"\n  directory: \"{d}\"\n  \
                     pidfile: \"\"\n  use-syslog: no\n  logfile: \"\"\n  do-ip6: no\n  \
                     access-control: 127.0.0.0/8 allow\n  local-zone: \"example.test.\" static\n  \
                     local-data: \"www.example.test. 300 IN A {FORWARDED}\"\n",
                    d = dir.display()
                ),
            )
            .unwrap();
            let mut child = Command::new(UNBOUND)
                .arg("-d")
                .arg("-c")
                .arg(&conf)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .unwrap();
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if tokio::net::TcpStream::connect(addr).await.is_ok() {
                    return Self { child, addr };
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let _ = child.kill().await;
        }
        panic!("unbound did not start serving DoT");
    }
}

impl Drop for Unbound {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// `imtegrity --json run` with its DNS on an ephemeral port forwarding to `upstream`, and
/// `SSL_CERT_FILE` set to `trust` if given. Returns the child and the DNS address.
async fn gateway(dir: &Path, upstream: &str, trust: Option<&Path>) -> (Child, SocketAddr) {
    let archive = dir.join(format!("archive-{}", upstream.len()));
    let mut command = Command::new(env!("CARGO_BIN_EXE_imtegrity"));
    command
        .args(["--json", "run"])
        .args(["--set", r#"relay.listen=["127.0.0.1:0"]"#])
        .args(["--set", r#"dns.listen=["127.0.0.1:0"]"#])
        .args(["--set", &format!(r#"dns.upstream=["{upstream}"]"#)])
        .args(["--set", "dns.health_interval_secs=0"])
        .args(["--set", "upstream.login=127.0.0.1:9"])
        .args(["--set", &format!("archive.path={}", archive.display())])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    match trust {
        Some(pem) => command.env("SSL_CERT_FILE", pem),
        // The system store, which does not hold the test CA.
        None => command.env_remove("SSL_CERT_FILE"),
    };
    let mut child = command.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("imtegrity printed nothing in time")
        .unwrap()
        .expect("imtegrity closed stdout");
    let running: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(running["event"], "running", "{running}");
    let dns = running["dns"][0].as_str().unwrap().parse().unwrap();
    (child, dns)
}

/// `dig @server name` over UDP: the status and the answer addresses.
async fn dig(server: SocketAddr, name: &str) -> (String, Vec<String>) {
    let out = Command::new(DIG)
        .arg(format!("@{}", server.ip()))
        .args(["-p", &server.port().to_string()])
        .args([
            name,
            "A",
            "+tries=1",
            "+time=8",
            "+noall",
            "+comments",
            "+answer",
        ])
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let status = text
        .split("status: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or("no answer")
        .to_owned();
    let addrs = text
        .lines()
        .filter(|l| !l.starts_with(';') && l.contains("\tA\t"))
        .filter_map(|l| l.split_whitespace().last().map(str::to_owned))
        .collect();
    (status, addrs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_names_go_over_verified_tls() {
    if !imtegrity_harness::tools_present(
        "forwarded_names_go_over_verified_tls",
        &[UNBOUND, OPENSSL, DIG],
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ca = make_pki(dir.path());
    let unbound = Unbound::start(dir.path()).await;
    let upstream = format!("tls://{}#{DOT_NAME}", unbound.addr);

    // Trusted CA, right name: answered by unbound over TLS.
    let (mut gw, dns) = gateway(dir.path(), &upstream, Some(&ca)).await;
    let (status, addrs) = dig(dns, "www.example.test").await;
    assert_eq!(
        (status.as_str(), addrs),
        ("NOERROR", vec![FORWARDED.to_owned()])
    );
    // Redirected names are answered locally, whatever the upstream.
    let (status, addrs) = dig(dns, "login.oscar.aol.com").await;
    assert_eq!(
        (status.as_str(), addrs),
        ("NOERROR", vec!["127.0.0.1".to_owned()])
    );
    gw.kill().await.unwrap();

    // The same server under a name its certificate does not carry: refused.
    let wrong = format!("tls://{}#other.lab.test", unbound.addr);
    let (mut gw, dns) = gateway(dir.path(), &wrong, Some(&ca)).await;
    let (status, addrs) = dig(dns, "www.example.test").await;
    assert_eq!(status, "SERVFAIL", "wrong name must not verify: {addrs:?}");
    gw.kill().await.unwrap();

    // The test CA not trusted (only the system's roots): refused.
    let (mut gw, dns) = gateway(dir.path(), &upstream, None).await;
    let (status, addrs) = dig(dns, "www.example.test").await;
    assert_eq!(
        status, "SERVFAIL",
        "untrusted CA must not verify: {addrs:?}"
    );
    gw.kill().await.unwrap();
}
