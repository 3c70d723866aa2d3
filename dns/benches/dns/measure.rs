//! One server's three dnsperf runs, and the median over rounds.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::dnsperf::{Load, Perf, dnsperf};
use crate::servers::{Row, start};
use crate::settings::Settings;
use crate::system::rss_kib;

/// What one server measured.
pub(crate) struct Measured {
    pub(crate) redirected: Perf,
    pub(crate) forwarded: Perf,
    pub(crate) wide: Perf,
    /// `VmRSS` and `VmHWM` after the runs, KiB.
    pub(crate) rss_kib: (u64, u64),
    /// Bytes the server wrote to stderr per redirected answer, where it is kept.
    pub(crate) log_per_answer: Option<f64>,
}

impl Measured {
    /// The median of each cell over `rounds` (by QPS), the largest RSS.
    pub(crate) fn median(mut rounds: Vec<Self>) -> Option<Self> {
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

pub(crate) fn measure(
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
