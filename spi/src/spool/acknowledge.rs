//! Forgetting what the gateway acknowledged: the `acked` file, and the segments it covers
//! deleted (or kept aside when damaged).

use std::path::Path;
use std::sync::PoisonError;
use std::sync::atomic::Ordering;

use super::{Spool, file_err};
use crate::error::SpiError;
use crate::spool_files::{ACKED_FILE, replace_file, segments};

impl Spool {
    /// Records the gateway's acknowledgement of every record up to `seq`, durably, and
    /// deletes the segments it covers entirely (never the one being appended to).
    ///
    /// The segments go first and the `acked` file last, and the acknowledgement counts in
    /// memory even if that file cannot be written: a spool that filled its disk while the
    /// gateway was away must be able to empty itself, and writing a new `acked` file needs
    /// the very space the deletions free. Deleting first is safe: the gateway has every
    /// record in those segments, and a crash before `acked` is written only makes the
    /// shipper resend a few that it recognises.
    pub fn ack_upto(&self, seq: u64) -> Result<(), SpiError> {
        let mut acked = self.acked.lock().unwrap_or_else(PoisonError::into_inner);
        if seq <= *acked {
            return Ok(());
        }
        *acked = seq;
        let active_first = self.active_first.load(Ordering::SeqCst);
        let all = segments(&self.dir).map_err(file_err(&self.dir))?;
        for pair in all.windows(2) {
            let [segment, next] = pair else { continue };
            if segment.first_seq < active_first && next.first_seq.saturating_sub(1) <= seq {
                retire(&segment.path)?;
            }
        }
        replace_file(&self.dir, ACKED_FILE, &seq.to_string())
            .map_err(file_err(&self.dir.join(ACKED_FILE)))
    }
}

/// Deletes a segment every record of which the gateway acknowledged, unless bytes in it do
/// not check (a bad sector): readers passed over the damage and whatever frames followed
/// it, so deleting it would lose them without a trace. Such a segment is kept aside under
/// a `.damaged-<time>` name (no longer a segment: nothing reads or ships it again), said on
/// stderr, and listed by `imtegrity sametime spool` until someone examines and removes it.
fn retire(path: &Path) -> Result<(), SpiError> {
    let damaged = match std::fs::read(path) {
        Ok(bytes) => crate::spool_scan::whole_prefix(&bytes).2.is_some(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(file_err(path)(e)),
    };
    if damaged {
        let aside = path.with_extension(format!("damaged-{}", record::now_ns()));
        std::fs::rename(path, &aside).map_err(file_err(path))?;
        eprintln!(
            "imtegrity_stchatlog: {}: damaged bytes in an acknowledged segment; the records \
             after them could not be read or shipped; kept as {}",
            path.display(),
            aside.display()
        );
        return Ok(());
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(file_err(path)(e)),
    }
}
