//! Relay benchmark: what the IMtegrity relay costs against no relay, a plain
//! `copy_bidirectional` relay and HAProxy. Prints Markdown tables; asserts nothing about time.
//!
//! ```text
//! cargo bench -p intercept --bench relay                      # full run, about 90 s
//! IMT_BENCH_QUICK=1 cargo bench -p intercept --bench relay    # smoke run, under 30 s
//! ```
//!
//! Four parts, every one on 127.0.0.1 only, every loop bounded in count and in time:
//!
//! 1. **IMs per second, relayed and archived**: N pairs of lab clients (N = 1, 8, 64) logged
//!    in to a lab server directly, or through the relay with no archive, relaxed capture or
//!    strict capture. Each sender keeps at most 16 IMs outstanding (sent, not yet delivered)
//!    and sends until its time is up (or `IMT_BENCH_IMS` IMs); the last IM is a marker the
//!    receiver stops on. The archive must then hold one record per delivered IM.
//! 2. **Round trip**: one pair plays ping-pong (A sends, B receives and replies, A receives);
//!    p50/p99 directly and through the relay.
//! 3. **Bulk bytes**: one session streams 8 KiB channel-2 SNACs of an unknown family (the
//!    relay decodes and forwards them untouched) to a fake upstream that sinks them, directly
//!    or through the IMtegrity relay, a plain tokio `copy_bidirectional` relay or HAProxy
//!    (`mode tcp`, `nbthread 1`, Debian's `haproxy`; the row says so when it is missing).
//! 4. **Memory**: RSS of a relay process idle, then holding idle sessions (each client sent
//!    a plain hello; the fake upstream holds the other end). Each relay runs in a child
//!    process (this binary re-executed) so its RSS is its own: the clients and the fake
//!    upstream stay in this process, and nothing allocated by parts 1–3 is counted.
//!
//! Environment:
//! * `IMT_BENCH_QUICK=1`: short phases and 1 000 idle sessions.
//! * `IMT_BENCH_SECS`: seconds per IM-throughput row (default 5; quick 0.5).
//! * `IMT_BENCH_IMS`: most IMs per sender (default 1 000 000, so time is the bound).
//! * `IMT_BENCH_BULK_MIB`: MiB streamed per bulk row (default 1024; quick 64).
//! * `IMT_BENCH_SESSIONS`: idle sessions for the memory part (default 10 000; quick 1 000).
//! * `IMT_BENCH_DIR`: where the archives go (default: the system temp dir).
//! * `IMT_BENCH_HAPROXY`: the haproxy binary (default `haproxy` on `PATH`).
//! * `IMT_BENCH_NOTE`: a sentence added to the header, e.g. what else loads the machine.
//! * `IMT_BENCH_ONLY`: comma-separated parts to run, of `ims`, `latency`, `bulk`, `memory`
//!   (default: all), e.g. to profile one part.
//! * `IMT_BENCH_PAIRS` (default `1,8,64`) and `IMT_BENCH_ROUTES` (default
//!   `direct,noarchive,relaxed,strict,policy`): the rows of parts 1 and 2.
//!
//! File descriptors: a relay holds two sockets per session, and so does this process (the
//! clients and the fake upstream), so 10 000 idle sessions need about 20 200 descriptors in
//! each. The bench raises its soft `RLIMIT_NOFILE` to what it needs (the hard limit too when
//! it has `CAP_SYS_RESOURCE`); when it cannot, it prints a note and measures as many
//! sessions as fit. Give it room first with `ulimit -n 21000` (the hard limit permitting,
//! see `ulimit -Hn`).
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use archive::{Archive, ArchiveOptions};
use intercept::{CaptureMode, Relay, RelaySettings};
use lab::{LabClient, LabConfig, LabServer};
use oscar::message::SignonHello;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// IMs a sender may have sent and not yet seen delivered.
const WINDOW: usize = 16;
/// Pair counts of the IM-throughput part.
const PAIRS: [usize; 3] = [1, 8, 64];
/// The IM every sender sends: a realistic desk message.
const TEXT: &str =
    "bench: the quarterly numbers look fine to me, please confirm the ticket by noon";
/// The last IM of a sender; its receiver stops on it.
const END: &str = "bench: end of stream";
/// Longest wait for any one step (a delivery, a window slot, a login) before the row fails.
const STALL: Duration = Duration::from_secs(15);
/// Payload of one bulk FLAP frame: a 10-byte SNAC header and the body.
const BULK_PAYLOAD: usize = 8 * 1024;
/// Frames in the buffer the bulk client writes over and over.
const BULK_CHUNK_FRAMES: usize = 128;
/// An unassigned SNAC family: the relay decodes the header and forwards the frame as-is.
const BULK_FAMILY: u16 = 0x7a7a;
/// Longest a bulk row may stream.
const BULK_LIMIT: Duration = Duration::from_secs(30);
/// Descriptors kept spare beside two per idle session (listeners, epoll, the archive's
/// files, stdio).
const FD_SPARE: u64 = 200;

// ---------------------------------------------------------------------------------------
// Settings and small helpers
// ---------------------------------------------------------------------------------------

struct Settings {
    quick: bool,
    secs: f64,
    max_ims: u64,
    latency_rounds: usize,
    latency_secs: f64,
    bulk_bytes: u64,
    sessions: usize,
    base: Option<PathBuf>,
    haproxy: String,
    only: Option<Vec<String>>,
    pairs: Vec<usize>,
    routes: Vec<Route>,
}

fn env_f64(name: &str) -> Option<f64> {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
}

impl Settings {
    fn from_env() -> Self {
        let quick = std::env::var("IMT_BENCH_QUICK").is_ok_and(|v| v == "1");
        let q = |full: f64, quick_value: f64| if quick { quick_value } else { full };
        Self {
            quick,
            secs: env_f64("IMT_BENCH_SECS").unwrap_or(q(5.0, 0.5)),
            max_ims: env_f64("IMT_BENCH_IMS").map_or(1_000_000, |v| v.max(1.0) as u64),
            latency_rounds: q(5000.0, 300.0) as usize,
            latency_secs: q(5.0, 0.5),
            bulk_bytes: (env_f64("IMT_BENCH_BULK_MIB").unwrap_or(q(1024.0, 64.0)) * 1048576.0)
                as u64,
            sessions: env_f64("IMT_BENCH_SESSIONS").unwrap_or(q(10_000.0, 1_000.0)) as usize,
            base: std::env::var_os("IMT_BENCH_DIR").map(PathBuf::from),
            haproxy: std::env::var("IMT_BENCH_HAPROXY").unwrap_or_else(|_| "haproxy".into()),
            only: std::env::var("IMT_BENCH_ONLY")
                .ok()
                .map(|v| v.split(',').map(|p| p.trim().to_owned()).collect()),
            pairs: std::env::var("IMT_BENCH_PAIRS").map_or_else(
                |_| PAIRS.to_vec(),
                |v| v.split(',').filter_map(|p| p.trim().parse().ok()).collect(),
            ),
            routes: std::env::var("IMT_BENCH_ROUTES").map_or_else(
                |_| Route::ALL.to_vec(),
                |v| {
                    Route::ALL
                        .into_iter()
                        .filter(|r| v.split(',').any(|p| p.trim() == r.key()))
                        .collect()
                },
            ),
        }
    }

