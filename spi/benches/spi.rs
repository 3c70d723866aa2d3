//! Sametime module benchmark: what a durable record costs the Sametime server per SPI call,
//! and how fast the spool ships to the gateway. Prints Markdown tables; asserts only that
//! every record arrived, nothing about time.
//!
//! ```text
//! cargo bench -p spi --bench spi                      # full run, well under a minute
//! IMT_BENCH_QUICK=1 cargo bench -p spi --bench spi    # smoke run, a few seconds
//! ```
//!
//! Two parts, each with a peer measured the same way in the same run:
//!
//! 1. **Per-call latency in strict mode.** `stDdaClSessionMsg` with the library's strict
//!    mode and no gateway, so every call returns only once its record is durable in the
//!    spool (the writer thread's append and `fdatasync`). The entry points are called as
//!    the `#[no_mangle]` `extern "system"` functions of the rlib this bench links, the same
//!    code the cdylib exports (no `dlsym` indirection, which costs nothing measurable). The
//!    library's configuration is process-wide (a file named by `IMTEGRITY_SPI_CONFIG`), so
//!    this part runs in a child process: this binary again. One thread, then four threads
//!    each in its own chat. The peer is the simplest durable logger a Sametime
//!    administrator could use instead, IBM's sample file logger made durable: one file per
//!    session, one line per message in the sample's format (reference §5.3), `write` then
//!    `fdatasync`.
//! 2. **Records per second shipped.** The spool part 1 filled is drained by the library's
//!    shipper thread into the gateway's real ingest endpoint (`archive_servers::serve_ingest`, what
//!    `imtegrity run` serves for `[ingest]`) in this process over loopback: batches of up to
//!    256 records as JSON over HTTP/1.1, each acknowledged once durable in the archive, then
//!    deleted from the spool. The peer appends the same records straight into an archive of
//!    its own, in the same batches and through the same keyed append the endpoint uses: what
//!    the archive itself absorbs, so the difference is the cost of shipping.
//!
//! Environment:
//! * `IMT_BENCH_QUICK=1`: 300 calls per thread instead of 5 000.
//! * `IMT_BENCH_CALLS`: calls per thread in part 1 (so part 2 ships 5 × that, plus the
//!   chats' start and end records).
//! * `IMT_BENCH_DIR`: where the spools, logs and archives go (default: the system temp
//!   dir; it must be a real disk, not tmpfs, or the fsyncs cost nothing).
//! * `IMT_BENCH_NOTE`: a sentence added to the header, e.g. what else loads the machine.
//! * `IMT_BENCH_JSON=FILE`: also append each figure to FILE as a JSON line, with its peer's
//!   from the same run (see the `bench_json` crate): p50 and p99 per call for each thread
//!   count against the file logger's, records per second shipped against the direct append.
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs
)]

use std::ffi::{CStr, CString, c_char, c_int, c_ulong};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use archive::{Archive, ArchiveOptions, IngestKey};
use imtegrity_stchatlog::Spool;
use imtegrity_stchatlog::abi_types::{ClEntity, entity_type};
use imtegrity_stchatlog::entry_points::{
    stDdaClInit, stDdaClJoiningSession, stDdaClSessionEnded, stDdaClSessionMsg,
    stDdaClSessionStarted, stDdaClTerminate,
};
use imtegrity_stchatlog::shipper::{MAX_BATCH_RECORDS, Shipper, ShipperConfig};

/// Set in the child process that runs part 1 through the SPI.
const CHILD_ENV: &str = "IMT_SPI_BENCH_CHILD";
/// The message every call logs: a realistic desk message (the relay bench's).
const TEXT: &str =
    "bench: the quarterly numbers look fine to me, please confirm the ticket by noon";
/// Thread counts of part 1.
const THREADS: [usize; 2] = [1, 4];
/// Longest a part-1 row may take; a slower disk logs fewer calls.
const ROW_LIMIT: Duration = Duration::from_secs(20);
/// Longest the spool may take to drain in part 2.
const DRAIN_LIMIT: Duration = Duration::from_secs(60);
const TOKEN: &str = "spi-bench-token-0123456789";

