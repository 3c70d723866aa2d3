//! What an operator's tool needs to look at a spool directory and empty it: the library
//! side of `imtegrity sametime spool DIR` (the CLI itself lives in the binary).
//!
//! [`summary`] reads without the writer's lock, so it works while the Sametime server runs;
//! [`drain`] takes the lock (one writer at a time), so it is refused while the library has
//! the spool open and ships what the library left behind after it stopped.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use crate::error::SpiError;
use crate::ship_status::ShipStatus;
use crate::shipper::{Shipper, ShipperConfig};
use crate::spool::Spool;
use crate::spool_files::{SOURCE_FILE, read_acked, segments};
use crate::spool_scan::scan;

/// A spool directory at a glance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpoolSummary {
    /// The spool's `source` id (`None`: never opened by a writer).
    pub source: Option<String>,
    /// Records waiting to be shipped (not yet acknowledged by the gateway).
    pub records: usize,
    /// The highest sequence number the gateway acknowledged.
    pub acked_upto: u64,
    /// The oldest and newest waiting record's time (UTC ns).
    pub oldest_ns: Option<i64>,
    /// See `oldest_ns`.
    pub newest_ns: Option<i64>,
    /// Bytes of the segment files on disk (acknowledged records in a segment that still
    /// holds waiting ones, or that is being appended to, included).
    pub bytes: u64,
    /// Segment files.
    pub segments: usize,
    /// Older segments with damaged bytes after their last whole record.
    pub damaged: Vec<PathBuf>,
    /// Damaged bytes the library kept aside (`*.damaged-<time>`: a damaged tail found at
    /// open, or an acknowledged segment with damage inside): records that could not be
    /// read or shipped, kept for examination.
    pub kept_aside: Vec<PathBuf>,
    /// Waiting records whose payload does not decode (counted, not shipped).
    pub undecodable: usize,
    /// What the shipper last wrote to `status.json` (`None`: it never ran here).
    pub shipping: Option<ShipStatus>,
}

/// Summarises the spool in `dir`, reading every waiting record once.
pub fn summary(dir: &Path) -> Result<SpoolSummary, SpiError> {
    let file_err = |path: PathBuf| move |source| SpiError::SpoolFile { path, source };
    let acked = read_acked(dir).map_err(file_err(dir.to_owned()))?;
    let mut out = SpoolSummary {
        acked_upto: acked,
        source: std::fs::read_to_string(dir.join(SOURCE_FILE))
            .ok()
            .map(|s| s.trim().to_owned()),
        // A damaged status file is the operator's view lost, not the records: left out.
        shipping: ShipStatus::read(dir).ok().flatten(),
        ..SpoolSummary::default()
    };
    for segment in segments(dir).map_err(file_err(dir.to_owned()))? {
        match std::fs::metadata(&segment.path) {
            Ok(meta) => {
                out.bytes += meta.len();
                out.segments += 1;
            }
            // Deleted by a running shipper since the listing.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(file_err(segment.path)(e)),
        }
    }
    let stats = scan(dir, acked, |_, payload| {
        match postcard::from_bytes::<record::Event>(payload) {
            Ok(event) => {
                out.records += 1;
                out.oldest_ns = Some(
                    out.oldest_ns
                        .map_or(event.time_ns, |t| t.min(event.time_ns)),
                );
                out.newest_ns = Some(
                    out.newest_ns
                        .map_or(event.time_ns, |t| t.max(event.time_ns)),
                );
            }
            Err(_) => out.undecodable += 1,
        }
        ControlFlow::Continue(())
    })
    .map_err(file_err(dir.to_owned()))?;
    out.damaged = stats.damaged;
    let mut kept_aside: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(file_err(dir.to_owned()))?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".damaged-"))
        .map(|e| e.path())
        .collect();
    kept_aside.sort();
    out.kept_aside = kept_aside;
    Ok(out)
}

/// What [`drain`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainReport {
    /// Records waiting before.
    pub before: usize,
    /// Records still waiting after (0: drained).
    pub left: usize,
}

/// Ships the spool in `dir` to the gateway `config` names until it is empty or `deadline`
/// passes. Refused ([`SpiError::SpoolInUse`]) while the library (or another drain) has the
/// spool open.
pub fn drain(
    dir: &Path,
    config: ShipperConfig,
    deadline: Instant,
) -> Result<DrainReport, SpiError> {
    let spool = Arc::new(Spool::open(dir)?);
    let before = spool.len();
    let shipper = Shipper::start(Arc::clone(&spool), config)?;
    shipper.ship_all(&spool, deadline);
    shipper.stop(std::time::Duration::from_secs(1));
    Ok(DrainReport {
        before,
        left: spool.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::{RecordSink as _, test_event};

    #[test]
    fn a_summary_counts_waiting_records_their_times_and_bytes() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let empty = summary(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((empty.records, empty.source.as_deref()), (0, None));
        let spool = Spool::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        for (t, text) in [(30, "a"), (10, "b"), (20, "c")] {
            let mut event = test_event(text);
            event.time_ns = t;
            spool.append(&event).unwrap_or_else(|e| panic!("{e}"));
        }
        let first = spool.pending(1, 0).unwrap_or_default()[0].0;
        spool.ack_upto(first).unwrap_or_else(|e| panic!("{e}"));
        let s = summary(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.records, 2);
        assert_eq!((s.oldest_ns, s.newest_ns), (Some(10), Some(20)));
        assert_eq!(s.acked_upto, first);
        assert_eq!(s.source.as_deref(), Some(spool.source()));
        assert!(s.bytes > 0 && s.segments == 1);
        assert!(s.damaged.is_empty() && s.kept_aside.is_empty() && s.undecodable == 0);
        // The library has it open: a drain is refused, a summary is not.
        assert!(matches!(
            drain(
                dir.path(),
                ShipperConfig::new("127.0.0.1:9", "t"),
                Instant::now()
            ),
            Err(SpiError::SpoolInUse { .. })
        ));
    }
}
