//! What the run is asked for: `IMT_BENCH_*` read once, and where archives go.

use std::path::{Path, PathBuf};

use crate::PAIRS;
use crate::gateway::Route;

pub(crate) struct Settings {
    pub(crate) quick: bool,
    pub(crate) secs: f64,
    pub(crate) max_ims: u64,
    pub(crate) latency_rounds: usize,
    pub(crate) latency_secs: f64,
    pub(crate) bulk_bytes: u64,
    pub(crate) sessions: usize,
    pub(crate) base: Option<PathBuf>,
    pub(crate) haproxy: String,
    pub(crate) only: Option<Vec<String>>,
    pub(crate) pairs: Vec<usize>,
    pub(crate) routes: Vec<Route>,
}

pub(crate) fn env_f64(name: &str) -> Option<f64> {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
}

impl Settings {
    pub(crate) fn from_env() -> Self {
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

    pub(crate) fn runs(&self, part: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|parts| parts.iter().any(|p| p == part))
    }
}

pub(crate) fn tempdir(base: Option<&Path>) -> tempfile::TempDir {
    match base {
        Some(dir) => {
            std::fs::create_dir_all(dir).unwrap();
            tempfile::tempdir_in(dir).unwrap()
        }
        None => tempfile::tempdir().unwrap(),
    }
}
