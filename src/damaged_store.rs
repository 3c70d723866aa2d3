//! `imtegrity verify` on a store sled cannot read: a damaged archive is a failed
//! verification (exit 2), not an operational error (exit 1).
//!
//! sled 0.34 reacts to bytes changed inside its `db` file in three ways: it returns
//! `Error::Corruption` when a checksum fails on a read; it panics while recovering its page
//! table at open ("tried to serialize Uninitialized"); or, when the damage looks like a torn
//! write at the log's end, it silently recovers an older state. The first two come here; the
//! chain walk in `archive::verify` names the records that could not be read when the store
//! opened but some records did not.

use std::panic::{AssertUnwindSafe, catch_unwind};

use archive::ArchiveError;
use serde_json::json;

use crate::exit::VerifyFailed;
use crate::output::emit;

/// Runs `step` (opening or walking the archive); a sled checksum failure or a panic inside
/// sled becomes [`VerifyFailed`], reported on stdout as well (text or `--json`).
pub(crate) fn guard<T>(
    json: bool,
    dir: &std::path::Path,
    step: impl FnOnce() -> Result<T, ArchiveError>,
) -> Result<T, Box<dyn std::error::Error + Send + Sync>> {
    // sled's panic is an answer here, not a crash: keep its message out of stderr and
    // report it once, below.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = catch_unwind(AssertUnwindSafe(step));
    std::panic::set_hook(hook);
    let reason = match outcome {
        Ok(Ok(value)) => return Ok(value),
        Ok(Err(ArchiveError::Store(e @ sled::Error::Corruption { .. }))) => {
            archive::describe_damage(&e)
        }
        Ok(Err(e)) => return Err(Box::new(e)),
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".to_owned());
            format!("the store could not be opened: sled failed reading it ({what})")
        }
    };
    // The mark file lies outside sled, so it still says how much the store held. Its
    // signature cannot be checked here (the public key is inside the unreadable store), so
    // it is reported as what the file claims, checksum intact.
    let mark = archive::high_water_mark::read(dir)
        .ok()
        .flatten()
        .and_then(|bytes| archive::high_water_mark::parse(&bytes, None).ok())
        .map(|mark| mark.upto_id);
    let mut verdict = format!("DAMAGED: {reason}; no record could be read");
    if let Some(upto) = mark {
        verdict.push_str(&format!(
            " (its high-water mark says records up to {upto} were committed)"
        ));
    }
    emit(
        json,
        &format!("archive {}: {verdict}", dir.display()),
        &json!({"intact": false, "damaged": reason, "records": 0, "high_water_mark": mark}),
    );
    Err(Box::new(VerifyFailed(verdict)))
}
