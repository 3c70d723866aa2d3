//! `stDdaClTerminate` ships what it can within `terminate_timeout_ms`: with a
//! live gateway, nothing is left in the spool, even when the shipper was waiting out a long
//! backoff after the gateway had refused for a while. The library is loaded by a C host
//! (`tests/host/line_host.c`); the gateway is the fake one, on loopback.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod c_host_harness;
mod fake_gateway;
mod line_host_driver;

use std::time::Duration;

use fake_gateway::FakeGateway;
use imtegrity_stchatlog::Spool;
use imtegrity_stchatlog::spool_inspect::summary;
use line_host_driver::{Host, build_line_host};

const TOKEN: &str = "terminate-token-3c9e1a7f5b2d4e60";

#[test]
fn terminate_with_a_live_gateway_leaves_nothing_in_the_spool() {
    let work = tempfile::tempdir().unwrap();
    let host = build_line_host(work.path());
    let spool = work.path().join("spool");
    // Seven refusals: the shipper's backoff doubles from 100 ms to its 5 s cap, longer
    // than Terminate's 3 s, so only Terminate cutting the backoff short ships in time.
    let gateway = FakeGateway::start("127.0.0.1:0".parse().unwrap(), TOKEN, &[503; 7]);
    let config = work.path().join("imtegrity_stchatlog.toml");
    std::fs::write(
        &config,
        format!(
            "spool = {:?}\nnode = \"st-test\"\n[gateway]\naddress = \"{}\"\ntoken = \"{TOKEN}\"\n",
            spool.display().to_string(),
            gateway.addr
        ),
    )
    .unwrap();
    let mut h = Host::start(&host, &config);
    h.ok("init");
    h.ok("start s1");
    h.ok("join s1 alice");
    h.ok("join s1 bob");
    for i in 0..20 {
        h.ok(&format!("msg s1 alice bob before terminate {i}"));
    }
    gateway.wait_for("seven refusals", |st| st.requests.len() >= 7);
    assert_eq!(gateway.stored(), 0);
    // The session is still open: Terminate's own session_end record ships too.
    let term = h.call("term");
    assert_eq!(term.rc, 0, "{term:?}");
    assert!(
        term.took < Duration::from_secs(3) + Duration::from_secs(2),
        "Terminate took {:?}",
        term.took
    );
    assert_eq!(
        summary(&spool).unwrap().records,
        0,
        "Terminate left records in the spool"
    );
    // session_start, 20 messages, and the session_end Terminate wrote.
    let kinds: Vec<archive::Kind> = gateway
        .state
        .lock()
        .unwrap()
        .stored
        .values()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds.len(), 22, "{kinds:?}");
    assert_eq!(kinds.last(), Some(&archive::Kind::SessionEnd), "{kinds:?}");
    assert_eq!(gateway.state.lock().unwrap().duplicates, 0);
    h.finish();
    assert!(Spool::read_all(&spool).unwrap().is_empty());
}
