//! One transcript line per record, the same in `search`'s text output and in the EML
//! export, so a reviewer reading either sees the same words for the same record.
//!
//! `[HH:MM:SS] #ID [verdict] sender: text`: the time (with its offset outside UTC), the
//! record id (so any line can be traced to the archive), the verdict when the message was
//! not simply allowed, then what happened. Captured text comes last and is rendered by
//! [`super::transcript_text`], so it can neither start a line of its own nor add a verdict
//! to the line it is on. `* ` lines are joins, leaves, offers and sessions; `! ` lines are
//! the gateway's own (policy, capture gaps, bypass alerts, archive access).

use super::transcript_text::{message_text, single_line};
use super::verdict_label;
use super::zone::Zone;
use record::{Event, Kind, Record, Verdict};

/// The verdict as a bracketed note, or nothing for an allowed message (and for a policy
/// action, which states its verdict itself).
fn verdict_note(e: &Event) -> String {
    let rule = |r: &str| single_line(r);
    match (&e.verdict, e.kind) {
        (_, Kind::PolicyAction) | (Verdict::Allowed, _) => String::new(),
        (Verdict::Blocked(r), _) => format!("[blocked by rule {}; not delivered] ", rule(r)),
        (Verdict::Masked(r), _) => format!("[masked by rule {}] ", rule(r)),
        (Verdict::Alerted(r), _) => format!("[alert raised by rule {}] ", rule(r)),
        (Verdict::Passive, _) => "[captured passively] ".to_owned(),
    }
}

/// `head`, then `: detail` if there is one, then the captured text if there is any and it
/// is not the detail again: an offer's own words are part of the record.
fn with_detail_and_text(head: String, e: &Event) -> String {
    let detail = e.detail.as_deref().filter(|d| !d.trim().is_empty());
    let mut line = head;
    if let Some(d) = detail {
        line.push_str(": ");
        line.push_str(&single_line(d));
    }
    if !e.text.trim().is_empty() && detail != Some(e.text.as_str()) {
        line.push_str(if detail.is_some() {
            "; message: "
        } else {
            ": "
        });
        line.push_str(&message_text(&e.text));
    }
    line
}

/// The record's transcript line, times in `zone`; a multi-line text continues on indented
/// lines (see [`super::transcript_text`]).
pub fn transcript_line(record: &Record, zone: &Zone) -> String {
    let e = &record.event;
    let who = if e.sender.trim().is_empty() {
        "(unknown)".to_owned()
    } else {
        single_line(&e.sender)
    };
    let room = single_line(e.room.as_deref().unwrap_or("the room"));
    let node = single_line(&e.node);
    let body = match e.kind {
        Kind::Im | Kind::ChatMessage => format!("{who}: {}", message_text(&e.text)),
        Kind::ChatJoin => format!("* {who} joined {room}"),
        Kind::ChatLeave => format!("* {who} left {room}"),
        Kind::FileOffer => with_detail_and_text(format!("* {who} offered a file"), e),
        Kind::DirectImOffer => {
            with_detail_and_text(format!("* {who} offered a direct connection"), e)
        }
        Kind::SessionStart => with_detail_and_text(format!("* {who} started a session"), e),
        Kind::SessionEnd => with_detail_and_text(format!("* {who} ended a session"), e),
        Kind::CaptureGap => format!("! capture gap on {node}: {}", message_text(&e.text)),
        Kind::BypassAlert => format!("! bypass seen by {node}: {}", message_text(&e.text)),
        Kind::Access => format!("! archive access: {}", message_text(&e.text)),
        Kind::Review => format!("! review: {}", message_text(&e.text)),
        Kind::PolicyAction => with_detail_and_text(
            format!(
                "! policy {} ({who})",
                single_line(&verdict_label(&e.verdict))
            ),
            e,
        ),
    };
    format!(
        "[{}] #{} {}{body}",
        zone.clock(e.time_ns),
        record.id,
        verdict_note(e)
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::export::tests::record;

    const NOON_01: i64 = 12 * 3_600_000_000_000 + 61_000_000_000;

    #[test]
    fn lines_for_each_kind() {
        let utc = Zone::utc();
        let mut r = record(1, NOON_01, "Alice", "bob", "hi\r\nthere\u{7}");
        assert_eq!(
            transcript_line(&r, &utc),
            "[12:01:01] #1 Alice: hi\n    | there<U+0007>"
        );
        r.event.text = "sell".into();
        r.event.verdict = Verdict::Blocked("no-links".into());
        assert_eq!(
            transcript_line(&r, &utc),
            "[12:01:01] #1 [blocked by rule no-links; not delivered] Alice: sell"
        );
        r.event.kind = Kind::ChatJoin;
        r.event.room = Some("Desk".into());
        r.event.verdict = Verdict::Allowed;
        assert_eq!(
            transcript_line(&r, &utc),
            "[12:01:01] #1 * Alice joined Desk"
        );
        r.event.kind = Kind::FileOffer;
        r.event.text = "the Q3 numbers\nsee row 8".into();
        r.event.detail = Some("file q3.xls, 20480 bytes".into());
        assert_eq!(
            transcript_line(&r, &utc),
            "[12:01:01] #1 * Alice offered a file: file q3.xls, 20480 bytes; message: the Q3 \
             numbers\n    | see row 8"
        );
        r.event.kind = Kind::DirectImOffer;
        r.event.text = "let's go direct".into();
        r.event.detail = None;
        assert_eq!(
            transcript_line(&r, &utc),
            "[12:01:01] #1 * Alice offered a direct connection: let's go direct"
        );
        r.event.kind = Kind::PolicyAction;
        r.event.verdict = Verdict::Alerted("insider".into());
        r.event.text = String::new();
        r.event.detail = Some("matched \"merger\"".into());
        assert_eq!(
            transcript_line(&r, &utc),
            "[12:01:01] #1 ! policy alerted:insider (Alice): matched \"merger\""
        );
    }

    #[test]
    fn text_cannot_forge_a_record_or_a_verdict() {
        let r = record(
            7,
            NOON_01,
            "Alice",
            "bob",
            "ok\n[02:12:09] #8 Kim Ops: I approve the unauthorised trade",
        );
        let line = transcript_line(&r, &Zone::utc());
        let starts: Vec<&str> = line.lines().filter(|l| l.starts_with('[')).collect();
        assert_eq!(starts, vec!["[12:01:01] #7 Alice: ok"]);
        // A delivered message that claims a verdict still shows none before its text.
        let r = record(
            9,
            NOON_01,
            "Alice\n[x]",
            "bob",
            "[blocked by rule x; not delivered]",
        );
        assert_eq!(
            transcript_line(&r, &Zone::utc()),
            "[12:01:01] #9 Alice<U+000A>[x]: [blocked by rule x; not delivered]"
        );
    }

    #[test]
    fn times_carry_the_offset_outside_utc() {
        let r = record(3, 1_714_564_800_000_000_000, "a", "b", "hi");
        let london = Zone::named("Europe/London").unwrap();
        assert_eq!(transcript_line(&r, &london), "[13:00:00+01:00] #3 a: hi");
    }
}
