//! Archive benchmark: durable appends with group commit against a plain fsync'd log, bulk
//! fill, search latency and size on disk. Prints Markdown tables.
//!
//! ```text
//! cargo bench -p archive --bench archive                       # 1 000 000 records
//! IMT_BENCH_QUICK=1 cargo bench -p archive --bench archive     # smoke run, 20 000 records
//! ```
//!
//! Environment:
//! * `IMT_BENCH_RECORDS`: records for the fill and search part (default 1 000 000; 20 000
//!   with `IMT_BENCH_QUICK=1`).
//! * `IMT_BENCH_QUICK=1`: short phases (1 s per append row, fewer queries).
//! * `IMT_BENCH_SECS`: seconds per append row (default 3, quick 1).
//! * `IMT_BENCH_DIR`: where to put the archives (default: the system temp dir). The disk
//!   under it is what the append rows measure.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use archive::synthetic::Synthetic;
use archive::{Archive, ArchiveOptions, Event, Query};

const SEC: i64 = 1_000_000_000;
const DAY: i64 = 86_400 * SEC;
/// 2024-01-01T00:00:00Z: the start of the synthetic 90 days.
const START: i64 = 1_704_067_200 * SEC;
const SPAN_DAYS: i64 = 90;
const USERS: u32 = 2000;
const BATCHES: [usize; 3] = [1, 64, 1024];

/// SplitMix64: small, fast, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo).max(1) as u64) as i64
    }
}

/// The traffic every phase appends: `imtegrity generate`'s generator (rooms with joins
/// before messages and leaves after, Sametime sessions, file offers, policy actions), so the
/// figures are for the mix a real archive has. `seed` keeps concurrent appenders apart.
struct Traffic {
    generator: Synthetic,
    next: u64,
    total: u64,
}

impl Traffic {
    fn new(seed: u64, total: u64) -> Self {
        Self {
            generator: Synthetic::new(seed, USERS, SPAN_DAYS as u32, START + SPAN_DAYS * DAY),
            next: 0,
            total,
        }
    }

    fn next_event(&mut self) -> Event {
        let event = self.generator.event(self.next, self.total);
        self.next += 1;
        event
    }
}

