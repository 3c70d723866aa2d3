//! Writing results to stdout, as text for people or JSON lines for scripts.

use std::io::Write;

/// Prints `text` or, with `--json`, `value` as one JSON line. Write errors (a closed pipe)
/// are ignored: there is no one left to tell.
pub(crate) fn emit(json: bool, text: &str, value: &serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = if json {
        writeln!(out, "{value}")
    } else {
        writeln!(out, "{text}")
    };
    let _ = out.flush();
}
