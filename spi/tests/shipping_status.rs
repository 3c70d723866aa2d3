//! Shipping failures are not only a line on stderr (the library's side): while
//! the gateway refuses, every call's `appRetMsg` says so (the call itself still succeeds),
//! the timer warns, and `status.json` beside the spool has the last error; a corrected
//! token in the configuration file is picked up on the timer, without a restart. The
//! library is loaded by a C host (`tests/host/line_host.c`); the gateway is the fake one.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod c_host_harness;
mod fake_gateway;
mod line_host_driver;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use fake_gateway::FakeGateway;
use imtegrity_stchatlog::ship_status::ShipStatus;
use line_host_driver::{Host, build_line_host};

const TOKEN: &str = "status-token-7d1e9b3a5c2f4068";
const SEV_OK: i32 = 0;
const SEV_WARNING: i32 = 2;

fn write_config(config: &Path, spool: &Path, gateway: SocketAddr, token: &str) {
    std::fs::write(
        config,
        format!(
            "spool = {:?}\nnode = \"st-test\"\n[gateway]\naddress = \"{gateway}\"\ntoken = \"{token}\"\n",
            spool.display().to_string()
        ),
    )
    .unwrap();
}

/// Polls `status.json` (at most 10 s) until `done` holds.
fn wait_for_status(spool: &Path, what: &str, done: impl Fn(&ShipStatus) -> bool) -> ShipStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    // At most 10 s (the deadline) and 400 tries.
    for _ in 0..400 {
        if let Ok(Some(status)) = ShipStatus::read(spool)
            && done(&status)
        {
            return status;
        }
        assert!(Instant::now() < deadline, "status.json never showed {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("status.json never showed {what} in 400 tries");
}

#[test]
fn a_refusing_gateway_is_reported_and_a_corrected_token_is_picked_up_without_a_restart() {
    let work = tempfile::tempdir().unwrap();
    let host = build_line_host(work.path());
    let spool = work.path().join("spool");
    let gateway = FakeGateway::start("127.0.0.1:0".parse().unwrap(), TOKEN, &[]);
    let config = work.path().join("imtegrity_stchatlog.toml");
    write_config(&config, &spool, gateway.addr, "a-wrong-token-0000000000");
    let mut h = Host::start(&host, &config);
    h.ok("init");
    h.ok("start s1");
    h.ok("join s1 alice");
    h.ok("join s1 bob");
    h.ok("msg s1 alice bob while refused");
    let status = wait_for_status(&spool, "the 401", |s| s.failing_since_ns.is_some());
    assert!(
        status
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("401"),
        "{status:?}"
    );
    assert!(status.backlog >= 1, "{status:?}");

    // Every call says it, and still succeeds: the chat is recorded.
    let answer = h.call("msg s1 alice bob still refused");
    assert_eq!((answer.rc, answer.sev), (0, SEV_OK), "{answer:?}");
    assert!(
        answer.msg.starts_with("recorded, but shipping to ") && answer.msg.contains("401"),
        "{answer:?}"
    );
    let timer = h.call("timer");
    assert_eq!(timer.sev, SEV_WARNING, "{timer:?}");
    assert_eq!(gateway.stored(), 0);

    // The operator fixes the token: the next timer call restarts shipping with it. (The
    // file's length changes too, so a coarse modification time cannot hide the edit.)
    write_config(&config, &spool, gateway.addr, TOKEN);
    let timer = h.call("timer");
    assert_eq!(timer.rc, 0, "{timer:?}");
    gateway.wait_for("the records", |st| st.stored.len() == 3);
    let status = wait_for_status(&spool, "shipping again", |s| {
        s.failing_since_ns.is_none() && s.backlog == 0
    });
    assert!(
        status.last_shipped_ns.is_some() && status.last_error.is_none(),
        "{status:?}"
    );
    let answer = h.call("msg s1 alice bob shipped at once");
    assert_eq!(
        (answer.rc, answer.sev, answer.msg.as_str()),
        (0, SEV_OK, ""),
        "{answer:?}"
    );
    h.ok("end s1");
    h.finish();
    assert_eq!(gateway.stored(), 5);
}
