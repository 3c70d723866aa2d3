//! The DNS query log as an operator reads it on the gateway's stderr: `dns.query_log =
//! "every"` writes one line per redirected answer (client, name, view, answer), `"first"` one
//! per client, name and view within the TTL, `"off"` none, while forwarded names never get a
//! redirect line. Real `dig` queries against `imtegrity run`.
//!
//! Needs dig (tests/peers/install.sh); skipped locally without it, a failure in CI.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;

use imtegrity_harness::Binary;
use imtegrity_harness::dns::{DIG, LoggedGateway};
use tokio::process::Command;

const IMTEGRITY: Binary = Binary::at(env!("CARGO_BIN_EXE_imtegrity"));

/// Runs a gateway with `query_log = mode`, asks `names` in order, stops it, and returns its
/// stderr.
async fn log_of(mode: &str, names: &[&str]) -> String {
    let query_log = format!("dns.query_log={mode}");
    let gw = LoggedGateway::start(IMTEGRITY, &["dns.health_interval_secs=0", &query_log]).await;
    let dns = gw.dns;
    for name in names {
        // The answers themselves are tests/dns.rs's business; here only the log counts.
        Command::new(DIG)
            .arg(format!("@{}", dns.ip()))
            .args([
                "-p",
                &dns.port().to_string(),
                name,
                "+tries=1",
                "+time=3",
                "+short",
            ])
            .stdout(Stdio::null())
            .status()
            .await
            .unwrap();
    }
    gw.stop().await
}

fn redirect_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains("imtegrity::dns::query") && l.contains("redirected"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_query_log_shows_every_first_or_no_redirected_answer() {
    if !imtegrity_harness::tools_present("query log", &[DIG]) {
        return;
    }
    let names = [
        "login.oscar.aol.com",
        "LOGIN.oscar.aol.com",
        "login.oscar.aol.com",
        "slogin.oscar.aol.com",
        "www.example.test",
    ];

    let every = log_of("every", &names).await;
    let lines = redirect_lines(&every);
    assert_eq!(lines.len(), 4, "{every}");
    for field in [
        "client=127.0.0.1",
        "name=\"login.oscar.aol.com\"",
        "view=default",
        "answer=[127.0.0.1]",
    ] {
        assert!(lines[0].contains(field), "{field} missing: {}", lines[0]);
    }
    assert!(!every.contains("www.example.test\" qtype"), "{every}");

    // Names are compared lower-cased: the three login lookups are one.
    // The forwarded name (which waits for the dead upstream) only needs asking once.
    let names = &names[..4];
    let first = log_of("first", names).await;
    let lines = redirect_lines(&first);
    assert_eq!(lines.len(), 2, "{first}");
    assert!(lines[1].contains("slogin.oscar.aol.com"), "{first}");

    let off = log_of("off", names).await;
    assert_eq!(redirect_lines(&off), Vec::<&str>::new(), "{off}");
}
