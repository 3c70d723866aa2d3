//! One host cannot take the way out away from everyone: the real `imtegrity run`, under the
//! descriptor limit a default systemd service gets (soft 1 024, set with `prlimit`), flooded
//! with silent connections from one loopback address (127.0.0.9) while a lab client from
//! 127.0.0.1 signs on and sends an IM that is delivered and archived. The flood's excess is
//! closed at once without a byte, the silent connections it was allowed are closed at the
//! sign-on deadline, `status` counts every refusal by reason, and the log says so in a
//! handful of summary lines, not a line per connection. Under a hard limit of 1 024 too, the
//! descriptor reserve sheds what the per-address limits would let through, without `accept`
//! ever failing. And a stalled TLS handshake or login API request is closed at the sign-on
//! deadline like a silent connection.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use imtegrity_harness::{Binary, cli, search};
use lab::{Accounts, LabClient, LabConfig, LabServer};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::net::{TcpSocket, TcpStream};
use tokio::process::{Child, ChildStdout, Command};

const IMTEGRITY: Binary = Binary::at(env!("CARGO_BIN_EXE_imtegrity"));

const PRLIMIT: &str = "/usr/bin/prlimit";
const FLOODER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 9);
const WAIT: Duration = Duration::from_secs(10);
/// The summary line the gateway logs for refused connections.
const SUMMARY: &str = "client connections refused or closed since the last summary";
/// The sign-on deadline the tests set: long enough for a flood to be opened on a loaded
/// machine, short enough to wait out.
const SIGNON_SECS: u64 = 8;

/// `imtegrity run` under `prlimit --nofile=SOFT:HARD`, its log in a file.
struct Gateway {
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    relay: SocketAddr,
    archive: PathBuf,
    log: PathBuf,
}

impl Gateway {
    async fn start(dir: &Path, upstream: SocketAddr, nofile: &str, extra: &[&str]) -> Self {
        let archive = dir.join("archive");
        let log = dir.join("gateway.log");
        let sets = [
            r#"relay.listen=["127.0.0.1:0"]"#.to_owned(),
            "dns.listen=[]".to_owned(),
            format!("upstream.login={upstream}"),
            format!("archive.path={}", archive.display()),
            "archive.node=gw-flood".to_owned(),
            format!("relay.signon_timeout_secs={SIGNON_SECS}"),
        ];
        let mut command = Command::new(PRLIMIT);
        command
            .arg(format!("--nofile={nofile}"))
            .arg("--")
            .arg(env!("CARGO_BIN_EXE_imtegrity"))
            .args(["--json", "run"]);
        for set in sets.iter().map(String::as_str).chain(extra.iter().copied()) {
            command.args(["--set", set]);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn prlimit imtegrity run");
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(Duration::from_secs(20), stdout.next_line())
            .await
            .expect("the gateway starts in time")
            .unwrap()
            .unwrap_or_else(|| panic!("no running line; log: {}", read(&log)));
        let running: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(running["event"], "running", "{running}");
        let relay = running["relay"][0].as_str().unwrap().parse().unwrap();
        Self {
            child,
            stdout,
            relay,
            archive,
            log,
        }
    }

    /// `imtegrity status --json`: the relay's connection figures.
    async fn connections(&self) -> Value {
        let (code, stdout, stderr) = cli(
            IMTEGRITY,
            &["status", "--archive", self.archive.to_str().unwrap()],
        )
        .await;
        assert_eq!(code, Some(0), "status failed: {stderr}");
        let status: Value = serde_json::from_str(stdout.trim()).unwrap();
        status["owner"]["relay"]["connections"].clone()
    }

    /// SIGTERM, then the `stopped` line and a clean exit; returns the whole log.
    async fn stop(mut self) -> String {
        imtegrity_harness::process::terminate_process(self.child.id().unwrap());
        let stopped = tokio::time::timeout(Duration::from_secs(20), self.stdout.next_line())
            .await
            .expect("the gateway stops in time")
            .unwrap()
            .unwrap();
        assert!(stopped.contains("\"stopped\""), "{stopped}");
        let status = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(status.success(), "{status}");
        read(&self.log)
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The test process holds a thousand sockets itself: its soft limit goes to the hard one.
/// Returns the hard limit, which the gateway is given too (raising a hard limit needs
/// CAP_SYS_RESOURCE, which a container's root may lack).
fn raise_own_nofile() -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let hard = limit.maximum.unwrap_or(1 << 20);
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(hard),
            maximum: limit.maximum,
        },
    )
    .unwrap();
    assert!(
        hard >= 2048,
        "the test needs a hard descriptor limit of 2048, not {hard}"
    );
    hard
}

