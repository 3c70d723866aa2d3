//! Relay benchmark: what the IMtegrity relay costs against no relay, a plain
//! `copy_bidirectional` relay and HAProxy. Prints Markdown tables; asserts nothing about time.
//!
//! ```text
//! cargo bench -p intercept --bench relay                      # full run, about 90 s
//! IMT_BENCH_QUICK=1 cargo bench -p intercept --bench relay    # smoke run, under 30 s
//! ```
//!
//! Four parts, every one on 127.0.0.1 only, every loop bounded in count and in time:
//!
//! 1. **IMs per second, relayed and archived**: N pairs of lab clients (N = 1, 8, 64) logged
//!    in to a lab server directly, or through the relay with no archive, relaxed capture or
//!    strict capture. Each sender keeps at most 16 IMs outstanding (sent, not yet delivered)
//!    and sends until its time is up (or `IMT_BENCH_IMS` IMs); the last IM is a marker the
//!    receiver stops on. The archive must then hold one record per delivered IM.
//! 2. **Round trip**: one pair plays ping-pong (A sends, B receives and replies, A receives);
//!    p50/p99 directly and through the relay.
//! 3. **Bulk bytes**: one session streams 8 KiB channel-2 SNACs of an unknown family (the
//!    relay decodes and forwards them untouched) to a fake upstream that sinks them, directly
//!    or through the IMtegrity relay, a plain tokio `copy_bidirectional` relay or HAProxy
//!    (`mode tcp`, `nbthread 1`, Debian's `haproxy`; the row says so when it is missing),
//!    each relay in a process of its own as in part 4, the client and the sink in this one.
//! 4. **Memory**: RSS of a relay process idle, then holding idle sessions (each client sent
//!    a plain hello; the fake upstream holds the other end). Each relay runs in a child
//!    process (this binary re-executed) so its RSS is its own: the clients and the fake
//!    upstream stay in this process, and nothing allocated by parts 1–3 is counted.
//!
//! Environment:
//! * `IMT_BENCH_QUICK=1`: short phases and 1 000 idle sessions.
//! * `IMT_BENCH_SECS`: seconds per IM-throughput row (default 5; quick 0.5).
//! * `IMT_BENCH_IMS`: most IMs per sender (default 1 000 000, so time is the bound).
//! * `IMT_BENCH_BULK_MIB`: MiB streamed per bulk row (default 1024; quick 64).
//! * `IMT_BENCH_SESSIONS`: idle sessions for the memory part (default 10 000; quick 1 000).
//! * `IMT_BENCH_DIR`: where the archives go (default: the system temp dir).
//! * `IMT_BENCH_HAPROXY`: the haproxy binary (default `haproxy` on `PATH`).
//! * `IMT_BENCH_NOTE`: a sentence added to the header, e.g. what else loads the machine.
//! * `IMT_BENCH_ONLY`: comma-separated parts to run, of `ims`, `latency`, `bulk`, `memory`
//!   (default: all), e.g. to profile one part.
//! * `IMT_BENCH_PAIRS` (default `1,8,64`) and `IMT_BENCH_ROUTES` (default
//!   `direct,noarchive,relaxed,strict,policy`): the rows of parts 1 and 2.
//! * `IMT_BENCH_JSON=FILE`: also append every figure to FILE as a JSON line, with its peer
//!   from the same run (see `figures.rs` for which peer each row has).
//!
//! File descriptors: a relay holds two sockets per session, and so does this process (the
//! clients and the fake upstream), so 10 000 idle sessions need about 20 200 descriptors in
//! each. The bench raises its soft `RLIMIT_NOFILE` to what it needs (the hard limit too when
//! it has `CAP_SYS_RESOURCE`); when it cannot, it prints a note and measures as many
//! sessions as fit. Give it room first with `ulimit -n 21000` (the hard limit permitting,
//! see `ulimit -Hn`).
//!
//! The code, one job per file: `settings.rs` reads the environment above; `gateway.rs` is the
//! relay under test and `peers.rs` what it is measured against (the copy relay, HAProxy);
//! `upstreams.rs` the fake upstreams behind them and `wire.rs` the bytes the clients send;
//! `ims.rs`, `latency.rs`, `bulk.rs` and `memory.rs` measure one part each; `tables.rs` runs
//! the parts and prints their tables, `figures.rs` writes their rows as JSON; `system.rs`
//! reads /proc.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

