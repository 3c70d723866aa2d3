//! Benchmark figures as JSON. Every benchmark prints its tables for people; when the
//! environment names a file in `IMT_BENCH_JSON`, each figure that has a peer measured in the
//! same run (unbound, HAProxy, a bare rustls server, tcpdump, a plain fsync'd log, ...) is also
//! appended to that file as one JSON object per line:
//!
//! ```json
//! {"bench":"archive","what":"durable appends/s, batch 64","unit":"records/s","better":"higher",
//!  "ours":35862.0,"peer":"plain fsync'd log","peer_value":301000.0,"ratio":0.119,
//!  "at":"2026-12-07T18:00:00Z","load":0.02,"quick":false}
//! ```
//!
//! Appending, not truncating, lets one `cargo bench` run every benchmark into one file; a
//! script compares two runs row by row on `bench` + `what`. `ratio` is ours / peer, so
//! whether it should rise or fall is in `better`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// The variable naming the file figures are appended to.
pub const ENV: &str = "IMT_BENCH_JSON";

/// Why figures could not be written.
#[derive(Debug, thiserror::Error)]
pub enum BenchJsonError {
    /// The file named by `IMT_BENCH_JSON` could not be opened or written.
    #[error("{}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// A figure could not be serialised (a non-finite number).
    #[error("figure {what:?}: {source}")]
    Encode {
        /// The row.
        what: String,
        /// What serde_json said.
        #[source]
        source: serde_json::Error,
    },
}

/// Which way a figure improves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    /// A rate: more is better.
    Higher,
    /// A latency, a size, a drop count: less is better.
    Lower,
}

/// One row: a figure of ours beside its peer's from the same run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figure<'a> {
    /// What was measured, as the table row names it (`durable appends/s, batch 64`).
    pub what: &'a str,
    /// Its unit (`records/s`, `ms`, `KiB`).
    pub unit: &'a str,
    /// Which way it improves.
    pub better: Better,
    /// Our figure.
    pub ours: f64,
    /// The peer that ran beside it, if one did (`unbound`, `plain fsync'd log`).
    pub peer: Option<&'a str>,
    /// The peer's figure.
    pub peer_value: Option<f64>,
}

#[derive(Serialize)]
struct Line<'a> {
    bench: &'a str,
    #[serde(flatten)]
    figure: &'a Figure<'a>,
    ratio: Option<f64>,
    at: &'a str,
    load: Option<f64>,
    quick: bool,
}

/// Where one benchmark's figures go: nowhere unless `IMT_BENCH_JSON` names a file.
pub struct BenchJson {
    bench: String,
    quick: bool,
    started: String,
    load: Option<f64>,
    out: Option<(PathBuf, File)>,
}

impl BenchJson {
    /// For the benchmark `bench`, writing where `IMT_BENCH_JSON` says (nothing if unset).
    /// `quick` marks figures from a shortened run (`IMT_BENCH_QUICK=1`), which a
    /// comparison should not hold against a full one. Reads the machine's load now, before
    /// the benchmark adds to it.
    pub fn from_env(bench: &str, quick: bool) -> Result<Self, BenchJsonError> {
        let path = std::env::var_os(ENV).map(PathBuf::from);
        Self::to(bench, quick, path.as_deref())
    }

    /// As [`from_env`](Self::from_env), writing to `path` if given.
    pub fn to(bench: &str, quick: bool, path: Option<&Path>) -> Result<Self, BenchJsonError> {
        let out = path
            .map(|path| {
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map(|file| (path.to_owned(), file))
                    .map_err(|source| BenchJsonError::File {
                        path: path.to_owned(),
                        source,
                    })
            })
            .transpose()?;
        let started = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        Ok(Self {
            bench: bench.to_owned(),
            quick,
            started,
            load: load_average(),
            out,
        })
    }

    /// Appends one figure (does nothing without a file). The ratio is ours / peer when both
    /// are there and the peer's is not zero.
    pub fn figure(&mut self, figure: &Figure<'_>) -> Result<(), BenchJsonError> {
        let Some((path, file)) = &mut self.out else {
            return Ok(());
        };
        let ratio = figure
            .peer_value
            .filter(|p| *p != 0.0)
            .map(|p| figure.ours / p);
        let line = Line {
            bench: &self.bench,
            figure,
            ratio,
            at: &self.started,
            load: self.load,
            quick: self.quick,
        };
        let mut text = serde_json::to_string(&line).map_err(|source| BenchJsonError::Encode {
            what: figure.what.to_owned(),
            source,
        })?;
        text.push('\n');
        file.write_all(text.as_bytes())
            .map_err(|source| BenchJsonError::File {
                path: path.clone(),
                source,
            })
    }

    /// A higher-is-better figure beside its peer's (a rate).
    pub fn rate(
        &mut self,
        what: &str,
        unit: &str,
        ours: f64,
        peer: &str,
        peer_value: f64,
    ) -> Result<(), BenchJsonError> {
        self.figure(&Figure {
            what,
            unit,
            better: Better::Higher,
            ours,
            peer: Some(peer),
            peer_value: Some(peer_value),
        })
    }

    /// A lower-is-better figure beside its peer's (a latency, a size).
    pub fn cost(
        &mut self,
        what: &str,
        unit: &str,
        ours: f64,
        peer: &str,
        peer_value: f64,
    ) -> Result<(), BenchJsonError> {
        self.figure(&Figure {
            what,
            unit,
            better: Better::Lower,
            ours,
            peer: Some(peer),
            peer_value: Some(peer_value),
        })
    }
}

/// Busy cores over `sample`, from `/proc/stat` (everything on the machine): what the
/// benchmarks print before they start, so a reader knows how much of the machine they had.
pub fn busy_cores(sample: std::time::Duration) -> f64 {
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

/// The one-minute load average, which the README states beside its figures.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::{BenchJson, Better, Figure};

    #[test]
    fn each_figure_is_one_json_object_per_line_appended() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("figures.json");
        std::fs::write(&path, "{\"earlier\":true}\n").unwrap();
        let mut out = BenchJson::to("archive", true, Some(&path)).unwrap();
        out.rate(
            "durable appends/s, batch 64",
            "records/s",
            100.0,
            "plain log",
            400.0,
        )
        .unwrap();
        out.figure(&Figure {
            what: "memory per idle session",
            unit: "KiB",
            better: Better::Lower,
            ours: 3.0,
            peer: None,
            peer_value: None,
        })
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1]["bench"], "archive");
        assert_eq!(lines[1]["what"], "durable appends/s, batch 64");
        assert_eq!(lines[1]["better"], "higher");
        assert_eq!(lines[1]["ratio"], 0.25);
        assert_eq!(lines[1]["quick"], true);
        assert!(lines[1]["at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(lines[2]["ratio"], serde_json::Value::Null);
        assert_eq!(lines[2]["peer"], serde_json::Value::Null);
    }

    #[test]
    fn without_a_file_nothing_is_written_and_nothing_fails() {
        let mut out = BenchJson::to("dns", false, None).unwrap();
        out.rate("answers/s", "answers/s", 1.0, "unbound", 2.0)
            .unwrap();
    }

    #[test]
    fn a_file_that_cannot_be_opened_is_named() {
        let err = BenchJson::to(
            "dns",
            false,
            Some(std::path::Path::new("/nonexistent/x.json")),
        )
        .err()
        .unwrap();
        assert!(err.to_string().starts_with("/nonexistent/x.json: "));
    }
}
