//! The spool shipped to the gateway's real ingest endpoint (`archive_servers::serve_ingest`, what
//! `imtegrity run` serves for `[ingest]`), in process on loopback, with the C host playing
//! the Sametime server. Across three runs of the host, with the endpoint gone during the
//! second, the archive never holds more records than were produced (a resend after a lost
//! answer is not stored twice), nothing arrives while the endpoint is gone, and once the
//! spool has drained (the library's shipper, run in process at the end) the archive holds
//! exactly what was produced: nothing lost, nothing doubled.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod c_host_harness;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use c_host_harness::{HOST_RECORDS, build_host, library};
use std::time::Duration;

use archive::{Archive, ArchiveOptions, Protocol, Query};
use std::sync::Arc;

use imtegrity_stchatlog::Spool;
use imtegrity_stchatlog::shipper::{Shipper, ShipperConfig};

const TOKEN: &str = "real-ingest-token-0123456789";

/// One run of the host shipping to `gateway`; returns how many records it produced.
fn run_host(host: &Path, spool: &Path, gateway: SocketAddr) -> usize {
    let output = Command::new(host)
        .arg(library())
        .env("IMTEGRITY_SPI_SPOOL", spool)
        .env("IMTEGRITY_SPI_GATEWAY", gateway.to_string())
        .env("IMTEGRITY_SPI_TOKEN", TOKEN)
        .env_remove("IMTEGRITY_SPI_TOKEN_FILE")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "host: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // What the C host produces per run (its own test checks the spool holds exactly this).
    HOST_RECORDS
}

fn archived(archive: &Archive) -> usize {
    archive
        .search(&Query::default())
        .filter(|r| r.as_ref().unwrap().event.protocol == Protocol::Sametime)
        .count()
}

// This test found two ways the archive lost shipped records, both fixed: a spool's first
// seq is 0, which the once-per-seq check took for "already stored"; and the ingest endpoint
// queued a request's appends with join_all, which does not keep their order, so a later seq
// could be stored first and the earlier ones then taken for resends.
#[test]
fn the_spool_drains_into_the_archive_exactly_once_across_an_outage() {
    let dir = tempfile::tempdir().unwrap();
    let host = build_host(dir.path());
    let spool = dir.path().join("spool");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let archive = Archive::open(&dir.path().join("archive"), ArchiveOptions::default()).unwrap();
    let start = |addr: SocketAddr| {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(addr))
            .unwrap();
        let bound = listener.local_addr().unwrap();
        runtime.spawn(archive_servers::serve_ingest(
            listener,
            archive.clone(),
            TOKEN.to_owned(),
            async move {
                let _ = stopped.await;
            },
        ));
        (bound, stop)
    };
    let (addr, stop) = start(SocketAddr::from(([127, 0, 0, 1], 0)));

    let mut produced = run_host(&host, &spool, addr);
    let check = |produced: usize| {
        runtime.block_on(archive.sync()).unwrap();
        let in_archive = archived(&archive);
        let in_spool = Spool::read_all(&spool).unwrap().len();
        // A record may be in both (stored, its answer cut by terminate): resent later and
        // recognised then. Never more in the archive than produced, nothing missing.
        assert!(
            in_archive <= produced,
            "archive {in_archive} > produced {produced}"
        );
        assert!(
            in_archive + in_spool >= produced,
            "archive {in_archive} + spool {in_spool} < produced {produced}: lost"
        );
        in_archive
    };
    let first = check(produced);
    assert!(first > 0, "nothing shipped while the gateway was up");

    // The gateway goes away: the next run spools everything it writes.
    stop.send(()).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    produced += run_host(&host, &spool, addr);
    let during = check(produced);
    assert_eq!(
        during, first,
        "nothing can arrive while the gateway is down"
    );

    // It comes back on the same address: the next run drains the backlog with its own.
    let (again, _stop) = start(addr);
    assert_eq!(again, addr);
    produced += run_host(&host, &spool, addr);
    let after = check(produced);
    // How much ships during a run is a matter of timing; that it resumed is not.
    assert!(after > during, "nothing shipped once the gateway was back");

    // What the last terminate wrote (and anything whose answer was cut) ships with the
    // library's own shipper; then the archive holds exactly what was produced.
    let spooled = Arc::new(Spool::open(&spool).unwrap());
    let shipper = Shipper::start(
        Arc::clone(&spooled),
        ShipperConfig::new(addr.to_string(), TOKEN),
    )
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !spooled.is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(shipper.stop(Duration::from_secs(2)));
    assert_eq!(spooled.len(), 0, "the spool did not drain");
    runtime.block_on(archive.sync()).unwrap();
    assert_eq!(archived(&archive), produced, "lost or doubled records");
    assert!(archive.verify().unwrap().is_intact());
}
