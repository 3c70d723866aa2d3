//! DNS benchmark: dnsperf against the IMtegrity responder, unbound and dnsmasq, on the same
//! machine, in the same run, with the same redirect rule. Prints a Markdown table; asserts
//! nothing about speed.
//!
//! ```text
//! cargo build --release -p imtegrity                     # the `imtegrity run` rows
//! cargo bench -p dns --bench dns                         # full run, about 3 minutes
//! IMT_BENCH_QUICK=1 cargo bench -p dns --bench dns       # smoke run, about 1 minute
//! ```
//!
//! Needs `dnsperf`, `unbound` and `dnsmasq` (`tests/peers/install.sh` installs them); without
//! them it prints which are missing and exits 0 having measured nothing.
//!
//! Every server is a process of its own on a 127.0.0.1 port, so its RSS (`VmRSS`/`VmHWM`) and
//! CPU time are read from /proc the same way for all:
//!
//! * **unbound** 1.17 (`num-threads: 2`, `so-reuseport: yes`, `local-zone: "oscar.aol.com."
//!   redirect` + `local-data` A 127.0.0.1, `forward-zone` example.test → the upstream);
//! * **dnsmasq** 2.90 (`address=/oscar.aol.com/127.0.0.1`, `server=/example.test/upstream`,
//!   `cache-size=10000`);
//! * **`imtegrity run`**, the release binary (`target/release/imtegrity`, or
//!   `IMT_BENCH_IMTEGRITY`), with the per-client limits off (`dns.rate_limit=0`,
//!   `dns.rate_limit_bytes=0`: one dnsperf client is one address) and
//!   `IMTEGRITY_LOG=warn`, and once more with the default log filter, which writes the
//!   query log (one info line per redirected answer) to stderr, here a file;
//! * the **responder alone** ([`dns::DnsServer`] in this binary re-executed, on a tokio
//!   multi-thread runtime with one worker per core, as `imtegrity run` has): with the UDP
//!   fast path read by a thread per socket (`UdpPath::Threads`, as `imtegrity run`), by a
//!   tokio task per socket (`UdpPath::Tasks`), and with `UdpPath::Hickory`, i.e. every UDP
//!   query through hickory-server's own `Server` with the same request handler ("plain
//!   hickory").
//!
//! All of them redirect every name under oscar.aol.com to 127.0.0.1 (TTL 30) and forward
//! example.test to one upstream, a dnsmasq on another loopback port answering
//! `*.example.test` with 192.0.2.7, TTL 300, so the forwarders cache it. dnsperf then asks
//! `login.oscar.aol.com A` (redirected) or `www.example.test A` (forwarded; every query after
//! the warm-up one is a cache hit) over and over. Each row's answers are checked once before
//! it is measured.
//!
//! Environment:
//! * `IMT_BENCH_QUICK=1`: 3 s per dnsperf run instead of 10.
//! * `IMT_BENCH_SECS`: seconds per dnsperf run (wins over the above).
//! * `IMT_BENCH_ROUNDS`: measure every row this many times, round-robin, and report the
//!   median of each cell (default 1); for a machine busy with other work.
//! * `IMT_BENCH_SERVERS`: comma-separated rows to run, of `unbound`, `dnsmasq`, `imtegrity`,
//!   `imtegrity-log`, `imtegrity-first`, `responder`, `responder-tasks`, `hickory` (default:
//!   all).
//! * `IMT_BENCH_IMTEGRITY`: the `imtegrity` binary (default: the workspace's
//!   `target/release/imtegrity`, or `$CARGO_TARGET_DIR/release/imtegrity`).
//! * `IMT_BENCH_PERF=DIR`: record a `perf record -g` profile of the server during each
//!   dnsperf run into DIR (`perf report -i DIR/<row>-<case>-<round>.data`).
//! * `IMT_BENCH_NOTE`: a sentence added to the header, e.g. what else loads the machine.
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs
)]

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// The redirected name every server answers itself.
const REDIRECTED: &str = "login.oscar.aol.com";
/// The forwarded name, answered by the upstream and cached by every server.
const FORWARDED: &str = "www.example.test";
/// What the redirect rule answers.
const GATEWAY: Ipv4Addr = Ipv4Addr::LOCALHOST;
/// What the upstream answers for the forwarded name (documentation range: data only,
/// never contacted).
const FORWARDED_ANSWER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 7);
/// The TTL of redirected answers, as `dns.ttl` defaults to.
const REDIRECT_TTL: u32 = 30;
/// dnsperf's outstanding-query cap per run (its default, stated explicitly).
const OUTSTANDING: u32 = 100;
/// Longest wait for a server to answer its first query.
const START_TIMEOUT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------