/// Runs `q` to the end, reading every record; returns how many matched.
fn count_hits(a: &Archive, q: &Query) -> u64 {
    let mut hits = 0;
    for record in a.search(q) {
        record.unwrap();
        hits += 1;
    }
    hits
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

fn open(dir: &Path) -> Archive {
    Archive::open(
        dir,
        ArchiveOptions {
            node: Some("bench".into()),
            ..ArchiveOptions::default()
        },
    )
    .unwrap()
}

/// Waits until the writer of a dropped archive has released the store (so its closing
/// checkpoint does not overlap the next measurement).
fn wait_closed(dir: &Path) {
    for _ in 0..500 {
        match Archive::open(dir, ArchiveOptions::default()) {
            Ok(again) => {
                drop(again);
                std::thread::sleep(Duration::from_millis(200));
                return;
            }
            Err(archive::ArchiveError::Locked { .. }) => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("{e}"),
        }
    }
}

struct AppendRow {
    records: u64,
    secs: f64,
    /// Records per fsync, averaged over commits.
    avg_batch: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// `concurrency` tasks append durably (await each `append`) for `secs`.
fn durable_appends(
    rt: &tokio::runtime::Runtime,
    dir: &Path,
    concurrency: usize,
    secs: f64,
) -> AppendRow {
    let a = open(dir);
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let results = rt.block_on(async {
        let mut tasks = Vec::with_capacity(concurrency);
        for i in 0..concurrency {
            let a = a.clone();
            let mut traffic = Traffic::new(i as u64 + 1, 1_000_000);
            tasks.push(tokio::spawn(async move {
                let (mut n, mut inverse_batches, mut latencies) = (0u64, 0f64, Vec::new());
                while Instant::now() < deadline {
                    let event = traffic.next_event();
                    let t = Instant::now();
                    let receipt = a.append(event).await.unwrap();
                    latencies.push(t.elapsed().as_secs_f64() * 1e3);
                    n += 1;
                    inverse_batches += 1.0 / receipt.batch as f64;
                }
                (n, inverse_batches, latencies)
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.push(t.await.unwrap());
        }
        all
    });
    let secs = started.elapsed().as_secs_f64();
    drop(a);
    wait_closed(dir);
    let records: u64 = results.iter().map(|r| r.0).sum();
    let commits: f64 = results.iter().map(|r| r.1).sum();
    let latencies = sorted(results.into_iter().flat_map(|r| r.2).collect());
    AppendRow {
        records,
        secs,
        avg_batch: records as f64 / commits.max(f64::MIN_POSITIVE),
        p50_ms: percentile(&latencies, 0.5),
        p99_ms: percentile(&latencies, 0.99),
    }
}

/// Size of the preallocated ring the second baseline overwrites.
const RING: u64 = 32 * 1024 * 1024;

/// The peer baseline: one log file, `batch` encoded records written with one `sync_data` per
/// batch, for `secs`. `preallocated: false` appends to a growing file (each fdatasync also
/// commits the new size); `true` overwrites a zero-filled, already-synced ring in place (no
/// metadata to commit, as a preallocated WAL segment). Returns records/s and fsyncs/s.
fn plain_log(path: &Path, batch: usize, secs: f64, preallocated: bool) -> (f64, f64) {
    use std::os::unix::fs::FileExt;
    let mut file: File = OpenOptions::new()
        .create_new(true)
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    if preallocated {
        let zeros = vec![0u8; 1024 * 1024];
        for _ in 0..RING / zeros.len() as u64 {
            file.write_all(&zeros).unwrap();
        }
        file.sync_all().unwrap();
    }
    let mut traffic = Traffic::new(99, 1_000_000);
    let started = Instant::now();
    let (mut records, mut syncs, mut offset) = (0u64, 0u64, 0u64);
    let mut buf = Vec::new();
    while started.elapsed().as_secs_f64() < secs {
        buf.clear();
        for _ in 0..batch {
            let bytes = postcard::to_stdvec(&traffic.next_event()).unwrap();
            buf.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            buf.extend_from_slice(&bytes);
        }
        if preallocated {
            if offset + buf.len() as u64 > RING {
                offset = 0;
            }
            file.write_all_at(&buf, offset).unwrap();
            offset += buf.len() as u64;
        } else {
            file.write_all(&buf).unwrap();
        }
        file.sync_data().unwrap();
        records += batch as u64;
        syncs += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    (records as f64 / secs, syncs as f64 / secs)
}

/// Allocated and apparent bytes under `dir` (what `du` and `du --apparent-size` say).
fn disk_usage(dir: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let (mut allocated, mut apparent) = (0, 0);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                allocated += meta.blocks() * 512;
                apparent += meta.len();
            }
        }
    }
    (allocated, apparent)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
}

fn main() {
    let quick = std::env::var("IMT_BENCH_QUICK").is_ok_and(|v| v == "1");
    let total = env_u64("IMT_BENCH_RECORDS").unwrap_or(if quick { 20_000 } else { 1_000_000 });
    let secs = env_u64("IMT_BENCH_SECS").unwrap_or(if quick { 1 } else { 3 }) as f64;
    let (user_queries, text_queries) = if quick { (50, 5) } else { (50, 10) };
    let base = std::env::var_os("IMT_BENCH_DIR").map(std::path::PathBuf::from);
    let tmp = match &base {
        Some(dir) => {
            std::fs::create_dir_all(dir).unwrap();
            tempfile::tempdir_in(dir).unwrap()
        }
        None => tempfile::tempdir().unwrap(),
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let bench_started = Instant::now();
    let mut json = bench_json::BenchJson::from_env("archive", quick).expect("IMT_BENCH_JSON");

    println!("# archive benchmark\n");
    println!(
        "{} mode, {total} records, {cores} cores, archives under {}, {secs} s per append row; \
         release build ({}).\n",
        if quick { "quick" } else { "full" },
        tmp.path().display(),
        if cfg!(debug_assertions) {
            "debug assertions ON: numbers are not representative"
        } else {
            "optimised"
        },
    );

    // 1. Durable appends with group commit, and the plain fsync'd log beside them.
    println!("## Durable appends: group commit vs a plain fsync'd log\n");
    println!(
        "| batch | archive: durable appends/s | archive: avg records per commit \
         (Receipt.batch) | archive: append latency p50 / p99 | plain log, appending: \
         records/s (fsyncs/s) | plain log, preallocated: records/s (fsyncs/s) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for batch in BATCHES {
        let row = durable_appends(
            &rt,
            &tmp.path().join(format!("appends-{batch}")),
            batch,
            secs,
        );
        let growing = plain_log(
            &tmp.path().join(format!("plain-{batch}.log")),
            batch,
            secs,
            false,
        );
        let ring = plain_log(
            &tmp.path().join(format!("ring-{batch}.log")),
            batch,
            secs,
            true,
        );
        println!(
            "| {batch} | {:.0} | {:.1} | {:.2} ms / {:.2} ms | {:.0} ({:.0}) | {:.0} ({:.0}) |",
            row.records as f64 / row.secs,
            row.avg_batch,
            row.p50_ms,
            row.p99_ms,
            growing.0,
            growing.1,
            ring.0,
            ring.1,
        );
        let ours = row.records as f64 / row.secs;
        json.rate(
            &format!("durable appends/s, batch {batch}"),
            "records/s",
            ours,
            "plain fsync'd log, appending",
            growing.0,
        )
        .and_then(|()| {
            json.figure(&bench_json::Figure {
                what: &format!("append latency p99, batch {batch}"),
                unit: "ms",
                better: bench_json::Better::Lower,
                ours: row.p99_ms,
                peer: None,
                peer_value: None,
            })
        })
        .expect("IMT_BENCH_JSON");
    }
    println!(
        "\nbatch = concurrent appenders each awaiting `Archive::append` (strict mode) for the \
         archive, and records per `write` + `sync_data` for the plain log."
    );
    println!();

    // 2. Fill.
    let dir = tmp.path().join("filled");
    let a = open(&dir);
    let fill_started = Instant::now();
    rt.block_on(async {
        let mut traffic = Traffic::new(7, total);
        for i in 0..total {
            a.append_relaxed(traffic.next_event()).await.unwrap();
            if !quick && i > 0 && i % 100_000 == 0 {
                eprintln!(
                    "fill: {i} records, {:.0} s",
                    fill_started.elapsed().as_secs_f64()
                );
            }
        }
        a.sync().await.unwrap();
    });
    let fill_secs = fill_started.elapsed().as_secs_f64();
    assert_eq!(a.len() as u64, total);

    // 3. Search: one user over 7 days.
    let mut rng = Rng(42);
    let mut user_ms = Vec::new();
    let mut user_hits = 0u64;
    for _ in 0..user_queries {
        let user = Synthetic::user(rng.below(USERS as usize) as u32);
        let since = START + rng.range(0, (SPAN_DAYS - 7) * DAY);
        let q = Query {
            user: Some(user),
            since_ns: Some(since),
            until_ns: Some(since + 7 * DAY),
            ..Query::default()
        };
        let t = Instant::now();
        let hits = count_hits(&a, &q);
        user_ms.push(t.elapsed().as_secs_f64() * 1e3);
        user_hits += hits;
    }
    let user_ms = sorted(user_ms);

    // Text: a case-insensitive substring over everything, no limit (a full scan).
    // Words of the generator's vocabulary in another case, a phrase and one that is absent.
    let needles = [
        "QUARTERLY",
        "Merger",
        "zzyzx-none",
        "guaranteed returns",
        "Coffee",
    ];
    let mut text_ms = Vec::new();
    let mut text_hits = 0u64;
    for i in 0..text_queries {
        let q = Query {
            text: Some(needles[i % needles.len()].to_owned()),
            ..Query::default()
        };
        let t = Instant::now();
        let hits = count_hits(&a, &q);
        text_ms.push(t.elapsed().as_secs_f64() * 1e3);
        text_hits += hits;
    }
    let text_ms = sorted(text_ms);
    let scanned_per_sec = total as f64 / (percentile(&text_ms, 0.5) / 1e3);

    // Everything is flushed (the sync above); measure before the closing checkpoint.
    let (allocated, apparent) = disk_usage(&dir);
    drop(a);

    println!("## Fill, search, size ({total} records, 2000 users, 90 days)\n");
    println!("| measurement | result |");
    println!("|---|---:|");
    println!(
        "| fill (append_relaxed + one sync) | {:.0} records/s ({fill_secs:.1} s) |",
        total as f64 / fill_secs
    );
    println!(
        "| search user + 7-day window ({user_queries} queries, mean {:.0} hits) | \
         median {:.2} ms, p95 {:.2} ms |",
        user_hits as f64 / user_queries as f64,
        percentile(&user_ms, 0.5),
        percentile(&user_ms, 0.95),
    );
    println!(
        "| search text, case-insensitive substring, no limit ({text_queries} queries, \
         mean {:.0} hits) | median {:.0} ms, p95 {:.0} ms; {:.0} records scanned/s |",
        text_hits as f64 / text_queries as f64,
        percentile(&text_ms, 0.5),
        percentile(&text_ms, 0.95),
        scanned_per_sec,
    );
    println!(
        "| size on disk (du) | {:.1} MiB allocated, {:.1} MiB apparent; {:.0} bytes/record |",
        mib(allocated),
        mib(apparent),
        allocated as f64 / total.max(1) as f64
    );
    for (what, unit, better, ours) in [
        (
            "fill, append_relaxed",
            "records/s",
            bench_json::Better::Higher,
            total as f64 / fill_secs,
        ),
        (
            "search user + 7-day window, median",
            "ms",
            bench_json::Better::Lower,
            percentile(&user_ms, 0.5),
        ),
        (
            "search text, records scanned/s",
            "records/s",
            bench_json::Better::Higher,
            scanned_per_sec,
        ),
        (
            "size on disk per record",
            "bytes",
            bench_json::Better::Lower,
            allocated as f64 / total.max(1) as f64,
        ),
    ] {
        json.figure(&bench_json::Figure {
            what,
            unit,
            better,
            ours,
            peer: None,
            peer_value: None,
        })
        .expect("IMT_BENCH_JSON");
    }
    println!(
        "\n(whole run {:.1} s)",
        bench_started.elapsed().as_secs_f64()
    );
}
