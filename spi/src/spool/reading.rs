//! The reading side of the spool: what waits to be shipped, counted or decoded, from an open
//! spool or, without taking the writer's lock, from its directory.

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::PoisonError;
use std::sync::atomic::Ordering;

use record::Event;

use super::{Spool, file_err};
use crate::error::SpiError;
use crate::spool_files::{ACKED_FILE, read_acked};
use crate::spool_scan::{ScanStats, scan};

impl Spool {
    /// The highest sequence number the gateway acknowledged.
    pub fn acked(&self) -> u64 {
        *self.acked.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records waiting to be shipped, from sequence numbers alone (no reading): exact for
    /// the log's own records, an upper bound after a sled migration (sled's keys had gaps).
    pub fn backlog(&self) -> u64 {
        self.newest
            .load(Ordering::SeqCst)
            .saturating_sub(self.acked())
    }

    /// The oldest unacknowledged records with their sequence numbers, at most
    /// `max_records`, and no more than `max_bytes` of encoded records once one is taken.
    pub fn pending(
        &self,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Vec<(u64, Event)>, SpiError> {
        pending_in(&self.dir, self.acked(), max_records, max_bytes)
    }

    /// How many records wait to be shipped.
    pub fn len(&self) -> usize {
        count_in(&self.dir, self.acked()).unwrap_or(0)
    }

    /// Whether no record waits to be shipped.
    pub fn is_empty(&self) -> bool {
        self.pending(1, 0).map(|p| p.is_empty()).unwrap_or(true)
    }

    /// Every record waiting to be shipped, in append order.
    pub fn events(&self) -> Result<Vec<Event>, SpiError> {
        Ok(pending_in(&self.dir, self.acked(), usize::MAX, usize::MAX)?
            .into_iter()
            .map(|(_, e)| e)
            .collect())
    }

    /// Every record waiting to be shipped in the spool in `dir`, without opening it for
    /// appending: how a test or an operator's tool reads what the library wrote, even while
    /// the library runs.
    pub fn read_all(dir: &Path) -> Result<Vec<Event>, SpiError> {
        let acked = read_acked(dir).map_err(file_err(&dir.join(ACKED_FILE)))?;
        Ok(pending_in(dir, acked, usize::MAX, usize::MAX)?
            .into_iter()
            .map(|(_, e)| e)
            .collect())
    }
}

/// The records after `acked` in `dir`, bounded as [`Spool::pending`] says.
pub(crate) fn pending_in(
    dir: &Path,
    acked: u64,
    max_records: usize,
    max_bytes: usize,
) -> Result<Vec<(u64, Event)>, SpiError> {
    let mut out = Vec::new();
    let mut bytes = 0usize;
    let mut decode_error = None;
    scan(dir, acked, |seq, payload| {
        if out.len() >= max_records || (!out.is_empty() && bytes + payload.len() > max_bytes) {
            return ControlFlow::Break(());
        }
        match postcard::from_bytes(payload) {
            Ok(event) => {
                bytes += payload.len();
                out.push((seq, event));
                ControlFlow::Continue(())
            }
            Err(e) => {
                decode_error = Some(e);
                ControlFlow::Break(())
            }
        }
    })
    .map_err(file_err(dir))?;
    match decode_error {
        Some(e) => Err(SpiError::Encoding(e)),
        None => Ok(out),
    }
}

/// How many records after `acked` are in `dir`, and the scan's findings.
pub(crate) fn count_in(dir: &Path, acked: u64) -> std::io::Result<usize> {
    let mut n = 0;
    let _: ScanStats = scan(dir, acked, |_, _| {
        n += 1;
        ControlFlow::Continue(())
    })?;
    Ok(n)
}