struct Settings {
    tools: Tools,
    quick: bool,
    secs: u32,
    rounds: usize,
    rows: Vec<Row>,
    imtegrity: Option<PathBuf>,
    perf_dir: Option<PathBuf>,
}

impl Settings {
    fn from_env(tools: Tools) -> Self {
        let quick = std::env::var("IMT_BENCH_QUICK").is_ok_and(|v| v == "1");
        let secs = std::env::var("IMT_BENCH_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(if quick { 3 } else { 10 })
            .max(1);
        let rounds = std::env::var("IMT_BENCH_ROUNDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1)
            .max(1);
        let rows = std::env::var("IMT_BENCH_SERVERS").map_or_else(
            |_| Row::ALL.to_vec(),
            |v| {
                Row::ALL
                    .into_iter()
                    .filter(|r| v.split(',').any(|p| p.trim() == r.key()))
                    .collect()
            },
        );
        Self {
            tools,
            quick,
            secs,
            rounds,
            rows,
            imtegrity: imtegrity_binary(),
            perf_dir: std::env::var_os("IMT_BENCH_PERF").map(PathBuf::from),
        }
    }
}

/// The programs the bench drives, found on `PATH` (or in /usr/sbin and /sbin, where Debian
/// puts unbound and dnsmasq, which a non-root `PATH` may lack). Never run to probe for
/// them: `dnsmasq -h` is not "help" but "no hosts file", and starts a daemon.
struct Tools {
    dnsperf: PathBuf,
    unbound: PathBuf,
    dnsmasq: PathBuf,
}

impl Tools {
    /// All three, or the names of those missing.
    fn find() -> Result<Self, Vec<&'static str>> {
        let find = |name: &str| {
            let path = std::env::var_os("PATH").unwrap_or_default();
            std::env::split_paths(&path)
                .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
        };
        match (find("dnsperf"), find("unbound"), find("dnsmasq")) {
            (Some(dnsperf), Some(unbound), Some(dnsmasq)) => Ok(Self {
                dnsperf,
                unbound,
                dnsmasq,
            }),
            (dnsperf, unbound, dnsmasq) => Err([
                ("dnsperf", dnsperf.is_none()),
                ("unbound", unbound.is_none()),
                ("dnsmasq", dnsmasq.is_none()),
            ]
            .into_iter()
            .filter_map(|(name, missing)| missing.then_some(name))
            .collect()),
        }
    }
}

/// The `imtegrity` release binary, if built.
fn imtegrity_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("IMT_BENCH_IMTEGRITY") {
        return Some(PathBuf::from(path));
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace.join("target"), PathBuf::from);
    let binary = target.join("release").join("imtegrity");
    binary.canonicalize().ok().filter(|p| p.is_file())
}

/// The newest modification time of any `.rs` file under `dirs`.
fn newest_source(dirs: &[PathBuf]) -> Option<SystemTime> {
    fn walk(dir: &Path, newest: &mut Option<SystemTime>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, newest);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let modified = entry.metadata().and_then(|m| m.modified()).ok();
                *newest = (*newest).max(modified);
            }
        }
    }
    let mut newest = None;
    for dir in dirs {
        walk(dir, &mut newest);
    }
    newest
}

// ---------------------------------------------------------------------------------------
// The servers under test
// ---------------------------------------------------------------------------------------

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Row {
    Unbound,
    Dnsmasq,
    /// `imtegrity run`, `IMTEGRITY_LOG=warn`.
    Imtegrity,
    /// `imtegrity run` with its default log filter: the query log on.
    ImtegrityLog,
    /// The same with `dns.query_log = "first"`.
    ImtegrityFirst,
    /// The responder alone, fast path on, a thread per UDP socket (as `imtegrity run`).
    Responder,
    /// The responder alone, fast path on, a tokio task per UDP socket.
    ResponderTasks,
    /// The responder alone, every UDP query through hickory's `Server`.
    Hickory,
}

impl Row {
    const ALL: [Self; 8] = [
        Self::Unbound,
        Self::Dnsmasq,
        Self::Imtegrity,
        Self::ImtegrityLog,
        Self::ImtegrityFirst,
        Self::Responder,
        Self::ResponderTasks,
        Self::Hickory,
    ];

    fn key(self) -> &'static str {
        match self {
            Self::Unbound => "unbound",
            Self::Dnsmasq => "dnsmasq",
            Self::Imtegrity => "imtegrity",
            Self::ImtegrityLog => "imtegrity-log",
            Self::ImtegrityFirst => "imtegrity-first",
            Self::Responder => "responder",
            Self::ResponderTasks => "responder-tasks",
            Self::Hickory => "hickory",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Unbound => "unbound (2 threads, so-reuseport)",
            Self::Dnsmasq => "dnsmasq",
            Self::Imtegrity => "`imtegrity run`, log level warn",
            Self::ImtegrityLog => "`imtegrity run`, default log (query log on)",
            Self::ImtegrityFirst => "`imtegrity run`, default log, `dns.query_log = \"first\"`",
            Self::Responder => "responder alone, fast path, UDP threads",
            Self::ResponderTasks => "responder alone, fast path, UDP tokio tasks",
            Self::Hickory => "responder alone, plain hickory `Server` (fast_path: false)",
        }
    }
}

