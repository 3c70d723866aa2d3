//! DNS benchmark: dnsperf against the IMtegrity responder, unbound and dnsmasq, on the same
//! machine, in the same run, with the same redirect rule. Prints a Markdown table; asserts
//! nothing about speed.
//!
//! ```text
//! cargo build --release -p imtegrity                     # the `imtegrity run` rows
//! cargo bench -p dns --bench dns                         # full run, about 3 minutes
//! IMT_BENCH_QUICK=1 cargo bench -p dns --bench dns       # smoke run, about 1 minute
//! ```
//!
//! Needs `dnsperf`, `unbound` and `dnsmasq` (`tests/peers/install.sh` installs them); without
//! them it prints which are missing and exits 0 having measured nothing.
//!
//! Every server is a process of its own on a 127.0.0.1 port, so its RSS (`VmRSS`/`VmHWM`) and
//! CPU time are read from /proc the same way for all:
//!
//! * **unbound** 1.17 (`num-threads: 2`, `so-reuseport: yes`, `local-zone: "oscar.aol.com."
//!   redirect` + `local-data` A 127.0.0.1, `forward-zone` example.test → the upstream);
//! * **dnsmasq** 2.90 (`address=/oscar.aol.com/127.0.0.1`, `server=/example.test/upstream`,
//!   `cache-size=10000`);
//! * **`imtegrity run`**, the release binary (`target/release/imtegrity`, or
//!   `IMT_BENCH_IMTEGRITY`), with the per-client limits off (`dns.rate_limit=0`,
//!   `dns.rate_limit_bytes=0`: one dnsperf client is one address) and
//!   `IMTEGRITY_LOG=warn`, and once more with the default log filter, which writes the
//!   query log (one info line per redirected answer) to stderr, here a file;
//! * the **responder alone** ([`dns::DnsServer`] in this binary re-executed, on a tokio
//!   multi-thread runtime with one worker per core, as `imtegrity run` has): with the UDP
//!   fast path read by a thread per socket (`UdpPath::Threads`, as `imtegrity run`), by a
//!   tokio task per socket (`UdpPath::Tasks`), and with `UdpPath::Hickory`, i.e. every UDP
//!   query through hickory-server's own `Server` with the same request handler ("plain
//!   hickory").
//!
//! All of them redirect every name under oscar.aol.com to 127.0.0.1 (TTL 30) and forward
//! example.test to one upstream, a dnsmasq on another loopback port answering
//! `*.example.test` with 192.0.2.7, TTL 300, so the forwarders cache it. dnsperf then asks
//! `login.oscar.aol.com A` (redirected) or `www.example.test A` (forwarded; every query after
//! the warm-up one is a cache hit) over and over. Each row's answers are checked once before
//! it is measured.
//!
//! Environment:
//! * `IMT_BENCH_QUICK=1`: 3 s per dnsperf run instead of 10.
//! * `IMT_BENCH_SECS`: seconds per dnsperf run (wins over the above).
//! * `IMT_BENCH_ROUNDS`: measure every row this many times, round-robin, and report the
//!   median of each cell (default 1); for a machine busy with other work.
//! * `IMT_BENCH_SERVERS`: comma-separated rows to run, of `unbound`, `dnsmasq`, `imtegrity`,
//!   `imtegrity-log`, `imtegrity-first`, `responder`, `responder-tasks`, `hickory` (default:
//!   all).
//! * `IMT_BENCH_IMTEGRITY`: the `imtegrity` binary (default: the workspace's
//!   `target/release/imtegrity`, or `$CARGO_TARGET_DIR/release/imtegrity`).
//! * `IMT_BENCH_PERF=DIR`: record a `perf record -g` profile of the server during each
//!   dnsperf run into DIR (`perf report -i DIR/<row>-<case>-<round>.data`).
//! * `IMT_BENCH_NOTE`: a sentence added to the header, e.g. what else loads the machine.
//! * `IMT_BENCH_JSON=FILE`: also append our rows' cells to FILE as JSON lines, each with
//!   unbound's from the same run as its peer (see `figures.rs`).
//!
//! The code, one job per file: `settings.rs` reads the environment above and finds the
//! programs; `servers.rs` holds the rows and starts, checks and stops a server, `peers.rs`
//! the unbound, dnsmasq and upstream ones and `imtegrity.rs` ours (`imtegrity run`, the
//! responder child); `client.rs` is the small DNS client that checks answers, `dnsperf.rs`
//! runs dnsperf, `measure.rs` one row's runs, `system.rs` reads /proc, `tables.rs` prints
//! the header and the tables, and `figures.rs` writes the rows as JSON.
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs
)]

