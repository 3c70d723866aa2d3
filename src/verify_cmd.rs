//! `imtegrity verify`.

use archive::Tamper;
use serde_json::json;

use crate::archive_access::ArchiveAccess;
use crate::cli::{VerifyArgs, VerifyFailed};
use crate::damaged_store::guard;
use crate::output::emit;

pub(crate) fn run(args: &VerifyArgs, json: bool) -> crate::CmdResult {
    let dir = args.archive.dir();
    let access = guard(json, &dir, || ArchiveAccess::open(&dir, false))?;
    let report = guard(json, &dir, || access.verify(args.public_key.clone()))?;
    // Purges and the retention minimum, as the archive records them (none if unreadable).
    let retention = access.retention_state().ok();
    let verdict = match (&report.tamper, report.head_matches) {
        (Some(t), _) => format!("TAMPERED: {t}"),
        (None, true) => crate::purge_summary::intact(retention.as_ref()),
        (None, false) if report.unsigned_tail > 0 => format!(
            "chain intact, but the last {} records are not yet covered by a signature",
            report.unsigned_tail
        ),
        (None, false) => "the chain does not end at the signed head".to_owned(),
    };
    let text = format!(
        "archive {}: {verdict}\n  records {} (ids {}..{}), {} purged by retention\n  checkpoints {}, signed head at record {}, high-water mark at record {}\n  public key {}",
        args.archive.dir().display(),
        report.records,
        report.first_id.unwrap_or(0),
        report.last_id.unwrap_or(0),
        report.purged,
        report.checkpoints,
        report
            .signed_head
            .map_or("none".to_owned(), |h| h.to_string()),
        report
            .high_water_mark
            .map_or("none".to_owned(), |h| h.to_string()),
        report.public_key,
    ) + &crate::purge_summary::lines(retention.as_ref());
    let mut value = serde_json::to_value(&report)?;
    if let Some(map) = value.as_object_mut() {
        map.insert("intact".into(), json!(report.is_intact()));
        map.insert("retention".into(), json!(retention));
        // The records a rollback lost, inclusive, so a script need not do the arithmetic.
        if let Some(Tamper::RolledBack { store_head, mark }) = &report.tamper {
            map.insert("missing".into(), json!([store_head + 1, mark]));
        }
    }
    emit(json, &text, &value);
    if report.is_intact() {
        Ok(())
    } else {
        Err(Box::new(VerifyFailed(verdict)))
    }
}
