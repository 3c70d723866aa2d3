//! `imtegrity retention apply`: expires records past the policy, never below the minimum
//! locked into the archive (`archive.retention.min_days`), and with `--config` locks a
//! configured minimum in first.

use archive::{ArchiveError, Protocol, RetentionLock, RetentionMinimum, RetentionPolicy};

use crate::archive_access::ArchiveAccess;
use crate::cli::{RetentionArgs, RetentionCommand};
use crate::exit::UsageError;
use crate::output::emit;

/// The archive's locked minimum refused the run or the configured minimum: nothing was
/// purged or changed. Exit code 77.
#[derive(Debug, thiserror::Error)]
#[error("{0}; nothing was purged")]
pub(crate) struct RetentionRefused(String);

/// A refusal by the lock becomes [`RetentionRefused`]; anything else stays what it is.
fn refused(e: ArchiveError) -> Box<dyn std::error::Error + Send + Sync> {
    match e {
        ArchiveError::RetentionLocked { .. } => Box::new(RetentionRefused(e.to_string())),
        other => Box::new(other),
    }
}

pub(crate) fn run(command: &RetentionCommand, json: bool) -> crate::CmdResult {
    let RetentionCommand::Apply(args) = command;
    let config = if args.config.is_some() || !args.overrides.is_empty() {
        Some(crate::config_file::load(
            args.config.as_deref(),
            &args.overrides,
        )?)
    } else {
        None
    };
    let retention = config.as_ref().map(|c| &c.archive.retention);
    let policy = policy(args, retention.map(crate::retention_setup::policy));
    let wanted = retention
        .map(crate::retention_setup::minimum)
        .unwrap_or_default();
    if policy == RetentionPolicy::default() && wanted.is_empty() {
        return Err(Box::new(UsageError(
            "no retention configured: give --days and/or --aim-days, --icq-days, --sametime-days \
             (or a --config with [archive.retention])"
                .into(),
        )));
    }
    let dir = args
        .archive
        .archive
        .clone()
        .or_else(|| config.as_ref().and_then(|c| c.archive.path.clone()))
        .unwrap_or_else(crate::archive_access::default_dir);
    let access = ArchiveAccess::open(&dir, false)?;
    // Checked here first, against the lock as the archive holds it, so that a refusal is
    // the same clear error (and exit code) whether the store is local or the gateway's;
    // the archive checks again when it runs.
    let lock = access.retention_state()?.lock;
    let mut lines = Vec::new();
    if !wanted.is_empty() {
        if let Some(lock) = &lock {
            lock.check_minimum(&wanted).map_err(refused)?;
        }
        let change = access.raise_retention_minimum(&wanted).map_err(refused)?;
        lines.push(lock_line(change.lock.as_ref(), change.raised));
    }
    let lock = access.retention_state()?.lock;
    if policy == RetentionPolicy::default() {
        emit(
            json,
            &lines.join("\n"),
            &serde_json::json!({ "lock": lock }),
        );
        return Ok(());
    }
    if let Some(lock) = &lock {
        lock.check_policy(&policy).map_err(refused)?;
    }
    let report = access
        .retention(&policy, archive::now_ns(), args.dry_run)
        .map_err(refused)?;
    let minimum = report
        .minimum
        .as_ref()
        .map_or("none".to_owned(), RetentionMinimum::describe);
    lines.push(if report.dry_run {
        format!(
            "dry run ({}; minimum {minimum}): {} records are past retention; {} of them are under legal hold; {} would be deleted",
            policy.describe(),
            report.expired,
            report.held,
            report.expired - report.held
        )
    } else {
        format!(
            "expired {} records ({}; minimum {minimum}: {} past retention, {} kept under legal hold){}",
            report.purged,
            policy.describe(),
            report.expired,
            report.held,
            report.checkpoint.map_or(String::new(), |c| format!(
                "; purge recorded in signed checkpoint {c}{}",
                report
                    .record
                    .map_or(String::new(), |r| format!(", who and why in record {r}"))
            ))
        )
    });
    emit(json, &lines.join("\n"), &serde_json::to_value(&report)?);
    Ok(())
}

/// "retention minimum 2190 days locked into the archive (set ... by root (uid 0))".
fn lock_line(lock: Option<&RetentionLock>, raised: bool) -> String {
    match lock {
        Some(lock) => format!(
            "retention minimum {} {} ({})",
            lock.minimum.describe(),
            if raised {
                "locked into the archive"
            } else {
                "already in force"
            },
            lock.provenance()
        ),
        None => "no retention minimum".to_owned(),
    }
}

/// The flags' days over the configuration's.
fn policy(args: &RetentionArgs, configured: Option<RetentionPolicy>) -> RetentionPolicy {
    let mut policy = configured.unwrap_or_default();
    if args.days.is_some() {
        policy.default_days = args.days;
    }
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