/// A server process under test.
struct Server {
    child: Child,
    addr: SocketAddr,
    /// What the child writes to stderr, if kept.
    log: Option<PathBuf>,
    /// The responder child reads its stdin until EOF; kept open until the server stops.
    stdin: Option<std::process::ChildStdin>,
}

impl Server {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the server (see the `Drop` impl).
    fn stop(self) {}
}

impl Drop for Server {
    /// SIGTERM, then SIGKILL if it has not exited within 5 s; also when the bench fails or
    /// panics, so no server outlives it.
    fn drop(&mut self) {
        drop(self.stdin.take());
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let pid = rustix::process::Pid::from_child(&self.child);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free on 127.0.0.1 for both UDP and TCP just now (servers that cannot be handed a
/// socket bind it themselves; the window for a clash is short).
fn free_port() -> u16 {
    for _ in 0..64 {
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port");
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// The upstream every forwarder asks: dnsmasq answering `*.example.test` itself.
fn start_upstream(s: &Settings, dir: &Path) -> Result<Server, String> {
    let port = free_port();
    let child = Command::new(&s.tools.dnsmasq)
        .args([
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
            "--listen-address=127.0.0.1",
            &format!("--port={port}"),
            &format!("--address=/example.test/{FORWARDED_ANSWER}"),
            "--local-ttl=300",
            &format!("--pid-file={}", dir.join("upstream.pid").display()),
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("dnsmasq: {e}"))?;
    ready(
        Server {
            child,
            addr: loopback(port),
            log: None,
            stdin: None,
        },
        FORWARDED,
        FORWARDED_ANSWER,
    )
}

fn start(row: Row, s: &Settings, dir: &Path, upstream: SocketAddr) -> Result<Server, String> {
    let server = match row {
        Row::Unbound => start_unbound(&s.tools, dir, upstream)?,
        Row::Dnsmasq => start_dnsmasq(&s.tools, dir, upstream)?,
        Row::Imtegrity | Row::ImtegrityLog | Row::ImtegrityFirst => {
            let binary = s.imtegrity.as_deref().ok_or(
                "not built: run `cargo build --release -p imtegrity` first (or set IMT_BENCH_IMTEGRITY)",
            )?;
            start_imtegrity(binary, row, dir, upstream)?
        }
        Row::Responder | Row::ResponderTasks | Row::Hickory => {
            start_responder_child(row, upstream)?
        }
    };
    // Both names answered right (and the forwarded one now cached) before measuring.
    let server = ready(server, REDIRECTED, GATEWAY)?;
    ready(server, FORWARDED, FORWARDED_ANSWER)
}

fn start_unbound(tools: &Tools, dir: &Path, upstream: SocketAddr) -> Result<Server, String> {
    let port = free_port();
    let conf = dir.join("unbound.conf");
    let text = format!(
        r#"server:
    interface: 127.0.0.1@{port}
    port: {port}
    do-ip6: no
    access-control: 127.0.0.0/8 allow
    num-threads: 2
    so-reuseport: yes
    do-daemonize: no
    chroot: ""
    username: ""
    directory: "{dir}"
    pidfile: "{dir}/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 0
    # The forward target is on loopback.
    do-not-query-localhost: no
    # .test is one of unbound's default blocked zones (RFC 6761); let it be forwarded.
    local-zone: "test." nodefault
    local-zone: "oscar.aol.com." redirect
    local-data: "oscar.aol.com. {REDIRECT_TTL} IN A {GATEWAY}"
forward-zone:
    name: "example.test."
    forward-addr: {ip}@{up_port}
"#,
        dir = dir.display(),
        ip = upstream.ip(),
        up_port = upstream.port(),
    );
    std::fs::write(&conf, text).map_err(|e| e.to_string())?;
    let child = Command::new(&tools.unbound)
        .arg("-d")
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("unbound: {e}"))?;
    Ok(Server {
        child,
        addr: loopback(port),
        log: None,
        stdin: None,
    })
}

fn start_dnsmasq(tools: &Tools, dir: &Path, upstream: SocketAddr) -> Result<Server, String> {
    let port = free_port();
    let child = Command::new(&tools.dnsmasq)
        .args([
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
            "--listen-address=127.0.0.1",
            &format!("--port={port}"),
            &format!("--address=/oscar.aol.com/{GATEWAY}"),
            &format!("--local-ttl={REDIRECT_TTL}"),
            &format!(
                "--server=/example.test/{}#{}",
                upstream.ip(),
                upstream.port()
            ),
            "--cache-size=10000",
            &format!("--pid-file={}", dir.join("dnsmasq.pid").display()),
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("dnsmasq: {e}"))?;
    Ok(Server {
        child,
        addr: loopback(port),
        log: None,
        stdin: None,
    })
}

fn start_imtegrity(
    binary: &Path,
    row: Row,
    dir: &Path,
    upstream: SocketAddr,
) -> Result<Server, String> {
    let port = free_port();
    let query_log = row != Row::Imtegrity;
    let archive = dir.join(format!("archive-{}", row.key()));
    let log = dir.join(format!("{}.stderr", row.key()));
    let stderr = std::fs::File::create(&log).map_err(|e| e.to_string())?;
    let mut cmd = Command::new(binary);
    cmd.arg("run");
    for set in [
        format!("dns.listen=[\"127.0.0.1:{port}\"]"),
        "relay.listen=[\"127.0.0.1:0\"]".to_owned(),
        format!("dns.upstream=[\"{upstream}\"]"),
        format!("dns.gateway=[\"{GATEWAY}\"]"),
        // Both limits off, as unbound and dnsmasq have none here: one dnsperf client is one
        // address, which the per-client answer and byte limits would otherwise throttle (the
        // byte limit's default, 128 KiB/s, allows about 2 500 answers a second).
        "dns.rate_limit=0".to_owned(),
        "dns.rate_limit_bytes=0".to_owned(),
        "dns.health_interval_secs=0".to_owned(),
        format!("archive.path=\"{}\"", archive.display()),
        format!(
            "dns.query_log={}",
            if row == Row::ImtegrityFirst {
                "first"
            } else {
                "every"
            }
        ),
    ] {
        cmd.arg("--set").arg(set);
    }
    if query_log {
        cmd.env_remove("IMTEGRITY_LOG");
    } else {
        cmd.env("IMTEGRITY_LOG", "warn");
    }
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("{}: {e}", binary.display()))?;
    Ok(Server {
        child,
        addr: loopback(port),
        log: Some(log),
        stdin: None,
    })
}

/// This binary re-executed as a bare responder (see [`child_main`]).
fn start_responder_child(row: Row, upstream: SocketAddr) -> Result<Server, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .env("IMT_DNS_BENCH_CHILD", row.key())
        .env("IMT_DNS_BENCH_UPSTREAM", upstream.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| e.to_string())?;
    let stdin = child.stdin.take();
    let mut line = String::new();
    BufReader::new(child.stdout.take().ok_or("no stdout")?)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let Some(addr) = line
        .trim()
        .strip_prefix("ready ")
        .and_then(|a| a.parse().ok())
    else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("the responder child said {line:?}"));
    };
    Ok(Server {
        child,
        addr,
        log: None,
        stdin,
    })
}

/// The child side: one responder on 127.0.0.1:0 until stdin closes.
fn child_main(kind: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
        .with_writer(std::io::stderr)
        .init();
    let upstream = std::env::var("IMT_DNS_BENCH_UPSTREAM").unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let cancel = tokio_util::sync::CancellationToken::new();
    let server = rt.block_on(async {
        let config = settings::DnsConfig {
            listen: vec![loopback(0)],
            upstream: vec![settings::DnsUpstream::parse(&upstream).unwrap()],
            gateway: vec![GATEWAY.into()],
            rate_limit: 0,
            rate_limit_bytes: 0,
            health_interval_secs: 0,
            ..settings::DnsConfig::default()
        };
        dns::DnsServer::start(
            dns::DnsSettings {
                config,
                fallback_upstreams: Vec::new(),
                egress: Vec::new(),
                relay_port: 5190,
                local_relay: None,
                udp_sockets: 0,
                udp_path: match kind {
                    "responder" => dns::UdpPath::Threads,
                    "responder-tasks" => dns::UdpPath::Tasks,
                    _ => dns::UdpPath::Hickory,
                },
            },
            cancel.clone(),
        )
        .await
        .unwrap()
    });
    println!("ready {}", server.local_addrs()[0]);
    std::io::stdout().flush().unwrap();
    // Until the parent closes our stdin (or goes away).
    let mut sink = String::new();
    while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {
        sink.clear();
    }
    rt.block_on(server.stop());
}

// ---------------------------------------------------------------------------------------
// A minimal DNS client for the readiness and correctness check
// ---------------------------------------------------------------------------------------

fn query_bytes(id: u16, name: &str) -> Vec<u8> {
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        q.push(u8::try_from(label.len()).unwrap());
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

/// Skips a possibly compressed name at `at`; where it ends.
fn skip_name(msg: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *msg.get(at)?;
        match len {
            0 => return Some(at + 1),
            l if l & 0xC0 == 0xC0 => return Some(at + 2),
            l => at += 1 + usize::from(l),
        }
    }
}

/// The RCODE and the A addresses of the answer section of a response to `id`.
fn parse_answer(msg: &[u8], id: u16) -> Option<(u8, Vec<Ipv4Addr>)> {
    let h = msg.get(..12)?;
    if u16::from_be_bytes([h[0], h[1]]) != id || h[2] & 0x80 == 0 {
        return None;
    }
    let rcode = h[3] & 0x0F;
    let qd = u16::from_be_bytes([h[4], h[5]]);
    let an = u16::from_be_bytes([h[6], h[7]]);
    let mut at = 12;
    for _ in 0..qd {
        at = skip_name(msg, at)? + 4;
    }
    let mut addrs = Vec::new();
    for _ in 0..an {
        at = skip_name(msg, at)?;
        let fixed = msg.get(at..at + 10)?;
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let rdlen = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        let rdata = msg.get(at + 10..at + 10 + rdlen)?;
        if rtype == 1 && rdlen == 4 {
            addrs.push(Ipv4Addr::new(rdata[0], rdata[1], rdata[2], rdata[3]));
        }
        at += 10 + rdlen;
    }
    Some((rcode, addrs))
}

/// Asks `name A` until the server answers (or `START_TIMEOUT`); the answer must be `want`.
fn ready(mut server: Server, name: &str, want: Ipv4Addr) -> Result<Server, String> {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + START_TIMEOUT;
    let mut buf = [0u8; 4096];
    let mut id: u16 = 0x4242;
    let mut last = String::from("no answer");
    while Instant::now() < deadline {
        if let Ok(Some(status)) = server.child.try_wait() {
            return Err(format!("exited with {status} before answering"));
        }
        id = id.wrapping_add(1);
        let _ = socket.send_to(&query_bytes(id, name), server.addr);
        let Ok((len, _)) = socket.recv_from(&mut buf) else {
            continue;
        };
        match parse_answer(&buf[..len], id) {
            Some((0, addrs)) if addrs == [want] => return Ok(server),
            Some((rcode, addrs)) => last = format!("rcode {rcode}, A {addrs:?}"),
            None => last = "an unparsable answer".into(),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!(
        "{name} A: expected {want}, got {last} within {START_TIMEOUT:?}"
    ))
}

// ---------------------------------------------------------------------------------------
// dnsperf
// ---------------------------------------------------------------------------------------

/// One dnsperf run's results, and the server's CPU time over it.
#[derive(Debug, Clone, Default)]
struct Perf {
    qps: f64,
    avg_latency_ms: f64,
    completed: u64,
    lost: u64,
    /// Response codes other than NOERROR, as dnsperf printed them.
    odd_rcodes: Option<String>,
    /// The server's user and system CPU seconds, and context switches, over the run.
    server: ProcCost,
}

impl Perf {
    fn qps_cell(&self) -> String {
        let mut cell = format!("{:.0}", self.qps);
        if self.lost > 0 {
            let _ = write!(cell, " ({} lost)", self.lost);
        }
        if let Some(codes) = &self.odd_rcodes {
            let _ = write!(cell, " ({codes})");
        }
        cell
    }

    /// The server's cost per answered query: user µs, system µs, context switches.
    fn per_query(&self) -> (f64, f64, f64) {
        let n = self.completed.max(1) as f64;
        let c = &self.server;
        (
            c.user_secs * 1e6 / n,
            c.system_secs * 1e6 / n,
            c.switches as f64 / n,
        )
    }
}

/// How dnsperf is run: clients (`-c`) and threads (`-T`).
#[derive(Debug, Clone, Copy)]
struct Load {
    clients: u32,
    threads: u32,
}

impl Load {
    const BASE: Self = Self {
        clients: 1,
        threads: 1,
    };
    const WIDE: Self = Self {
        clients: 4,
        threads: 2,
    };
}

fn dnsperf(
    server: &Server,
    data: &Path,
    load: Load,
    s: &Settings,
    profile: Option<PathBuf>,
) -> Result<Perf, String> {
    let before = ProcCost::read(server.pid());
    let perf = profile.and_then(|out| {
        Command::new("perf")
            .args(["record", "-q", "-g", "-F", "999", "-p"])
            .arg(server.pid().to_string())
            .arg("-o")
            .arg(out)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .ok()
    });
    let output = Command::new(&s.tools.dnsperf)
        .arg("-s")
        .arg(server.addr.ip().to_string())
        .arg("-p")
        .arg(server.addr.port().to_string())
        .arg("-d")
        .arg(data)
        .arg("-c")
        .arg(load.clients.to_string())
        .arg("-T")
        .arg(load.threads.to_string())
        .arg("-q")
        .arg(OUTSTANDING.to_string())
        .arg("-l")
        .arg(s.secs.to_string())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("dnsperf: {e}"))?;
    let cost = ProcCost::read(server.pid()).minus(&before);
    if let Some(mut perf) = perf {
        let pid = rustix::process::Pid::from_child(&perf);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::INT);
        let _ = perf.wait();
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let field = |label: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .map(str::trim)
    };
    let number = |label: &str| {
        field(label)
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
    };
    let Some(qps) = number("Queries per second:") else {
        return Err(format!(
            "dnsperf printed no result ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    };
    let rcodes = field("Response codes:").unwrap_or_default();
    Ok(Perf {
        qps,
        avg_latency_ms: number("Average Latency (s):").unwrap_or(f64::NAN) * 1e3,
        completed: number("Queries completed:").unwrap_or(0.0) as u64,
        lost: number("Queries lost:").unwrap_or(0.0) as u64,
        odd_rcodes: (!rcodes.starts_with("NOERROR") || rcodes.contains(','))
            .then(|| rcodes.to_owned()),
        server: cost,
    })
}

// ---------------------------------------------------------------------------------------
// /proc
// ---------------------------------------------------------------------------------------

/// `VmRSS` and `VmHWM` of `pid`, in KiB.
fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// What a process has used so far: CPU time (all threads) and context switches.
#[derive(Debug, Clone, Default)]
struct ProcCost {
    user_secs: f64,
    system_secs: f64,
    /// Voluntary and involuntary, summed over its threads.
    switches: u64,
}

impl ProcCost {
    fn read(pid: u32) -> Self {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Fields after the parenthesised command name; utime and stime are fields 14, 15.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // USER_HZ is 100 on every Linux ABI Rust targets.
        let secs = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
                / 100.0
        };
        let mut switches = 0;
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
            for task in tasks.flatten() {
                let status =
                    std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
                switches += status
                    .lines()
                    .filter(|l| l.contains("ctxt_switches:"))
                    .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                    .sum::<u64>();
            }
        }
        Self {
            user_secs: secs(11),
            system_secs: secs(12),
            switches,
        }
    }

    fn minus(&self, earlier: &Self) -> Self {
        Self {
            user_secs: self.user_secs - earlier.user_secs,
            system_secs: self.system_secs - earlier.system_secs,
            switches: self.switches.saturating_sub(earlier.switches),
        }
    }
}

/// Busy cores over `sample`, from `/proc/stat` (everything on the machine).
fn busy_cores(sample: Duration) -> f64 {
    let read = || -> (f64, f64) {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let Some(cpu) = stat.lines().find(|l| l.starts_with("cpu ")) else {
            return (0.0, 0.0);
        };
        let v: Vec<f64> = cpu
            .split_whitespace()
            .skip(1)
            .filter_map(|x| x.parse().ok())
            .collect();
        let total: f64 = v.iter().take(8).sum();
        let idle = v.get(3).copied().unwrap_or(0.0) + v.get(4).copied().unwrap_or(0.0);
        (total, idle)
    };
    let (t0, i0) = read();
    std::thread::sleep(sample);
    let (t1, i1) = read();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    if t1 > t0 {
        (1.0 - (i1 - i0) / (t1 - t0)) * cores
    } else {
        0.0
    }
}

/// `program`'s version line, if it runs.
fn version(program: &Path, arg: &str, needle: &str) -> Option<String> {
    let out = Command::new(program).arg(arg).output().ok()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .find(|l| l.contains(needle))
        .map(|l| l.trim().to_owned())
}

// ---------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------

/// What one server measured.
struct Measured {
    redirected: Perf,
    forwarded: Perf,
    wide: Perf,
    /// `VmRSS` and `VmHWM` after the runs, KiB.
    rss_kib: (u64, u64),
    /// Bytes the server wrote to stderr per redirected answer, where it is kept.
    log_per_answer: Option<f64>,
}

impl Measured {
    /// The median of each cell over `rounds` (by QPS), the largest RSS.
    fn median(mut rounds: Vec<Self>) -> Option<Self> {
        fn pick(rounds: &mut [Measured], cell: impl Fn(&Measured) -> &Perf) -> Perf {
            rounds.sort_by(|a, b| cell(a).qps.total_cmp(&cell(b).qps));
            cell(&rounds[rounds.len() / 2]).clone()
        }
        if rounds.is_empty() {
            return None;
        }
        Some(Self {
            redirected: pick(&mut rounds, |m| &m.redirected),
            forwarded: pick(&mut rounds, |m| &m.forwarded),
            wide: pick(&mut rounds, |m| &m.wide),
            rss_kib: rounds.iter().map(|m| m.rss_kib).max().unwrap_or_default(),
            log_per_answer: rounds.iter().find_map(|m| m.log_per_answer),
        })
    }
}

fn measure(
    row: Row,
    s: &Settings,
    dir: &Path,
    upstream: SocketAddr,
    data: &(PathBuf, PathBuf),
    round: usize,
) -> Result<Measured, String> {
    let server = start(row, s, dir, upstream)?;
    let profile = |case: &str| {
        s.perf_dir
            .as_ref()
            .map(|d| d.join(format!("{}-{case}-{round}.data", row.key())))
    };
    let result = (|| {
        let redirected = dnsperf(&server, &data.0, Load::BASE, s, profile("redirected"))?;
        let forwarded = dnsperf(&server, &data.1, Load::BASE, s, profile("forwarded"))?;
        let wide = dnsperf(&server, &data.0, Load::WIDE, s, profile("redirected-wide"))?;
        let answers = (redirected.completed + wide.completed).max(1) as f64;
        Ok(Measured {
            rss_kib: rss_kib(server.pid()),
            log_per_answer: server
                .log
                .as_ref()
                .and_then(|l| std::fs::metadata(l).ok())
                .map(|m| m.len() as f64 / answers),
            redirected,
            forwarded,
            wide,
        })
    })();
    server.stop();
    result
}

fn print_header(s: &Settings) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let busy = busy_cores(Duration::from_secs(1));
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "{} mode; {cores} cores shared by dnsperf and the server under test (no pinning); \
         {} build of the bench and the responder rows.\n",
        if s.quick { "quick" } else { "full" },
        if cfg!(debug_assertions) {
            "debug assertions ON: numbers are not representative"
        } else {
            "optimised"
        },
    );
    println!(
        "**Machine load before the run: {busy:.1} of {cores} cores busy with other processes** \
         (1 s sample of /proc/stat; load average {}).{} Compare rows of one run, not absolute \
         numbers across machines.\n",
        loadavg
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        std::env::var("IMT_BENCH_NOTE").map_or(String::new(), |n| format!(" {n}")),
    );
    println!(
        "Versions: {}; {}; {}.\n",
        version(&s.tools.dnsperf, "-h", "Version").map_or_else(
            || "dnsperf (version unknown)".into(),
            |v| format!("dnsperf {}", v.trim_start_matches("Version ")),
        ),
        version(&s.tools.unbound, "-V", "Version").map_or_else(
            || "unbound (version unknown)".into(),
            |v| format!("unbound {}", v.trim_start_matches("Version ")),
        ),
        version(&s.tools.dnsmasq, "--version", "version")
            .and_then(|v| v.split_whitespace().nth(2).map(|n| format!("dnsmasq {n}")))
            .unwrap_or_else(|| "dnsmasq (version unknown)".into()),
    );
    match &s.imtegrity {
        Some(binary) => {
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
            let built = std::fs::metadata(binary).and_then(|m| m.modified()).ok();
            let newest = newest_source(&[
                root.join("src"),
                root.join("dns/src"),
                root.join("settings/src"),
            ]);
            let stale = matches!((built, newest), (Some(b), Some(n)) if n > b);
            println!(
                "`imtegrity run` rows: {}{}\n",
                binary.display(),
                if stale {
                    " — **older than the sources in src/, dns/src or settings/src: rebuild with \
                     `cargo build --release -p imtegrity` to measure the current code**"
                } else {
                    ""
                }
            );
        }
        None => println!(
            "`imtegrity run` rows: no release binary; run `cargo build --release -p imtegrity` \
             first (or set IMT_BENCH_IMTEGRITY).\n"
        ),
    }
}

