//! The spool on a real directory: order across segments and reopening, the source id, the
//! writer's lock, torn and damaged tails, and what acknowledgement deletes.

use super::*;
use crate::sink::test_event as event;

fn must<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn records_come_back_in_order_after_reopening_across_segments() {
    let dir = must(tempfile::tempdir());
    {
        let spool = must(Spool::open(dir.path()));
        must(spool.append(&event("one")));
        // Two records larger than a segment: each gets its own.
        must(spool.append(&event(&"x".repeat(700 * 1024))));
        must(spool.append(&event(&"y".repeat(700 * 1024))));
    }
    {
        let spool = must(Spool::open(dir.path()));
        must(spool.append(&event("four")));
    }
    let sizes: Vec<usize> = must(Spool::read_all(dir.path()))
        .iter()
        .map(|e| e.text.len())
        .collect();
    assert_eq!(sizes, [3, 700 * 1024, 700 * 1024, 4]);
    assert!(must(segments(dir.path())).len() >= 3);
}

#[test]
fn a_batch_is_appended_in_order_across_segments_with_its_sequence_numbers() {
    let dir = must(tempfile::tempdir());
    let spool = must(Spool::open(dir.path()));
    must(spool.append(&event("first")));
    let big: Vec<Vec<u8>> = ["a", "b", "c"]
        .iter()
        .map(|t| must(postcard::to_stdvec(&event(&t.repeat(600 * 1024)))))
        .collect();
    let small = must(postcard::to_stdvec(&event("small")));
    let mut batch: Vec<&[u8]> = big.iter().map(Vec::as_slice).collect();
    batch.push(&small);
    let (written, error) = spool.append_batch(&batch);
    assert_eq!(written, 4);
    assert!(error.is_none(), "{error:?}");
    let pending = must(spool.pending(9, usize::MAX));
    let seqs: Vec<u64> = pending.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    let firsts: Vec<char> = pending
        .iter()
        .map(|(_, e)| e.text.chars().next().unwrap_or(' '))
        .collect();
    assert_eq!(firsts, ['f', 'a', 'b', 'c', 's']);
    assert_eq!(spool.backlog(), 5);
    assert!(
        must(segments(dir.path())).len() >= 3,
        "rolled within the batch"
    );
}

#[test]
fn the_source_id_survives_reopening_and_acked_records_are_gone() {
    let dir = must(tempfile::tempdir());
    let source = {
        let spool = must(Spool::open(dir.path()));
        for t in ["a", "b", "c"] {
            must(spool.append(&event(t)));
        }
        let pending = must(spool.pending(2, usize::MAX));
        assert_eq!(pending.len(), 2);
        assert!(pending[0].0 < pending[1].0);
        must(spool.ack_upto(pending[0].0));
        assert_eq!(must(spool.pending(1, 0))[0].1.text, "b");
        spool.source().to_owned()
    };
    assert_eq!(source.len(), 32);
    assert!(source.bytes().all(|b| b.is_ascii_hexdigit()));
    let spool = must(Spool::open(dir.path()));
    assert_eq!(spool.source(), source);
    assert_eq!(spool.len(), 2);
    let other = must(tempfile::tempdir());
    assert_ne!(must(Spool::open(other.path())).source(), source);
}

#[test]
fn a_second_writer_is_refused_while_the_first_holds_the_lock() {
    let dir = must(tempfile::tempdir());
    let first = must(Spool::open(dir.path()));
    assert!(matches!(
        Spool::open(dir.path()),
        Err(SpiError::SpoolInUse { .. })
    ));
    drop(first);
    must(Spool::open(dir.path()));
}

#[test]
fn a_torn_tail_is_cut_and_the_sequence_goes_on_after_the_last_whole_record() {
    let dir = must(tempfile::tempdir());
    let last_seq = {
        let spool = must(Spool::open(dir.path()));
        must(spool.append(&event("kept")));
        must(spool.pending(9, usize::MAX))[0].0
    };
    let segment = must(segments(dir.path())).remove(0).path;
    let whole = must(std::fs::metadata(&segment)).len();
    // Half of a frame, as a crash mid-append leaves it.
    let half = encode(last_seq + 1, b"never acknowledged").unwrap_or_default();
    let mut file = must(std::fs::OpenOptions::new().append(true).open(&segment));
    must(file.write_all(&half[..half.len() / 2]));
    drop(file);
    let spool = must(Spool::open(dir.path()));
    assert_eq!(must(std::fs::metadata(&segment)).len(), whole);
    must(spool.append(&event("next")));
    let seqs: Vec<u64> = must(spool.pending(9, usize::MAX))
        .iter()
        .map(|(s, _)| *s)
        .collect();
    assert_eq!(seqs, [last_seq, last_seq + 1]);
}

