//! Relaxed mode: the chat always goes on, and what could not be recorded is said.
//!
//! Sametime's relaxed ("When available") mode lets a chat continue whatever the logger
//! returns (reference §2.4). So a record the spool refuses (full or read-only disk) is not
//! thrown away: it is held in memory, in order, and written before anything newer once the
//! spool works again, which [`RelaxedSink`] tries on every later record and on every timer
//! call. Memory is bounded ([`crate::config::RelaxedConfig`]); records beyond it are
//! dropped, counted, and a `capture_gap` record saying how many, from when to when and in
//! which conversations, is written as soon as the spool recovers.
//!
//! What is not covered: held records live only in this process, so if the server dies while
//! the spool is failing they are gone without a gap record. The server's own log has the
//! warning written through `appRetCode`/`appRetMsg` and the line on stderr.

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use archive::{Direction, Event, Kind, Protocol, Verdict, now_ns};
use serde_json::json;

use crate::config::RelaxedConfig;
use crate::error::SpiError;
use crate::sink::RecordSink;

/// Most conversation keys named in one gap record.
const GAP_CONVERSATIONS_NAMED: usize = 100;

/// Records waiting for the spool, and what had to be dropped.
#[derive(Debug, Default)]
struct Held {
    records: VecDeque<Event>,
    bytes: usize,
    /// Since when the spool fails (`None`: it works).
    failing_since_ns: Option<i64>,
    /// The error that started the failure.
    first_error: Option<String>,
    dropped: u64,
    dropped_first_ns: i64,
    dropped_last_ns: i64,
    dropped_conversations: BTreeSet<String>,
}

/// Roughly what a held record costs in memory.
fn footprint(event: &Event) -> usize {
    event.text.len()
        + event.raw.len()
        + event.detail.as_ref().map_or(0, String::len)
        + event.recipients.iter().map(String::len).sum::<usize>()
        + 256
}

/// A sink that never fails: records the inner sink refuses are held and written later.
pub struct RelaxedSink {
    inner: Box<dyn RecordSink>,
    limits: RelaxedConfig,
    node: String,
    held: Mutex<Held>,
    /// Told about each failure, so the server's `appRetCode` carries a warning.
    warn: Box<dyn Fn(&SpiError) + Send + Sync>,
}

impl std::fmt::Debug for RelaxedSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelaxedSink")
            .field("limits", &self.limits)
            .field("held", &self.lock().records.len())
            .finish_non_exhaustive()
    }
}

