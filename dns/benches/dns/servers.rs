//! The rows of the table and the server processes under test: started, checked, stopped.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use crate::client::ready;
use crate::imtegrity::{start_imtegrity, start_responder_child};
use crate::peers::{start_dnsmasq, start_unbound};
use crate::settings::Settings;
use crate::{FORWARDED, FORWARDED_ANSWER, GATEWAY, REDIRECTED};

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Row {
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
    pub(crate) const ALL: [Self; 8] = [
        Self::Unbound,
        Self::Dnsmasq,
        Self::Imtegrity,
        Self::ImtegrityLog,
        Self::ImtegrityFirst,
        Self::Responder,
        Self::ResponderTasks,
        Self::Hickory,
    ];

    pub(crate) fn key(self) -> &'static str {
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

    pub(crate) fn label(self) -> &'static str {
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
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) addr: SocketAddr,
    /// What the child writes to stderr, if kept.
    pub(crate) log: Option<PathBuf>,
    /// The responder child reads its stdin until EOF; kept open until the server stops.
    pub(crate) stdin: Option<std::process::ChildStdin>,
}

impl Server {
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the server (see the `Drop` impl).
    pub(crate) fn stop(self) {}
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
pub(crate) fn free_port() -> u16 {
    for _ in 0..64 {
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port");
}

pub(crate) fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

pub(crate) fn start(
    row: Row,
    s: &Settings,
    dir: &Path,
    upstream: SocketAddr,
) -> Result<Server, String> {
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
