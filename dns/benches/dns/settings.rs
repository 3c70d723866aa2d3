//! What the run is asked for (`IMT_BENCH_*`), and the programs it drives.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::servers::Row;

pub(crate) struct Settings {
    pub(crate) tools: Tools,
    pub(crate) quick: bool,
    pub(crate) secs: u32,
    pub(crate) rounds: usize,
    pub(crate) rows: Vec<Row>,
    pub(crate) imtegrity: Option<PathBuf>,
    pub(crate) perf_dir: Option<PathBuf>,
}

impl Settings {
    pub(crate) fn from_env(tools: Tools) -> Self {
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
pub(crate) struct Tools {
    pub(crate) dnsperf: PathBuf,
    pub(crate) unbound: PathBuf,
    pub(crate) dnsmasq: PathBuf,
}

impl Tools {
    /// All three, or the names of those missing.
    pub(crate) fn find() -> Result<Self, Vec<&'static str>> {
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
pub(crate) fn imtegrity_binary() -> Option<PathBuf> {
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
pub(crate) fn newest_source(dirs: &[PathBuf]) -> Option<SystemTime> {
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