#[test]
fn a_damaged_tail_is_kept_aside_and_its_sequence_numbers_are_never_reused() {
    let dir = must(tempfile::tempdir());
    {
        let spool = must(Spool::open(dir.path()));
        for t in ["one", "two", "three"] {
            must(spool.append(&event(t)));
        }
    }
    let segment = must(segments(dir.path())).remove(0).path;
    let mut bytes = must(std::fs::read(&segment));
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    must(std::fs::write(&segment, &bytes));
    let spool = must(Spool::open(dir.path()));
    let kept: Vec<(u64, String)> = must(spool.pending(9, usize::MAX))
        .into_iter()
        .map(|(s, e)| (s, e.text))
        .collect();
    assert_eq!(
        kept.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>(),
        ["one", "two"]
    );
    let aside = must(std::fs::read_dir(dir.path()))
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".damaged-"))
        .count();
    assert_eq!(aside, 1, "the damaged bytes are kept");
    must(spool.append(&event("four")));
    let seqs: Vec<u64> = must(spool.pending(9, usize::MAX))
        .iter()
        .map(|(s, _)| *s)
        .collect();
    assert!(
        seqs[2] > kept[1].0 + 1,
        "the damaged record's number is not reused: {seqs:?}"
    );
}

#[test]
fn an_acknowledged_segment_with_damage_inside_is_kept_aside_not_deleted() {
    let dir = must(tempfile::tempdir());
    let pending = {
        let spool = must(Spool::open(dir.path()));
        for _ in 0..3 {
            must(spool.append(&event(&"z".repeat(600 * 1024))));
        }
        must(spool.pending(9, usize::MAX))
    };
    // A bad sector in the first segment's record: readers pass over it.
    let first = must(segments(dir.path())).remove(0).path;
    let mut bytes = must(std::fs::read(&first));
    bytes[100] ^= 0x55;
    must(std::fs::write(&first, &bytes));
    let spool = must(Spool::open(dir.path()));
    must(spool.ack_upto(pending[2].0));
    let names: Vec<String> = must(std::fs::read_dir(dir.path()))
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let first_name = first.file_stem().map(|s| s.to_string_lossy().into_owned());
    assert!(
        names.iter().any(|n| n.contains(".damaged-")
            && Some(n.split('.').next().unwrap_or("").to_owned()) == first_name),
        "{names:?}"
    );
    // The second segment was whole: deleted as usual; the open one stays.
    assert_eq!(must(segments(dir.path())).len(), 1, "{names:?}");
    let summary = must(crate::spool_inspect::summary(dir.path()));
    assert_eq!(summary.kept_aside.len(), 1, "{summary:?}");
}

#[test]
fn fully_acknowledged_segments_are_deleted_but_never_the_open_one() {
    let dir = must(tempfile::tempdir());
    let spool = must(Spool::open(dir.path()));
    for _ in 0..4 {
        must(spool.append(&event(&"z".repeat(600 * 1024))));
    }
    assert_eq!(must(segments(dir.path())).len(), 4);
    let pending = must(spool.pending(9, usize::MAX));
    must(spool.ack_upto(pending[3].0));
    assert!(spool.is_empty());
    assert_eq!(
        must(segments(dir.path())).len(),
        1,
        "the open segment stays"
    );
    // Reopened, the writer leaves the acknowledged segment behind at its next append.
    drop(spool);
    let spool = must(Spool::open(dir.path()));
    must(spool.append(&event("fresh")));
    must(spool.ack_upto(pending[3].0 + 1));
    assert_eq!(must(segments(dir.path())).len(), 1);
    assert_eq!(spool.len(), 0);
    assert_eq!(must(Spool::read_all(dir.path())).len(), 0);
}
