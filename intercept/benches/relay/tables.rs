//! Each part run and printed as its Markdown tables.

use bench_json::BenchJson;

use crate::bulk::{Bulk, BulkRow, bulk};
use crate::figures;
use crate::gateway::{Route, wait_closed};
use crate::ims::{ImRow, im_throughput};
use crate::latency::ping_pong;
use crate::memory::{Host, memory, session_future_bytes};
use crate::settings::Settings;
use crate::system::nofile_limits;
use crate::{BULK_FAMILY, BULK_PAYLOAD, FD_SPARE, TEXT, WINDOW};

pub(crate) fn part_ims(rt: &tokio::runtime::Runtime, s: &Settings, json: &mut BenchJson) {
    // 1. IMs per second.
    println!("## 1. IMs per second, relayed and archived end to end\n");
    println!(
        "Each of N sender/receiver pairs: the sender keeps up to {WINDOW} IMs in flight \
         (sent, not yet delivered) for {} s (at most {} IMs), then sends a last one and waits \
         for all to arrive; IMs/s = IMs delivered / time until the last receiver has its \
         last IM. {}-character text, one record per IM (sender's session; the receiver's \
         session skips an IM whose sender is local).\n",
        s.secs,
        s.max_ims,
        TEXT.len(),
    );
    let mut rows: Vec<(Route, usize, Result<ImRow, String>)> = Vec::new();
    for &pairs in &s.pairs {
        for &route in &s.routes {
            let (row, dir) = rt.block_on(im_throughput(route, pairs, s));
            wait_closed(dir);
            if let Err(e) = &row {
                eprintln!("IM throughput, {} × {pairs}: {e}", route.label());
            }
            rows.push((route, pairs, row));
        }
    }
    let rate = |r: &Result<ImRow, String>| r.as_ref().ok().map(|r| r.delivered as f64 / r.secs);
    print!("| pairs |");
    for route in &s.routes {
        print!(" {} IMs/s |", route.label());
    }
    println!("\n|---:|{}", "---:|".repeat(s.routes.len()));
    for &pairs in &s.pairs {
        let direct = rows
            .iter()
            .find(|(r, p, _)| *r == Route::Direct && *p == pairs)
            .and_then(|(_, _, row)| rate(row));
        print!("| {pairs} |");
        for &route in &s.routes {
            let row = rows
                .iter()
                .find(|(r, p, _)| *r == route && *p == pairs)
                .map(|(_, _, row)| row);
            match (row.and_then(rate), direct) {
                (Some(v), Some(d)) if route != Route::Direct => {
                    print!(" {v:.0} ({:.0}%) |", 100.0 * v / d);
                }
                (Some(v), _) => print!(" {v:.0} |"),
                (None, _) => print!(" error |"),
            }
        }
        println!();
    }
    println!("\n(percentages: of the direct rate with the same N)\n");
    println!(
        "| route | pairs | IMs delivered | seconds | IMs/s | IM records (relay's count) \
         | records == IMs | sessions failed | CPU µs per IM (whole process) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---|---:|---:|");
    for (route, pairs, row) in &rows {
        match row {
            Ok(r) => {
                let (records, check) = match r.records {
                    Some((stored, counted)) => (
                        format!("{stored} ({counted})"),
                        if stored == r.delivered && counted == r.delivered {
                            "yes".to_owned()
                        } else {
                            format!("**NO** ({} delivered)", r.delivered)
                        },
                    ),
                    None => ("—".to_owned(), "—".to_owned()),
                };
                println!(
                    "| {} | {} | {} | {:.2} | {:.0} | {records} | {check} | {} | {:.1} |",
                    r.route.label(),
                    r.pairs,
                    r.delivered,
                    r.secs,
                    r.delivered as f64 / r.secs,
                    r.failed_sessions,
                    r.cpu * 1e6 / r.delivered.max(1) as f64,
                );
            }
            Err(e) => println!("| {} | {pairs} | error: {e} | | | | | | |", route.label()),
        }
    }
    println!();
    figures::ims(json, &rows);
}

