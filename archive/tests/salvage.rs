//! `Archive::salvage_into` on archives whose damage can be made exactly: records deleted
//! behind the archive's back, records purged by retention, and a copy whose source proof was
//! altered. (Pages sled cannot read are made by overwriting its file in
//! `tests/archive_keys.rs`, against the real binary.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use archive::synthetic::Synthetic;
use archive::{Accessor, Archive, ArchiveError, ArchiveOptions, RetentionPolicy, Tamper};
use common::{close, open, options, with_db};

/// Records in the fixture.
const N: u64 = 40;

/// A closed archive of N synthetic records spread over 30 days ending `end_ns`.
fn build(dir: &Path, end_ns: i64) {
    let a = open(dir);
    let mut synthetic = Synthetic::new(3, 5, 30, end_ns);
    for i in 0..N {
        a.append_blocking(synthetic.event(i, N)).unwrap();
    }
    close(a);
}

fn salvage(source: &Path, to: &Path) -> (Archive, archive::SalvageReport) {
    let a = open(source);
    let out = a
        .salvage_into(to, options(), &Accessor::this_process())
        .unwrap();
    close(a);
    out
}

/// A record deleted from the source's store (no purge, no damage) is not laundered into a
/// clean hole: the copy verifies, but its signed note names the id as missing.
#[test]
fn a_deleted_record_is_named_missing_in_the_copy_not_smoothed_over() {
    let tmp = tempfile::tempdir().unwrap();
    let (source, to) = (tmp.path().join("source"), tmp.path().join("copy"));
    build(&source, archive::now_ns());
    with_db(&source, |db| {
        let records = db.open_tree("records").unwrap();
        assert!(records.remove(7u64.to_be_bytes()).unwrap().is_some());
    });
    let (copy, report) = salvage(&source, &to);
    // N records, one deleted, plus the source's own access record of this salvage.
    assert_eq!(report.copied, N);
    assert!(report.lost.is_empty(), "{:?}", report.lost);
    let verified = copy.verify().unwrap();
    assert!(verified.is_intact(), "{verified:?}");
    let from = verified.salvaged.expect("a salvaged copy says so");
    assert_eq!(from.missing, vec![(7, 7)]);
    assert!(from.lost.is_empty());
    assert_eq!(from.source_key.len(), 64);
    assert!(from.source_checkpoints >= 1);
    assert_eq!(from.source_checkpoints, from.source_heads_matched);
    close(copy);
    // A second salvage into the copy is refused.
    let a = open(&source);
    match a.salvage_into(&to, options(), &Accessor::this_process()) {
        Err(ArchiveError::Invalid { detail, .. }) => {
            assert!(detail.contains("already holds an archive"), "{detail}")
        }
        other => panic!("expected Invalid, got {:?}", other.map(|(_, r)| r)),
    }
    close(a);
}

/// Records purged by retention are holes the source's signed purge accounts for: not
/// missing, and the copy's chain crosses them.
#[test]
fn purged_records_are_accounted_holes_in_the_copy() {
    let tmp = tempfile::tempdir().unwrap();
    let (source, to) = (tmp.path().join("source"), tmp.path().join("copy"));
    let now = archive::now_ns();
    build(&source, now);
    let a = open(&source);
    let policy = RetentionPolicy {
        default_days: Some(20),
        ..RetentionPolicy::default()
    };
    let done = a.apply_retention(&policy, now, false).unwrap();
    assert!(done.purged > 0, "{done:?}");
    close(a);
    let (copy, report) = salvage(&source, &to);
    assert_eq!(report.copied, N - done.purged + 1, "{report:?}");
    let verified = copy.verify().unwrap();
    assert!(verified.is_intact(), "{verified:?}");
    assert_eq!(verified.salvaged.unwrap().missing, Vec::<(u64, u64)>::new());
    close(copy);
}

/// The source's checkpoints travel with the copy and are checked with the source's key: one
/// altered in the copy is named.
#[test]
fn an_altered_source_checkpoint_in_the_copy_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let (source, to) = (tmp.path().join("source"), tmp.path().join("copy"));
    build(&source, archive::now_ns());
    let (copy, _) = salvage(&source, &to);
    close(copy);
    with_db(&to, |db| {
        let tree = db.open_tree("source_checkpoints").unwrap();
        let (key, value) = tree.first().unwrap().unwrap();
        let mut cp: archive::Checkpoint = postcard::from_bytes(&value).unwrap();
        cp.signature[5] ^= 0x40;
        tree.insert(key, postcard::to_stdvec(&cp).unwrap()).unwrap();
    });
    let copy = Archive::open(&to, ArchiveOptions::default()).unwrap();
    let verified = copy.verify().unwrap();
    assert!(!verified.is_intact());
    assert!(
        matches!(verified.tamper, Some(Tamper::SourceProof { seq: 1, .. })),
        "{verified:?}"
    );
    assert!(
        verified
            .tamper
            .unwrap()
            .to_string()
            .starts_with("the salvaged records do not match checkpoint 1 of the archive"),
    );
    drop(copy);
}