impl RelaxedSink {
    /// Wraps `inner`; gap records name `node`; `warn` hears of every failure.
    pub fn new(
        inner: Box<dyn RecordSink>,
        limits: RelaxedConfig,
        node: String,
        warn: Box<dyn Fn(&SpiError) + Send + Sync>,
    ) -> Self {
        Self {
            inner,
            limits,
            node,
            held: Mutex::new(Held::default()),
            warn,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many records wait in memory.
    pub fn held(&self) -> usize {
        self.lock().records.len()
    }

    /// Keeps `event` for later, or counts it as dropped when memory is full.
    fn hold(&self, held: &mut Held, event: &Event) {
        let size = footprint(event);
        if held.records.len() < self.limits.max_held_records
            && held.bytes + size <= self.limits.max_held_bytes
        {
            held.bytes += size;
            held.records.push_back(event.clone());
            return;
        }
        if held.dropped == 0 {
            held.dropped_first_ns = event.time_ns;
            eprintln!(
                "imtegrity_stchatlog: relaxed mode: {} records held in memory, the limit; \
                 dropping further records until the spool works (a capture_gap record will say how many)",
                held.records.len()
            );
        }
        held.dropped += 1;
        held.dropped_last_ns = event.time_ns;
        if held.dropped_conversations.len() < GAP_CONVERSATIONS_NAMED {
            held.dropped_conversations
                .insert(event.conversation.clone());
        }
    }

    /// Writes what is held, in order, then the gap record if anything was dropped.
    fn drain(&self, held: &mut Held) -> Result<(), SpiError> {
        while let Some(event) = held.records.front() {
            self.inner.append(event)?;
            held.bytes = held.bytes.saturating_sub(footprint(event));
            held.records.pop_front();
        }
        if held.dropped > 0 {
            self.inner.append(&self.gap_record(held))?;
            held.dropped = 0;
            held.dropped_conversations.clear();
        }
        if let Some(since) = held.failing_since_ns.take() {
            let seconds = (now_ns() - since) / 1_000_000_000;
            eprintln!(
                "imtegrity_stchatlog: the spool works again after {seconds} s; held records written"
            );
            held.first_error = None;
        }
        Ok(())
    }

    /// The `capture_gap` record for what `held` dropped.
    fn gap_record(&self, held: &Held) -> Event {
        let conversations: Vec<&String> = held.dropped_conversations.iter().collect();
        let text = format!(
            "{} Sametime records could not be made durable and were dropped (relaxed mode), \
             from {} to {} UTC ns; spool error: {}",
            held.dropped,
            held.dropped_first_ns,
            held.dropped_last_ns,
            held.first_error.as_deref().unwrap_or("unknown"),
        );
        Event {
            time_ns: now_ns(),
            protocol: Protocol::Sametime,
            kind: Kind::CaptureGap,
            conversation: format!("{}:capture-gap", Protocol::Sametime),
            sender: String::new(),
            recipients: Vec::new(),
            direction: Direction::Internal,
            local_user: String::new(),
            room: None,
            client_addr: None,
            node: self.node.clone(),
            raw: String::new(),
            text,
            charset: None,
            verdict: Verdict::Allowed,
            detail: Some(
                json!({
                    "dropped": held.dropped,
                    "first_ns": held.dropped_first_ns,
                    "last_ns": held.dropped_last_ns,
                    "failing_since_ns": held.failing_since_ns,
                    "error": held.first_error,
                    "conversations": conversations,
                    "conversations_truncated":
                        held.dropped_conversations.len() >= GAP_CONVERSATIONS_NAMED,
                })
                .to_string(),
            ),
            employee: None,
        }
    }

    fn failed(&self, held: &mut Held, error: &SpiError) {
        if held.failing_since_ns.is_none() {
            held.failing_since_ns = Some(now_ns());
            held.first_error = Some(error.to_string());
            eprintln!(
                "imtegrity_stchatlog: relaxed mode: the spool failed ({error}); \
                 holding records in memory and letting chats continue"
            );
        }
        (self.warn)(error);
    }
}

impl RecordSink for RelaxedSink {
    fn append(&self, event: &Event) -> Result<(), SpiError> {
        let mut held = self.lock();
        let outcome = self
            .drain(&mut held)
            .and_then(|()| self.inner.append(event));
        if let Err(e) = outcome {
            self.hold(&mut held, event);
            self.failed(&mut held, &e);
        }
        Ok(())
    }

    fn retry(&self) -> Result<(), SpiError> {
        let mut held = self.lock();
        if held.failing_since_ns.is_none() && held.records.is_empty() && held.dropped == 0 {
            return Ok(());
        }
        if let Err(e) = self.drain(&mut held) {
            self.failed(&mut held, &e);
        }
        Ok(())
    }

    fn held(&self) -> usize {
        let held = self.lock();
        // A pending gap record is one more thing only this sink knows about.
        held.records.len() + usize::from(held.dropped > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::{MemorySink, test_event};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn relaxed(max: usize) -> (Arc<MemorySink>, Arc<AtomicUsize>, RelaxedSink) {
        let memory = Arc::new(MemorySink::default());
        let warnings = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&warnings);
        let sink = RelaxedSink::new(
            Box::new(Arc::clone(&memory)),
            RelaxedConfig {
                max_held_records: max,
                max_held_bytes: 1 << 20,
            },
            "st1".into(),
            Box::new(move |_| {
                counter.fetch_add(1, Ordering::SeqCst);
            }),
        );
        (memory, warnings, sink)
    }

    fn texts(memory: &MemorySink) -> Vec<String> {
        memory
            .events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|e| match e.kind {
                Kind::CaptureGap => format!("gap:{}", e.text.split(' ').next().unwrap_or("")),
                _ => e.text.clone(),
            })
            .collect()
    }

    #[test]
    fn held_records_are_written_in_order_once_the_spool_works() {
        let (memory, warnings, sink) = relaxed(10);
        sink.append(&test_event("1"))
            .unwrap_or_else(|e| panic!("{e}"));
        memory.fail.store(true, Ordering::SeqCst);
        for t in ["2", "3"] {
            assert!(sink.append(&test_event(t)).is_ok(), "relaxed never fails");
        }
        assert_eq!(sink.held(), 2);
        assert_eq!(warnings.load(Ordering::SeqCst), 2);
        // The timer's retry while still failing changes nothing.
        sink.retry().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sink.held(), 2);
        memory.fail.store(false, Ordering::SeqCst);
        sink.append(&test_event("4"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(texts(&memory), ["1", "2", "3", "4"]);
        assert_eq!(sink.held(), 0);
    }

    #[test]
    fn beyond_the_limit_records_are_dropped_and_a_gap_record_says_so() {
        let (memory, _, sink) = relaxed(2);
        memory.fail.store(true, Ordering::SeqCst);
        for t in ["a", "b", "c", "d", "e"] {
            sink.append(&test_event(t))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        memory.fail.store(false, Ordering::SeqCst);
        // The timer call drains without a new record.
        sink.retry().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(texts(&memory), ["a", "b", "gap:3"]);
        let events = memory.events.lock().unwrap_or_else(PoisonError::into_inner);
        let gap = &events[2];
        let detail: serde_json::Value =
            serde_json::from_str(gap.detail.as_deref().unwrap_or("{}")).unwrap_or_default();
        assert_eq!(detail["dropped"], 3);
        assert_eq!(detail["conversations"][0], "sametime:a|b");
        assert_eq!(gap.node, "st1");
    }
}