/// `n` connections from `source` to `relay`, each held open and silent.
async fn flood(source: Ipv4Addr, relay: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut streams = Vec::with_capacity(n);
    for _ in 0..n {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(IpAddr::V4(source), 0)).unwrap();
        let stream = tokio::time::timeout(WAIT, socket.connect(relay))
            .await
            .expect("connect in time")
            .expect("the kernel completes the handshake");
        streams.push(stream);
    }
    streams
}

/// What the gateway did with a silent connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// It got the server hello: admitted (and, the client staying silent, later closed).
    Admitted,
    /// Closed without a byte: refused at the door.
    Refused,
}

/// Reads what the gateway sent on `stream` until it closed it; the deadline bounds it.
async fn fate(mut stream: TcpStream) -> Fate {
    let mut got = Vec::new();
    // What arrived before the close counts, whether it ended in a FIN or a reset.
    let _closed = tokio::time::timeout(
        Duration::from_secs(SIGNON_SECS) + WAIT,
        stream.read_to_end(&mut got),
    )
    .await
    .expect("every flood connection is closed by the gateway in time");
    match got.first() {
        Some(b'*') => Fate::Admitted,
        None => Fate::Refused,
        Some(other) => panic!("unexpected first byte {other:#04x}"),
    }
}

/// Counts each fate among `streams`, waiting for the gateway to close every one.
async fn fates(streams: Vec<TcpStream>) -> (usize, usize) {
    let all = futures_like_join(streams.into_iter().map(fate).collect()).await;
    let admitted = all.iter().filter(|f| **f == Fate::Admitted).count();
    (admitted, all.len() - admitted)
}

/// Awaits every future concurrently (tasks on the runtime; no extra dependency).
async fn futures_like_join<F>(futures: Vec<F>) -> Vec<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

/// Alice (127.0.0.1, through the gateway) signs on and IMs bob (straight at the lab); bob
/// gets it.
async fn alice_chats(relay: SocketAddr, lab: &LabServer, text: &str) {
    let mut alice = tokio::time::timeout(WAIT, LabClient::login(relay, "alice", "x"))
        .await
        .expect("alice signs on in time")
        .expect("alice signs on through the gateway");
    let mut bob = LabClient::login(lab.auth_addr, "bob", "y").await.unwrap();
    alice.send_im("bob", text).await.unwrap();
    assert_eq!(bob.expect_im("alice", WAIT).await.unwrap(), text);
    alice.logout().await.unwrap();
    bob.logout().await.unwrap();
}

async fn lab() -> LabServer {
    LabServer::start(LabConfig {
        accounts: Accounts::AnyPassword,
        ..LabConfig::ephemeral()
    })
    .await
    .unwrap()
}

/// The reasons `status` and the summary lines count refusals by.
const REASONS: [&str; 5] = [
    "per_address_limit",
    "rate_limit",
    "descriptor_reserve",
    "signon_deadline",
    "accept_errors",
];