mod client;
mod dnsperf;
mod figures;
mod imtegrity;
mod measure;
mod peers;
mod servers;
mod settings;
mod system;
mod tables;

use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::imtegrity::child_main;
use crate::measure::{Measured, measure};
use crate::peers::start_upstream;
use crate::servers::Row;
use crate::settings::{Settings, Tools};
use crate::tables::{print_header, print_tables};

/// The redirected name every server answers itself.
const REDIRECTED: &str = "login.oscar.aol.com";
/// The forwarded name, answered by the upstream and cached by every server.
const FORWARDED: &str = "www.example.test";
/// What the redirect rule answers.
const GATEWAY: Ipv4Addr = Ipv4Addr::LOCALHOST;
/// What the upstream answers for the forwarded name (documentation range: data only,
/// never contacted).
const FORWARDED_ANSWER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 7);
/// The TTL of redirected answers, as `dns.ttl` defaults to.
const REDIRECT_TTL: u32 = 30;
/// dnsperf's outstanding-query cap per run (its default, stated explicitly).
const OUTSTANDING: u32 = 100;
/// Longest wait for a server to answer its first query.
const START_TIMEOUT: Duration = Duration::from_secs(20);

fn main() {
    if let Ok(kind) = std::env::var("IMT_DNS_BENCH_CHILD") {
        child_main(&kind);
        return;
    }
    println!("# DNS benchmark\n");
    let tools = match Tools::find() {
        Ok(tools) => tools,
        Err(missing) => {
            println!(
                "**Skipped: {} not found (on PATH, /usr/sbin or /sbin).** Install them with \
                 `tests/peers/install.sh` (as root; Debian packages dnsperf, unbound, \
                 dnsmasq-base); nothing was measured.",
                missing.join(", ")
            );
            eprintln!("dns bench skipped: missing {}", missing.join(", "));
            return;
        }
    };
    let s = Settings::from_env(tools);
    let mut json = bench_json::BenchJson::from_env("dns", s.quick).expect("IMT_BENCH_JSON");
    if let Some(d) = &s.perf_dir {
        std::fs::create_dir_all(d).unwrap();
        if Command::new("perf")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_err()
        {
            eprintln!("IMT_BENCH_PERF is set but `perf` is not on PATH: no profiles recorded");
        }
    }
    let started = Instant::now();
    print_header(&s);

    let dir = tempfile::tempdir().unwrap();
    let data = (
        dir.path().join("redirected.txt"),
        dir.path().join("forwarded.txt"),
    );
    std::fs::write(&data.0, format!("{REDIRECTED} A\n")).unwrap();
    std::fs::write(&data.1, format!("{FORWARDED} A\n")).unwrap();
    let upstream = match start_upstream(&s, dir.path()) {
        Ok(u) => u,
        Err(e) => {
            println!("**Failed: the upstream dnsmasq did not start: {e}**");
            std::process::exit(1);
        }
    };
    let mut rounds: Vec<(Row, Vec<Measured>, Option<String>)> =
        s.rows.iter().map(|&r| (r, Vec::new(), None)).collect();
    for round in 0..s.rounds {
        for (row, done, failed) in &mut rounds {
            eprintln!("dns bench: {} (round {}) ...", row.key(), round + 1);
            match measure(*row, &s, dir.path(), upstream.addr, &data, round) {
                Ok(m) => done.push(m),
                Err(e) => {
                    eprintln!("dns bench: {}: {e}", row.key());
                    *failed = Some(e);
                }
            }
        }
    }
    upstream.stop();
    let results: Vec<(Row, Result<Measured, String>)> = rounds
        .into_iter()
        .map(|(row, done, failed)| {
            let m = Measured::median(done).ok_or_else(|| failed.unwrap_or_default());
            (row, m)
        })
        .collect();
    print_tables(&s, &results);
    figures::write(&mut json, &results);
    println!("\n(whole run {:.0} s)", started.elapsed().as_secs_f64());
}
