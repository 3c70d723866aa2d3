//! The one way a test skips when something it needs is missing (a peer program, root, a
//! kernel feature): [`skip_or_fail`].
//!
//! - Under `CI=true` it panics: CI installs everything (`.ci/run` runs
//!   `tests/peers/install.sh` as root), so a test that cannot run there is a failure, never
//!   a silent pass.
//! - Elsewhere it writes `<test>: skipped: <reason>` straight to the process's stderr (libtest
//!   captures only the `print!` family, so the line shows even for a passing test) and
//!   appends it to [`skips_file`], in the target directory. This package's `list` test runs
//!   after every other test binary of `cargo test --workspace` (cargo runs them package by
//!   package in name order) and prints the skips recorded by the same `cargo` process, then
//!   removes the file.
//!
//! Each record carries the parent process id, which is the `cargo` that runs every test
//! binary, so skips left by an earlier or interrupted run are never listed as this run's.

#![forbid(unsafe_code)]

use std::io::Write as _;
use std::path::PathBuf;

/// The environment variable CI sets (`.ci/run` exports it): skips become failures.
pub const CI_ENV: &str = "CI";

/// Whether this runs in CI (`CI=true`), where nothing may be skipped.
pub fn in_ci() -> bool {
    std::env::var(CI_ENV).as_deref() == Ok("true")
}

/// Skips the calling test locally (a line on stderr, recorded for the end-of-run list), or
/// fails it in CI. `test` names the test; `reason` says what is missing and how to get it.
///
/// # Panics
/// Under `CI=true`, always.
pub fn skip_or_fail(test: &str, reason: &str) {
    assert!(!in_ci(), "{test}: cannot run: {reason}. CI must not skip");
    let line = format!("{test}: skipped: {reason}");
    // Straight to fd 2, past libtest's output capture, so the skip is always visible.
    let _ = writeln!(std::io::stderr(), "{line}");
    if let Some(file) = skips_file() {
        let record = format!("{}\t{line}\n", std::os::unix::process::parent_id());
        // One `write` of one short line to a file opened for appending: concurrent tests
        // never interleave within a line.
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(file)
            .and_then(|mut f| f.write_all(record.as_bytes()));
    }
}

/// Where skips are recorded: `test-skips.log` in the profile directory of the target
/// directory (`target/debug/`), found from the test binary's own path
/// (`target/debug/deps/<test>-<hash>`), so every test binary of one build agrees on it.
pub fn skips_file() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let profile_dir = exe.parent()?.parent()?;
    Some(profile_dir.join("test-skips.log"))
}

/// The skip lines `cargo` process `cargo_pid` recorded in `log` (the text of
/// [`skips_file`]), in the order they were written.
pub fn skips_of_run(log: &str, cargo_pid: u32) -> Vec<&str> {
    log.lines()
        .filter_map(|record| record.split_once('\t'))
        .filter(|(pid, _)| pid.parse() == Ok(cargo_pid))
        .map(|(_, line)| line)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_runs_skips_are_listed() {
        let log = "10\ta: skipped: x\n11\tb: skipped: y\n10\tc: skipped: z\ngarbage\n";
        assert_eq!(skips_of_run(log, 10), ["a: skipped: x", "c: skipped: z"]);
        assert_eq!(skips_of_run(log, 11), ["b: skipped: y"]);
        assert!(skips_of_run(log, 12).is_empty());
    }
}
