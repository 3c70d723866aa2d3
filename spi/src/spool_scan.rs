//! Reading a spool's records back, without its lock: what the shipper, the tests and an
//! operator's inspector do, while the library may be appending.
//!
//! Records are read segment by segment, oldest first, each segment frame by frame until its
//! end or the first frame that is not whole ([`log_frame`]). In the segment being
//! appended to that is the append in progress; in an older one it is damage, counted in
//! [`ScanStats::damaged`] and passed over, so one bad sector costs its records, not the
//! spool's. Segments whose every record is acknowledged are not read at all: the next
//! segment's first sequence number bounds them.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use crate::spool_files::{SpoolSegment, segments};
use log_frame::{Torn, decode};

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
        let next: Option<&SpoolSegment> = all.get(i + 1);
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

/// Where the readable part of a segment ends, the sequence number of its last record, and
/// what follows it (`None`: nothing, the segment is whole): the writer cuts a torn tail
/// there when it opens the spool, and keeps a damaged one aside first.
pub fn whole_prefix(bytes: &[u8]) -> (usize, Option<u64>, Option<Torn>) {
    let mut at = 0;
    let mut last = None;
    loop {
        if at == bytes.len() {
            return (at, last, None);
        }
        match decode(&bytes[at..]) {
            Ok((frame, used)) => {
                at += used;
                last = Some(frame.seq);
            }
            Err(torn) => return (at, last, Some(torn)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spool_files::segment_path;
    use log_frame::encode;

    fn frames(seqs: &[u64]) -> Vec<u8> {
        seqs.iter()
            .flat_map(|s| encode(*s, format!("record {s}").as_bytes()).unwrap_or_default())
            .collect()
    }

    #[test]
    fn damage_in_an_older_segment_costs_its_rest_and_is_reported() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut first = frames(&[1, 2, 3]);
        let second_frame = first.len() / 3 + 20;
        first[second_frame] ^= 0xFF;
        std::fs::write(segment_path(dir.path(), 1), &first).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(segment_path(dir.path(), 4), frames(&[4, 5]))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut seen = Vec::new();
        let stats = scan(dir.path(), 0, |seq, _| {
            seen.push(seq);
            ControlFlow::Continue(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(seen, [1, 4, 5]);
        assert_eq!(stats.damaged, [segment_path(dir.path(), 1)]);
        // Acknowledged segments are not read at all.
        let mut after = Vec::new();
        scan(dir.path(), 3, |seq, _| {
            after.push(seq);
            ControlFlow::Continue(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(after, [4, 5]);
    }

    #[test]
    fn a_whole_prefix_says_what_follows_it() {
        let bytes = frames(&[7, 8]);
        assert_eq!(whole_prefix(&bytes), (bytes.len(), Some(8), None));
        let cut = &bytes[..bytes.len() - 3];
        assert_eq!(
            whole_prefix(cut),
            (bytes.len() / 2, Some(7), Some(Torn::Short))
        );
        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(
            whole_prefix(&flipped),
            (bytes.len() / 2, Some(7), Some(Torn::Damaged))
        );
        assert_eq!(whole_prefix(&[]), (0, None, None));
    }
}
