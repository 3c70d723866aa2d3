//! `imtegrity search`: a transcript per conversation, like a chat log, or JSON lines.

use std::collections::BTreeMap;
use std::io::Write;

use archive::Record;
use archive::export::transcript_text::single_line;
use archive::export::{Zone, counted, json_line_in};
use serde_json::json;

use crate::archive_access::ArchiveAccess;
use crate::cli::SearchArgs;
use crate::output::emit;

pub(crate) fn run(args: &SearchArgs, json: bool) -> crate::CmdResult {
    let zone = crate::timespec::zone(args.tz.as_deref())?;
    let query = args.filters.query(archive::now_ns())?;
    let access = ArchiveAccess::open(&args.archive.dir(), false)?;
    let records = access.search(&query, "search", serde_json::Value::Null)?;
    if json {
        let mut out = std::io::stdout().lock();
        let mut n = 0u64;
        for record in records {
            let line = json_line_in(&record?, &zone)?;
            if writeln!(out, "{line}").is_err() {
                break; // stdout closed (e.g. piped into head): stop quietly
            }
            n += 1;
        }
        tracing::info!(records = n, "search done");
        return Ok(());
    }
    // Group by conversation, the conversations in order of their first record, each
    // conversation's records in id order (the order they were archived: an offline message
    // stamped with its send time still reads where it arrived).
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
    for records in groups.values_mut() {
        records.sort_by_key(|r| r.id);
    }
    let total: usize = groups.values().map(Vec::len).sum();
    for key in &order {
        let Some(records) = groups.get(key) else {
            continue;
        };
        print_conversation(key, records, &zone);
    }
    emit(
        false,
        &format!(
            "{} in {}",
            counted(total as u64, "record"),
            counted(order.len() as u64, "conversation")
        ),
        &json!({}),
    );
    Ok(())
}

/// One conversation: a title line, a line per day (which states the time zone), and a
/// transcript line per record, the same lines the EML export writes.
fn print_conversation(key: &str, records: &[Record], zone: &Zone) {
    let Some(first) = records.first() else { return };
    let title = match &first.event.room {
        Some(room) => format!("room {}", single_line(room)),
        None => {
            let mut names: Vec<String> = std::iter::once(first.event.sender.as_str())
                .chain(first.event.recipients.iter().map(String::as_str))
                .map(single_line)
                .collect();
            names.dedup();
            names.join(" ↔ ")
        }
    };
    emit(
        false,
        &format!(
            "=== {title} ({}) — conversation {}",
            first.event.protocol,
            single_line(key)
        ),
        &json!({}),
    );
    let mut day = None;
    for r in records {
        let d = zone.day(r.event.time_ns);
        if day != Some(d) {
            emit(
                false,
                &format!("--- {} ({})", Zone::day_string(d), zone.name()),
                &json!({}),
            );
            day = Some(d);
        }
        emit(
            false,
            &archive::export::transcript_line(r, zone),
            &json!({}),
        );
    }
    emit(false, "", &json!({}));
}
