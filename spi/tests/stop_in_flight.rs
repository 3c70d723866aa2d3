//! `Shipper::stop` ends a request in flight at once, whatever it waits on: a gateway that
//! accepted and never answers (plain HTTP, waiting for the answer), one that never speaks
//! TLS (waiting in the handshake), and one that never reads a large batch (blocked in a
//! write, plain and over TLS). A thread left in a socket call inside a library the server
//! is about to unload would crash it.
//!
//! Every test runs with SIGPIPE at its default disposition, as in the Sametime server (a C
//! process; Rust ignores SIGPIPE only for its own binaries): stopping a blocked write shuts
//! its socket down, and a write on a shut-down socket is EPIPE, which is SIGPIPE unless the
//! write says `MSG_NOSIGNAL`. If the shipper wrote without it, this test binary would die
//! of the signal.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sample_event;

use std::io::Read as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use certs::{Ca, Issuer, KeyKind, NameScope, SystemClock};
use imtegrity_stchatlog::ship_tls::ShipTls;
use imtegrity_stchatlog::shipper::{Shipper, ShipperConfig};
use imtegrity_stchatlog::{RecordSink, Spool};
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject as _;
use sample_event::event;
use time::OffsetDateTime;

const TOKEN: &str = "stop-in-flight-token-5b1d9e3a7c";
const NAME: &str = "ingest.imtegrity.test";
/// Far longer than any stop may take: only stopping can end these requests in time.
const IO_TIMEOUT: Duration = Duration::from_secs(60);
const BOUND: Duration = Duration::from_secs(2);

/// SIGPIPE as a C host leaves it (see the module's documentation).
fn sigpipe_default() {
    // SAFETY: SIG_DFL is a valid disposition for SIGPIPE; no handler of ours is involved.
    let previous = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    assert_ne!(previous, libc::SIG_ERR);
}

/// A spool holding one record of `text_bytes` bytes of text (twice that in the body: the
/// text and its raw form).
fn spool_with(dir: &Path, text_bytes: usize) -> Arc<Spool> {
    let spool = Arc::new(Spool::open(dir).unwrap());
    spool.append(&event(&"x".repeat(text_bytes))).unwrap();
    spool
}

/// A batch far larger than the socket buffers of both ends (a few MiB on loopback when
/// the receiver does not read): its write blocks until the gateway reads.
const LARGE: usize = 12 << 20;

fn config(addr: SocketAddr, tls: Option<ShipTls>) -> ShipperConfig {
    let mut c = ShipperConfig::new(addr.to_string(), TOKEN);
    c.tls = tls;
    c.io_timeout = IO_TIMEOUT;
    c.backoff_min = Duration::from_millis(20);
    c.backoff_max = Duration::from_millis(200);
    c
}

/// A gateway that accepts connections and hands each to the test, which holds it open
/// without answering.
fn silent_gateway() -> (SocketAddr, Receiver<TcpStream>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            if tx.send(stream).is_err() {
                return;
            }
        }
    });
    (addr, rx)
}

/// A gateway CA (written to `dir/ca.pem`) and a TLS server configuration for [`NAME`]
/// under it.
fn gateway_ca(dir: &Path) -> (std::path::PathBuf, Arc<rustls::ServerConfig>) {
    let scope = NameScope::permitted(["imtegrity.test"]).unwrap();
    let ca = Arc::new(
        Ca::create(
            KeyKind::EcdsaP256,
            &scope,
            "Stop test CA",
            OffsetDateTime::now_utc(),
        )
        .unwrap(),
    );
    let path = dir.join("ca.pem");
    std::fs::write(&path, ca.cert_pem()).unwrap();
    let issuer = Issuer::new(
        ca,
        NameScope::permitted([NAME]).unwrap(),
        time::Duration::hours(1),
        Arc::new(SystemClock),
    )
    .unwrap();
    let leaf = issuer.issue(NAME).unwrap();
    let key = PrivateKeyDer::from_pem_slice(leaf.key_pem().as_bytes()).unwrap();
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(leaf.chain().to_vec(), key)
    .unwrap();
    (path, Arc::new(server))
}

