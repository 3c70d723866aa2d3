//! Text search benchmark: the tantivy index and its store re-check (what the console's
//! search does) beside the archive's own scan, on the same archive in the same run; how
//! fast the index follows (records indexed per second) beside the strict append rate it
//! follows; and its size per record. Prints Markdown tables.
//!
//! ```text
//! cargo bench -p text_index --bench text_search                     # 1 000 000 records
//! IMT_BENCH_QUICK=1 cargo bench -p text_index --bench text_search   # 20 000 records
//! ```
//!
//! Environment: `IMT_BENCH_RECORDS` (records, default 1 000 000; 20 000 quick),
//! `IMT_BENCH_DIR` (where the archive goes), `IMT_BENCH_JSON` (figures as JSON lines).
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use archive::synthetic::Synthetic;
use archive::{Archive, ArchiveOptions, Query};
use text_index::words;

const SEC: i64 = 1_000_000_000;
const DAY: i64 = 86_400 * SEC;
const USERS: u32 = 2000;
const SPAN_DAYS: u32 = 90;
/// Hits the console asks of the index per search.
const ASKED: usize = 500;
/// Concurrent strict appenders for the append rate the index follows.
const APPENDERS: usize = 64;

/// What the console would be asked: single words, two words, a phrase, a prefix.
const QUERIES: &[&str] = &[
    "merger",
    "bond portfolio",
    "\"quarterly numbers\"",
    "approv*",
    "\"guaranteed returns\"",
    "audit compliance",
    "forecast*",
    "\"send the contract\"",
];

fn percentile(v: &[f64], p: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let at = ((v.len() as f64 - 1.0) * p).round() as usize;
    v.get(at).copied().unwrap_or(0.0)
}