    fn runs(&self, part: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|parts| parts.iter().any(|p| p == part))
    }
}

fn tempdir(base: Option<&Path>) -> tempfile::TempDir {
    match base {
        Some(dir) => {
            std::fs::create_dir_all(dir).unwrap();
            tempfile::tempdir_in(dir).unwrap()
        }
        None => tempfile::tempdir().unwrap(),
    }
}

/// `VmRSS` of `pid` (this process when `None`), in KiB.
fn rss_kib(pid: Option<u32>) -> u64 {
    let path = pid.map_or_else(
        || "/proc/self/status".to_owned(),
        |p| format!("/proc/{p}/status"),
    );
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// User + system CPU seconds of `pid` (this process when `None`), all threads.
fn cpu_secs(pid: Option<u32>) -> f64 {
    let path = pid.map_or_else(
        || "/proc/self/stat".to_owned(),
        |p| format!("/proc/{p}/stat"),
    );
    let Ok(stat) = std::fs::read_to_string(path) else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // USER_HZ is 100 on every Linux ABI Rust targets.
    (ticks(11) + ticks(12)) / 100.0
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

/// The soft and hard `Max open files` from `/proc/self/limits`.
fn nofile_limits() -> (u64, u64) {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let parse = |v: Option<&str>| match v {
        Some("unlimited") => u64::MAX,
        Some(n) => n.parse().unwrap_or(1024),
        None => 1024,
    };
    limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .map_or((1024, 1024), |rest| {
            let mut it = rest.split_whitespace();
            (parse(it.next()), parse(it.next()))
        })
}

/// Raises the soft descriptor limit to `want` (the hard one too when allowed). Returns the
/// soft limit now in force.
fn raise_nofile(want: u64) -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let (soft, hard) = nofile_limits();
    if soft >= want {
        return soft;
    }
    let now = getrlimit(Resource::Nofile);
    let attempt = if hard >= want {
        Rlimit {
            current: Some(want),
            maximum: now.maximum,
        }
    } else {
        // Raising the hard limit needs CAP_SYS_RESOURCE (root has it).
        Rlimit {
            current: Some(want),
            maximum: Some(want),
        }
    };
    if setrlimit(Resource::Nofile, attempt).is_err() && hard > soft {
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: now.maximum,
                maximum: now.maximum,
            },
        );
    }
    nofile_limits().0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// A plain channel-1 hello (version 1, no TLVs) on the wire: what an authorizer connection
/// opens with, and what the relay sends `upstream_login`.
fn plain_hello() -> Vec<u8> {
    let mut flap = SignonHello::default().to_flap().unwrap();
    flap.seq = 1;
    flap.to_bytes().unwrap().to_vec()
}

/// `frames` back-to-back FLAP channel-2 frames of `BULK_PAYLOAD` bytes each: a SNAC of an
/// unassigned family with a patterned body.
fn bulk_chunk(frames: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(frames * (BULK_PAYLOAD + 6));
    for i in 0..frames {
        out.extend_from_slice(&[0x2a, 0x02]);
        out.extend_from_slice(&((i as u16).wrapping_add(2)).to_be_bytes());
        out.extend_from_slice(&(BULK_PAYLOAD as u16).to_be_bytes());
        out.extend_from_slice(&BULK_FAMILY.to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes()); // subtype
        out.extend_from_slice(&0u16.to_be_bytes()); // flags
        out.extend_from_slice(&(i as u32).to_be_bytes()); // request id
        out.extend((0..BULK_PAYLOAD - 10).map(|j| (j % 251) as u8));
    }
    out
}

/// The wire length of a plain hello.
const HELLO_LEN: usize = 10;

// ---------------------------------------------------------------------------------------
// Relays under test
// ---------------------------------------------------------------------------------------

/// How the lab clients reach the lab server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// No relay: the baseline.
    Direct,
    /// The IMtegrity relay without an archive: the relay-only ceiling.
    NoArchive,
    /// The IMtegrity relay, relaxed capture.
    Relaxed,
    /// The IMtegrity relay, strict capture.
    Strict,
    /// Strict capture with a compliance policy of six rules none of the IMs match (every
    /// rule is evaluated for every IM).
    Policy,
}

impl Route {
    const ALL: [Self; 5] = [
        Self::Direct,
        Self::NoArchive,
        Self::Relaxed,
        Self::Strict,
        Self::Policy,
    ];

    fn key(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::NoArchive => "noarchive",
            Self::Relaxed => "relaxed",
            Self::Strict => "strict",
            Self::Policy => "policy",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Direct => "direct (no relay)",
            Self::NoArchive => "relay, no archive",
            Self::Relaxed => "relay, relaxed",
            Self::Strict => "relay, strict",
            Self::Policy => "relay, strict, policy (6 rules)",
        }
    }

    fn capture(self) -> Option<Option<CaptureMode>> {
        match self {
            Self::Direct => None,
            Self::NoArchive => Some(None),
            Self::Relaxed => Some(Some(CaptureMode::Relaxed)),
            Self::Strict | Self::Policy => Some(Some(CaptureMode::Strict)),
        }
    }

    /// The policy the relay applies on this route.
    fn policy(self) -> Option<Arc<policy::PolicyEngine>> {
        (self == Self::Policy).then(bench_policy)
    }
}

/// Six rules of every kind (names, kinds, keywords, patterns, mask, alert) that the bench
/// IMs never match, so each IM is checked against all of them and delivered as is.
fn bench_policy() -> Arc<policy::PolicyEngine> {
    const POLICY: &str = r#"
[policy]
default_profile = "p"
[policy.profiles.p]
[[policy.profiles.p.rules]]
name = "eap"
remote = ["eapcounsel", "re:^hr[0-9]+$"]
action = "no_log"
[[policy.profiles.p.rules]]
name = "files"
kinds = ["file", "direct_im"]
action = "block"
[[policy.profiles.p.rules]]
name = "insider"
keywords = ["insider", "guaranteed return", "off the record"]
action = "block"
[[policy.profiles.p.rules]]
name = "ssn"
patterns = ['re:\b\d{3}-\d{2}-\d{4}\b']
action = "mask"
[[policy.profiles.p.rules]]
name = "card"
patterns = ['re:\b(?:\d[ -]?){13,16}\b']
action = "mask"
[[policy.profiles.p.rules]]
name = "merger"
keywords = ["merger", "acquisition"]
action = "alert"
"#;
    let config = settings::Config::load("bench.toml", POLICY, &[]).expect("bench policy");
    Arc::new(
        policy::PolicyEngine::compile(&config.policy, policy::Directory::default())
            .expect("bench policy compiles"),
    )
}