fn main() {
    if std::env::var_os(CHILD_ENV).is_some() {
        child();
        return;
    }
    let quick = std::env::var("IMT_BENCH_QUICK").is_ok_and(|v| v == "1");
    let calls: usize = std::env::var("IMT_BENCH_CALLS")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(if quick { 300 } else { 5_000 });
    let base = std::env::var_os("IMT_BENCH_DIR").map(PathBuf::from);
    let dir = match &base {
        Some(b) => tempfile::tempdir_in(b),
        None => tempfile::tempdir(),
    }
    .expect("bench directory");
    let mut json = bench_json::BenchJson::from_env("spi", quick).expect("IMT_BENCH_JSON");

    println!("# Sametime module benchmark\n");
    println!(
        "{} cores; release build; spools, logs and archives in {} ({}).{}\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        dir.path().display(),
        filesystem_of(dir.path()),
        std::env::var("IMT_BENCH_NOTE")
            .map(|n| format!(" {n}"))
            .unwrap_or_default()
    );

    // Rows alternate between the library and its peer, so a change in the machine's load
    // (fsync costs on a shared VM drift) falls on both alike.
    let spool = dir.path().join("spool");
    let (mut spi_rows, mut peer_rows) = (Vec::new(), Vec::new());
    for threads in THREADS {
        spi_rows.push(spi_latency(&spool, threads, calls));
        let log_dir = dir.path().join(format!("filelog-{threads}"));
        peer_rows.push(file_logger_latency(&log_dir, threads, calls));
    }
    print_latency(&spi_rows, &peer_rows);
    latency_figures(&mut json, &spi_rows, &peer_rows);

    let shipped = shipping(dir.path(), &spool);
    print_shipping(&shipped);
    json.rate(
        "records/s shipped: spool → shipper → HTTP ingest → archive",
        "records/s",
        shipped.records as f64 / shipped.shipped.as_secs_f64(),
        "the same records appended straight into an archive",
        shipped.records as f64 / shipped.direct.as_secs_f64(),
    )
    .expect("IMT_BENCH_JSON");
}

// ---------------------------------------------------------------------------------------
// Part 1: per-call latency
// ---------------------------------------------------------------------------------------

/// One row of part 1: the calls' latencies, sorted, and the row's wall time.
struct Row {
    threads: usize,
    samples: Vec<Duration>,
    wall: Duration,
}

impl Row {
    fn percentile(&self, q: f64) -> Duration {
        let n = self.samples.len();
        // Nearest rank: the smallest sample with at least q of them at or below it.
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        self.samples[rank - 1]
    }
}

/// Runs one SPI row in a child process with the library in strict mode on `spool` (each
/// row's child adds its records to the same spool).
fn spi_latency(spool: &Path, threads: usize, calls: usize) -> Row {
    let config = spool.with_extension("toml");
    std::fs::write(
        &config,
        format!("mode = \"strict\"\nspool = \"{}\"\n", spool.display()),
    )
    .expect("write the library's configuration");
    let mut child = Command::new(std::env::current_exe().expect("this bench's path"))
        .env(CHILD_ENV, "1")
        .env("IMT_BENCH_CALLS", calls.to_string())
        .env("IMT_BENCH_THREADS", threads.to_string())
        .env("IMTEGRITY_SPI_CONFIG", &config)
        .env_remove("IMTEGRITY_SPI_SPOOL")
        .env_remove("IMTEGRITY_SPI_GATEWAY")
        .env_remove("IMTEGRITY_SPI_TOKEN")
        .env_remove("IMTEGRITY_SPI_TOKEN_FILE")
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the SPI child");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("child stdout"))
        .read_line(&mut line)
        .expect("read the child");
    assert!(child.wait().expect("wait for the child").success());
    let v: serde_json::Value = serde_json::from_str(&line).expect("child JSON");
    let mut samples: Vec<Duration> = v["samples_ns"]
        .as_array()
        .expect("samples")
        .iter()
        .map(|s| Duration::from_nanos(s.as_u64().expect("ns")))
        .collect();
    samples.sort_unstable();
    Row {
        threads,
        samples,
        wall: Duration::from_nanos(v["wall_ns"].as_u64().expect("wall")),
    }
}

