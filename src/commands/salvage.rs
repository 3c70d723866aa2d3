//! `imtegrity archive salvage`: a damaged archive's readable records into a new archive.

use archive::{Accessor, ArchiveOptions};
use serde_json::json;

use crate::archive_access::ArchiveAccess;
use crate::cli::SalvageArgs;
use crate::damaged_store::guard;
use crate::exit::UsageError;
use crate::output::emit;

pub(crate) fn run(args: &SalvageArgs, json: bool) -> crate::CmdResult {
    let dir = args.archive.dir();
    let source = match guard(json, &dir, || ArchiveAccess::open(&dir, false))? {
        ArchiveAccess::Local(archive, _) => archive,
        ArchiveAccess::Remote(_) => {
            return Err(Box::new(UsageError(format!(
                "{} is owned by a running gateway; stop it first: salvage reads the store itself",
                dir.display()
            ))));
        }
    };
    let options = ArchiveOptions {
        key: args.signing_key.clone(),
        ..ArchiveOptions::default()
    };
    let (salvaged, report) = source.salvage_into(&args.to, options, &Accessor::this_process())?;
    if report.key_created {
        crate::signing_key_notice::announce_new(&salvaged);
    }
    let lost = if report.lost.is_empty() {
        "nothing was unreadable".to_owned()
    } else {
        format!("{}; they are not in the copy", report.lost)
    };
    emit(
        json,
        &format!(
            "salvaged {} records from {} into {}; {lost}\n  the copy: head at record {}, public key {} ({})\n  \
             It says it is a salvaged copy: `imtegrity verify --archive {}` names its source and \
             what it lacks, and checks the source's own {} signed checkpoints against it.",
            report.copied,
            dir.display(),
            args.to.display(),
            report.head,
            report.public_key,
            salvaged.public_key_fingerprint(),
            args.to.display(),
            report.source_checkpoints,
        ),
        &json!({"event": "salvaged", "from": dir, "to": args.to, "copied": report.copied,
                "lost": report.lost.ranges, "reason": report.lost.reason, "head": report.head,
                "source_checkpoints": report.source_checkpoints,
                "signing_key": crate::signing_key_notice::fields_for(&salvaged, report.key_created)}),
    );
    Ok(())
}
