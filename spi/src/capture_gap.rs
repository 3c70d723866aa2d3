//! The `capture_gap` record relaxed mode writes after the spool failed or was too slow:
//! what was not durable when the server was told OK, what had to be dropped, and when.
//!
//! Relaxed mode ("When available") lets the chat go on whatever the spool does, so a record
//! may be acknowledged to the server before it is on disk (held in memory, written when the
//! disk answers again) or, beyond relaxed mode's memory, never written at all. Both are a
//! loss of what the archive promises (a crash while records are held loses them), so both
//! are recorded: one [`Episode`] per stretch of trouble, written as one record once the
//! records held in it are written, or at Terminate.

use std::collections::BTreeSet;

use record::{Direction, Event, Kind, Protocol, Verdict, now_ns};
use serde_json::json;

/// Most conversation keys named in one gap record.
const CONVERSATIONS_NAMED: usize = 100;

/// One stretch of time in which relaxed mode told the server OK for records that were not
/// (yet) durable.
#[derive(Debug, Clone, Default)]
pub struct Episode {
    /// When the first record was not durable in time (UTC ns).
    pub since_ns: i64,
    /// The first reason (the spool's error, or its silence).
    pub first_error: Option<String>,
    /// Records acknowledged to the server before they were durable (held, written later).
    pub delayed: u64,
    /// Records dropped: relaxed mode's memory was full, or Terminate came first.
    pub dropped: u64,
    /// Time of the first and last dropped record (UTC ns; 0 when none).
    pub dropped_first_ns: i64,
    /// See `dropped_first_ns`.
    pub dropped_last_ns: i64,
    /// The conversations that lost records, at most 100 (`CONVERSATIONS_NAMED`).
    pub dropped_conversations: BTreeSet<String>,
}

impl Episode {
    /// An episode starting now because of `reason`.
    pub fn start(reason: &str) -> Self {
        eprintln!(
            "imtegrity_stchatlog: relaxed mode: a record is not durable yet ({reason}); \
             holding records in memory and letting chats continue"
        );
        Self {
            since_ns: now_ns(),
            first_error: Some(reason.to_owned()),
            ..Self::default()
        }
    }

    /// Counts a dropped record of `conversation` made at `time_ns`.
    pub fn drop_record(&mut self, time_ns: i64, conversation: &str) {
        if self.dropped == 0 {
            self.dropped_first_ns = time_ns;
        }
        self.dropped += 1;
        self.dropped_last_ns = time_ns;
        if self.dropped_conversations.len() < CONVERSATIONS_NAMED {
            self.dropped_conversations.insert(conversation.to_owned());
        }
    }

    /// Adds a later episode's counts to this one (its gap record was not written yet).
    pub fn absorb(&mut self, later: Episode) {
        self.delayed += later.delayed;
        if later.dropped > 0 {
            if self.dropped == 0 {
                self.dropped_first_ns = later.dropped_first_ns;
            }
            self.dropped += later.dropped;
            self.dropped_last_ns = later.dropped_last_ns;
            for c in later.dropped_conversations {
                if self.dropped_conversations.len() >= CONVERSATIONS_NAMED {
                    break;
                }
                self.dropped_conversations.insert(c);
            }
        }
    }

    /// The record saying what happened, stamped with `node`.
    pub fn record(&self, node: &str) -> Event {
        let until = now_ns();
        let text = format!(
            "{} Sametime records were dropped and {} were acknowledged before they were durable \
             (relaxed mode), from {} to {} UTC ns; spool error: {}",
            self.dropped,
            self.delayed,
            self.since_ns,
            until,
            self.first_error.as_deref().unwrap_or("unknown"),
        );
        let conversations: Vec<&String> = self.dropped_conversations.iter().collect();
        Event {
            time_ns: until,
            protocol: Protocol::Sametime,
            kind: Kind::CaptureGap,
            conversation: format!("{}:capture-gap", Protocol::Sametime),
            sender: String::new(),
            recipients: Vec::new(),
            direction: Direction::Internal,
            local_user: String::new(),
            room: None,
            client_addr: None,
            node: node.to_owned(),
            raw: String::new(),
            text,
            charset: None,
            verdict: Verdict::Allowed,
            detail: Some(
                json!({
                    "dropped": self.dropped,
                    "delayed": self.delayed,
                    "first_ns": self.dropped_first_ns,
                    "last_ns": self.dropped_last_ns,
                    "failing_since_ns": self.since_ns,
                    "until_ns": until,
                    "error": self.first_error,
                    "conversations": conversations,
                    "conversations_truncated":
                        self.dropped_conversations.len() >= CONVERSATIONS_NAMED,
                })
                .to_string(),
            ),
            employee: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_counts_what_was_dropped_and_delayed() {
        let mut episode = Episode::start("disk full");
        episode.delayed = 2;
        episode.drop_record(10, "sametime:a|b");
        episode.drop_record(20, "sametime:a|b");
        let record = episode.record("st1");
        assert_eq!(record.kind, Kind::CaptureGap);
        assert!(
            record
                .text
                .starts_with("2 Sametime records were dropped and 2 were")
        );
        let detail: serde_json::Value =
            serde_json::from_str(record.detail.as_deref().unwrap_or("{}")).unwrap_or_default();
        assert_eq!(detail["dropped"], 2);
        assert_eq!(detail["first_ns"], 10);
        assert_eq!(detail["last_ns"], 20);
        assert_eq!(detail["conversations"][0], "sametime:a|b");
        assert_eq!(record.node, "st1");
    }
}
