//! `imtegrity retention apply`.

use archive::{Protocol, RetentionPolicy};

use crate::archive_access::ArchiveAccess;
use crate::cli::{RetentionArgs, RetentionCommand, UsageError};
use crate::output::emit;

pub(crate) fn run(command: &RetentionCommand, json: bool) -> crate::CmdResult {
    let RetentionCommand::Apply(args) = command;
    let policy = policy(args);
    if policy == RetentionPolicy::default() {
        return Err(Box::new(UsageError(
            "no retention configured: give --days and/or --aim-days, --icq-days, --sametime-days"
                .into(),
        )));
    }
    let access = ArchiveAccess::open(&args.archive.dir(), false)?;
    let report = access.retention(&policy, archive::now_ns(), args.dry_run)?;
    let text = if report.dry_run {
        format!(
            "dry run: {} records are past retention; {} of them are under legal hold; {} would be deleted",
            report.expired,
            report.held,
            report.expired - report.held
        )
    } else {
        format!(
            "expired {} records ({} past retention, {} kept under legal hold){}",
            report.purged,
            report.expired,
            report.held,
            report.checkpoint.map_or(String::new(), |c| format!(
                "; purge recorded in signed checkpoint {c}"
            ))
        )
    };
    emit(json, &text, &serde_json::to_value(&report)?);
    Ok(())
}

fn policy(args: &RetentionArgs) -> RetentionPolicy {
    let mut policy = RetentionPolicy {
        default_days: args.days,
        ..RetentionPolicy::default()
    };
    for (protocol, days) in [
        (Protocol::Aim, args.aim_days),
        (Protocol::Icq, args.icq_days),
        (Protocol::Sametime, args.sametime_days),
    ] {
        if let Some(days) = days {
            policy.per_protocol.insert(protocol, days);
        }
    }
    policy
}
