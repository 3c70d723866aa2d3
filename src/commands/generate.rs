//! `imtegrity generate`: synthetic traffic into an archive, through the same durable append
//! path the gateway uses.

use archive::synthetic::Synthetic;
use serde_json::json;

use crate::archive_access::ArchiveAccess;
use crate::cli::GenerateArgs;
use crate::exit::UsageError;
use crate::output::emit;

pub(crate) async fn run(args: &GenerateArgs, json: bool) -> crate::CmdResult {
    let dir = args.archive.dir();
    let ArchiveAccess::Local(archive, _) =
        ArchiveAccess::open_with_key(&dir, true, args.signing_key.clone())?
    else {
        return Err(Box::new(UsageError(format!(
            "{} is owned by a running gateway; generate into a separate archive",
            dir.display()
        ))));
    };
    let mut synthetic = Synthetic::new(args.seed, args.users, args.days, archive::now_ns());
    let started = std::time::Instant::now();
    for i in 0..args.count {
        archive
            .append_relaxed(synthetic.event(i, args.count))
            .await?;
    }
    archive.sync().await?;
    let checkpoint = archive.checkpoint()?;
    let secs = started.elapsed().as_secs_f64();
    emit(
        json,
        &format!(
            "generated {} records in {} ({:.0} records/s, durable); head {} signed in checkpoint {}",
            args.count,
            dir.display(),
            args.count as f64 / secs.max(1e-9),
            archive.head_id(),
            checkpoint.seq
        ),
        &json!({"event": "generated", "count": args.count, "archive": dir, "head": archive.head_id(), "checkpoint": checkpoint.seq,
                "signing_key": crate::signing_key_notice::fields(&archive)}),
    );
    Ok(())
}
