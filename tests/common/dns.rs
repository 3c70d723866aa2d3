//! The DNS end-to-end tests' shared parts: a dnsmasq upstream, `imtegrity run` with its
//! responder on loopback, `dig` and its output, and raw wire-format exchanges over UDP.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Stdio;
use std::time::Duration;

use hickory_resolver::proto::op::{Message, MessageType, OpCode, Query};
use hickory_resolver::proto::rr::{Name, RecordType};
use imtegrity_harness::free_loopback_port;
use serde_json::Value;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::UdpSocket;
use tokio::process::Command;

use super::gateway::{Gateway, cli};

pub(crate) const DNSMASQ: &str = "/usr/sbin/dnsmasq";
pub(crate) const DIG: &str = "/usr/bin/dig";

/// What dnsmasq answers for every name under `example.test`.
pub(crate) const EXAMPLE_TEST: &str = "192.0.2.7";
/// login.oscar.aol.com's "real" address, as dnsmasq has it: what fail-open and unredirected
/// clients get.
pub(crate) const REAL_LOGIN: &str = "203.0.113.5";
/// A TXT name whose answer (four 200-byte strings) does not fit 512 bytes.
pub(crate) const BIG_TXT: &str = "big.example.test";
/// Where the gateway itself answers a loopback client (`dns.gateway` empty).
pub(crate) const THIS_HOST: &str = "127.0.0.1";
/// An `upstream.login` for tests that never sign on: nothing listens there.
pub(crate) const NO_UPSTREAM: &str = "127.0.0.1:9";
/// Bound on a UDP exchange with the responder.
pub(crate) const UDP_TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) fn big_txt_strings() -> Vec<String> {
    ["a", "b", "c", "d"].iter().map(|c| c.repeat(200)).collect()
}

// ---------------------------------------------------------------------------------------
// The upstream: dnsmasq on a free loopback port.

/// A dnsmasq answering `*.example.test`, the real login name, `*.nx.test` (NXDOMAIN) and the
/// big TXT record; killed on drop.
pub(crate) struct Dnsmasq {
    pub(crate) child: std::process::Child,
    pub(crate) addr: SocketAddr,
}

