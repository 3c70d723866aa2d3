//! The shipper against a fake gateway (`fake_gateway`): spooled records reach it in order,
//! failures keep them, acknowledged ones leave the spool.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sample_event;

mod fake_gateway;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use fake_gateway::FakeGateway;
use imtegrity_stchatlog::shipper::{Shipper, ShipperConfig};
use imtegrity_stchatlog::{RecordSink, Spool};
use sample_event::event;

const TOKEN: &str = "s3cret-token-9a1c7e5b3d2f4068bc1d";

fn config(addr: SocketAddr, token: &str) -> ShipperConfig {
    let mut c = ShipperConfig::new(addr.to_string(), token);
    c.backoff_min = Duration::from_millis(20);
    c.backoff_max = Duration::from_millis(200);
    c.io_timeout = Duration::from_secs(5);
    c
}

fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn texts(gateway: &FakeGateway) -> Vec<String> {
    let st = gateway.state.lock().unwrap();
    st.stored.values().map(|e| e.text.clone()).collect()
}

#[test]
fn records_spooled_before_the_gateway_exists_ship_once_it_appears() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Arc::new(Spool::open(dir.path()).unwrap());
    // A port nobody listens on yet.
    let addr = TcpListener::bind(localhost())
        .unwrap()
        .local_addr()
        .unwrap();
    for i in 0..3 {
        spool.append(&event(&format!("early {i}"))).unwrap();
    }
    let shipper = Shipper::start(Arc::clone(&spool), config(addr, TOKEN)).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        spool.len(),
        3,
        "nothing is deleted while the gateway is away"
    );

    let gateway = FakeGateway::start(addr, TOKEN, &[]);
    gateway.wait_for("3 records", |st| st.stored.len() == 3);
    assert_eq!(texts(&gateway), ["early 0", "early 1", "early 2"]);
    let requests = gateway.requests();
    assert!(requests.iter().all(|r| r.source == spool.source()));

    // Later records wake the thread at once through its notifier (as the spool's writer
    // thread does after each durable record).
    spool.append(&event("late")).unwrap();
    shipper.notifier().notify();
    gateway.wait_for("the late record", |st| st.stored.len() == 4);
    assert!(shipper.stop(Duration::from_secs(2)));
    assert!(spool.is_empty(), "acknowledged records leave the spool");
    assert_eq!(gateway.state.lock().unwrap().duplicates, 0);
}

#[test]
fn acked_records_leave_the_spool_in_batches_of_at_most_256() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Arc::new(Spool::open(dir.path()).unwrap());
    for i in 0..300 {
        spool.append(&event(&format!("m{i:03}"))).unwrap();
    }
    let gateway = FakeGateway::start(localhost(), TOKEN, &[]);
    let shipper = Shipper::start(Arc::clone(&spool), config(gateway.addr, TOKEN)).unwrap();
    gateway.wait_for("300 records", |st| st.stored.len() == 300);
    assert!(shipper.stop(Duration::from_secs(2)));
    assert!(spool.is_empty());
    let requests = gateway.requests();
    assert_eq!(requests[0].seqs.len(), 256);
    let all: Vec<u64> = requests.iter().flat_map(|r| r.seqs.clone()).collect();
    assert!(
        all.windows(2).all(|w| w[0] < w[1]),
        "spool order, no resend"
    );
    let expected: Vec<String> = (0..300).map(|i| format!("m{i:03}")).collect();
    assert_eq!(texts(&gateway), expected);
}

#[test]
fn a_503_then_200_is_retried_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Arc::new(Spool::open(dir.path()).unwrap());
    for t in ["one", "two"] {
        spool.append(&event(t)).unwrap();
    }
    let gateway = FakeGateway::start(localhost(), TOKEN, &[503, 503]);
    let shipper = Shipper::start(Arc::clone(&spool), config(gateway.addr, TOKEN)).unwrap();
    gateway.wait_for("2 records", |st| st.stored.len() == 2);
    assert!(shipper.stop(Duration::from_secs(2)));
    let statuses: Vec<u16> = gateway.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 503, 200]);
    assert!(gateway.requests().iter().all(|r| r.seqs.len() == 2));
    assert_eq!(texts(&gateway), ["one", "two"]);
    assert!(spool.is_empty());
}

#[test]
fn a_wrong_token_gets_401_and_nothing_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Arc::new(Spool::open(dir.path()).unwrap());
    spool.append(&event("kept")).unwrap();
    let gateway = FakeGateway::start(localhost(), TOKEN, &[]);
    let shipper = Shipper::start(Arc::clone(&spool), config(gateway.addr, "wrong")).unwrap();
    gateway.wait_for("3 attempts", |st| st.requests.len() >= 3);
    assert!(shipper.stop(Duration::from_secs(2)));
    assert!(gateway.requests().iter().all(|r| r.status == 401));
    assert_eq!(gateway.stored(), 0);
    assert_eq!(spool.len(), 1);
    assert_eq!(spool.pending(10, usize::MAX).unwrap()[0].1.text, "kept");
}

#[test]
fn stopping_is_prompt_even_while_backing_off_from_an_absent_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Arc::new(Spool::open(dir.path()).unwrap());
    spool.append(&event("waiting")).unwrap();
    let addr = TcpListener::bind(localhost())
        .unwrap()
        .local_addr()
        .unwrap();
    let mut c = config(addr, TOKEN);
    c.backoff_min = Duration::from_secs(5);
    let shipper = Shipper::start(Arc::clone(&spool), c).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let started = std::time::Instant::now();
    assert!(shipper.stop(Duration::from_secs(2)));
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(spool.len(), 1);
}

/// The operator's drain (`spool_inspect::drain`): a spool the library left behind is
/// shipped and emptied, and its summary says so.
#[test]
fn a_left_behind_spool_is_drained_to_the_gateway() {
    use imtegrity_stchatlog::spool_inspect::{drain, summary};
    let dir = tempfile::tempdir().unwrap();
    {
        let spool = Spool::open(dir.path()).unwrap();
        for i in 0..5 {
            spool.append(&event(&format!("left {i}"))).unwrap();
        }
    }
    assert_eq!(summary(dir.path()).unwrap().records, 5);
    let gateway = FakeGateway::start(localhost(), TOKEN, &[503]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let report = drain(dir.path(), config(gateway.addr, TOKEN), deadline).unwrap();
    assert_eq!((report.before, report.left), (5, 0));
    assert_eq!(summary(dir.path()).unwrap().records, 0);
    let expected: Vec<String> = (0..5).map(|i| format!("left {i}")).collect();
    assert_eq!(texts(&gateway), expected);
}
