//! `imtegrity hold add|list|release`. Each hold keeps who placed and released it (the
//! admin socket's peer, or this process's user) and why.

use archive::{Accessor, Hold, HoldTarget};

use crate::archive_access::ArchiveAccess;
use crate::cli::HoldCommand;
use crate::exit::UsageError;
use crate::output::emit;
use crate::timespec;

pub(crate) fn run(command: &HoldCommand, json: bool) -> crate::CmdResult {
    match command {
        HoldCommand::Add(args) => {
            let target = match (&args.user, &args.conversation) {
                (Some(user), None) => HoldTarget::User(user.clone()),
                (None, Some(conv)) => HoldTarget::Conversation(conv.clone()),
                _ => return Err(Box::new(UsageError("give --user or --conversation".into()))),
            };
            let access = ArchiveAccess::open(&args.archive.dir(), false)?;
            let hold = access.hold_add(target, &args.reason)?;
            if let Some(warning) = matches_nothing(&access, &hold)? {
                eprintln!("warning: {warning}");
            }
            emit(
                json,
                &format!("placed {}", describe(&hold)),
                &serde_json::to_value(&hold)?,
            );
        }
        HoldCommand::List(args) => {
            let access = ArchiveAccess::open(&args.archive.dir(), false)?;
            let holds = access.holds(args.all)?;
            if holds.is_empty() && !json {
                emit(false, "no holds", &serde_json::Value::Null);
            }
            for hold in holds {
                emit(json, &describe(&hold), &serde_json::to_value(&hold)?);
            }
        }
        HoldCommand::Release(args) => {
            let access = ArchiveAccess::open(&args.archive.dir(), false)?;
            let hold = access.hold_release(args.id, &args.reason)?;
            emit(
                json,
                &format!("released {}", describe(&hold)),
                &serde_json::to_value(&hold)?,
            );
        }
    }
    Ok(())
}

/// A warning when `hold` covers no record yet: a mistyped name or key preserves nothing,
/// and a reviewer should hear so when placing it, not when the matter comes to court. The
/// hold stays: a custodian may have no records yet. The look is itself on the access trail.
fn matches_nothing(
    access: &ArchiveAccess,
    hold: &Hold,
) -> Result<Option<String>, archive::ArchiveError> {
    let mut query = archive::Query {
        limit: Some(1),
        ..archive::Query::default()
    };
    let what = match &hold.target {
        HoldTarget::User(u) => {
            query.user = Some(u.clone());
            format!(
                "no record has {u} as a participant yet (screen names compare case- and \
                 space-insensitively)"
            )
        }
        HoldTarget::Conversation(c) => {
            query.conversation = Some(c.clone());
            format!(
                "no record is in conversation {c} yet (keys are exact, as `search` prints them)"
            )
        }
    };
    let args = serde_json::json!({"hold": hold.id, "check": "whether the hold covers any record"});
    let found = access.search(&query, "hold", args)?.next().transpose()?;
    Ok(found.is_none().then(|| {
        format!(
            "hold {}: {what}; it will cover matching records archived from now on",
            hold.id
        )
    }))
}

/// " by alice (uid 1000)", or nothing for a hold from before this was recorded.
fn by(who: Option<&Accessor>) -> String {
    who.map_or(String::new(), |w| format!(" by {} (uid {})", w.user, w.uid))
}

/// One line: "hold 1 on user carol (matter 42), placed <time> by alice (uid 1000),
/// released <time> by bob (uid 1001): matter closed".
fn describe(hold: &Hold) -> String {
    let what = match &hold.target {
        HoldTarget::User(u) => format!("user {u}"),
        HoldTarget::Conversation(c) => format!("conversation {c}"),
    };
    let state = match hold.released_ns {
        Some(t) => format!(
            "released {}{}{}",
            timespec::format(t),
            by(hold.released_by.as_ref()),
            hold.release_reason
                .as_ref()
                .map_or(String::new(), |r| format!(": {r}"))
        ),
        None => "active".to_owned(),
    };
    format!(
        "hold {} on {what} ({}), placed {}{}, {state}",
        hold.id,
        hold.reason,
        timespec::format(hold.created_ns),
        by(hold.placed_by.as_ref())
    )
}
