//! A store that goes back in time: sled's files put back from an older copy (or sled falling
//! back to an older consistent state after damage) walk as an intact chain with a valid
//! signed head. The high-water mark file kept beside the store (`<archive>/head`) is what
//! tells: `verify` reports the rollback with the missing ids, and the archive refuses
//! appends rather than carry on from the older state.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use archive::synthetic::Synthetic;
use archive::{Archive, ArchiveError, Event, RetentionPolicy, Tamper, high_water_mark};
use common::open;

const T0: i64 = 1_700_000_000_000_000_000;
const DAY: i64 = 86_400 * 1_000_000_000;

/// Record `i` of a synthetic conversation (what `imtegrity generate` writes), its time
/// within the day before `T0`.
fn event(i: u64) -> Event {
    Synthetic::new(7, 12, 1, T0).event(i, 10_000)
}

/// Drops the handle and waits until the writer thread has closed the store.
fn close(a: Archive) {
    let dir = a.dir().to_path_buf();
    drop(a);
    let start = Instant::now();
    loop {
        match sled::open(dir.join("db")) {
            Ok(_) => return,
            Err(_) if start.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("close {}: {e}", dir.display()),
        }
    }
}

/// Appends records `from..=to` (ids equal to `i` on a store whose head is `from - 1`).
fn append(dir: &Path, from: u64, to: u64) {
    let a = open(dir);
    for i in from..=to {
        assert_eq!(a.append_blocking(event(i)).unwrap().id, i);
    }
    close(a);
}

/// `cp -a` of a closed archive directory (regular files, nested directories).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Puts `from`'s sled files in place of `to`'s, leaving everything else (the mark) as is.
fn restore_sled(from: &Path, to: &Path) {
    std::fs::remove_dir_all(to.join("db")).unwrap();
    copy_dir(&from.join("db"), &to.join("db"));
}

fn mark_path(dir: &Path) -> std::path::PathBuf {
    dir.join(high_water_mark::FILE_NAME)
}

/// The refusal an append meets, as text.
fn append_refusal(a: &Archive) -> String {
    match a.append_blocking(event(9999)) {
        Err(ArchiveError::Integrity(problem)) => problem,
        other => panic!("expected an integrity refusal, got {other:?}"),
    }
}

#[test]
fn sled_files_put_back_from_an_older_copy_are_a_rollback_and_appends_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, old) = (tmp.path().join("archive"), tmp.path().join("old"));
    append(&dir, 1, 40);
    copy_dir(&dir, &old);
    append(&dir, 41, 100);
    restore_sled(&old, &dir);
    let mark_before = std::fs::read(mark_path(&dir)).unwrap();

    let a = open(&dir);
    let report = a.verify().unwrap();
    assert_eq!(
        report.tamper,
        Some(Tamper::RolledBack {
            store_head: 40,
            mark: 100
        }),
        "{report:?}"
    );
    assert!(!report.is_intact());
    assert_eq!(
        (report.records, report.signed_head, report.high_water_mark),
        (40, Some(40), Some(100))
    );
    let said = report.tamper.as_ref().unwrap().to_string();
    assert_eq!(
        said,
        "the store was rolled back: it ends at record 40, but the high-water mark says record \
         100 was committed; records 41..=100 are missing"
    );
    // The gateway does not carry on from the older state: appends are refused, naming both.
    assert_eq!(append_refusal(&a), said);
    assert_eq!(a.status().unwrap().refusing_appends, Some(said));
    assert_eq!(a.head_id(), 40);
    close(a);
    // The mark is the evidence: nothing rewrote it.
    assert_eq!(std::fs::read(mark_path(&dir)).unwrap(), mark_before);
}

#[test]
fn one_record_lost_is_named_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, old) = (tmp.path().join("archive"), tmp.path().join("old"));
    append(&dir, 1, 12);
    copy_dir(&dir, &old);
    append(&dir, 13, 13);
    restore_sled(&old, &dir);
    let a = open(&dir);
    let tamper = a.verify().unwrap().tamper.unwrap();
    assert!(
        tamper.to_string().ends_with("; record 13 is missing"),
        "{tamper}"
    );
    close(a);
}