mod bulk;
mod figures;
mod gateway;
mod ims;
mod latency;
mod memory;
mod peers;
mod settings;
mod system;
mod tables;
mod upstreams;
mod wire;

use std::process::Command;
use std::time::{Duration, Instant};

use crate::memory::child_main;
use crate::settings::Settings;
use crate::system::{nofile_limits, raise_nofile};
use crate::tables::{part_bulk, part_ims, part_latency, part_memory};

/// IMs a sender may have sent and not yet seen delivered.
const WINDOW: usize = 16;
/// Pair counts of the IM-throughput part.
const PAIRS: [usize; 3] = [1, 8, 64];
/// The IM every sender sends: a realistic desk message.
const TEXT: &str =
    "bench: the quarterly numbers look fine to me, please confirm the ticket by noon";
/// The last IM of a sender; its receiver stops on it.
const END: &str = "bench: end of stream";
/// Longest wait for any one step (a delivery, a window slot, a login) before the row fails.
const STALL: Duration = Duration::from_secs(15);
/// Payload of one bulk FLAP frame: a 10-byte SNAC header and the body.
const BULK_PAYLOAD: usize = 8 * 1024;
/// Frames in the buffer the bulk client writes over and over.
const BULK_CHUNK_FRAMES: usize = 128;
/// An unassigned SNAC family: the relay decodes the header and forwards the frame as-is.
const BULK_FAMILY: u16 = 0x7a7a;
/// Longest a bulk row may stream.
const BULK_LIMIT: Duration = Duration::from_secs(30);
/// Descriptors kept spare beside two per idle session (listeners, epoll, the archive's
/// files, stdio).
const FD_SPARE: u64 = 200;

fn main() {
    if let Ok(kind) = std::env::var("IMT_BENCH_CHILD") {
        child_main(&kind);
        return;
    }
    let s = Settings::from_env();
    let mut json = bench_json::BenchJson::from_env("relay", s.quick).expect("IMT_BENCH_JSON");
    let bench_started = Instant::now();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Measure what else is running before we add our own load.
    let busy = bench_json::busy_cores(Duration::from_secs(1));
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let want_fds = 2 * s.sessions as u64 + FD_SPARE;
    let soft = if s.runs("memory") {
        raise_nofile(want_fds)
    } else {
        nofile_limits().0
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let haproxy_version = Command::new(&s.haproxy)
        .arg("-v")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|v| v.lines().next().map(str::to_owned));

    println!("# relay benchmark\n");
    println!(
        "{} mode; {cores} cores; one tokio multi-thread runtime with {cores} workers shared by \
         the clients, the lab server, the fake upstreams and the relay under test, plus the \
         archive's writer thread; {} build.\n",
        if s.quick { "quick" } else { "full" },
        if cfg!(debug_assertions) {
            "debug assertions ON: numbers are not representative"
        } else {
            "optimised"
        },
    );
    println!(
        "**Machine load before the run: {busy:.1} of {cores} cores busy with other processes** \
         (1 s sample of /proc/stat; load average {}), so this run had about {:.1} cores to \
         itself.{} Compare rows of one run, not absolute numbers across machines.\n",
        loadavg
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        (cores as f64 - busy).max(0.0),
        std::env::var("IMT_BENCH_NOTE").map_or(String::new(), |n| format!(" {n}")),
    );
    println!(
        "Archives under {}; HAProxy: {}.\n",
        s.base.as_deref().map_or_else(
            || std::env::temp_dir().display().to_string(),
            |p| p.display().to_string()
        ),
        haproxy_version.as_deref().unwrap_or("not available"),
    );
    if s.runs("ims") {
        part_ims(&rt, &s, &mut json);
    }
    if s.runs("latency") {
        part_latency(&rt, &s, &mut json);
    }
    if s.runs("bulk") {
        part_bulk(&rt, &s, &mut json);
    }
    if s.runs("memory") {
        part_memory(
            &rt,
            &s,
            soft,
            want_fds,
            haproxy_version.is_some(),
            &mut json,
        );
    }
    println!(
        "\n(whole run {:.1} s)",
        bench_started.elapsed().as_secs_f64()
    );
    rt.shutdown_timeout(Duration::from_secs(2));
}
