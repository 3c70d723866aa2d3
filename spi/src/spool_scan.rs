//! Reading a spool's records back, without its lock: what the shipper, the tests and an
//! operator's inspector do, while the library may be appending.
//!
//! Records are read segment by segment, oldest first, each segment frame by frame until its
//! end or the first frame that is not whole ([`crate::spool_frame`]). In the segment being
//! appended to that is the append in progress; in an older one it is damage, counted in
//! [`ScanStats::damaged`] and passed over, so one bad sector costs its records, not the
//! spool's. Segments whose every record is acknowledged are not read at all: the next
//! segment's first sequence number bounds them.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use crate::spool_files::{Segment, segments};
use crate::spool_frame::{Torn, decode};

/// What a scan met besides records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Segments read (not skipped as acknowledged).
    pub segments_read: usize,
    /// Bytes of the segments read.
    pub bytes_read: u64,
    /// Older segments with bytes after their last whole record: damage, not an append in
    /// progress.
    pub damaged: Vec<PathBuf>,
}

/// Calls `visit` with every record whose sequence number is above `after`, in order, until
/// it says [`ControlFlow::Break`]. A segment removed while the scan runs (the shipper
/// deleting acknowledged ones) is passed over.
pub fn scan(
    dir: &Path,
    after: u64,
    mut visit: impl FnMut(u64, &[u8]) -> ControlFlow<()>,
) -> std::io::Result<ScanStats> {
    let all = segments(dir)?;
    let mut stats = ScanStats::default();
    for (i, segment) in all.iter().enumerate() {
        let next: Option<&Segment> = all.get(i + 1);
        if next.is_some_and(|n| n.first_seq.saturating_sub(1) <= after) {
            continue;
        }
        let bytes = match std::fs::read(&segment.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        stats.segments_read += 1;
        stats.bytes_read += bytes.len() as u64;
        let mut at = 0;
        while at < bytes.len() {
            match decode(&bytes[at..]) {
                Ok((frame, used)) => {
                    at += used;
                    if frame.seq > after && visit(frame.seq, frame.payload).is_break() {
                        return Ok(stats);
                    }
                }
                Err(Torn::Short) if next.is_none() => break,
                Err(_) => {
                    stats.damaged.push(segment.path.clone());
                    break;
                }
            }
        }
    }
    Ok(stats)
}

/// Where the readable part of a segment ends, and the sequence number of its last record:
/// the writer cuts a torn tail there when it opens the spool.
pub fn whole_prefix(bytes: &[u8]) -> (usize, Option<u64>) {
    let mut at = 0;
    let mut last = None;
    while let Ok((frame, used)) = decode(&bytes[at..]) {
        at += used;
        last = Some(frame.seq);
    }
    (at, last)
}