#[test]
fn another_store_with_as_many_records_is_a_replacement() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, other) = (tmp.path().join("archive"), tmp.path().join("other"));
    append(&dir, 1, 20);
    copy_dir(&dir, &other);
    append(&dir, 21, 21);
    // The copy (same key) goes its own way at record 21.
    let a = open(&other);
    let mut forked = event(21);
    forked.text = "another message".into();
    assert_eq!(a.append_blocking(forked).unwrap().id, 21);
    close(a);
    restore_sled(&other, &dir);
    let a = open(&dir);
    assert_eq!(
        a.verify().unwrap().tamper,
        Some(Tamper::HeadReplaced { id: 21 })
    );
    assert!(append_refusal(&a).contains("signed head at record 21"));
    close(a);
}

#[test]
fn a_mark_behind_the_store_is_what_a_power_cut_leaves_and_is_caught_up() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("archive");
    append(&dir, 1, 30);
    let behind = std::fs::read(mark_path(&dir)).unwrap();
    append(&dir, 31, 60);
    std::fs::write(mark_path(&dir), &behind).unwrap();
    let a = open(&dir);
    let report = a.verify().unwrap();
    assert!(report.is_intact(), "{report:?}");
    // Brought up to the signed head at open.
    assert_eq!(report.high_water_mark, Some(60));
    assert_eq!(a.append_blocking(event(61)).unwrap().id, 61);
    assert_eq!(a.verify().unwrap().high_water_mark, Some(61));
    close(a);
}

#[test]
fn an_archive_from_before_the_mark_gets_one_and_a_removed_mark_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("archive");
    append(&dir, 1, 25);
    // As an archive written before the mark existed: no file, and no note of one in sled.
    std::fs::remove_file(mark_path(&dir)).unwrap();
    sled::open(dir.join("db"))
        .unwrap()
        .open_tree("meta")
        .unwrap()
        .remove("high_water_mark_since")
        .unwrap();
    let a = open(&dir);
    let report = a.verify().unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.high_water_mark, Some(25));
    close(a);
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(mark_path(&dir))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // Now that the store has kept a mark, its absence is a finding.
    std::fs::remove_file(mark_path(&dir)).unwrap();
    let a = open(&dir);
    let report = a.verify().unwrap();
    assert_eq!(report.tamper, Some(Tamper::MarkMissing { since: 25 }));
    assert_eq!(report.high_water_mark, None);
    assert!(append_refusal(&a).contains("high-water mark file is missing"));
    close(a);
    assert!(
        !mark_path(&dir).exists(),
        "a refused store does not make a new mark"
    );
}

#[test]
fn a_garbled_mark_is_reported_not_trusted_but_one_torn_slot_is_survived() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("archive");
    append(&dir, 1, 15);
    let good = std::fs::read(mark_path(&dir)).unwrap();

    // One slot torn, as a power cut during its rewrite could leave it: the other holds.
    let mut torn = good.clone();
    torn[20..40].fill(0);
    std::fs::write(mark_path(&dir), &torn).unwrap();
    let a = open(&dir);
    let report = a.verify().unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.high_water_mark, Some(15));
    close(a);

    // Both slots garbled: nothing can vouch for the store's extent.
    let mut garbled = good;
    garbled[20..40].fill(0);
    garbled[512 + 20..512 + 40].fill(0);
    std::fs::write(mark_path(&dir), &garbled).unwrap();
    let a = open(&dir);
    let report = a.verify().unwrap();
    assert_eq!(
        report.tamper,
        Some(Tamper::MarkUnreadable {
            reason: "no slot can be trusted (2 fail their checksum, 0 their signature)".into()
        })
    );
    assert!(append_refusal(&a).contains("cannot be trusted"));
    close(a);
    assert_eq!(std::fs::read(mark_path(&dir)).unwrap(), garbled);
}

#[test]
fn a_retention_purge_of_the_head_record_is_not_a_rollback() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("archive");
    append(&dir, 1, 20);
    let a = open(&dir);
    let policy = RetentionPolicy {
        default_days: Some(30),
        ..RetentionPolicy::default()
    };
    // Every record, the head included, is past its time.
    let done = a.apply_retention(&policy, T0 + 31 * DAY, false).unwrap();
    assert_eq!(done.purged, 20);
    let report = a.verify().unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!((report.records, report.high_water_mark), (0, Some(20)));
    close(a);
    let a = open(&dir);
    assert!(a.verify().unwrap().is_intact());
    assert_eq!(a.append_blocking(event(21)).unwrap().id, 21);
    assert_eq!(a.verify().unwrap().high_water_mark, Some(21));
    close(a);
}