/// An IMtegrity relay on an ephemeral loopback port.
struct Gateway {
    addr: SocketAddr,
    relay: Arc<Relay>,
    archive: Option<Archive>,
    dir: Option<tempfile::TempDir>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Gateway {
    /// `mode` `None`: no archive.
    async fn start(
        upstream_login: SocketAddr,
        mode: Option<CaptureMode>,
        base: Option<&Path>,
        policy: Option<Arc<policy::PolicyEngine>>,
    ) -> Self {
        let (archive, dir) = match mode {
            Some(_) => {
                let dir = tempdir(base);
                let archive = Archive::open(
                    dir.path(),
                    ArchiveOptions {
                        node: Some("bench".into()),
                        ..ArchiveOptions::default()
                    },
                )
                .unwrap();
                (Some(archive), Some(dir))
            }
            None => (None, None),
        };
        let config = RelaySettings {
            upstream_login: upstream_login.into(),
            mode: mode.unwrap_or(CaptureMode::Strict),
            node: "bench".into(),
            policy,
            // The benchmark's thousands of idle sessions come from one address and never
            // finish a login: the flood limits would (rightly) refuse them.
            limits: intercept::ConnectionLimits {
                per_address: u32::MAX,
                per_second: u32::MAX,
                burst: u32::MAX,
                max_open: usize::MAX,
            },
            signon_timeout: Duration::from_secs(3600),
            ..RelaySettings::default()
        };
        let relay = Arc::new(Relay::new(config, archive.clone()).expect("relay"));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let task = tokio::spawn(intercept::serve(listener, relay.clone(), stop.clone()));
        Self {
            addr,
            relay,
            archive,
            dir,
            stop,
            task,
        }
    }

    /// Stops serving and drops every handle on the archive; returns its directory, whose
    /// store is released once the writer's closing checkpoint is done (see `wait_closed`).
    async fn shutdown(self) -> Option<tempfile::TempDir> {
        self.stop.cancel();
        let _ = self.task.await;
        drop(self.relay);
        drop(self.archive);
        self.dir
    }
}

/// Waits (bounded) until the writer of a dropped archive has released the store, so its
/// closing checkpoint does not overlap the next measurement; then deletes it.
fn wait_closed(dir: Option<tempfile::TempDir>) {
    let Some(dir) = dir else { return };
    for _ in 0..1000 {
        match Archive::open(dir.path(), ArchiveOptions::default()) {
            Ok(again) => {
                drop(again);
                break;
            }
            Err(archive::ArchiveError::Locked { .. }) => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => {
                eprintln!("reopening a bench archive: {e}");
                break;
            }
        }
    }
    // The reopened handle's writer thread finishes on its own; give it a moment.
    std::thread::sleep(Duration::from_millis(100));
}

/// A plain relay: accept, connect upstream, `copy_bidirectional` (8 KiB buffers each way).
async fn copy_relay(listener: TcpListener, upstream: SocketAddr, stop: CancellationToken) {
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => {
                let Ok((mut client, _)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                tasks.spawn(async move {
                    let Ok(mut up) = TcpStream::connect(upstream).await else { return };
                    let _ = client.set_nodelay(true);
                    let _ = up.set_nodelay(true);
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut up).await;
                });
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    tasks.shutdown().await;
}

/// HAProxy in `mode tcp` on a loopback port, in the foreground, killed on drop.
struct Haproxy {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Haproxy {
    /// `Err` says why it is not available.
    fn start(binary: &str, backend: SocketAddr, maxconn: usize) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let config = format!(
            "global\n    nbthread 1\n    maxconn {maxconn}\n\n\
             defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 10m\n    \
             timeout server 10m\n\n\
             frontend bench\n    bind {addr}\n    default_backend upstream\n\n\
             backend upstream\n    server up {backend}\n"
        );
        let cfg = dir.path().join("haproxy.cfg");
        std::fs::write(&cfg, config).map_err(|e| e.to_string())?;
        let log =
            std::fs::File::create(dir.path().join("haproxy.log")).map_err(|e| e.to_string())?;
        let child = Command::new(binary)
            .arg("-db")
            .arg("-f")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot run `{binary}`: {e}"))?;
        let mut haproxy = Self {
            child,
            addr,
            _dir: dir,
        };
        // Ready once its port listens (not probed by connecting: that would open a
        // session to the backend).
        for _ in 0..200 {
            if let Ok(Some(status)) = haproxy.child.try_wait() {
                let log = std::fs::read_to_string(haproxy._dir.path().join("haproxy.log"))
                    .unwrap_or_default();
                return Err(format!("haproxy exited ({status}): {}", log.trim()));
            }
            if is_listening(port) {
                return Ok(haproxy);
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = haproxy.child.kill();
        Err("haproxy did not start listening within 5 s".into())
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether something listens on 127.0.0.1:`port` (from `/proc/net/tcp`).
fn is_listening(port: u16) -> bool {
    let want = format!("0100007F:{port:04X}");
    std::fs::read_to_string("/proc/net/tcp").is_ok_and(|t| {
        t.lines().skip(1).any(|l| {
            let mut f = l.split_whitespace();
            let local = f.nth(1);
            let state = f.nth(1);
            local == Some(want.as_str()) && state == Some("0A")
        })
    })
}

// ---------------------------------------------------------------------------------------
// Fake upstreams
// ---------------------------------------------------------------------------------------

/// Sends each connection a hello, then reads and counts everything; reports the moment a
/// connection has received `expected` bytes.
async fn sink_upstream(
    listener: TcpListener,
    expected: u64,
    received: Arc<AtomicU64>,
    done: mpsc::Sender<Instant>,
    stop: CancellationToken,
) {
    let hello = plain_hello();
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => {
                let Ok((mut stream, _)) = accepted else { continue };
                let (hello, received, done) = (hello.clone(), received.clone(), done.clone());
                tasks.spawn(async move {
                    let _ = stream.set_nodelay(true);
                    if stream.write_all(&hello).await.is_err() {
                        return;
                    }
                    let mut buf = vec![0u8; 256 * 1024];
                    let mut mine = 0u64;
                    loop {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                mine += n as u64;
                                received.fetch_add(n as u64, Ordering::Relaxed);
                                if mine >= expected && mine - (n as u64) < expected {
                                    let _ = done.send(Instant::now()).await;
                                }
                            }
                        }
                    }
                });
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    tasks.shutdown().await;
}

/// Sends each connection a hello and keeps it, unread, until stopped.
async fn hold_upstream(listener: TcpListener, held: Arc<AtomicUsize>, stop: CancellationToken) {
    let hello = plain_hello();
    let mut streams = Vec::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((mut stream, _)) => {
                    // 10 bytes into an empty socket buffer: never waits.
                    let _ = stream.write_all(&hello).await;
                    streams.push(stream);
                    held.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
        }
    }
    drop(streams);
}

// ---------------------------------------------------------------------------------------
// 1. IMs per second
// ---------------------------------------------------------------------------------------

struct ImRow {
    route: Route,
    pairs: usize,
    delivered: u64,
    secs: f64,
    /// Records in the archive after the run (synced), and the relay's own count.
    records: Option<(u64, u64)>,
    failed_sessions: u64,
    /// CPU seconds of this whole process (clients, lab server, relay, archive writer).
    cpu: f64,
}

async fn login_all(auth: SocketAddr, names: Vec<String>) -> Result<Vec<LabClient>, String> {
    let gate = Arc::new(Semaphore::new(16));
    let mut tasks = Vec::new();
    for name in names {
        let gate = gate.clone();
        tasks.push(tokio::spawn(async move {
            let _slot = gate.acquire_owned().await;
            tokio::time::timeout(STALL, LabClient::login(auth, &name, "bench"))
                .await
                .map_err(|_| format!("login of {name} timed out"))?
                .map_err(|e| format!("login of {name}: {e}"))
        }));
    }
    let mut clients = Vec::new();
    for t in tasks {
        clients.push(t.await.map_err(|e| e.to_string())??);
    }
    Ok(clients)
}

/// Sends `TEXT` to `to` while a window slot is free, until `deadline` or `max` IMs; the last
/// one is `END`. Returns the client so it stays connected until its peer has everything.
async fn im_sender(
    mut me: LabClient,
    to: String,
    window: Arc<Semaphore>,
    deadline: Instant,
    max: u64,
) -> Result<(u64, LabClient), String> {
    let mut sent = 0u64;
    loop {
        let last = sent + 1 >= max || Instant::now() >= deadline;
        let slot = tokio::time::timeout(STALL, window.acquire())
            .await
            .map_err(|_| format!("no delivery for {} s", STALL.as_secs()))?
            .map_err(|e| e.to_string())?;
        slot.forget();
        me.send_im(&to, if last { END } else { TEXT })
            .await
            .map_err(|e| e.to_string())?;
        sent += 1;
        if last {
            return Ok((sent, me));
        }
    }
}

/// Receives IMs from `from`, freeing a window slot for each, up to and including `END`.
async fn im_receiver(
    mut me: LabClient,
    from: String,
    window: Arc<Semaphore>,
) -> Result<(u64, LabClient), String> {
    let mut got = 0u64;
    loop {
        let text = me
            .expect_im(&from, STALL)
            .await
            .map_err(|e| format!("after {got} IMs: {e}"))?;
        got += 1;
        window.add_permits(1);
        if text == END {
            return Ok((got, me));
        }
    }
}

async fn im_throughput(
    route: Route,
    pairs: usize,
    s: &Settings,
) -> (Result<ImRow, String>, Option<tempfile::TempDir>) {
    let lab = LabServer::start(LabConfig::ephemeral()).await.unwrap();
    let gateway = match route.capture() {
        Some(mode) => {
            Some(Gateway::start(lab.auth_addr, mode, s.base.as_deref(), route.policy()).await)
        }
        None => None,
    };
    let entry = gateway.as_ref().map_or(lab.auth_addr, |g| g.addr);
    let result = async {
        let names: Vec<String> = (0..pairs)
            .flat_map(|i| [format!("rcv{i:03}"), format!("snd{i:03}")])
            .collect();
        let mut clients = login_all(entry, names).await?.into_iter();
        let cpu0 = cpu_secs(None);
        let started = Instant::now();
        let deadline = started + Duration::from_secs_f64(s.secs);
        let (mut senders, mut receivers) = (Vec::new(), Vec::new());
        for i in 0..pairs {
            let (rcv, snd) = (clients.next().unwrap(), clients.next().unwrap());
            let window = Arc::new(Semaphore::new(WINDOW));
            receivers.push(tokio::spawn(im_receiver(
                rcv,
                format!("snd{i:03}"),
                window.clone(),
            )));
            senders.push(tokio::spawn(im_sender(
                snd,
                format!("rcv{i:03}"),
                window,
                deadline,
                s.max_ims,
            )));
        }
        let mut delivered = 0;
        let mut keep = Vec::new();
        for r in receivers {
            let (n, client) = r.await.map_err(|e| e.to_string())??;
            delivered += n;
            keep.push(client);
        }
        let secs = started.elapsed().as_secs_f64();
        let cpu = cpu_secs(None) - cpu0;
        let mut sent = 0;
        for t in senders {
            let (n, client) = t.await.map_err(|e| e.to_string())??;
            sent += n;
            keep.push(client);
        }
        if sent != delivered {
            return Err(format!("{sent} IMs sent, {delivered} delivered"));
        }
        let records = match gateway.as_ref().and_then(|g| g.archive.as_ref()) {
            Some(archive) => {
                archive.sync().await.map_err(|e| e.to_string())?;
                let relay_count = gateway
                    .as_ref()
                    .map_or(0, |g| g.relay.stats.records.load(Ordering::Relaxed));
                // The check is on IM records: each user's sign-on has its own record
                // (`session_start`), which the relay counts too.
                let ims = archive::Query {
                    kinds: vec![archive::Kind::Im],
                    ..archive::Query::default()
                };
                let im_records = archive.search(&ims).filter(Result::is_ok).count() as u64;
                let others = (archive.len() as u64).saturating_sub(im_records);
                Some((im_records, relay_count.saturating_sub(others)))
            }
            None => None,
        };
        let failed_sessions = gateway
            .as_ref()
            .map_or(0, |g| g.relay.stats.sessions_failed.load(Ordering::Relaxed));
        drop(keep);
        Ok(ImRow {
            route,
            pairs,
            delivered,
            secs,
            records,
            failed_sessions,
            cpu,
        })
    }
    .await;
    let dir = match gateway {
        Some(g) => g.shutdown().await,
        None => None,
    };
    lab.stop().await;
    (result, dir)
}

// ---------------------------------------------------------------------------------------
// 2. Round trip
// ---------------------------------------------------------------------------------------

struct LatencyRow {
    rounds: usize,
    p50_ms: f64,
    p99_ms: f64,
    mean_ms: f64,
}

async fn ping_pong(
    route: Route,
    s: &Settings,
) -> (Result<LatencyRow, String>, Option<tempfile::TempDir>) {
    let lab = LabServer::start(LabConfig::ephemeral()).await.unwrap();
    let gateway = match route.capture() {
        Some(mode) => {
            Some(Gateway::start(lab.auth_addr, mode, s.base.as_deref(), route.policy()).await)
        }
        None => None,
    };
    let entry = gateway.as_ref().map_or(lab.auth_addr, |g| g.addr);
    let result = async {
        let mut clients = login_all(entry, vec!["pinga".into(), "pingb".into()]).await?;
        let mut b = clients.pop().unwrap();
        let mut a = clients.pop().unwrap();
        let warmup = 20;
        let limit = Duration::from_secs_f64(s.latency_secs);
        let mut rtts = Vec::with_capacity(s.latency_rounds);
        let mut started = Instant::now();
        for i in 0..warmup + s.latency_rounds {
            if i == warmup {
                started = Instant::now();
            }
            if i > warmup && started.elapsed() >= limit {
                break;
            }
            let t = Instant::now();
            a.send_im("pingb", "ping")
                .await
                .map_err(|e| e.to_string())?;
            b.expect_im("pinga", STALL)
                .await
                .map_err(|e| e.to_string())?;
            b.send_im("pinga", "pong")
                .await
                .map_err(|e| e.to_string())?;
            a.expect_im("pingb", STALL)
                .await
                .map_err(|e| e.to_string())?;
            if i >= warmup {
                rtts.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        let mean_ms = rtts.iter().sum::<f64>() / rtts.len().max(1) as f64;
        rtts.sort_by(f64::total_cmp);
        Ok(LatencyRow {
            rounds: rtts.len(),
            p50_ms: percentile(&rtts, 0.5),
            p99_ms: percentile(&rtts, 0.99),
            mean_ms,
        })
    }
    .await;
    let dir = match gateway {
        Some(g) => g.shutdown().await,
        None => None,
    };
    lab.stop().await;
    (result, dir)
}

// ---------------------------------------------------------------------------------------
// 3. Bulk bytes
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bulk {
    Direct,
    Imtegrity,
    Copy,
    Haproxy,
}

impl Bulk {
    const ALL: [Self; 4] = [Self::Direct, Self::Imtegrity, Self::Copy, Self::Haproxy];

    fn label(self) -> &'static str {
        match self {
            Self::Direct => "direct (no relay)",
            Self::Imtegrity => "IMtegrity relay (strict, archive open)",
            Self::Copy => "tokio `copy_bidirectional` relay",
            Self::Haproxy => "HAProxy `mode tcp`, `nbthread 1`",
        }
    }
}

struct BulkRow {
    bytes: u64,
    secs: f64,
    /// CPU seconds of this process, and of HAProxy when it ran.
    cpu: f64,
    haproxy_cpu: Option<f64>,
    complete: bool,
}

/// Connects, exchanges hellos, streams `total` bytes of bulk frames; returns when written.
async fn bulk_client(addr: SocketAddr, total: u64, chunk: Arc<Vec<u8>>) -> Result<(), String> {
    let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let mut hello = [0u8; HELLO_LEN];
    tokio::time::timeout(STALL, stream.read_exact(&mut hello))
        .await
        .map_err(|_| "no server hello".to_owned())?
        .map_err(|e| e.to_string())?;
    stream
        .write_all(&plain_hello())
        .await
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + BULK_LIMIT;
    let mut left = total;
    while left > 0 && Instant::now() < deadline {
        let n = left.min(chunk.len() as u64) as usize;
        stream
            .write_all(&chunk[..n])
            .await
            .map_err(|e| e.to_string())?;
        left -= n as u64;
    }
    // Keep the connection open until the sink has counted everything (the caller stops us).
    tokio::time::sleep(BULK_LIMIT).await;
    Ok(())
}

async fn bulk(via: Bulk, s: &Settings) -> Result<BulkRow, String> {
    let chunk = Arc::new(bulk_chunk(BULK_CHUNK_FRAMES));
    let frames = (s.bulk_bytes / chunk.len() as u64).max(1) * BULK_CHUNK_FRAMES as u64;
    let total = frames * (BULK_PAYLOAD as u64 + 6);
    let stop = CancellationToken::new();
    let sink = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sink_addr = sink.local_addr().unwrap();
    let received = Arc::new(AtomicU64::new(0));
    let (done_tx, mut done_rx) = mpsc::channel(4);
    tokio::spawn(sink_upstream(
        sink,
        total + HELLO_LEN as u64,
        received.clone(),
        done_tx,
        stop.clone(),
    ));
    let mut gateway = None;
    let mut haproxy = None;
    let front = match via {
        Bulk::Direct => sink_addr,
        Bulk::Imtegrity => {
            let g = Gateway::start(
                sink_addr,
                Some(CaptureMode::Strict),
                s.base.as_deref(),
                None,
            )
            .await;
            let addr = g.addr;
            gateway = Some(g);
            addr
        }
        Bulk::Copy => {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = l.local_addr().unwrap();
            tokio::spawn(copy_relay(l, sink_addr, stop.clone()));
            addr
        }
        Bulk::Haproxy => {
            let h = Haproxy::start(&s.haproxy, sink_addr, 1000)?;
            let addr = h.addr;
            haproxy = Some(h);
            addr
        }
    };
    let cpu0 = cpu_secs(None);
    let hcpu0 = haproxy.as_ref().map(|h| cpu_secs(Some(h.pid())));
    let started = Instant::now();
    let mut client = tokio::spawn(bulk_client(front, total, chunk));
    let finished = tokio::time::timeout(BULK_LIMIT + STALL, async {
        tokio::select! {
            at = done_rx.recv() => Ok(at),
            ended = &mut client => Err(match ended {
                Ok(Err(e)) => e,
                Ok(Ok(())) => "the client ended before the sink had everything".to_owned(),
                Err(e) => e.to_string(),
            }),
        }
    })
    .await;
    let (secs, complete) = match finished {
        Ok(Ok(Some(at))) => (at.duration_since(started).as_secs_f64(), true),
        Ok(Err(e)) => {
            stop.cancel();
            return Err(e);
        }
        _ => (started.elapsed().as_secs_f64(), false),
    };
    let cpu = cpu_secs(None) - cpu0;
    let haproxy_cpu = haproxy
        .as_ref()
        .zip(hcpu0)
        .map(|(h, c0)| cpu_secs(Some(h.pid())) - c0);
    client.abort();
    let _ = client.await;
    stop.cancel();
    let bytes = received
        .load(Ordering::Relaxed)
        .saturating_sub(HELLO_LEN as u64);
    if let Some(g) = gateway {
        wait_closed_async(g.shutdown().await).await;
    }
    drop(haproxy);
    Ok(BulkRow {
        bytes: bytes.min(total),
        secs,
        cpu,
        haproxy_cpu,
        complete,
    })
}

async fn wait_closed_async(dir: Option<tempfile::TempDir>) {
    let _ = tokio::task::spawn_blocking(move || wait_closed(dir)).await;
}

// ---------------------------------------------------------------------------------------
// 4. Memory of idle sessions
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Host {
    Imtegrity,
    Copy,
    Haproxy,
}

impl Host {
    const ALL: [Self; 3] = [Self::Imtegrity, Self::Copy, Self::Haproxy];

    fn label(self) -> &'static str {
        match self {
            Self::Imtegrity => "IMtegrity relay (strict, archive open)",
            Self::Copy => "tokio `copy_bidirectional` relay",
            Self::Haproxy => "HAProxy `mode tcp`, `nbthread 1`",
        }
    }

    fn child_kind(self) -> &'static str {
        match self {
            Self::Imtegrity => "imtegrity",
            Self::Copy => "copy",
            Self::Haproxy => "haproxy",
        }
    }
}

/// A relay in a child process (this binary, `IMT_BENCH_CHILD=<kind>`), asked for its RSS
/// over a pipe.
struct ChildRelay {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    addr: SocketAddr,
}

impl ChildRelay {
    fn start(kind: &str, upstream: SocketAddr, base: Option<&Path>) -> Result<Self, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut cmd = Command::new(exe);
        cmd.env("IMT_BENCH_CHILD", kind)
            .env("IMT_BENCH_CHILD_UPSTREAM", upstream.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(base) = base {
            cmd.env("IMT_BENCH_DIR", base);
        }
        let mut child = cmd.spawn().map_err(|e| e.to_string())?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        let mut relay = Self {
            child,
            stdin,
            stdout,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let ready = relay.line()?;
        relay.addr = ready
            .strip_prefix("ready ")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| format!("child said {ready:?}"))?;
        Ok(relay)
    }

    fn line(&mut self) -> Result<String, String> {
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        if line.is_empty() {
            return Err("the relay child exited".into());
        }
        Ok(line.trim().to_owned())
    }

    fn rss_kib(&mut self) -> Result<u64, String> {
        writeln!(self.stdin, "rss").map_err(|e| e.to_string())?;
        let answer = self.line()?;
        answer
            .strip_prefix("rss ")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("child said {answer:?}"))
    }
}

impl Drop for ChildRelay {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        for _ in 0..200 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The child side: runs one relay, answers `rss` with its `VmRSS`, exits on `quit` or EOF.
fn child_main(kind: &str) {
    let upstream: SocketAddr = std::env::var("IMT_BENCH_CHILD_UPSTREAM")
        .unwrap()
        .parse()
        .unwrap();
    let base = std::env::var_os("IMT_BENCH_DIR").map(PathBuf::from);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let stop = CancellationToken::new();
    let (addr, gateway) = rt.block_on(async {
        match kind {
            "imtegrity" => {
                let g = Gateway::start(upstream, Some(CaptureMode::Strict), base.as_deref(), None)
                    .await;
                (g.addr, Some(g))
            }
            _ => {
                let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = l.local_addr().unwrap();
                tokio::spawn(copy_relay(l, upstream, stop.clone()));
                (addr, None)
            }
        }
    });
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready {addr}").unwrap();
    out.flush().unwrap();
    for line in std::io::stdin().lock().lines() {
        match line.as_deref().map(str::trim) {
            Ok("rss") => {
                writeln!(out, "rss {}", rss_kib(None)).unwrap();
                out.flush().unwrap();
            }
            _ => break,
        }
    }
    stop.cancel();
    if let Some(g) = gateway {
        let dir = rt.block_on(g.shutdown());
        wait_closed(dir);
    }
    rt.shutdown_timeout(Duration::from_secs(2));
}

/// The size of the future `intercept::run_session` returns, which each session's task holds.
async fn session_future_bytes() -> usize {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _client = TcpStream::connect(addr).await.unwrap();
    let (stream, peer) = listener.accept().await.unwrap();
    let relay = Arc::new(Relay::new(RelaySettings::default(), None).expect("relay"));
    let future = intercept::run_session(relay, stream, peer);
    size_of_val(&future)
}

/// Opens `n` idle sessions at `addr`: connect, read the server hello, send a plain hello.
async fn open_idle(addr: SocketAddr, n: usize) -> Result<Vec<TcpStream>, String> {
    let gate = Arc::new(Semaphore::new(64));
    let mut tasks = JoinSet::new();
    for _ in 0..n {
        let gate = gate.clone();
        tasks.spawn(async move {
            let _slot = gate.acquire_owned().await;
            let mut stream = tokio::time::timeout(STALL, TcpStream::connect(addr))
                .await
                .map_err(|_| "connect timed out".to_owned())?
                .map_err(|e| format!("connect: {e}"))?;
            let mut hello = [0u8; HELLO_LEN];
            tokio::time::timeout(STALL, stream.read_exact(&mut hello))
                .await
                .map_err(|_| "no server hello".to_owned())?
                .map_err(|e| format!("hello: {e}"))?;
            stream
                .write_all(&plain_hello())
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(stream)
        });
    }
    let mut streams = Vec::with_capacity(n);
    while let Some(r) = tasks.join_next().await {
        streams.push(r.map_err(|e| e.to_string())??);
    }
    Ok(streams)
}

struct MemoryRow {
    idle_kib: u64,
    loaded_kib: u64,
    sessions: usize,
}

/// RSS of the relay `host` idle and with `n` idle sessions relayed to a holding upstream.
fn memory(
    rt: &tokio::runtime::Runtime,
    host: Host,
    n: usize,
    s: &Settings,
) -> Result<MemoryRow, String> {
    let stop = CancellationToken::new();
    let held = Arc::new(AtomicUsize::new(0));
    let upstream = rt.block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(hold_upstream(l, held.clone(), stop.clone()));
        addr
    });
    let result = (|| {
        enum Front {
            Child(ChildRelay),
            Haproxy(Haproxy),
        }
        let mut front = match host {
            Host::Haproxy => Front::Haproxy(Haproxy::start(&s.haproxy, upstream, n + 10)?),
            _ => Front::Child(ChildRelay::start(
                host.child_kind(),
                upstream,
                s.base.as_deref(),
            )?),
        };
        let rss = |front: &mut Front| match front {
            Front::Child(c) => c.rss_kib(),
            Front::Haproxy(h) => Ok(rss_kib(Some(h.pid()))),
        };
        let addr = match &front {
            Front::Child(c) => c.addr,
            Front::Haproxy(h) => h.addr,
        };
        std::thread::sleep(Duration::from_millis(300));
        let idle_kib = rss(&mut front)?;
        let streams = rt.block_on(async {
            let streams = open_idle(addr, n).await?;
            let deadline = Instant::now() + Duration::from_secs(60);
            while held.load(Ordering::Relaxed) < n {
                if Instant::now() >= deadline {
                    return Err(format!(
                        "only {} of {n} sessions reached the upstream",
                        held.load(Ordering::Relaxed)
                    ));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok(streams)
        })?;
        // Let every session reach its idle loop (hellos relayed, buffers settled).
        std::thread::sleep(Duration::from_secs(1));
        let loaded_kib = rss(&mut front)?;
        rt.block_on(async move { drop(streams) });
        drop(front);
        Ok(MemoryRow {
            idle_kib,
            loaded_kib,
            sessions: n,
        })
    })();
    stop.cancel();
    // Let the holder drop its sockets before the next row.
    std::thread::sleep(Duration::from_millis(300));
    result
}

// ---------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------

fn main() {
    if let Ok(kind) = std::env::var("IMT_BENCH_CHILD") {
        child_main(&kind);
        return;
    }
    let s = Settings::from_env();
    let bench_started = Instant::now();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Measure what else is running before we add our own load.
    let busy = busy_cores(Duration::from_secs(1));
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let want_fds = 2 * s.sessions as u64 + FD_SPARE;
    let soft = if s.runs("memory") {
        raise_nofile(want_fds)
    } else {
        nofile_limits().0
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let haproxy_version = Command::new(&s.haproxy)
        .arg("-v")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|v| v.lines().next().map(str::to_owned));

    println!("# relay benchmark\n");
    println!(
        "{} mode; {cores} cores; one tokio multi-thread runtime with {cores} workers shared by \
         the clients, the lab server, the fake upstreams and the relay under test, plus the \
         archive's writer thread; {} build.\n",
        if s.quick { "quick" } else { "full" },
        if cfg!(debug_assertions) {
            "debug assertions ON: numbers are not representative"
        } else {
            "optimised"
        },
    );
    println!(
        "**Machine load before the run: {busy:.1} of {cores} cores busy with other processes** \
         (1 s sample of /proc/stat; load average {}), so this run had about {:.1} cores to \
         itself.{} Compare rows of one run, not absolute numbers across machines.\n",
        loadavg
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        (cores as f64 - busy).max(0.0),
        std::env::var("IMT_BENCH_NOTE").map_or(String::new(), |n| format!(" {n}")),
    );
    println!(
        "Archives under {}; HAProxy: {}.\n",
        s.base.as_deref().map_or_else(
            || std::env::temp_dir().display().to_string(),
            |p| p.display().to_string()
        ),
        haproxy_version.as_deref().unwrap_or("not available"),
    );
    if s.runs("ims") {
        part_ims(&rt, &s);
    }
    if s.runs("latency") {
        part_latency(&rt, &s);
    }
    if s.runs("bulk") {
        part_bulk(&rt, &s);
    }
    if s.runs("memory") {
        part_memory(&rt, &s, soft, want_fds, haproxy_version.is_some());
    }
    println!(
        "\n(whole run {:.1} s)",
        bench_started.elapsed().as_secs_f64()
    );
    rt.shutdown_timeout(Duration::from_secs(2));
}

fn part_ims(rt: &tokio::runtime::Runtime, s: &Settings) {
    // 1. IMs per second.
    println!("## 1. IMs per second, relayed and archived end to end\n");
    println!(
        "Each of N sender/receiver pairs: the sender keeps up to {WINDOW} IMs in flight \
         (sent, not yet delivered) for {} s (at most {} IMs), then sends a last one and waits \
         for all to arrive; IMs/s = IMs delivered / time until the last receiver has its \
         last IM. {}-character text, one record per IM (sender's session; the receiver's \
         session skips an IM whose sender is local).\n",
        s.secs,
        s.max_ims,
        TEXT.len(),
    );
    let mut rows: Vec<(Route, usize, Result<ImRow, String>)> = Vec::new();
    for &pairs in &s.pairs {
        for &route in &s.routes {
            let (row, dir) = rt.block_on(im_throughput(route, pairs, s));
            wait_closed(dir);
            if let Err(e) = &row {
                eprintln!("IM throughput, {} × {pairs}: {e}", route.label());
            }
            rows.push((route, pairs, row));
        }
    }
    let rate = |r: &Result<ImRow, String>| r.as_ref().ok().map(|r| r.delivered as f64 / r.secs);
    print!("| pairs |");
    for route in &s.routes {
        print!(" {} IMs/s |", route.label());
    }
    println!("\n|---:|{}", "---:|".repeat(s.routes.len()));
    for &pairs in &s.pairs {
        let direct = rows
            .iter()
            .find(|(r, p, _)| *r == Route::Direct && *p == pairs)
            .and_then(|(_, _, row)| rate(row));
        print!("| {pairs} |");
        for &route in &s.routes {
            let row = rows
                .iter()
                .find(|(r, p, _)| *r == route && *p == pairs)
                .map(|(_, _, row)| row);
            match (row.and_then(rate), direct) {
                (Some(v), Some(d)) if route != Route::Direct => {
                    print!(" {v:.0} ({:.0}%) |", 100.0 * v / d);
                }
                (Some(v), _) => print!(" {v:.0} |"),
                (None, _) => print!(" error |"),
            }
        }
        println!();
    }
    println!("\n(percentages: of the direct rate with the same N)\n");
    println!(
        "| route | pairs | IMs delivered | seconds | IMs/s | IM records (relay's count) \
         | records == IMs | sessions failed | CPU µs per IM (whole process) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---|---:|---:|");
    for (route, pairs, row) in &rows {
        match row {
            Ok(r) => {
                let (records, check) = match r.records {
                    Some((stored, counted)) => (
                        format!("{stored} ({counted})"),
                        if stored == r.delivered && counted == r.delivered {
                            "yes".to_owned()
                        } else {
                            format!("**NO** ({} delivered)", r.delivered)
                        },
                    ),
                    None => ("—".to_owned(), "—".to_owned()),
                };
                println!(
                    "| {} | {} | {} | {:.2} | {:.0} | {records} | {check} | {} | {:.1} |",
                    r.route.label(),
                    r.pairs,
                    r.delivered,
                    r.secs,
                    r.delivered as f64 / r.secs,
                    r.failed_sessions,
                    r.cpu * 1e6 / r.delivered.max(1) as f64,
                );
            }
            Err(e) => println!("| {} | {pairs} | error: {e} | | | | | | |", route.label()),
        }
    }
    println!();
}

fn part_latency(rt: &tokio::runtime::Runtime, s: &Settings) {
    // 2. Round trip.
    println!("## 2. Round-trip latency (one pair, ping-pong)\n");
    println!(
        "A sends an IM to B, B receives it and replies, A receives the reply: one round trip \
         crosses the relay four times and, with an archive, records two IMs (one per \
         direction). 20 warm-up rounds, then up to {} rounds or {} s.\n",
        s.latency_rounds, s.latency_secs
    );
    println!("| route | rounds | p50 | p99 | mean | p50 added by the relay | p99 added |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mut direct: Option<(f64, f64)> = None;
    for &route in &s.routes {
        let (row, dir) = rt.block_on(ping_pong(route, s));
        wait_closed(dir);
        match row {
            Ok(r) => {
                if route == Route::Direct {
                    direct = Some((r.p50_ms, r.p99_ms));
                }
                let added = |v: f64, base: Option<f64>| {
                    base.filter(|_| route != Route::Direct)
                        .map_or("—".to_owned(), |b| format!("{:+.3} ms", v - b))
                };
                println!(
                    "| {} | {} | {:.3} ms | {:.3} ms | {:.3} ms | {} | {} |",
                    route.label(),
                    r.rounds,
                    r.p50_ms,
                    r.p99_ms,
                    r.mean_ms,
                    added(r.p50_ms, direct.map(|d| d.0)),
                    added(r.p99_ms, direct.map(|d| d.1)),
                );
            }
            Err(e) => println!("| {} | error: {e} | | | | | |", route.label()),
        }
    }
    println!();
}

fn part_bulk(rt: &tokio::runtime::Runtime, s: &Settings) {
    // 3. Bulk.
    println!("## 3. Bulk bytes through one session\n");
    println!(
        "One client streams {} MiB of {}-byte FLAP frames (channel 2, SNAC family \
         {BULK_FAMILY:#06x}, unknown to the relay, so decoded and forwarded unchanged) to a \
         fake upstream that counts them; time from connecting to the last byte counted. \
         MB = 10^6 bytes. CPU = user + system seconds of this process (client, sink and any \
         in-process relay) during the row, plus HAProxy's own, per GB moved. The direct row \
         is the harness's own ceiling and varies a lot between runs; compare the relays with \
         each other.\n",
        s.bulk_bytes / 1048576,
        BULK_PAYLOAD + 6,
    );
    let rows: Vec<(Bulk, Result<BulkRow, String>)> =
        Bulk::ALL.map(|via| (via, rt.block_on(bulk(via, s)))).into();
    let rate = |r: &BulkRow| r.bytes as f64 / r.secs / 1e6;
    let copy = rows
        .iter()
        .find(|(v, _)| *v == Bulk::Copy)
        .and_then(|(_, r)| r.as_ref().ok())
        .map(rate);
    println!(
        "| path | MB/s one-way | vs the copy relay | CPU s per GB (this process + HAProxy) \
         | bytes | seconds |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (via, row) in rows {
        match row {
            Ok(r) => {
                let mbs = rate(&r);
                let gb = r.bytes as f64 / 1e9;
                println!(
                    "| {} | {mbs:.0}{} | {} | {:.2}{} | {} | {:.2} |",
                    via.label(),
                    if r.complete {
                        ""
                    } else {
                        " (incomplete: time limit)"
                    },
                    copy.map_or("—".into(), |c| format!("{:.0}%", 100.0 * mbs / c)),
                    r.cpu / gb,
                    r.haproxy_cpu
                        .map_or(String::new(), |h| format!(" + {:.2}", h / gb)),
                    r.bytes,
                    r.secs,
                );
            }
            Err(e) if via == Bulk::Haproxy => {
                eprintln!("haproxy: {e}");
                println!(
                    "| {} | haproxy: not available ({}) | | | | |",
                    via.label(),
                    e.lines().last().unwrap_or("").replace('|', "/")
                );
            }
            Err(e) => println!("| {} | error: {e} | | | | |", via.label()),
        }
    }
    println!();
}

fn part_memory(
    rt: &tokio::runtime::Runtime,
    s: &Settings,
    soft: u64,
    want_fds: u64,
    have_haproxy: bool,
) {
    let sessions = if soft >= want_fds {
        s.sessions
    } else {
        (soft.saturating_sub(FD_SPARE) / 2) as usize
    };
    // 4. Memory.
    println!("## 4. Memory of idle sessions\n");
    if sessions < s.sessions {
        let (_, hard) = nofile_limits();
        println!(
            "**Note: {} idle sessions need about {want_fds} descriptors in the relay process \
             and in this one, but the limit is {soft} (hard limit {hard}) and raising it \
             was refused (above the hard limit it needs `CAP_SYS_RESOURCE`), so {sessions} \
             sessions are measured. \
             For the full count run `ulimit -n {}` first (needs a hard limit that high).**\n",
            s.sessions,
            want_fds + 800
        );
    }
    println!(
        "Each relay runs alone in a fresh process (the IMtegrity relay and the copy relay are \
         this binary re-executed; HAProxy is its own). {sessions} clients connect through it, \
         read the hello, send a plain hello and idle; the fake upstream (in this process) \
         sends its hello and holds each connection unread. RSS = `VmRSS` of the relay \
         process (KiB = 1024 bytes); socket buffers are kernel memory and not in it.\n"
    );
    println!("| relay | RSS idle | RSS with {sessions} idle sessions | KiB per idle session |");
    println!("|---|---:|---:|---:|");
    for host in Host::ALL {
        match memory(rt, host, sessions, s) {
            Ok(m) => println!(
                "| {} | {:.1} MiB | {:.1} MiB | {:.1} |",
                host.label(),
                m.idle_kib as f64 / 1024.0,
                m.loaded_kib as f64 / 1024.0,
                m.loaded_kib.saturating_sub(m.idle_kib) as f64 / m.sessions.max(1) as f64,
            ),
            Err(e) if host == Host::Haproxy && !have_haproxy => {
                eprintln!("haproxy: {e}");
                println!("| {} | haproxy: not available | | |", host.label());
            }
            Err(e) => println!("| {} | error: {e} | | |", host.label()),
        }
    }
    let future = rt.block_on(session_future_bytes());
    println!(
        "\nOne IMtegrity session's `run_session` future, before its first poll, is {future} \
         bytes (its task holds it for the session's life); each session also owns four 8 KiB \
         codec buffers (a `FramedRead` and a `FramedWrite` per leg), which RSS counts only \
         where touched. The copy relay allocates two 8 KiB buffers per session \
         (`copy_bidirectional`'s default)."
    );
}
