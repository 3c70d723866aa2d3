//! What the tests that play the Sametime server from C share: the built library and the
//! compiled host program (`tests/host/host.c`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The cdylib cargo built with the rlib these tests link: in `target/debug/deps/`, where
/// the test binary runs from (a plain `cargo build` also copies it to `target/debug/`, but
/// a clean `cargo test` does not).
pub(crate) fn library() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let name = "libimtegrity_stchatlog.so";
    [deps.join(name), deps.parent().unwrap().join(name)]
        .into_iter()
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("{name} not built next to {}", exe.display()))
}

/// Compiles the host program into `dir`.
pub(crate) fn build_host(dir: &Path) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/host/host.c");
    let out = dir.join("host");
    let status = Command::new("cc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pthread", "-o"])
        .arg(&out)
        .arg(&source)
        .arg("-ldl")
        .status()
        .expect("cc (apt-get install build-essential)");
    assert!(status.success(), "cc failed on {}", source.display());
    out
}

/// How many records one run of `tests/host/host.c` makes (c_host.rs checks them one by one;
/// the shipping tests count them arriving).
pub(crate) const HOST_RECORDS: usize = 191;

/// valgrind, as `tests/peers/install.sh` installs it.
pub(crate) const VALGRIND: &str = "/usr/bin/valgrind";

/// The configuration line a host under valgrind runs with: memcheck makes every call some
/// fifty times slower, past the default 250 ms bound a message call waits for the spool,
/// which would refuse the host's messages. The bound itself is tested without valgrind
/// (`tests/stalled_disk.rs`).
pub(crate) const VALGRIND_CALL_TIMEOUT: &str = "call_timeout_ms = 30000\n";

/// The command line the C host runs under to be checked: any memcheck error, or a definite
/// leak, makes it exit 99 (and the test fail).
pub(crate) const VALGRIND_CHECKED: [&str; 5] = [
    VALGRIND,
    "--quiet",
    "--error-exitcode=99",
    "--leak-check=full",
    "--errors-for-leak-kinds=definite",
];

/// Whether valgrind is here: a missing one is a failure in CI (`CI=true`), a skip said on
/// stderr elsewhere.
pub(crate) fn have_valgrind(test: &str) -> bool {
    if Path::new(VALGRIND).exists() {
        return true;
    }
    test_skips::skip_or_fail(
        &format!("{test} (under valgrind)"),
        "install valgrind (tests/peers/install.sh)",
    );
    false
}
