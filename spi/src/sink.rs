//! Where records go: the [`RecordSink`] trait, so the session logic does not know about the
//! spool (shipping to the gateway wakes its thread behind the same trait: `shipper::ShippingSink`).

use archive::Event;

use crate::error::SpiError;

/// Takes each record as the session logic produces it.
pub trait RecordSink: Send + Sync {
    /// Appends one record. **The record is durable once this returns `Ok`**; an error means
    /// it is not recorded and the server must be told (strict mode ends the chat).
    fn append(&self, event: &Event) -> Result<(), SpiError>;
}

/// A sink that keeps records in memory, for unit tests of the session logic.
#[cfg(test)]
#[derive(Debug, Default)]
pub(crate) struct MemorySink {
    pub(crate) events: std::sync::Mutex<Vec<Event>>,
    pub(crate) fail: std::sync::atomic::AtomicBool,
}

#[cfg(test)]
impl RecordSink for std::sync::Arc<MemorySink> {
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