fn print_tables(s: &Settings, results: &[(Row, Result<Measured, String>)]) {
    println!(
        "dnsperf {} s per cell{}, `-c 1 -T 1 -q {OUTSTANDING}` unless the column says \
         otherwise, over UDP on 127.0.0.1, one query name per run (`{REDIRECTED} A` \
         redirected, `{FORWARDED} A` forwarded and cached; the upstream is a dnsmasq on \
         another loopback port). Latency is dnsperf's average; with {OUTSTANDING} queries \
         outstanding it is mostly queueing (≈ {OUTSTANDING} / QPS). RSS is `VmRSS` after the \
         three runs (`VmHWM`, the peak, in brackets). The percentage is of unbound's \
         redirected QPS.\n",
        s.secs,
        if s.rounds > 1 {
            format!(" (median of {} rounds, run round-robin)", s.rounds)
        } else {
            String::new()
        },
    );
    println!(
        "| server | redirected QPS | avg latency | forwarded (cached) QPS | avg latency | \
         redirected QPS, `-c 4 -T 2` | RSS after load (peak) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let unbound_qps = results.iter().find_map(|(r, m)| match (r, m) {
        (Row::Unbound, Ok(m)) => Some(m.redirected.qps),
        _ => None,
    });
    for (row, m) in results {
        match m {
            Ok(m) => {
                let vs_unbound = unbound_qps
                    .filter(|_| *row != Row::Unbound)
                    .map_or(String::new(), |u| {
                        format!(" ({:.0}%)", 100.0 * m.redirected.qps / u)
                    });
                println!(
                    "| {} | {}{vs_unbound} | {:.2} ms | {} | {:.2} ms | {} | {:.1} MB ({:.1} MB) |",
                    row.label(),
                    m.redirected.qps_cell(),
                    m.redirected.avg_latency_ms,
                    m.forwarded.qps_cell(),
                    m.forwarded.avg_latency_ms,
                    m.wide.qps_cell(),
                    m.rss_kib.0 as f64 / 1024.0,
                    m.rss_kib.1 as f64 / 1024.0,
                );
            }
            Err(e) => println!("| {} | not measured: {e} | | | | | |", row.label()),
        }
    }
    println!(
        "\nWhere the server's time goes, per answered query in the same runs: user and system \
         CPU time of the server process (all threads, from /proc/PID/stat in 10 ms ticks) and \
         its context switches (voluntary + involuntary, all threads). dnsperf and the server \
         share the cores, so a server that costs less per query leaves more to dnsperf.\n"
    );
    println!(
        "| server | redirected: user / system µs | switches | forwarded: user / system µs | \
         switches | redirected `-c 4 -T 2`: user / system µs | switches |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (row, m) in results {
        if let Ok(m) = m {
            let mut line = format!("| {} |", row.label());
            for p in [&m.redirected, &m.forwarded, &m.wide] {
                let (user, system, switches) = p.per_query();
                let _ = write!(line, " {user:.1} / {system:.1} | {switches:.2} |");
            }
            println!("{line}");
        }
    }
    for (row, m) in results {
        if let Ok(Measured {
            log_per_answer: Some(bytes),
            ..
        }) = m
        {
            println!(
                "\n{}: {bytes:.0} bytes of stderr per redirected answer.",
                row.label()
            );
        }
    }
}

