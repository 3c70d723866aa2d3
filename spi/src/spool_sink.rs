//! The spool as the session logic's sink, through the writer thread with the call's bound
//! ([`crate::spool_worker`]): strict mode fails what is not durable in time, relaxed mode
//! never fails and warns the server instead.

use std::sync::Arc;
use std::time::Duration;

use record::Event;

use crate::error::SpiError;
use crate::sink::RecordSink;
use crate::spool_worker::{Appended, SpoolWorker};

/// Appends through a [`SpoolWorker`], waiting at most the call's bound.
pub struct SpoolSink {
    worker: Arc<SpoolWorker>,
    relaxed: bool,
    bound: Duration,
    /// Relaxed mode: told why a record was not durable, for the server's `appRetMsg`.
    warn: Box<dyn Fn(&str) + Send + Sync>,
}

impl std::fmt::Debug for SpoolSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpoolSink")
            .field("relaxed", &self.relaxed)
            .field("bound", &self.bound)
            .finish_non_exhaustive()
    }
}

impl SpoolSink {
    /// Strict mode: an append that is not durable within `bound` fails.
    pub fn strict(worker: Arc<SpoolWorker>, bound: Duration) -> Self {
        Self {
            worker,
            relaxed: false,
            bound,
            warn: Box::new(|_| {}),
        }
    }

    /// Relaxed mode: an append never fails; `warn` hears why one is not durable yet.
    pub fn relaxed(
        worker: Arc<SpoolWorker>,
        bound: Duration,
        warn: Box<dyn Fn(&str) + Send + Sync>,
    ) -> Self {
        Self {
            worker,
            relaxed: true,
            bound,
            warn,
        }
    }
}

impl RecordSink for SpoolSink {
    fn append(&self, event: &Event) -> Result<(), SpiError> {
        match self.worker.append(event, self.relaxed, self.bound) {
            Appended::Durable => Ok(()),
            Appended::Refused(e) => Err(e),
            Appended::Held(reason) => {
                (self.warn)(&format!("held in memory, not yet recorded: {reason}"));
                Ok(())
            }
            Appended::Dropped(reason) => {
                (self.warn)(&format!("not recorded: {reason}"));
                Ok(())
            }
        }
    }

    fn held(&self) -> usize {
        self.worker.held()
    }
}