impl Dnsmasq {
    pub(crate) async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// With `extra` dnsmasq options.
    pub(crate) async fn start_with(extra: &[&str]) -> Self {
        // The port was free a moment ago; another process may take it first: try again.
        for _ in 0..3 {
            let port = free_loopback_port().unwrap();
            let mut child = std::process::Command::new(DNSMASQ)
                .args(extra)
                .args([
                    "--no-daemon",
                    "--conf-file=/dev/null",
                    "--no-resolv",
                    "--no-hosts",
                    "--no-poll",
                    "--bind-interfaces",
                    "--listen-address=127.0.0.1",
                    &format!("--port={port}"),
                    &format!("--address=/example.test/{EXAMPLE_TEST}"),
                    &format!("--address=/login.oscar.aol.com/{REAL_LOGIN}"),
                    "--local=/nx.test/",
                    &format!("--txt-record={BIG_TXT},{}", big_txt_strings().join(",")),
                    "--pid-file=",
                    "--user=root",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn dnsmasq");
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            if answers(&mut child, addr).await {
                return Self { child, addr };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("dnsmasq did not come up on any of three ports");
    }
}

/// Whether dnsmasq at `addr` answers within a few seconds (false as soon as it exits).
pub(crate) async fn answers(child: &mut std::process::Child, addr: SocketAddr) -> bool {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for id in 0..50 {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        let query = query_bytes(id, "www.example.test", RecordType::A);
        if exchange_within(&socket, addr, &query, Duration::from_millis(100))
            .await
            .is_some()
        {
            return true;
        }
    }
    false
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------
// The gateway under test.

/// `imtegrity run` with its DNS responder on an ephemeral loopback port, forwarding to
/// `upstream`, and its archive in a temporary directory.
pub(crate) struct DnsGateway {
    pub(crate) gw: Gateway,
    /// The responder's address, UDP and TCP, from the `running` line.
    pub(crate) dns: SocketAddr,
    /// Holds the archive.
    pub(crate) dir: TempDir,
}

impl DnsGateway {
    pub(crate) async fn start(upstream: &Dnsmasq, extra: &[&str]) -> Self {
        Self::start_with(&[], upstream, NO_UPSTREAM, extra).await
    }

    /// With `leading` arguments to `run` (`--config FILE`) and `login` as `upstream.login`.
    pub(crate) async fn start_with(
        leading: &[&str],
        upstream: &Dnsmasq,
        login: &str,
        extra: &[&str],
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let forward = format!(r#"dns.upstream=["{}"]"#, upstream.addr);
        let mut sets = vec![r#"dns.listen=["127.0.0.1:0"]"#, forward.as_str()];
        sets.extend_from_slice(extra);
        let gw =
            Gateway::start_with(leading, login, &dir.path().join("archive"), "gw-dns", &sets).await;
        let listening = gw.running["dns"]
            .as_array()
            .expect("dns in the running line");
        assert_eq!(listening.len(), 1, "{}", gw.running);
        let dns: SocketAddr = listening[0].as_str().unwrap().parse().unwrap();
        assert_eq!(
            dns.ip(),
            IpAddr::from(Ipv4Addr::LOCALHOST),
            "{}",
            gw.running
        );
        assert_ne!(dns.port(), 0, "{}", gw.running);
        Self { gw, dns, dir }
    }

    /// `owner.dns.stats` of `imtegrity --json status`.
    pub(crate) async fn stats(&self) -> Value {
        let dir = self.gw.archive.to_str().unwrap();
        let (code, stdout, stderr) = cli(&["status", "--archive", dir]).await;
        assert_eq!(code, Some(0), "status failed: {stderr}");
        let status: Value = serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("status printed no JSON: {stdout:?}: {e}"));
        status["owner"]["dns"]["stats"].clone()
    }

    pub(crate) fn pid(&self) -> u32 {
        self.gw.process.child.id().expect("the gateway runs")
    }

    /// Stops the gateway with SIGTERM and checks it exits cleanly.
    pub(crate) async fn stop(self) -> Value {
        self.gw.stop().await
    }
}

/// One view's counters from [`DnsGateway::stats`].
pub(crate) fn view_stats<'a>(stats: &'a Value, view: &str) -> &'a Value {
    stats["views"]
        .as_array()
        .unwrap_or_else(|| panic!("no views in {stats}"))
        .iter()
        .find(|v| v["view"] == view)
        .unwrap_or_else(|| panic!("no view {view} in {stats}"))
}

pub(crate) fn sighup(pid: u32) {
    let pid = rustix::process::Pid::from_raw(i32::try_from(pid).unwrap()).unwrap();
    assert!(pid.as_raw_nonzero().get() > 1);
    rustix::process::kill_process(pid, rustix::process::Signal::HUP).unwrap();
}

// ---------------------------------------------------------------------------------------
// dig.

/// One resource record as dig prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rr {
    pub(crate) name: String,
    pub(crate) ttl: u32,
    pub(crate) rtype: String,
    pub(crate) data: String,
}

/// What dig printed: RCODE, header flags, answer and authority sections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dug {
    pub(crate) status: String,
    pub(crate) flags: Vec<String>,
    pub(crate) answer: Vec<Rr>,
    pub(crate) authority: Vec<Rr>,
}

impl Dug {
    pub(crate) fn flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    /// The data of the answer's A and AAAA records.
    pub(crate) fn addrs(&self) -> Vec<&str> {
        self.answer
            .iter()
            .filter(|r| r.rtype == "A" || r.rtype == "AAAA")
            .map(|r| r.data.as_str())
            .collect()
    }

    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let mut status = None;
        let mut flags = None;
        let (mut answer, mut authority) = (Vec::new(), Vec::new());
        let mut section = "";
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if let Some(rest) = line.split_once("status: ").map(|(_, r)| r) {
                status = rest.split(',').next().map(str::to_owned);
            } else if let Some(rest) = line.strip_prefix(";; flags:") {
                let list = rest.split(';').next().unwrap_or_default();
                flags = Some(list.split_whitespace().map(str::to_owned).collect());
            } else if let Some(rest) = line.strip_prefix(";; ") {
                section = rest.strip_suffix(" SECTION:").unwrap_or("");
            } else if !line.starts_with(';') {
                let mut words = line.split_whitespace();
                let (Some(name), Some(ttl), Some(_class), Some(rtype)) =
                    (words.next(), words.next(), words.next(), words.next())
                else {
                    return Err(format!("unexpected line {line:?}"));
                };
                let rr = Rr {
                    name: name.to_owned(),
                    ttl: ttl.parse().map_err(|_| format!("bad TTL in {line:?}"))?,
                    rtype: rtype.to_owned(),
                    data: words.collect::<Vec<_>>().join(" "),
                };
                match section {
                    "ANSWER" => answer.push(rr),
                    "AUTHORITY" => authority.push(rr),
                    other => return Err(format!("record {line:?} in section {other:?}")),
                }
            }
        }
        Ok(Self {
            status: status.ok_or("no status line")?,
            flags: flags.ok_or("no flags line")?,
            answer,
            authority,
        })
    }
}

