//! Part 4, memory of idle sessions: each relay in a process of its own (this binary
//! re-executed, or HAProxy), its RSS read idle and then holding idle sessions.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use intercept::{CaptureMode, Relay, RelaySettings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::STALL;
use crate::gateway::{Gateway, wait_closed};
use crate::peers::{Haproxy, copy_relay};
use crate::settings::Settings;
use crate::system::rss_kib;
use crate::upstreams::hold_upstream;
use crate::wire::{HELLO_LEN, plain_hello};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Host {
    Imtegrity,
    Copy,
    Haproxy,
}

impl Host {
    pub(crate) const ALL: [Self; 3] = [Self::Imtegrity, Self::Copy, Self::Haproxy];

    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Imtegrity => "IMtegrity relay (strict, archive open)",
            Self::Copy => "tokio `copy_bidirectional` relay",
            Self::Haproxy => "HAProxy `mode tcp`, `nbthread 1`",
        }
    }

    pub(crate) fn child_kind(self) -> &'static str {
        match self {
            Self::Imtegrity => "imtegrity",
            Self::Copy => "copy",
            Self::Haproxy => "haproxy",
        }
    }
}

/// A relay in a child process (this binary, `IMT_BENCH_CHILD=<kind>`), asked for its RSS
/// over a pipe.
pub(crate) struct ChildRelay {
    pub(crate) child: Child,
    pub(crate) stdin: ChildStdin,
    pub(crate) stdout: BufReader<ChildStdout>,
    pub(crate) addr: SocketAddr,
}

impl ChildRelay {
    pub(crate) fn start(
        kind: &str,
        upstream: SocketAddr,
        base: Option<&Path>,
    ) -> Result<Self, String> {
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

    pub(crate) fn line(&mut self) -> Result<String, String> {
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        if line.is_empty() {
            return Err("the relay child exited".into());
        }
        Ok(line.trim().to_owned())
    }

    pub(crate) fn rss_kib(&mut self) -> Result<u64, String> {
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
pub(crate) fn child_main(kind: &str) {
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
pub(crate) async fn session_future_bytes() -> usize {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _client = TcpStream::connect(addr).await.unwrap();
    let (stream, peer) = listener.accept().await.unwrap();
    let relay = Arc::new(Relay::new(RelaySettings::default(), None).expect("relay"));
    let future = intercept::run_session(relay, stream, peer);
    size_of_val(&future)
}

/// Opens `n` idle sessions at `addr`: connect, read the server hello, send a plain hello.
pub(crate) async fn open_idle(addr: SocketAddr, n: usize) -> Result<Vec<TcpStream>, String> {
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

pub(crate) struct MemoryRow {
    pub(crate) idle_kib: u64,
    pub(crate) loaded_kib: u64,
    pub(crate) sessions: usize,
}

/// RSS of the relay `host` idle and with `n` idle sessions relayed to a holding upstream.
pub(crate) fn memory(
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