/// A log line without its terminal colour codes.
fn without_colours(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ ... m
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The number after `name=` in a log line.
fn field(line: &str, name: &str) -> u64 {
    let (_, rest) = line
        .split_once(&format!(" {name}="))
        .unwrap_or_else(|| panic!("no {name} in {line}"));
    rest.split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number for {name} in {line}"))
}

/// Stops the gateway; alice's one IM `text` is archived, and the log told of the flood in a
/// handful of summary lines that add up to `refused` (the totals in `status`), with no
/// accept failing and no session ending in an error.
async fn stop_and_check(gw: Gateway, text: &str, refused: &Value) {
    let archive = gw.archive.clone();
    let log = gw.stop().await;
    let ims = search(IMTEGRITY, &archive, &["--kind", "im"]).await;
    assert_eq!(ims.len(), 1, "{ims:#?}");
    assert_eq!(
        (&ims[0]["sender"], &ims[0]["text"]),
        (&"alice".into(), &text.into())
    );
    let lines: Vec<String> = log
        .lines()
        .filter(|l| l.contains(SUMMARY))
        .map(without_colours)
        .collect();
    assert!((1..=5).contains(&lines.len()), "summary lines:\n{log}");
    // The summaries add up to the totals `status` showed.
    let told: serde_json::Map<String, Value> = REASONS
        .iter()
        .map(|reason| {
            let sum: u64 = lines.iter().map(|l| field(l, reason)).sum();
            ((*reason).to_owned(), sum.into())
        })
        .collect();
    assert_eq!(Value::Object(told), *refused, "{lines:#?}");
    for never in [
        "accept failed",
        "Too many open files",
        "session ended with an error",
    ] {
        assert!(!log.contains(never), "{never:?} in the log:\n{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_flood_from_one_address_leaves_the_way_out_to_everyone_else() {
    if !imtegrity_harness::tools_present("conn_flood", &[PRLIMIT]) {
        return;
    }
    let hard = raise_own_nofile();
    let lab = lab().await;
    let dir = tempfile::tempdir().unwrap();
    // A default service's soft limit under a generous hard one; the defaults: 32 open per
    // address, 10 new a second with a burst of 64.
    let gw = Gateway::start(dir.path(), lab.auth_addr, &format!("1024:{hard}"), &[]).await;

    // 800 silent connections from one address, all held open.
    let flood_streams = flood(FLOODER, gw.relay, 800).await;
    // While they are open, someone else signs on and chats.
    alice_chats(gw.relay, &lab, "still getting through").await;
    let during = gw.connections().await;
    // The soft limit was raised to the hard one.
    assert_eq!(during["descriptor_limit"], hard, "{during}");
    assert_eq!(during["max_per_address"], 32, "{during}");

    // 32 got the hello; the rest were closed at once, without one.
    let (admitted, refused) = fates(flood_streams).await;
    assert_eq!((admitted, refused), (32, 768));

    // A host that connects and hangs up in a loop spends its burst, then meets the rate.
    let churner = Ipv4Addr::new(127, 0, 0, 10);
    let mut churn = (0, 0);
    for _ in 0..150 {
        let stream = flood(churner, gw.relay, 1).await.pop().unwrap();
        match fate_now(stream).await {
            Fate::Admitted => churn.0 += 1,
            Fate::Refused => churn.1 += 1,
        }
    }
    // At least the burst got in; the rest waited for the rate.
    assert!(churn.0 >= 64 && churn.1 > 0, "{churn:?}");

    // Every admitted flood connection was closed by the sign-on deadline (fates waited).
    let refused = serde_json::json!({
        "per_address_limit": 768,
        "rate_limit": churn.1,
        "descriptor_reserve": 0,
        "signon_deadline": 32,
        "accept_errors": 0,
    });
    assert_eq!(gw.connections().await["refused"], refused);
    stop_and_check(gw, "still getting through", &refused).await;
}

/// Like [`fate`], but for a connection the client closes as soon as it knows: the hello
/// read (admitted), or the close (refused).
async fn fate_now(mut stream: TcpStream) -> Fate {
    let mut first = [0u8; 1];
    match tokio::time::timeout(WAIT, stream.read(&mut first))
        .await
        .expect("the gateway answers or closes in time")
    {
        Ok(1) if first[0] == b'*' => Fate::Admitted,
        Ok(0) | Err(_) => Fate::Refused,
        Ok(_) => panic!("unexpected first byte {:#04x}", first[0]),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_within_the_per_address_limits_meets_the_descriptor_reserve_not_emfile() {
    if !imtegrity_harness::tools_present("conn_flood", &[PRLIMIT]) {
        return;
    }
    raise_own_nofile();
    let lab = lab().await;
    let dir = tempfile::tempdir().unwrap();
    // A hard limit of 1 024 too, and per-address limits lifted: only the reserve stands.
    let gw = Gateway::start(
        dir.path(),
        lab.auth_addr,
        "1024:1024",
        &[
            "relay.max_connections_per_address=100000",
            "relay.new_connections_per_second=100000",
            "relay.new_connections_burst=100000",
        ],
    )
    .await;
    let flood_streams = flood(FLOODER, gw.relay, 1000).await;
    // The admin socket still answers: its descriptor came out of the reserve.
    let during = gw.connections().await;
    assert_eq!(during["descriptor_limit"], 1024, "{during}");
    // (1024 - 256 reserved) / 2 descriptors per client connection.
    assert_eq!(during["max_open"], 384, "{during}");
    assert_eq!(during["open"], 384, "{during}");

    let (admitted, refused) = fates(flood_streams).await;
    assert_eq!((admitted, refused), (384, 616));
    // Once the deadline has closed them, the way out is open again.
    alice_chats(gw.relay, &lab, "after the flood").await;

    let refused = serde_json::json!({
        "per_address_limit": 0,
        "rate_limit": 0,
        "descriptor_reserve": 616,
        "signon_deadline": 384,
        "accept_errors": 0,
    });
    assert_eq!(gw.connections().await["refused"], refused);
    stop_and_check(gw, "after the flood", &refused).await;
}

/// A rustls client trusting only the CA certificate at `ca_pem`.
fn connector(ca_pem: &Path) -> tokio_rustls::TlsConnector {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_pem).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
}

/// Waits for the gateway to close `stream`; panics if it is still open after the sign-on
/// deadline and some slack (the upstream connect timeout, which bounded the TLS handshake
/// before, is set far beyond that).
async fn closed_by_the_deadline<S: tokio::io::AsyncRead + Unpin>(mut stream: S, what: &str) {
    let mut rest = Vec::new();
    let read = tokio::time::timeout(
        Duration::from_secs(SIGNON_SECS) + Duration::from_secs(5),
        stream.read_to_end(&mut rest),
    )
    .await;
    assert!(
        read.is_ok(),
        "{what}: still open after the sign-on deadline"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_tls_handshake_or_login_api_request_is_closed_at_the_signon_deadline() {
    use tokio::io::AsyncWriteExt;

    if !imtegrity_harness::tools_present("conn_flood", &[PRLIMIT]) {
        return;
    }
    let hard = raise_own_nofile();
    let lab = lab().await;
    let dir = tempfile::tempdir().unwrap();
    let ca_dir = dir.path().join("ca");
    let ca_set = format!("tls.ca_dir={}", ca_dir.display());
    let (code, _, stderr) = cli(IMTEGRITY, &["ca", "init", "--set", &ca_set]).await;
    assert_eq!(code, Some(0), "ca init: {stderr}");
    let gw = Gateway::start(
        dir.path(),
        lab.auth_addr,
        &format!("1024:{hard}"),
        &[&ca_set, "relay.connect_timeout_secs=60"],
    )
    .await;

    // The first byte of a ClientHello, and nothing more.
    let mut stalled_hello = TcpStream::connect(gw.relay).await.unwrap();
    stalled_hello.write_all(&[0x16]).await.unwrap();
    // A finished handshake, then half a login API request.
    let tcp = TcpStream::connect(gw.relay).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("api.screenname.aol.com").unwrap();
    let mut stalled_request = connector(&ca_dir.join("ca.pem"))
        .connect(name, tcp)
        .await
        .expect("the gateway completes the handshake");
    stalled_request
        .write_all(b"GET /auth/clientLogin HTTP/1.1\r\nHost: api.screenname.aol.com\r\n")
        .await
        .unwrap();
    stalled_request.flush().await.unwrap();

    closed_by_the_deadline(stalled_hello, "a stalled ClientHello").await;
    closed_by_the_deadline(stalled_request, "a stalled login API request").await;
    // Counted once each session task has ended.
    let mut counted = Value::Null;
    for _ in 0..50 {
        counted = gw.connections().await["refused"]["signon_deadline"].clone();
        if counted == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(counted, 2);
    let log = gw.stop().await;
    assert!(!log.contains("session ended with an error"), "{log}");
}
