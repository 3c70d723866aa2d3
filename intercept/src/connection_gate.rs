//! The relay's door: the shared admission table behind a lock, the refusal counters for
//! `status`, and the rate-limited summary log. The listener asks it before a connection is
//! given a session; an admitted connection holds a [`Admitted`] ticket until it closes.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use crate::admission::{AdmissionTable, ConnectionLimits, Refusal};
use crate::refusal_log::{RefusalCounts, RefusalLog};

/// Admission and refusal bookkeeping shared by every listener of one relay.
#[derive(Debug)]
pub struct ConnectionGate {
    table: Mutex<AdmissionTable>,
    log: Mutex<RefusalLog>,
    per_address: AtomicU64,
    rate: AtomicU64,
    descriptors: AtomicU64,
    signon_deadline: AtomicU64,
    accept_errors: AtomicU64,
}

/// What `status` shows of the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateSnapshot {
    /// Client connections open now.
    pub open: usize,
    /// Client addresses remembered now.
    pub tracked: usize,
    /// The limits in force.
    pub limits: ConnectionLimits,
    /// Refusals and sign-on deadline closes since start.
    pub refused: RefusalCounts,
}

/// An admitted connection's place; dropping it (the connection closed) frees the place.
#[derive(Debug)]
pub(crate) struct Admitted {
    gate: Arc<ConnectionGate>,
    ip: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.gate.lock_table().release(self.ip);
    }
}

impl ConnectionGate {
    /// A gate enforcing `limits`.
    pub fn new(limits: ConnectionLimits) -> Self {
        Self {
            table: Mutex::new(AdmissionTable::new(limits)),
            log: Mutex::default(),
            per_address: AtomicU64::new(0),
            rate: AtomicU64::new(0),
            descriptors: AtomicU64::new(0),
            signon_deadline: AtomicU64::new(0),
            accept_errors: AtomicU64::new(0),
        }
    }

    fn lock_table(&self) -> std::sync::MutexGuard<'_, AdmissionTable> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a connection from `ip`, or counts (and in time logs) why not.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Admitted> {
        let now = Instant::now();
        let decided = self.lock_table().admit(ip, now);
        match decided {
            Ok(()) => Some(Admitted {
                gate: self.clone(),
                ip,
            }),
            Err(refusal) => {
                let counter = match refusal {
                    Refusal::PerAddress => &self.per_address,
                    Refusal::Rate => &self.rate,
                    Refusal::Descriptors => &self.descriptors,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                self.log_summary(now);
                None
            }
        }
    }

    /// Counts a connection closed for not signing on in time.
    pub(crate) fn missed_signon(&self) {
        self.signon_deadline.fetch_add(1, Ordering::Relaxed);
        self.log_summary(Instant::now());
    }

    /// Counts a failed `accept`.
    pub(crate) fn accept_failed(&self, error: &std::io::Error) {
        self.accept_errors.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(%error, "accept failed");
        self.log_summary(Instant::now());
    }

    /// Refusal totals since start.
    pub fn refused(&self) -> RefusalCounts {
        RefusalCounts {
            per_address: self.per_address.load(Ordering::Relaxed),
            rate: self.rate.load(Ordering::Relaxed),
            descriptors: self.descriptors.load(Ordering::Relaxed),
            signon_deadline: self.signon_deadline.load(Ordering::Relaxed),
            accept_errors: self.accept_errors.load(Ordering::Relaxed),
        }
    }

    /// What `status` shows.
    pub fn snapshot(&self) -> GateSnapshot {
        let table = self.lock_table();
        GateSnapshot {
            open: table.open(),
            tracked: table.tracked(),
            limits: table.limits(),
            refused: self.refused(),
        }
    }

    /// Logs what was refused since the last summary, if one is due: called on every
    /// refusal and periodically, so the last burst of a flood is told too.
    pub(crate) fn log_summary(&self, now: Instant) {
        let due = self
            .log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .due(self.refused(), now);
        Self::tell(due);
    }

    /// Logs whatever was refused since the last summary, due or not: at shutdown.
    pub(crate) fn flush_summary(&self) {
        let due = self
            .log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .flush(self.refused(), Instant::now());
        Self::tell(due);
    }

    fn tell(due: Option<RefusalCounts>) {
        if let Some(new) = due {
            tracing::warn!(
                per_address_limit = new.per_address,
                rate_limit = new.rate,
                descriptor_reserve = new.descriptors,
                signon_deadline = new.signon_deadline,
                accept_errors = new.accept_errors,
                "client connections refused or closed since the last summary \
                 (`imtegrity status` has the totals)"
            );
        }
    }
}