/// Stops `shipper` and checks it stopped promptly, well within the bound, with the record
/// still in the spool.
fn stop_promptly(shipper: Shipper, spool: &Spool) {
    let started = Instant::now();
    assert!(
        shipper.stop(BOUND),
        "the shipper did not stop within {BOUND:?}"
    );
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "stopping took {took:?}");
    assert_eq!(spool.len(), 1, "an unanswered batch is kept");
}

#[test]
fn a_gateway_that_never_answers_is_left_at_once() {
    sigpipe_default();
    let dir = tempfile::tempdir().unwrap();
    let spool = spool_with(dir.path(), 10);
    let (addr, accepted) = silent_gateway();
    let shipper = Shipper::start(Arc::clone(&spool), config(addr, None)).unwrap();
    let mut held = accepted.recv_timeout(Duration::from_secs(10)).unwrap();
    // The whole request arrives, so the shipper is waiting for the answer.
    held.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut request = Vec::new();
    let mut chunk = [0u8; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = held.read(&mut chunk).unwrap();
        assert!(n > 0, "the shipper closed before its request was sent");
        request.extend_from_slice(&chunk[..n]);
    }
    assert!(request.starts_with(b"POST /ingest/v1 HTTP/1.1\r\n"));
    std::thread::sleep(Duration::from_millis(200));
    stop_promptly(shipper, &spool);
}

#[test]
fn a_gateway_that_never_speaks_tls_is_left_in_the_handshake() {
    sigpipe_default();
    let dir = tempfile::tempdir().unwrap();
    let spool = spool_with(dir.path(), 10);
    let (ca, _) = gateway_ca(dir.path());
    let (addr, accepted) = silent_gateway();
    let tls = ShipTls::load(&ca, NAME, None).unwrap();
    let shipper = Shipper::start(Arc::clone(&spool), config(addr, Some(tls))).unwrap();
    let mut held = accepted.recv_timeout(Duration::from_secs(10)).unwrap();
    // The ClientHello's record header: the shipper now waits for the ServerHello.
    held.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut hello = [0u8; 3];
    held.read_exact(&mut hello).unwrap();
    assert_eq!(hello[0], 0x16, "not a TLS handshake record: {hello:?}");
    std::thread::sleep(Duration::from_millis(200));
    stop_promptly(shipper, &spool);
}

#[test]
fn a_gateway_that_never_reads_a_large_batch_is_left_mid_write() {
    sigpipe_default();
    let dir = tempfile::tempdir().unwrap();
    let spool = spool_with(dir.path(), LARGE);
    let (addr, accepted) = silent_gateway();
    let shipper = Shipper::start(Arc::clone(&spool), config(addr, None)).unwrap();
    let _held = accepted.recv_timeout(Duration::from_secs(10)).unwrap();
    // Time to fill both sockets' buffers; the write then blocks.
    std::thread::sleep(Duration::from_millis(500));
    stop_promptly(shipper, &spool);
}

#[test]
fn a_tls_gateway_that_never_reads_a_large_batch_is_left_mid_write() {
    sigpipe_default();
    let dir = tempfile::tempdir().unwrap();
    let spool = spool_with(dir.path(), LARGE);
    let (ca, server) = gateway_ca(dir.path());
    let (addr, accepted) = silent_gateway();
    let tls = ShipTls::load(&ca, NAME, None).unwrap();
    let shipper = Shipper::start(Arc::clone(&spool), config(addr, Some(tls))).unwrap();
    let mut held = accepted.recv_timeout(Duration::from_secs(10)).unwrap();
    // Completes the handshake, then reads nothing more: the batch's records block.
    held.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut conn = rustls::ServerConnection::new(server).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut held).unwrap();
    }
    std::thread::sleep(Duration::from_millis(500));
    stop_promptly(shipper, &spool);
}