fn main() {
    if let Ok(kind) = std::env::var("IMT_DNS_BENCH_CHILD") {
        child_main(&kind);
        return;
    }
    println!("# DNS benchmark\n");
    let tools = match Tools::find() {
        Ok(tools) => tools,
        Err(missing) => {
            println!(
                "**Skipped: {} not found (on PATH, /usr/sbin or /sbin).** Install them with \
                 `tests/peers/install.sh` (as root; Debian packages dnsperf, unbound, \
                 dnsmasq-base); nothing was measured.",
                missing.join(", ")
            );
            eprintln!("dns bench skipped: missing {}", missing.join(", "));
            return;
        }
    };
    let s = Settings::from_env(tools);
    if let Some(d) = &s.perf_dir {
        std::fs::create_dir_all(d).unwrap();
        if Command::new("perf")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_err()
        {
            eprintln!("IMT_BENCH_PERF is set but `perf` is not on PATH: no profiles recorded");
        }
    }
    let started = Instant::now();
    print_header(&s);

    let dir = tempfile::tempdir().unwrap();
    let data = (
        dir.path().join("redirected.txt"),
        dir.path().join("forwarded.txt"),
    );
    std::fs::write(&data.0, format!("{REDIRECTED} A\n")).unwrap();
    std::fs::write(&data.1, format!("{FORWARDED} A\n")).unwrap();
    let upstream = match start_upstream(&s, dir.path()) {
        Ok(u) => u,
        Err(e) => {
            println!("**Failed: the upstream dnsmasq did not start: {e}**");
            std::process::exit(1);
        }
    };
    let mut rounds: Vec<(Row, Vec<Measured>, Option<String>)> =
        s.rows.iter().map(|&r| (r, Vec::new(), None)).collect();
    for round in 0..s.rounds {
        for (row, done, failed) in &mut rounds {
            eprintln!("dns bench: {} (round {}) ...", row.key(), round + 1);
            match measure(*row, &s, dir.path(), upstream.addr, &data, round) {
                Ok(m) => done.push(m),
                Err(e) => {
                    eprintln!("dns bench: {}: {e}", row.key());
                    *failed = Some(e);
                }
            }
        }
    }
    upstream.stop();
    let results: Vec<(Row, Result<Measured, String>)> = rounds
        .into_iter()
        .map(|(row, done, failed)| {
            let m = Measured::median(done).ok_or_else(|| failed.unwrap_or_default());
            (row, m)
        })
        .collect();
    print_tables(&s, &results);
    println!("\n(whole run {:.0} s)", started.elapsed().as_secs_f64());
}
