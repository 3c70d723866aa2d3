//! `imtegrity search`: a transcript per conversation, like a chat log, or JSON lines.

use std::collections::BTreeMap;
use std::io::Write;

use archive::{Kind, Record, Verdict};
use serde_json::json;

use crate::archive_access::ArchiveAccess;
use crate::cli::SearchArgs;
use crate::output::emit;
use crate::timespec;

pub(crate) fn run(args: &SearchArgs, json: bool) -> crate::CmdResult {
    let query = args.filters.query(archive::now_ns())?;
    let access = ArchiveAccess::open(&args.archive.dir(), false)?;
    let records = access.search(&query, "search", serde_json::Value::Null)?;
    if json {
        let mut out = std::io::stdout().lock();
        let mut n = 0u64;
        for record in records {
            let line = archive::export::json_line(&record?)?;
            if writeln!(out, "{line}").is_err() {
                break; // stdout closed (e.g. piped into head): stop quietly
            }
            n += 1;
        }
        tracing::info!(records = n, "search done");
        return Ok(());
    }
    // Group by conversation, keeping each conversation's records in time order and the
    // conversations in order of their first record.
    let mut order: Vec<String> = Vec::new();
    let mut groups: BTreeMap<String, Vec<Record>> = BTreeMap::new();
    for record in records {
        let record = record?;
        let key = record.event.conversation.clone();
        if !groups.contains_key(&key) {
            order.push(key.clone());
        }
        groups.entry(key).or_default().push(record);
    }
    if order.is_empty() {
        emit(false, "no records match", &json!({}));
        return Ok(());
    }
    let total: usize = groups.values().map(Vec::len).sum();
    for key in &order {
        let Some(records) = groups.get(key) else {
            continue;
        };
        print_conversation(key, records);
    }
    emit(
        false,
        &format!("{total} records in {} conversations", order.len()),
        &json!({}),
    );
    Ok(())
}

fn print_conversation(key: &str, records: &[Record]) {
    let Some(first) = records.first() else { return };
    let title = match &first.event.room {
        Some(room) => format!("room {room}"),
        None => {
            let mut names: Vec<&str> = std::iter::once(first.event.sender.as_str())
                .chain(first.event.recipients.iter().map(String::as_str))
                .collect();
            names.dedup();
            names.join(" ↔ ")
        }
    };
    emit(
        false,
        &format!(
            "=== {title} ({}) — conversation {key}",
            first.event.protocol
        ),
        &json!({}),
    );
    let mut day = String::new();
    for r in records {
        let d = timespec::day(r.event.time_ns);
        if d != day {
            emit(false, &format!("--- {d}"), &json!({}));
            day = d;
        }
        emit(false, &transcript_line(r), &json!({}));
    }
    emit(false, "", &json!({}));
}

/// One line of a chat-log style transcript.
pub(crate) fn transcript_line(r: &Record) -> String {
    let e = &r.event;
    let at = timespec::clock(e.time_ns);
    let body = match e.kind {
        Kind::Im | Kind::ChatMessage => format!("{}: {}", e.sender, e.text),
        Kind::ChatJoin => format!("* {} joined", e.sender),
        Kind::ChatLeave => format!("* {} left", e.sender),
        Kind::FileOffer => format!(
            "* {} offered a file: {}",
            e.sender,
            e.detail.as_deref().unwrap_or("")
        ),
        Kind::DirectImOffer => format!("* {} asked for a direct connection", e.sender),
        Kind::PolicyAction => format!("* policy: {}", e.detail.as_deref().unwrap_or(&e.text)),
        Kind::SessionStart => format!("* session started by {}", e.sender),
        Kind::SessionEnd => format!("* session ended ({})", e.sender),
        Kind::CaptureGap => format!("! capture gap: {}", e.text),
        Kind::BypassAlert => format!("! bypass: {}", e.text),
        Kind::Access => format!("! access: {}", e.text),
    };
    let verdict = match &e.verdict {
        Verdict::Allowed => String::new(),
        Verdict::Blocked(rule) => format!("  [blocked: {rule}]"),
        Verdict::Masked(rule) => format!("  [masked: {rule}]"),
        Verdict::Alerted(rule) => format!("  [alert: {rule}]"),
        Verdict::Passive => "  [passive capture]".to_owned(),
    };
    format!("[{at}] #{} {body}{verdict}", r.id)
}
