//! Load, init, terminate, unload, again: what a Sametime server that reloads its chat-logging
//! black box does. The library's own threads (the spool's writer and the shipper) are
//! joined at each Terminate, so a cycle leaks nothing: none of ours is left after an
//! unload, the thread count after the second cycle is the count after every later one, and
//! each cycle's records are in the spool.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod c_host_harness;
mod line_host_driver;

use line_host_driver::{Host, build_line_host};

#[test]
fn repeated_load_init_terminate_unload_cycles_leak_no_threads() {
    let work = tempfile::tempdir().expect("temp dir");
    let host = build_line_host(work.path());
    let spool = work.path().join("spool");
    let config = work.path().join("imtegrity_stchatlog.toml");
    // A gateway nobody listens on: the shipper thread runs (and retries) in every cycle,
    // and Terminate must join it each time (after trying to ship for 300 ms).
    std::fs::write(
        &config,
        format!(
            "spool = {:?}\nterminate_timeout_ms = 300\n[gateway]\naddress = \"127.0.0.1:9\"\ntoken = \"cycle-token-0123456789\"\n",
            spool.display().to_string()
        ),
    )
    .expect("write config");
    let mut h = Host::start(&host, &config);
    let mut after_cycle = Vec::new();
    let mut during = Vec::new();
    for cycle in 0..6 {
        h.ok("init");
        // A new thread names itself once it runs, a moment after Init returned.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        let mut ours = h.threads().1;
        while ours != 2 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
            ours = h.threads().1;
        }
        during.push(ours);
        let sid = format!("cycle{cycle}");
        h.ok(&format!("start {sid}"));
        h.ok(&format!("join {sid} alice"));
        h.ok(&format!("join {sid} bob"));
        h.ok(&format!("msg {sid} alice bob hello {cycle}"));
        h.ok(&format!("end {sid}"));
        h.ok("term");
        h.ok("reload");
        let (all, ours) = h.threads();
        assert_eq!(
            ours, 0,
            "cycle {cycle}: a thread of ours outlived terminate and unload"
        );
        after_cycle.push(all);
    }
    h.finish();
    assert!(
        during.iter().all(|&n| n == 2),
        "the spool's writer and the shipper while initialised: {during:?}"
    );
    let settled = after_cycle[1];
    assert!(
        after_cycle[1..].iter().all(|&n| n == settled),
        "threads after each cycle: {after_cycle:?}"
    );
    let texts: Vec<String> = imtegrity_stchatlog::Spool::read_all(&spool)
        .expect("read spool")
        .into_iter()
        .filter(|e| e.kind == archive::Kind::Im)
        .map(|e| e.text)
        .collect();
    let want: Vec<String> = (0..6).map(|c| format!("hello {c}")).collect();
    assert_eq!(texts, want);
}
