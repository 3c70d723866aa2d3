//! Where records go: the [`RecordSink`] trait, so the session logic does not know about the
//! spool or its writer thread (`spool_sink::SpoolSink`).

use record::Event;

use crate::error::SpiError;

/// Takes each record as the session logic produces it.
pub trait RecordSink: Send + Sync + std::fmt::Debug {
    /// Appends one record. **The record is durable once this returns `Ok`** (relaxed mode's
    /// sink excepted: it says `Ok` for a record it holds in memory, and warns the server);
    /// an error means it is not recorded and the server must be told (strict mode ends the
    /// chat).
    fn append(&self, event: &Event) -> Result<(), SpiError>;

    /// How many records wait in memory for the spool (relaxed mode, a pending gap record
    /// included); none elsewhere.
    fn held(&self) -> usize {
        0
    }
}

impl<T: RecordSink + ?Sized> RecordSink for std::sync::Arc<T> {
    fn append(&self, event: &Event) -> Result<(), SpiError> {
        (**self).append(event)
    }

    fn held(&self) -> usize {
        (**self).held()
    }
}

/// A sink that keeps records in memory, for unit tests of the session logic.
#[cfg(test)]
#[derive(Debug, Default)]
pub(crate) struct MemorySink {
    pub(crate) events: std::sync::Mutex<Vec<Event>>,
    pub(crate) fail: std::sync::atomic::AtomicBool,
}

#[cfg(test)]
impl RecordSink for MemorySink {
    fn append(&self, event: &Event) -> Result<(), SpiError> {
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(SpiError::Panicked { entry: "test sink" });
        }
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(event.clone());
        Ok(())
    }
}

/// A plain two-way message record, for unit tests of sinks and spools.
#[cfg(test)]
pub(crate) fn test_event(text: &str) -> Event {
    use record::{Direction, Kind, Protocol, Verdict};
    Event {
        time_ns: 1,
        protocol: Protocol::Sametime,
        kind: Kind::Im,
        conversation: "sametime:a|b".into(),
        sender: "a".into(),
        recipients: vec!["b".into()],
        direction: Direction::Internal,
        local_user: "a".into(),
        room: None,
        client_addr: None,
        node: "n".into(),
        text: text.into(),
        raw: text.into(),
        charset: None,
        verdict: Verdict::Allowed,
        detail: None,
        employee: None,
    }
}
