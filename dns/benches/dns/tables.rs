//! The header and the Markdown tables.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::measure::Measured;
use crate::servers::Row;
use crate::settings::{Settings, newest_source};

use crate::{FORWARDED, OUTSTANDING, REDIRECTED};

/// `program`'s version line, if it runs.
pub(crate) fn version(program: &Path, arg: &str, needle: &str) -> Option<String> {
    let out = Command::new(program).arg(arg).output().ok()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .find(|l| l.contains(needle))
        .map(|l| l.trim().to_owned())
}

pub(crate) fn print_header(s: &Settings) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let busy = bench_json::busy_cores(Duration::from_secs(1));
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "{} mode; {cores} cores shared by dnsperf and the server under test (no pinning); \
         {} build of the bench and the responder rows.\n",
        if s.quick { "quick" } else { "full" },
        if cfg!(debug_assertions) {
            "debug assertions ON: numbers are not representative"
        } else {
            "optimised"
        },
    );
    println!(
        "**Machine load before the run: {busy:.1} of {cores} cores busy with other processes** \
         (1 s sample of /proc/stat; load average {}).{} Compare rows of one run, not absolute \
         numbers across machines.\n",
        loadavg
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        std::env::var("IMT_BENCH_NOTE").map_or(String::new(), |n| format!(" {n}")),
    );
    println!(
        "Versions: {}; {}; {}.\n",
        version(&s.tools.dnsperf, "-h", "Version").map_or_else(
            || "dnsperf (version unknown)".into(),
            |v| format!("dnsperf {}", v.trim_start_matches("Version ")),
        ),
        version(&s.tools.unbound, "-V", "Version").map_or_else(
            || "unbound (version unknown)".into(),
            |v| format!("unbound {}", v.trim_start_matches("Version ")),
        ),
        version(&s.tools.dnsmasq, "--version", "version")
            .and_then(|v| v.split_whitespace().nth(2).map(|n| format!("dnsmasq {n}")))
            .unwrap_or_else(|| "dnsmasq (version unknown)".into()),
    );
    match &s.imtegrity {
        Some(binary) => {
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
            let built = std::fs::metadata(binary).and_then(|m| m.modified()).ok();
            let newest = newest_source(&[
                root.join("src"),
                root.join("dns/src"),
                root.join("settings/src"),
            ]);
            let stale = matches!((built, newest), (Some(b), Some(n)) if n > b);
            println!(
                "`imtegrity run` rows: {}{}\n",
                binary.display(),
                if stale {
                    " — **older than the sources in src/, dns/src or settings/src: rebuild with \
                     `cargo build --release -p imtegrity` to measure the current code**"
                } else {
                    ""
                }
            );
        }
        None => println!(
            "`imtegrity run` rows: no release binary; run `cargo build --release -p imtegrity` \
             first (or set IMT_BENCH_IMTEGRITY).\n"
        ),
    }
}

pub(crate) fn print_tables(s: &Settings, results: &[(Row, Result<Measured, String>)]) {
    println!(
        "dnsperf {} s per cell{}, `-c 1 -T 1 -q {OUTSTANDING}` unless the column says \
         otherwise, over UDP on 127.0.0.1, one query name per run (`{REDIRECTED} A` \
         redirected, `{FORWARDED} A` forwarded and cached; the upstream is a dnsmasq on \
         another loopback port). Latency is dnsperf's average; with {OUTSTANDING} queries \
         outstanding it is mostly queueing (≈ {OUTSTANDING} / QPS). RSS is `VmRSS` after the \
         three runs (`VmHWM`, the peak, in brackets). The percentage is of unbound's \
         redirected QPS.\n",
        s.secs,
        if s.rounds > 1 {
            format!(" (median of {} rounds, run round-robin)", s.rounds)
        } else {
            String::new()
        },
    );
    println!(
        "| server | redirected QPS | avg latency | forwarded (cached) QPS | avg latency | \
         redirected QPS, `-c 4 -T 2` | RSS after load (peak) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let unbound_qps = results.iter().find_map(|(r, m)| match (r, m) {
        (Row::Unbound, Ok(m)) => Some(m.redirected.qps),
        _ => None,
    });
    for (row, m) in results {
        match m {
            Ok(m) => {
                let vs_unbound = unbound_qps
                    .filter(|_| *row != Row::Unbound)
                    .map_or(String::new(), |u| {
                        format!(" ({:.0}%)", 100.0 * m.redirected.qps / u)
                    });
                println!(
                    "| {} | {}{vs_unbound} | {:.2} ms | {} | {:.2} ms | {} | {:.1} MB ({:.1} MB) |",
                    row.label(),
                    m.redirected.qps_cell(),
                    m.redirected.avg_latency_ms,
                    m.forwarded.qps_cell(),
                    m.forwarded.avg_latency_ms,
                    m.wide.qps_cell(),
                    m.rss_kib.0 as f64 / 1024.0,
                    m.rss_kib.1 as f64 / 1024.0,
                );
            }
            Err(e) => println!("| {} | not measured: {e} | | | | | |", row.label()),
        }
    }
    println!(
        "\nWhere the server's time goes, per answered query in the same runs: user and system \
         CPU time of the server process (all threads, from /proc/PID/stat in 10 ms ticks) and \
         its context switches (voluntary + involuntary, all threads). dnsperf and the server \
         share the cores, so a server that costs less per query leaves more to dnsperf.\n"
    );
    println!(
        "| server | redirected: user / system µs | switches | forwarded: user / system µs | \
         switches | redirected `-c 4 -T 2`: user / system µs | switches |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (row, m) in results {
        if let Ok(m) = m {
            let mut line = format!("| {} |", row.label());
            for p in [&m.redirected, &m.forwarded, &m.wide] {
                let (user, system, switches) = p.per_query();
                let _ = write!(line, " {user:.1} / {system:.1} | {switches:.2} |");
            }
            println!("{line}");
        }
    }
    for (row, m) in results {
        if let Ok(Measured {
            log_per_answer: Some(bytes),
            ..
        }) = m
        {
            println!(
                "\n{}: {bytes:.0} bytes of stderr per redirected answer.",
                row.label()
            );
        }
    }
}
