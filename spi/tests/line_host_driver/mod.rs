//! Drives `tests/host/line_host.c`: the library loaded by a C host, one call per command,
//! so a test can change the world between two calls.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use archive::Kind;
use imtegrity_stchatlog::Spool;

use super::c_host_harness;

/// What one call returned: the return code, and what the library wrote through the
/// retained `appRetCode` / `appRetMsg` (`sev == -1`: nothing).
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) rc: i32,
    pub(crate) sev: i32,
    pub(crate) msg: String,
    /// How long the call took, measured by the host around the call alone.
    pub(crate) took: std::time::Duration,
    /// Line breaks the library put in `appRetMsg` (the host flattens them in `msg`).
    pub(crate) newlines: usize,
}

/// The C host, one command at a time.
pub(crate) struct Host {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Host {
    pub(crate) fn start(host: &Path, config: &Path) -> Self {
        Self::start_with_stderr(host, config, Stdio::inherit())
    }

    /// The host with no configuration at all (no file, no `IMTEGRITY_SPI_*` variable), the
    /// environment otherwise as `env` says (`None`: removed), stderr discarded.
    pub(crate) fn start_unconfigured(host: &Path, env: &[(&str, Option<&Path>)]) -> Self {
        let mut command = Command::new(host);
        command.arg(c_host_harness::library());
        for var in [
            "IMTEGRITY_SPI_CONFIG",
            "IMTEGRITY_SPI_SPOOL",
            "IMTEGRITY_SPI_GATEWAY",
            "IMTEGRITY_SPI_TOKEN",
            "IMTEGRITY_SPI_TOKEN_FILE",
        ] {
            command.env_remove(var);
        }
        for (name, value) in env {
            match value {
                Some(value) => command.env(name, value),
                None => command.env_remove(name),
            };
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start line_host");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        Self {
            child,
            stdin,
            stdout,
        }
    }

    /// As [`Host::start`], the host's stderr (where the library says what it cannot say
    /// through a return code) going to `stderr`.
    pub(crate) fn start_with_stderr(host: &Path, config: &Path, stderr: impl Into<Stdio>) -> Self {
        let mut child = Command::new(host)
            .arg(c_host_harness::library())
            .env("IMTEGRITY_SPI_CONFIG", config)
            .env_remove("IMTEGRITY_SPI_SPOOL")
            .env_remove("IMTEGRITY_SPI_GATEWAY")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start line_host");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        Self {
            child,
            stdin,
            stdout,
        }
    }

    pub(crate) fn call(&mut self, command: &str) -> Answer {
        let stdin = self.stdin.as_mut().expect("host running");
        writeln!(stdin, "{command}").expect("write command");
        stdin.flush().expect("flush command");
        let line = self.line();
        let field = |name: &str| -> String {
            line.split(' ')
                .find_map(|w| w.strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| panic!("{command}: no {name} in {line:?}"))
                .trim()
                .to_owned()
        };
        let msg = line
            .split_once(" msg=")
            .map(|(_, m)| m.trim().to_owned())
            .unwrap_or_default();
        Answer {
            rc: field("rc").parse().expect("rc"),
            sev: field("sev").parse().expect("sev"),
            msg,
            took: std::time::Duration::from_micros(field("us").parse().expect("us")),
            newlines: field("nl").parse().expect("nl"),
        }
    }

    /// The host's next output line.
    pub(crate) fn line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read answer");
        line
    }

    /// The host process's thread count now, and how many are the library's own threads.
    pub(crate) fn threads(&mut self) -> (usize, usize) {
        let stdin = self.stdin.as_mut().expect("host running");
        writeln!(stdin, "threads").expect("write command");
        stdin.flush().expect("flush command");
        let line = self.line();
        let number = |name: &str| -> usize {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(name))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no {name} in {line:?}"))
        };
        (number("threads="), number("ours="))
    }

    pub(crate) fn ok(&mut self, command: &str) {
        let answer = self.call(command);
        assert_eq!(answer.rc, 0, "{command}: {answer:?}");
    }

    pub(crate) fn finish(mut self) {
        self.ok("term");
        // Closing stdin ends the host's loop: it unloads the library and exits.
        drop(self.stdin.take());
        let status = self.child.wait().expect("wait line_host");
        assert!(status.success(), "line_host exited {status}");
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn build_line_host(dir: &Path) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/host/line_host.c");
    let out = dir.join("line_host");
    let status = Command::new("cc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&out)
        .arg(&source)
        .arg("-ldl")
        .status()
        .expect("cc (apt-get install build-essential)");
    assert!(status.success(), "cc failed on {}", source.display());
    out
}

/// The `ST_DDA_*` severities the host sees through `appRetCode`.
pub(crate) const SEV_OK: i32 = 0;
pub(crate) const SEV_WARNING: i32 = 2;
pub(crate) const SEV_FATAL: i32 = 4;
/// The default `codes.db_error`: a number of its own, not `ST_DDA_API_INTERNAL_ERROR` (3).
pub(crate) const DB_ERROR: i32 = 12;
/// The default bound of a message call (`call_timeout_ms`), and what a call may take on
/// this loaded two-core machine before the test calls it a stall.
pub(crate) const CALL_BOUND: Duration = Duration::from_millis(250);
pub(crate) const CALL_SLACK: Duration = Duration::from_secs(2);

/// A scratch directory with the host built and a config file spooling to `spool`
/// (`extra`: more lines of the module's file).
pub(crate) fn setup(spool: &Path, extra: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let work = tempfile::tempdir().expect("temp dir");
    let host = build_line_host(work.path());
    let config = work.path().join("imtegrity_stchatlog.toml");
    std::fs::write(
        &config,
        format!(
            "spool = {:?}\nnode = \"st-test\"\n{extra}\n",
            spool.display().to_string()
        ),
    )
    .expect("write config");
    (work, host, config)
}

/// Every call returns within its bound (with slack for a loaded machine).
pub(crate) fn assert_bounded(answer: &Answer, what: &str) {
    assert!(
        answer.took < CALL_BOUND + CALL_SLACK,
        "{what} took {:?}: {answer:?}",
        answer.took
    );
}

/// The gap records in `spool`: (dropped, delayed) of each.
pub(crate) fn gaps(spool: &Path) -> Vec<(u64, u64)> {
    Spool::read_all(spool)
        .expect("read spool")
        .into_iter()
        .filter(|e| e.kind == Kind::CaptureGap)
        .map(|e| {
            let detail: serde_json::Value =
                serde_json::from_str(e.detail.as_deref().unwrap_or("{}")).unwrap();
            (
                detail["dropped"].as_u64().unwrap(),
                detail["delayed"].as_u64().unwrap(),
            )
        })
        .collect()
}
