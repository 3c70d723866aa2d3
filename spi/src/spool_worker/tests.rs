//! The writer over a fake disk that fails or freezes on cue: strict refusals within the
//! bound, relaxed holding and dropping, and what stop does with what it cannot write.

use super::*;
use crate::sink::test_event;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::Duration;

/// What the fake disk does with the next write.
const WORKS: u8 = 0;
const FULL: u8 = 1;
const FROZEN: u8 = 2;

const BOUND: Duration = Duration::from_millis(100);

fn must<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// A worker over a real spool whose writes a test can make fail (`FULL`) or block
/// (`FROZEN`, until `thawed` is set: at most 10 s, then the write goes ahead).
struct FakeDisk {
    _dir: tempfile::TempDir,
    worker: SpoolWorker,
    mode: Arc<AtomicU8>,
    thawed: Arc<AtomicBool>,
}

fn fake_disk(max_held_records: usize) -> FakeDisk {
    let dir = must(tempfile::tempdir());
    let spool = Arc::new(must(Spool::open(dir.path())));
    let mode = Arc::new(AtomicU8::new(WORKS));
    let thawed = Arc::new(AtomicBool::new(false));
    let (m, t) = (Arc::clone(&mode), Arc::clone(&thawed));
    let write: WriteFn =
        Box::new(
            move |spool: &Spool, payloads: &[&[u8]]| match m.load(Ordering::SeqCst) {
                FULL => {
                    let full = SpiError::SpoolFile {
                        path: spool.dir().to_owned(),
                        source: std::io::Error::other("No space left on device"),
                    };
                    (0, Some(full))
                }
                FROZEN => {
                    for _ in 0..1000 {
                        if t.load(Ordering::SeqCst) {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    spool.append_batch(payloads)
                }
                _ => spool.append_batch(payloads),
            },
        );
    let limits = RelaxedConfig {
        max_held_records,
        max_held_bytes: 1 << 20,
    };
    let worker = must(SpoolWorker::start_with(spool, limits, "st1".into(), write));
    FakeDisk {
        _dir: dir,
        worker,
        mode,
        thawed,
    }
}

fn texts(worker: &SpoolWorker) -> Vec<String> {
    must(worker.spool().events())
        .into_iter()
        .map(|e| match e.kind {
            record::Kind::CaptureGap => "gap".into(),
            _ => e.text,
        })
        .collect()
}

#[test]
fn strict_refuses_within_the_bound_and_a_queued_record_is_taken_back_out() {
    let disk = fake_disk(10);
    assert!(matches!(
        disk.worker.append(&test_event("before"), false, BOUND),
        Appended::Durable
    ));
    disk.mode.store(FROZEN, Ordering::SeqCst);
    std::thread::scope(|scope| {
        // A caller with a long bound whose write blocks in the "kernel".
        let patient = scope.spawn(|| {
            disk.worker
                .append(&test_event("in the kernel"), false, Duration::from_secs(5))
        });
        std::thread::sleep(BOUND / 5);
        // Queued behind it, refused at its bound, and taken back out of the queue.
        let started = Instant::now();
        let queued = disk.worker.append(&test_event("taken back"), false, BOUND);
        assert!(
            matches!(queued, Appended::Refused(SpiError::SpoolBusy { .. })),
            "{queued:?}"
        );
        assert!(started.elapsed() < BOUND * 5, "{:?}", started.elapsed());
        // Now the write is known stuck (well past a bound): refused at once, without
        // waiting out the bound.
        std::thread::sleep(BOUND * 2);
        let at_once = Instant::now();
        let stuck = disk
            .worker
            .append(&test_event("refused at once"), false, BOUND);
        assert!(
            matches!(stuck, Appended::Refused(SpiError::SpoolBusy { .. })),
            "{stuck:?}"
        );
        assert!(at_once.elapsed() < BOUND, "{:?}", at_once.elapsed());
        disk.thawed.store(true, Ordering::SeqCst);
        let patient = patient.join().unwrap_or_else(|_| panic!("caller panicked"));
        assert!(matches!(patient, Appended::Durable), "{patient:?}");
    });
    assert!(disk.worker.drain(Instant::now() + Duration::from_secs(10)));
    assert_eq!(texts(&disk.worker), ["before", "in the kernel"]);
}

#[test]
fn relaxed_holds_in_order_drops_beyond_its_memory_and_records_the_gap() {
    let disk = fake_disk(2);
    disk.mode.store(FULL, Ordering::SeqCst);
    for text in ["a", "b"] {
        let held = disk.worker.append(&test_event(text), true, BOUND);
        assert!(matches!(held, Appended::Held(_)), "{held:?}");
    }
    let dropped = disk.worker.append(&test_event("c"), true, BOUND);
    assert!(matches!(dropped, Appended::Dropped(_)), "{dropped:?}");
    assert_eq!(disk.worker.held(), 3, "two records and the pending gap");
    disk.mode.store(WORKS, Ordering::SeqCst);
    assert!(disk.worker.drain(Instant::now() + Duration::from_secs(10)));
    assert_eq!(texts(&disk.worker), ["a", "b", "gap"]);
    let events = must(disk.worker.spool().events());
    let detail: serde_json::Value =
        serde_json::from_str(events[2].detail.as_deref().unwrap_or("{}")).unwrap_or_default();
    assert_eq!(
        (detail["dropped"].as_u64(), detail["delayed"].as_u64()),
        (Some(1), Some(2))
    );
}

#[test]
fn stop_turns_what_it_cannot_write_into_a_gap_or_says_it_is_lost() {
    let disk = fake_disk(10);
    disk.mode.store(FULL, Ordering::SeqCst);
    for text in ["x", "y"] {
        disk.worker.append(&test_event(text), true, BOUND);
    }
    // The disk comes back just as the bound for held records ends: the gap record
    // (two records dropped at Terminate) is still written in the last try.
    let deadline = Instant::now() + BOUND;
    let mode = Arc::clone(&disk.mode);
    let back = std::thread::spawn(move || {
        std::thread::sleep(BOUND * 2);
        mode.store(WORKS, Ordering::SeqCst);
    });
    disk.worker.stop(deadline, Duration::from_secs(5));
    must(back.join().map_err(|_| "thread"));
    assert_eq!(texts(&disk.worker), ["gap"]);
    let events = must(disk.worker.spool().events());
    let detail: serde_json::Value =
        serde_json::from_str(events[0].detail.as_deref().unwrap_or("{}")).unwrap_or_default();
    assert_eq!(detail["dropped"].as_u64(), Some(2));
}