pub(crate) fn part_latency(rt: &tokio::runtime::Runtime, s: &Settings, json: &mut BenchJson) {
    // 2. Round trip.
    println!("## 2. Round-trip latency (one pair, ping-pong)\n");
    println!(
        "A sends an IM to B, B receives it and replies, A receives the reply: one round trip \
         crosses the relay four times and, with an archive, records two IMs (one per \
         direction). 20 warm-up rounds, then up to {} rounds or {} s.\n",
        s.latency_rounds, s.latency_secs
    );
    println!("| route | rounds | p50 | p99 | mean | p50 added by the relay | p99 added |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mut direct: Option<(f64, f64)> = None;
    let mut measured = Vec::new();
    for &route in &s.routes {
        let (row, dir) = rt.block_on(ping_pong(route, s));
        wait_closed(dir);
        match row {
            Ok(r) => {
                if route == Route::Direct {
                    direct = Some((r.p50_ms, r.p99_ms));
                }
                let added = |v: f64, base: Option<f64>| {
                    base.filter(|_| route != Route::Direct)
                        .map_or("—".to_owned(), |b| format!("{:+.3} ms", v - b))
                };
                println!(
                    "| {} | {} | {:.3} ms | {:.3} ms | {:.3} ms | {} | {} |",
                    route.label(),
                    r.rounds,
                    r.p50_ms,
                    r.p99_ms,
                    r.mean_ms,
                    added(r.p50_ms, direct.map(|d| d.0)),
                    added(r.p99_ms, direct.map(|d| d.1)),
                );
                measured.push((route, r.p50_ms, r.p99_ms));
            }
            Err(e) => println!("| {} | error: {e} | | | | | |", route.label()),
        }
    }
    println!();
    figures::latency(json, &measured);
}

pub(crate) fn part_bulk(rt: &tokio::runtime::Runtime, s: &Settings, json: &mut BenchJson) {
    // 3. Bulk.
    println!("## 3. Bulk bytes through one session\n");
    println!(
        "One client streams {} MiB of {}-byte FLAP frames (channel 2, SNAC family \
         {BULK_FAMILY:#06x}, unknown to the relay, so decoded and forwarded unchanged) to a \
         fake upstream that counts them; time from connecting to the last byte counted. \
         Every relay runs in a process of its own (HAProxy, and this binary re-executed for \
         the IMtegrity relay and the copy relay, each with a tokio runtime of one worker per \
         core); the client and the sink share this process's runtime. MB = 10^6 bytes. CPU \
         = user + system seconds of this process (client, sink) during the row, plus the \
         relay process's own, per GB moved. The direct row is the harness's own ceiling and \
         varies a lot between runs; compare the relays with each other.\n",
        s.bulk_bytes / 1048576,
        BULK_PAYLOAD + 6,
    );
    let rows: Vec<(Bulk, Result<BulkRow, String>)> =
        Bulk::ALL.map(|via| (via, rt.block_on(bulk(via, s)))).into();
    figures::bulk(json, &rows);
    let rate = |r: &BulkRow| r.bytes as f64 / r.secs / 1e6;
    let copy = rows
        .iter()
        .find(|(v, _)| *v == Bulk::Copy)
        .and_then(|(_, r)| r.as_ref().ok())
        .map(rate);
    println!(
        "| path | MB/s one-way | vs the copy relay | CPU s per GB (this process + the relay's) \
         | bytes | seconds |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (via, row) in rows {
        match row {
            Ok(r) => {
                let mbs = rate(&r);
                let gb = r.bytes as f64 / 1e9;
                println!(
                    "| {} | {mbs:.0}{} | {} | {:.2}{} | {} | {:.2} |",
                    via.label(),
                    if r.complete {
                        ""
                    } else {
                        " (incomplete: time limit)"
                    },
                    copy.map_or("—".into(), |c| format!("{:.0}%", 100.0 * mbs / c)),
                    r.cpu / gb,
                    r.relay_cpu
                        .map_or(String::new(), |h| format!(" + {:.2}", h / gb)),
                    r.bytes,
                    r.secs,
                );
            }
            Err(e) if via == Bulk::Haproxy => {
                eprintln!("haproxy: {e}");
                println!(
                    "| {} | haproxy: not available ({}) | | | | |",
                    via.label(),
                    e.lines().last().unwrap_or("").replace('|', "/")
                );
            }
            Err(e) => println!("| {} | error: {e} | | | | |", via.label()),
        }
    }
    println!();
}

pub(crate) fn part_memory(
    rt: &tokio::runtime::Runtime,
    s: &Settings,
    soft: u64,
    want_fds: u64,
    have_haproxy: bool,
    json: &mut BenchJson,
) {
    let sessions = if soft >= want_fds {
        s.sessions
    } else {
        (soft.saturating_sub(FD_SPARE) / 2) as usize
    };
    // 4. Memory.
    println!("## 4. Memory of idle sessions\n");
    if sessions < s.sessions {
        let (_, hard) = nofile_limits();
        println!(
            "**Note: {} idle sessions need about {want_fds} descriptors in the relay process \
             and in this one, but the limit is {soft} (hard limit {hard}) and raising it \
             was refused (above the hard limit it needs `CAP_SYS_RESOURCE`), so {sessions} \
             sessions are measured. \
             For the full count run `ulimit -n {}` first (needs a hard limit that high).**\n",
            s.sessions,
            want_fds + 800
        );
    }
    println!(
        "Each relay runs alone in a fresh process (the IMtegrity relay and the copy relay are \
         this binary re-executed; HAProxy is its own). {sessions} clients connect through it, \
         read the hello, send a plain hello and idle; the fake upstream (in this process) \
         sends its hello and holds each connection unread. RSS = `VmRSS` of the relay \
         process (KiB = 1024 bytes); socket buffers are kernel memory and not in it.\n"
    );
    println!("| relay | RSS idle | RSS with {sessions} idle sessions | KiB per idle session |");
    println!("|---|---:|---:|---:|");
    let mut measured = Vec::new();
    for host in Host::ALL {
        match memory(rt, host, sessions, s) {
            Ok(m) => {
                let per_session =
                    m.loaded_kib.saturating_sub(m.idle_kib) as f64 / m.sessions.max(1) as f64;
                println!(
                    "| {} | {:.1} MiB | {:.1} MiB | {:.1} |",
                    host.label(),
                    m.idle_kib as f64 / 1024.0,
                    m.loaded_kib as f64 / 1024.0,
                    per_session,
                );
                measured.push((host, per_session));
            }
            Err(e) if host == Host::Haproxy && !have_haproxy => {
                eprintln!("haproxy: {e}");
                println!("| {} | haproxy: not available | | |", host.label());
            }
            Err(e) => println!("| {} | error: {e} | | |", host.label()),
        }
    }
    figures::memory(json, &measured);
    let future = rt.block_on(session_future_bytes());
    println!(
        "\nOne IMtegrity session's `run_session` future is {future} bytes (its task holds it \
         for the session's life); beside it an idle session keeps its state and its legs' \
         halves (one heap block) and its sockets, and no read or write buffer: a leg takes \
         one when bytes arrive and gives it back once they are sent. The copy relay \
         allocates two 8 KiB buffers per session (`copy_bidirectional`'s default)."
    );
}
