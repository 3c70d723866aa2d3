//! Each part's rows as `IMT_BENCH_JSON` figures (see the `bench_json` crate): what the tables
//! print, with the peer measured in the same run.
//!
//! * IMs/s and CPU µs per IM of every relay route, with the direct route of the same N as
//!   the peer.
//! * Round-trip p50 and p99 of every relay route: the relay without an archive is the peer of
//!   the archiving routes (what capture adds), the direct route the peer of the relay without
//!   an archive (what relaying adds); a route whose peer did not run falls back to direct.
//! * Bulk MB/s and KiB per idle session of the IMtegrity relay, once against the copy relay
//!   and once against HAProxy; where HAProxy is not available that figure has no peer.

use bench_json::{BenchJson, Better, Figure};

use crate::bulk::{Bulk, BulkRow};
use crate::gateway::Route;
use crate::ims::ImRow;
use crate::memory::Host;

/// Appends one figure; `peer` is the peer's name and figure, if it ran.
fn write(
    json: &mut BenchJson,
    what: &str,
    unit: &str,
    better: Better,
    ours: f64,
    peer: Option<(&str, f64)>,
) {
    // The labels' Markdown backticks stay in the tables.
    let peer_name = peer.map(|(name, _)| name.replace('`', ""));
    json.figure(&Figure {
        what: &what.replace('`', ""),
        unit,
        better,
        ours,
        peer: peer_name.as_deref(),
        peer_value: peer.map(|(_, value)| value),
    })
    .expect("IMT_BENCH_JSON");
}

fn pairs_label(pairs: usize) -> String {
    format!("{pairs} pair{}", if pairs == 1 { "" } else { "s" })
}

/// Part 1: every relay route's rate and CPU per IM, beside the direct route's with the same
/// number of pairs.
pub(crate) fn ims(json: &mut BenchJson, rows: &[(Route, usize, Result<ImRow, String>)]) {
    let ok = |route: Route, pairs: usize| {
        rows.iter()
            .find(|(r, p, _)| *r == route && *p == pairs)
            .and_then(|(_, _, row)| row.as_ref().ok())
    };
    let rate = |r: &ImRow| r.delivered as f64 / r.secs;
    let cpu_per_im = |r: &ImRow| r.cpu * 1e6 / r.delivered.max(1) as f64;
    for (route, pairs, row) in rows {
        let Ok(r) = row else { continue };
        if *route == Route::Direct {
            continue;
        }
        let direct = ok(Route::Direct, *pairs);
        let peer = Route::Direct.label();
        let n = pairs_label(*pairs);
        write(
            json,
            &format!("IMs/s, {}, {n}", route.label()),
            "IMs/s",
            Better::Higher,
            rate(r),
            direct.map(|d| (peer, rate(d))),
        );
        write(
            json,
            &format!("CPU µs per IM (whole process), {}, {n}", route.label()),
            "µs",
            Better::Lower,
            cpu_per_im(r),
            direct.map(|d| (peer, cpu_per_im(d))),
        );
    }
}

/// Part 2: p50 and p99 of each relay route, `rows` holding every route measured.
pub(crate) fn latency(json: &mut BenchJson, rows: &[(Route, f64, f64)]) {
    let find = |route: Route| rows.iter().find(|(r, _, _)| *r == route);
    for &(route, p50, p99) in rows {
        let peer = match route {
            Route::Direct => continue,
            Route::NoArchive => find(Route::Direct),
            _ => find(Route::NoArchive).or_else(|| find(Route::Direct)),
        };
        for (name, ours, theirs) in [
            ("p50", p50, peer.map(|p| p.1)),
            ("p99", p99, peer.map(|p| p.2)),
        ] {
            write(
                json,
                &format!("round trip {name}, {}", route.label()),
                "ms",
                Better::Lower,
                ours,
                peer.zip(theirs).map(|(p, v)| (p.0.label(), v)),
            );
        }
    }
}

/// Part 3: the IMtegrity relay's MB/s against the copy relay's and HAProxy's.
pub(crate) fn bulk(json: &mut BenchJson, rows: &[(Bulk, Result<BulkRow, String>)]) {
    let rate = |via: Bulk| {
        rows.iter()
            .find(|(v, _)| *v == via)
            .and_then(|(_, r)| r.as_ref().ok())
            .map(|r| r.bytes as f64 / r.secs / 1e6)
    };
    let Some(ours) = rate(Bulk::Imtegrity) else {
        return;
    };
    for (peer, against) in [(Bulk::Copy, "the copy relay"), (Bulk::Haproxy, "HAProxy")] {
        write(
            json,
            &format!(
                "bulk MB/s one-way, {}, against {against}",
                Bulk::Imtegrity.label()
            ),
            "MB/s",
            Better::Higher,
            ours,
            rate(peer).map(|v| (peer.label(), v)),
        );
    }
}

/// Part 4: the IMtegrity relay's KiB per idle session against the copy relay's and
/// HAProxy's; `rows` holds each relay that was measured.
pub(crate) fn memory(json: &mut BenchJson, rows: &[(Host, f64)]) {
    let per_session = |host: Host| rows.iter().find(|(h, _)| *h == host).map(|(_, v)| *v);
    let Some(ours) = per_session(Host::Imtegrity) else {
        return;
    };
    for (peer, against) in [(Host::Copy, "the copy relay"), (Host::Haproxy, "HAProxy")] {
        write(
            json,
            &format!(
                "KiB per idle session, {}, against {against}",
                Host::Imtegrity.label()
            ),
            "KiB",
            Better::Lower,
            ours,
            per_session(peer).map(|v| (peer.label(), v)),
        );
    }
}
