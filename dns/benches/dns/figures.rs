//! The tables' rows as `IMT_BENCH_JSON` figures (see the `bench_json` crate): each of our rows
//! (`imtegrity run` and the responder alone) beside unbound's cell from the same run, which
//! the tables' percentages compare with too. unbound's and dnsmasq's own rows are peers, not
//! ours, so they are not written as figures; a row whose unbound was not measured has no peer.
//!
//! Per row: redirected, forwarded (cached) and `-c 4 -T 2` QPS; RSS after load; the server's
//! CPU per answer (user + system) in each of the three runs. Latencies are left out: with
//! 100 queries outstanding they are ≈ 100 / QPS.

use bench_json::{BenchJson, Better, Figure};

use crate::dnsperf::Perf;
use crate::measure::Measured;
use crate::servers::Row;

/// The peer's name in every figure.
const PEER: &str = "unbound";

/// Each of our rows' cells, unbound's same cell as the peer.
pub(crate) fn write(json: &mut BenchJson, results: &[(Row, Result<Measured, String>)]) {
    let unbound = results.iter().find_map(|(r, m)| match (r, m) {
        (Row::Unbound, Ok(m)) => Some(m),
        _ => None,
    });
    let cpu = |p: &Perf| {
        let (user, system, _) = p.per_query();
        user + system
    };
    type Run = fn(&Measured) -> &Perf;
    let runs: [(&str, Run); 3] = [
        ("redirected", |m| &m.redirected),
        ("forwarded (cached)", |m| &m.forwarded),
        ("redirected -c 4 -T 2", |m| &m.wide),
    ];
    for (row, m) in results {
        if matches!(row, Row::Unbound | Row::Dnsmasq) {
            continue;
        }
        let Ok(m) = m else { continue };
        let label = row.label().replace('`', "");
        for (run, perf) in runs {
            one(
                json,
                &format!("{run} QPS, {label}"),
                "answers/s",
                Better::Higher,
                perf(m).qps,
                unbound.map(|u| perf(u).qps),
            );
        }
        one(
            json,
            &format!("RSS after load, {label}"),
            "KiB",
            Better::Lower,
            m.rss_kib.0 as f64,
            unbound.map(|u| u.rss_kib.0 as f64),
        );
        for (run, perf) in runs {
            one(
                json,
                &format!("server CPU per answer (user + system), {run}, {label}"),
                "µs",
                Better::Lower,
                cpu(perf(m)),
                unbound.map(|u| cpu(perf(u))),
            );
        }
    }
}

fn one(json: &mut BenchJson, what: &str, unit: &str, better: Better, ours: f64, peer: Option<f64>) {
    json.figure(&Figure {
        what,
        unit,
        better,
        ours,
        peer: peer.map(|_| PEER),
        peer_value: peer,
    })
    .expect("IMT_BENCH_JSON");
}