fn entity(id: &str) -> ClEntity {
    let mut e = ClEntity {
        id: [0; 256],
        entity_type: entity_type::USER,
    };
    for (dst, src) in e.id.iter_mut().zip(id.bytes()) {
        *dst = src as c_char;
    }
    e
}

/// The child: Init, one row (`IMT_BENCH_THREADS` threads, each in its own two-way chat),
/// Terminate. Prints the row as one JSON line.
fn child() {
    let number = |name: &str| -> usize {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} not set by the parent"))
    };
    let (calls, threads) = (number("IMT_BENCH_CALLS"), number("IMT_BENCH_THREADS"));
    let mut version: c_int = 16;
    let mut inside: c_int = 0;
    let mut dir_type = [0 as c_char; 64];
    let mut lib_version = [0 as c_char; 64];
    // Kept until Terminate, as the server does; leaked, the process ends after it.
    let ret_msg: &'static mut [c_char; 1024] = Box::leak(Box::new([0; 1024]));
    let ret_code: &'static mut c_int = Box::leak(Box::new(0));
    // SAFETY: valid pointers; the retained buffers are leaked, so they outlive Terminate.
    let code = unsafe {
        stDdaClInit(
            &mut version,
            0,
            &mut inside,
            dir_type.as_mut_ptr(),
            lib_version.as_mut_ptr(),
            ret_code,
            ret_msg.as_mut_ptr(),
        )
    };
    // SAFETY: the library writes a NUL-terminated reason into the 1024-byte buffer.
    let reason = unsafe { CStr::from_ptr(ret_msg.as_ptr()) };
    assert_eq!(code, 0, "stDdaClInit: {reason:?}");
    let start = Instant::now();
    let per_thread: Vec<Vec<u64>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| s.spawn(move || chat(&format!("bench-{threads}-{t}"), t, calls)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("bench thread"))
            .collect()
    });
    let wall = start.elapsed();
    stDdaClTerminate();
    let samples: Vec<u64> = per_thread.into_iter().flatten().collect();
    println!(
        "{}",
        serde_json::json!({ "wall_ns": wall.as_nanos() as u64, "samples_ns": samples })
    );
}

/// One chat of `calls` messages (fewer if [`ROW_LIMIT`] passes); each message's latency.
fn chat(session: &str, t: usize, calls: usize) -> Vec<u64> {
    let sid = CString::new(session).expect("session id");
    let (alice, bob) = (entity(&format!("alice{t}")), entity(&format!("bob{t}")));
    let ok = |code: c_int, what: &str| assert_eq!(code, 0, "{what} failed");
    // SAFETY: a NUL-terminated session id, valid for the call.
    let code = unsafe { stDdaClSessionStarted(sid.as_ptr()) };
    ok(code, "start");
    for who in [&alice, &bob] {
        // SAFETY: the id as above, an entity valid for the call, and no scope (two-way).
        let code = unsafe { stDdaClJoiningSession(sid.as_ptr(), who, std::ptr::null()) };
        ok(code, "join");
    }
    let deadline = Instant::now() + ROW_LIMIT;
    let mut samples = Vec::with_capacity(calls);
    while samples.len() < calls && Instant::now() < deadline {
        let start = Instant::now();
        // SAFETY: the id and entities as above; `TEXT` is valid for its length.
        let code = unsafe {
            stDdaClSessionMsg(
                sid.as_ptr(),
                &alice,
                TEXT.len() as c_ulong,
                TEXT.as_ptr().cast(),
                &bob,
            )
        };
        samples.push(start.elapsed().as_nanos() as u64);
        ok(code, "stDdaClSessionMsg");
    }
    // SAFETY: the id as above.
    let code = unsafe { stDdaClSessionEnded(sid.as_ptr()) };
    ok(code, "end");
    samples
}