/// `dig @server -b from ARGS`, one try of at most 2 s; the answer, or why there was none.
pub(crate) async fn try_dig(server: SocketAddr, from: &str, args: &[&str]) -> Result<Dug, String> {
    let out = Command::new(DIG)
        .arg(format!("@{}", server.ip()))
        .args(["-p", &server.port().to_string(), "-b", from])
        .args(["+time=2", "+tries=1", "+noall", "+comments", "+answer"])
        .arg("+authority")
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(15), out)
        .await
        .map_err(|_| "dig did not finish in 15 s".to_owned())?
        .map_err(|e| format!("run dig: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "dig {args:?} from {from}: {}: {stdout}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Dug::parse(&stdout).map_err(|e| format!("{e}: {stdout}"))
}

pub(crate) async fn dig(server: SocketAddr, from: &str, args: &[&str]) -> Dug {
    try_dig(server, from, args)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Asks `server` until `done` holds for dig's answer, for a bounded number of tries (about
/// 5 s when every answer comes at once); returns that answer.
pub(crate) async fn dig_until(
    server: SocketAddr,
    from: &str,
    args: &[&str],
    what: &str,
    done: impl Fn(&Dug) -> bool,
) -> Dug {
    let mut last = None;
    for _ in 0..50 {
        let answer = dig(server, from, args).await;
        if done(&answer) {
            return answer;
        }
        last = Some(answer);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: never happened; last answer {last:?}");
}

// ---------------------------------------------------------------------------------------
// Wire-format messages over UDP.

pub(crate) fn query_bytes(id: u16, name: &str, rtype: RecordType) -> Vec<u8> {
    let mut message = Message::new(id, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    message.to_vec().unwrap()
}

/// Sends `bytes` to `server` and waits up to `timeout` for the reply with the same ID.
pub(crate) async fn exchange_within(
    socket: &UdpSocket,
    server: SocketAddr,
    bytes: &[u8],
    timeout: Duration,
) -> Option<Message> {
    socket.send_to(bytes, server).await.unwrap();
    let id = u16::from_be_bytes([bytes[0], bytes[1]]);
    let deadline = tokio::time::Instant::now() + timeout;
    let mut buf = vec![0u8; 65_535];
    loop {
        let (len, from) = tokio::time::timeout_at(deadline, socket.recv_from(&mut buf))
            .await
            .ok()?
            .unwrap();
        if from != server {
            continue;
        }
        let reply = Message::from_vec(&buf[..len]).unwrap();
        if reply.metadata.id == id {
            return Some(reply);
        }
    }
}

/// The addresses in a reply's answer section.
pub(crate) fn reply_addrs(reply: &Message) -> Vec<IpAddr> {
    reply
        .answers
        .iter()
        .filter_map(|r| r.data.ip_addr())
        .collect()
}

/// `imtegrity run` with its stderr captured: the process, its DNS address, its archive
/// directory, and the task collecting stderr.
pub(crate) struct LoggedGateway {
    pub(crate) child: tokio::process::Child,
    /// The responder's address, from the `running` line.
    pub(crate) dns: SocketAddr,
    /// Holds the archive.
    pub(crate) dir: TempDir,
    stderr: tokio::task::JoinHandle<String>,
}

impl LoggedGateway {
    /// Starts it with `sets` as `--set` arguments after the defaults: DNS and relay on
    /// ephemeral loopback ports, a dead upstream and login server, a fresh archive.
    pub(crate) async fn start(sets: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let archive = format!("archive.path={}", dir.path().join("archive").display());
        let mut command = Command::new(env!("CARGO_BIN_EXE_imtegrity"));
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
            stderr,
        }
    }

    /// `owner.dns.stats` of `imtegrity --json status`.
    pub(crate) async fn stats(&self) -> Value {
        let archive = self.dir.path().join("archive");
        let (code, stdout, stderr) = cli(&["status", "--archive", archive.to_str().unwrap()]).await;
        assert_eq!(code, Some(0), "status failed: {stderr}");
        let status: Value = serde_json::from_str(stdout.trim()).unwrap();
        status["owner"]["dns"]["stats"].clone()
    }

    /// SIGTERM, a clean exit, and everything it wrote to stderr.
    pub(crate) async fn stop(mut self) -> String {
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
