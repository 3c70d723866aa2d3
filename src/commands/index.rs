//! `imtegrity index rebuild|status`: the text index the console's search reads, derived
//! from the archive and rebuilt from it.

use std::time::Instant;

use serde_json::json;

use crate::archive_access::ArchiveAccess;
use crate::cli::IndexCommand;
use crate::exit::UsageError;
use crate::output::emit;

/// Runs one `index` subcommand.
pub(crate) fn run(command: &IndexCommand, json: bool) -> crate::CmdResult {
    match command {
        IndexCommand::Rebuild(args) => {
            let dir = args.archive.dir();
            let ArchiveAccess::Local(archive, _) = ArchiveAccess::open(&dir, false)? else {
                return Err(UsageError(
                    "a running gateway has this archive open: stop it to rebuild the text index \
                     (its console follows the archive with the index it has)"
                        .into(),
                )
                .into());
            };
            let started = Instant::now();
            let (index, added) = text_index::rebuild(&archive, &text_index::dir_of(&dir))?;
            let progress = index.progress()?;
            let secs = started.elapsed().as_secs_f64();
            emit(
                json,
                &format!(
                    "text index rebuilt: {added} records in {secs:.1} s, up to #{}",
                    progress.upto
                ),
                &json!({"records": added, "upto": progress.upto, "seconds": secs}),
            );
        }
        IndexCommand::Status(args) => {
            let dir = args.archive.dir();
            let line = index_line(&dir, None);
            emit(json, &line.0, &json!({"upto": line.1.map(|p| p.upto)}));
        }
    }
    Ok(())
}

/// "text index: up to #N (M behind)", or that there is none; and what it holds.
pub(crate) fn index_line(
    archive_dir: &std::path::Path,
    head: Option<u64>,
) -> (String, Option<text_index::Progress>) {
    match text_index::progress_in(&text_index::dir_of(archive_dir)) {
        Some(progress) => {
            let behind = head.map_or(String::new(), |h| {
                format!(" ({} behind)", h.saturating_sub(progress.upto))
            });
            (
                format!("text index: records up to #{}{behind}", progress.upto),
                Some(progress),
            )
        }
        None => (
            "text index: none (the console makes it; `imtegrity index rebuild` makes it now)"
                .to_owned(),
            None,
        ),
    }
}