/// The peer: IBM's sample file logger, durable. One file per session (here, per thread),
/// one line per message in the sample's format, `write` then `fdatasync` before returning.
fn file_logger_latency(dir: &Path, threads: usize, calls: usize) -> Row {
    std::fs::create_dir_all(dir).expect("file logger directory");
    let start = Instant::now();
    let per_thread: Vec<Vec<Duration>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    // The sample's file name: session id and start time, with the
                    // characters a file name cannot hold replaced by `_`.
                    let name = format!("bench-{threads}-{t}_{}.dat", stamp())
                        .replace(['/', '\\', ':', '*', '?', '"', '<', '>', '|', ' '], "_");
                    let path = dir.join(name);
                    let file = OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                        .expect("open the log file");
                    let deadline = Instant::now() + ROW_LIMIT;
                    let mut samples = Vec::with_capacity(calls);
                    while samples.len() < calls && Instant::now() < deadline {
                        let start = Instant::now();
                        log_line(&file, t);
                        samples.push(start.elapsed());
                    }
                    samples
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("file logger thread"))
            .collect()
    });
    let wall = start.elapsed();
    let mut samples: Vec<Duration> = per_thread.into_iter().flatten().collect();
    samples.sort_unstable();
    Row {
        threads,
        samples,
        wall,
    }
}

/// One message as the sample writes it (reference §5.3), made durable.
fn log_line(mut file: &File, t: usize) {
    let line = format!(
        "\n{}: Send Message from UserId alice{t} to UserId bob{t} msgLen {} msg: {TEXT} ",
        stamp(),
        TEXT.len()
    );
    file.write_all(line.as_bytes()).expect("write the log line");
    file.sync_data().expect("fdatasync the log file");
}

