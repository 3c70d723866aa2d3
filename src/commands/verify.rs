//! `imtegrity verify`.

use archive::{OtherKey, Tamper};
use serde_json::json;

use crate::archive_access::ArchiveAccess;
use crate::cli::VerifyArgs;
use crate::damaged_store::guard;
use crate::exit::{NotSignedBy, VerifyFailed};
use crate::output::emit;

pub(crate) fn run(args: &VerifyArgs, json: bool) -> crate::CmdResult {
    let dir = args.archive.dir();
    let access = guard(json, &dir, || ArchiveAccess::open(&dir, false))?;
    let report = guard(json, &dir, || access.verify(args.public_key.clone()))?;
    if let Some(other) = &report.not_signed_by {
        return not_signed_by(&dir, other, &report, json);
    }
    // Purges and the retention minimum, as the archive records them (none if unreadable).
    let retention = access.retention_state().ok();
    let verdict = match (&report.tamper, report.head_matches) {
        // Damage is not tampering: say so, and what recovers the rest.
        (Some(t @ Tamper::Unreadable { .. }), _) => format!(
            "DAMAGED: {t}; `imtegrity archive salvage --to DIR` copies every readable record \
             into a new store"
        ),
        (Some(t), _) => format!("TAMPERED: {t}"),
        (None, true) if report.salvaged.is_some() => {
            "intact, as a salvaged copy (not the original archive; see below)".to_owned()
        }
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
    let text = match &report.salvaged {
        Some(from) => format!("{text}\n{}", salvaged_lines(from)),
        None => text,
    };
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

/// `--public-key` named another key than the one every signature is by: say so, naming
/// both, and exit 3. Which of the two readings holds (the wrong key given, or the archive
/// re-signed) only the person who pinned the key knows, so the text gives both.
fn not_signed_by(
    dir: &std::path::Path,
    other: &OtherKey,
    report: &archive::VerifyReport,
    json: bool,
) -> crate::CmdResult {
    let verdict = format!("NOT SIGNED BY THAT KEY: {other}");
    let text = format!(
        "archive {}: {verdict}\n  the key given:     {} (public key {})\n  the archive's key: {} (public key {})\n  \
         If the key given is the one pinned when this archive was created, the archive was \
         re-signed with another key since: treat it as tampered with. The chain itself was not \
         checked; `imtegrity verify` without --public-key checks it against the archive's own key.",
        dir.display(),
        other.given_fingerprint,
        other.given,
        other.signed_by_fingerprint,
        other.signed_by,
    );
    let mut value = serde_json::to_value(report)?;
    if let Some(map) = value.as_object_mut() {
        map.insert("intact".into(), json!(false));
    }
    emit(json, &text, &value);
    Err(Box::new(NotSignedBy(verdict)))
}

/// What `verify` says of a salvaged copy, so it is never taken for the original.
fn salvaged_lines(from: &archive::SalvagedFrom) -> String {
    let lost = if from.lost.is_empty() {
        "nothing was unreadable there".to_owned()
    } else {
        let unreadable = archive::Unreadable {
            ranges: from.lost.clone(),
            reason: from.reason.clone(),
        };
        format!("{unreadable} there, and are not here")
    };
    let lost = if from.missing.is_empty() {
        lost
    } else {
        let ranges: Vec<String> = from
            .missing
            .iter()
            .map(|(a, b)| {
                if a == b {
                    a.to_string()
                } else {
                    format!("{a}..={b}")
                }
            })
            .collect();
        format!(
            "{lost}; records {} were missing there, with no signed purge to account for them",
            ranges.join(", ")
        )
    };
    format!(
        "  SALVAGED COPY of {} (its key {}, signed head at record {}), made {} by {}: {lost}\n  \
         source checkpoints: {} signed by its key, {} matching the records copied",
        from.source,
        from.source_fingerprint,
        from.source_head,
        from.time,
        from.by,
        from.source_checkpoints,
        from.source_heads_matched,
    )
}
