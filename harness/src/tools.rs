//! Whether the programs a test runs (openssl, curl, dig, ...) are installed.

use std::path::Path;

/// Whether every program in `tools` (absolute paths) is installed. A missing one skips the
/// calling test locally with a `skipped:` line, but fails it in CI (`CI=true`), where
/// `.ci/run` installs them with tests/peers/install.sh.
pub fn tools_present(test: &str, tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    crate::skip_or_fail(
        test,
        &format!("install {missing:?} (tests/peers/install.sh; .ci/run does)"),
    );
    false
}