fn du(path: &std::path::Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(path) {
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            total += if meta.is_dir() {
                du(&entry.path())
            } else {
                meta.len()
            };
        }
    }
    total
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let quick = std::env::var("IMT_BENCH_QUICK").is_ok_and(|v| v == "1");
    let total: u64 = std::env::var("IMT_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(if quick { 20_000 } else { 1_000_000 });
    let mut json = bench_json::BenchJson::from_env("text_search", quick).expect("IMT_BENCH_JSON");
    let base = std::env::var_os("IMT_BENCH_DIR").map(std::path::PathBuf::from);
    let tmp = match &base {
        Some(dir) => {
            std::fs::create_dir_all(dir).unwrap();
            tempfile::tempdir_in(dir).unwrap()
        }
        None => tempfile::tempdir().unwrap(),
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let started = Instant::now();

    // The strict append rate the index has to keep up with (64 appenders, 3 s).
    let strict_dir = tmp.path().join("strict");
    let strict = Archive::open(&strict_dir, ArchiveOptions::default()).unwrap();
    let strict_rate = rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(if quick { 1 } else { 3 });
        let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let mut tasks = Vec::new();
        for seed in 0..APPENDERS {
            let (a, done) = (strict.clone(), done.clone());
            tasks.push(tokio::spawn(async move {
                let mut g = Synthetic::new(seed as u64 + 100, USERS, SPAN_DAYS, archive::now_ns());
                let mut i = 0;
                while Instant::now() < deadline {
                    a.append(g.event(i, 1_000_000)).await.unwrap();
                    i += 1;
                    done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }));
        }
        let t0 = Instant::now();
        for t in tasks {
            t.await.unwrap();
        }
        done.load(std::sync::atomic::Ordering::Relaxed) as f64 / t0.elapsed().as_secs_f64()
    });
    drop(strict);

    // The archive to search.
    let dir = tmp.path().join("filled");
    let a = Archive::open(&dir, ArchiveOptions::default()).unwrap();
    rt.block_on(async {
        let mut g = Synthetic::new(7, USERS, SPAN_DAYS, archive::now_ns() - DAY);
        for i in 0..total {
            a.append_relaxed(g.event(i, total)).await.unwrap();
            if !quick && i > 0 && i % 200_000 == 0 {
                eprintln!(
                    "fill: {i} records, {:.0} s",
                    started.elapsed().as_secs_f64()
                );
            }
        }
        a.sync().await.unwrap();
    });

    // Indexing from nothing: the rate the follower can follow at.
    let index_dir = text_index::dir_of(&dir);
    let t0 = Instant::now();
    let (index, indexed) = text_index::rebuild(&a, &index_dir).unwrap();
    let index_secs = t0.elapsed().as_secs_f64();
    let index_rate = indexed as f64 / index_secs;
    let index_bytes = du(&index_dir);

    // Searches: the index plus the store re-check, as the console runs them.
    let rounds = if quick { 3 } else { 10 };
    let mut index_ms = Vec::new();
    let mut hits = 0u64;
    for _ in 0..rounds {
        for q in QUERIES {
            let t = Instant::now();
            let parts = words::parse(q);
            let ids = index.search(&parts, None, ASKED).unwrap();
            for id in &ids {
                let r = a.record_by_id(*id).unwrap().unwrap();
                assert!(words::matches(&r.event.text, &parts).is_some(), "{q}: {id}");
            }
            index_ms.push(t.elapsed().as_secs_f64() * 1e3);
            hits += ids.len() as u64;
        }
    }
    // The archive's own scan for the same words (what `search --text` does), each query once.
    let mut scan_ms = Vec::new();
    for q in QUERIES {
        let word = words::parse(q)
            .into_iter()
            .map(|p| match p {
                words::Part::Word(w) | words::Part::Prefix(w) => w,
                words::Part::Phrase(p) => p.join(" "),
            })
            .next()
            .unwrap_or_default();
        let query = Query {
            text: Some(word),
            ..Query::default()
        };
        let t = Instant::now();
        let n = a.search(&query).count();
        scan_ms.push(t.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(n);
    }

    println!("## Text search ({total} records, {USERS} users, {SPAN_DAYS} days; one run)\n");
    println!(
        "Queries: {}. The index answers the first {ASKED} hits by score, each read back from \
         the store and checked against the query (the console's path, no HTTP); the scan is \
         the archive's substring search over every record (`search --text`), for the first \
         word or phrase of each query.\n",
        QUERIES.join(", ")
    );
    println!("| measurement | text index | archive scan (same run) |");
    println!("|---|---:|---:|");
    println!(
        "| search p50 / p95 | {:.1} ms / {:.1} ms ({} queries, mean {:.0} hits) | {:.0} ms / {:.0} ms ({} queries) |",
        percentile(&index_ms, 0.5),
        percentile(&index_ms, 0.95),
        index_ms.len(),
        hits as f64 / index_ms.len().max(1) as f64,
        percentile(&scan_ms, 0.5),
        percentile(&scan_ms, 0.95),
        scan_ms.len()
    );
    println!(
        "| indexing from nothing | {index_rate:.0} records/s ({indexed} in {index_secs:.1} s) | strict appends, {APPENDERS} appenders: {strict_rate:.0} records/s |"
    );
    println!(
        "| index size | {:.0} bytes/record ({:.1} MiB) | |",
        index_bytes as f64 / total.max(1) as f64,
        index_bytes as f64 / 1048576.0
    );
    println!("\n(whole run {:.1} s)", started.elapsed().as_secs_f64());
    for (what, unit, better, ours, peer, peer_value) in [
        (
            "text search p95",
            "ms",
            bench_json::Better::Lower,
            percentile(&index_ms, 0.95),
            Some("archive scan p95"),
            Some(percentile(&scan_ms, 0.95)),
        ),
        (
            "text search p50",
            "ms",
            bench_json::Better::Lower,
            percentile(&index_ms, 0.5),
            Some("archive scan p50"),
            Some(percentile(&scan_ms, 0.5)),
        ),
        (
            "indexing rate",
            "records/s",
            bench_json::Better::Higher,
            index_rate,
            Some("strict appends/s, 64 appenders"),
            Some(strict_rate),
        ),
        (
            "index size per record",
            "bytes",
            bench_json::Better::Lower,
            index_bytes as f64 / total.max(1) as f64,
            None,
            None,
        ),
    ] {
        json.figure(&bench_json::Figure {
            what,
            unit,
            better,
            ours,
            peer,
            peer_value,
        })
        .expect("IMT_BENCH_JSON");
    }
}