/// The sample's timestamp, `%d/%b/%y, %H:%M:%S` (UTC here; the sample uses local time).
fn stamp() -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{day:02}/{}/{:02}, {:02}:{:02}:{:02}",
        MONTHS[(month - 1) as usize],
        year % 100,
        rest / 3_600,
        rest % 3_600 / 60,
        rest % 60
    )
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn print_latency(spi: &[Row], peer: &[Row]) {
    println!("## 1. Per-call latency, strict: the record durable before the call returns\n");
    println!("| logger | threads | calls | p50 | p90 | p99 | max | calls/s |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let rows = spi
        .iter()
        .map(|r| ("IMtegrity `stDdaClSessionMsg`, segment-log spool", r))
        .chain(
            peer.iter()
                .map(|r| ("peer: sample file logger, line + `fdatasync`", r)),
        );
    for (label, r) in rows {
        println!(
            "| {label} | {} | {} | {} | {} | {} | {} | {:.0} |",
            r.threads,
            r.samples.len(),
            ms(r.percentile(0.50)),
            ms(r.percentile(0.90)),
            ms(r.percentile(0.99)),
            ms(r.samples.last().copied().unwrap_or_default()),
            r.samples.len() as f64 / r.wall.as_secs_f64()
        );
    }
    println!();
}

/// Each thread count's p50 and p99 per call, the file logger's with the same threads as the
/// peer.
fn latency_figures(json: &mut bench_json::BenchJson, spi: &[Row], peer: &[Row]) {
    for (ours, theirs) in spi.iter().zip(peer) {
        for (name, q) in [("p50", 0.50), ("p99", 0.99)] {
            json.cost(
                &format!(
                    "strict stDdaClSessionMsg latency {name}, {} thread{}",
                    ours.threads,
                    if ours.threads == 1 { "" } else { "s" }
                ),
                "ms",
                ours.percentile(q).as_secs_f64() * 1e3,
                "sample file logger, line + fdatasync",
                theirs.percentile(q).as_secs_f64() * 1e3,
            )
            .expect("IMT_BENCH_JSON");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Part 2: shipping
// ---------------------------------------------------------------------------------------

struct Shipped {
    records: usize,
    shipped: Duration,
    direct: Duration,
}

fn shipping(dir: &Path, spool_dir: &Path) -> Shipped {
    let spool = Arc::new(Spool::open(spool_dir).expect("open the filled spool"));
    let events = spool.events().expect("read the spool");
    let records = events.len();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");

    // The library's shipper into the real ingest endpoint, on loopback.
    let archive = Archive::open(&dir.join("archive-shipped"), ArchiveOptions::default())
        .expect("open the gateway's archive");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind the ingest endpoint");
    let addr = listener.local_addr().expect("ingest address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    runtime.spawn(archive_servers::serve_ingest(
        listener,
        archive.clone(),
        TOKEN.to_owned(),
        async move {
            let _ = stopped.await;
        },
    ));
    let start = Instant::now();
    let shipper = Shipper::start(
        Arc::clone(&spool),
        ShipperConfig::new(addr.to_string(), TOKEN),
    )
    .expect("start the shipper");
    while !spool.is_empty() && start.elapsed() < DRAIN_LIMIT {
        std::thread::sleep(Duration::from_millis(1));
    }
    let shipped = start.elapsed();
    assert!(shipper.stop(Duration::from_secs(5)), "the shipper stopped");
    assert!(
        spool.is_empty(),
        "the spool did not drain in {DRAIN_LIMIT:?}"
    );
    assert_eq!(archive.len(), records, "every spooled record archived once");
    let _ = stop.send(());

    // The peer: the same records straight into an archive, in the shipper's batches.
    let direct_archive = Archive::open(&dir.join("archive-direct"), ArchiveOptions::default())
        .expect("open the direct archive");
    let batches: Vec<Vec<(archive::Event, IngestKey)>> = events
        .chunks(MAX_BATCH_RECORDS)
        .enumerate()
        .map(|(b, chunk)| {
            chunk
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    let key = IngestKey {
                        source: "bench-direct".into(),
                        seq: (b * MAX_BATCH_RECORDS + i) as u64,
                        client: archive_servers::DEFAULT_CLIENT.into(),
                    };
                    (e.clone(), key)
                })
                .collect()
        })
        .collect();
    let start = Instant::now();
    for batch in batches {
        runtime
            .block_on(direct_archive.append_keyed_all(batch))
            .expect("append a batch");
    }
    let direct = start.elapsed();
    assert_eq!(direct_archive.len(), records);
    Shipped {
        records,
        shipped,
        direct,
    }
}

fn print_shipping(s: &Shipped) {
    println!(
        "## 2. Records per second into the archive ({} records, batches of {MAX_BATCH_RECORDS})\n",
        s.records
    );
    println!("| path | seconds | records/s |");
    println!("|---|---:|---:|");
    for (label, d) in [
        (
            "spool → shipper → HTTP ingest on loopback → archive, then deleted from the spool",
            s.shipped,
        ),
        (
            "peer: the same records appended straight into an archive",
            s.direct,
        ),
    ] {
        println!(
            "| {label} | {:.2} | {:.0} |",
            d.as_secs_f64(),
            s.records as f64 / d.as_secs_f64()
        );
    }
    println!();
}

/// The file system type under `path`, from /proc/mounts (longest matching mount point), so
/// a run on tmpfs says so.
fn filesystem_of(path: &Path) -> String {
    let Ok(mounts) = std::fs::read_to_string("/proc/mounts") else {
        return "file system unknown".into();
    };
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_dev, point, kind) = (f.next()?, f.next()?, f.next()?);
            path.starts_with(point)
                .then(|| (point.len(), kind.to_owned()))
        })
        .max()
        .map_or("file system unknown".into(), |(_, kind)| kind)
}
