//! Runs last in `cargo test --workspace` (see Cargo.toml) and lists the tests that skipped
//! in this run, so a skip is seen at the end of the output rather than only where it
//! happened. Under `CI=true` any recorded skip fails the run (none should exist: a skip panics
//! there).

use std::io::Write as _;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(file) = test_skips::skips_file() else {
        return ExitCode::SUCCESS;
    };
    let log = std::fs::read_to_string(&file).unwrap_or_default();
    let skipped = test_skips::skips_of_run(&log, std::os::unix::process::parent_id());
    // Consumed: a later run starts from nothing (records of other runs are ignored anyway).
    let _ = std::fs::remove_file(&file);
    let mut err = std::io::stderr().lock();
    if skipped.is_empty() {
        let _ = writeln!(err, "test-skips: no test was skipped in this run");
        return ExitCode::SUCCESS;
    }
    let _ = writeln!(
        err,
        "\ntest-skips: {} test(s) did NOT run in this run:",
        skipped.len()
    );
    for line in &skipped {
        let _ = writeln!(err, "  {line}");
    }
    let _ = writeln!(
        err,
        "(install what they need with tests/peers/install.sh as root; under CI=true they fail)\n"
    );
    if test_skips::in_ci() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
