//! One dnsperf run against a server, and what it and the server's /proc said.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::OUTSTANDING;
use crate::servers::Server;
use crate::settings::Settings;
use crate::system::ProcCost;

/// One dnsperf run's results, and the server's CPU time over it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Perf {
    pub(crate) qps: f64,
    pub(crate) avg_latency_ms: f64,
    pub(crate) completed: u64,
    pub(crate) lost: u64,
    /// Response codes other than NOERROR, as dnsperf printed them.
    pub(crate) odd_rcodes: Option<String>,
    /// The server's user and system CPU seconds, and context switches, over the run.
    pub(crate) server: ProcCost,
}

impl Perf {
    pub(crate) fn qps_cell(&self) -> String {
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
    pub(crate) fn per_query(&self) -> (f64, f64, f64) {
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
pub(crate) struct Load {
    pub(crate) clients: u32,
    pub(crate) threads: u32,
}

impl Load {
    pub(crate) const BASE: Self = Self {
        clients: 1,
        threads: 1,
    };
    pub(crate) const WIDE: Self = Self {
        clients: 4,
        threads: 2,
    };
}

pub(crate) fn dnsperf(
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
