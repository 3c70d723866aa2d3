//! TLS handshakes per second through the relay's port versus a bare rustls server, in the
//! same run, with the same server configuration (the gateway CA's `CertResolver`, leaf
//! cached). The relay row pays for what the gateway does on top: the first-byte sniff, the
//! read inside TLS that tells OSCAR from the HTTPS login API, the session task, and the FLAP
//! hello it sends back. Each client sends a FLAP frame first (a keep-alive, so the relay
//! does not go on to an upstream), as libpurple sends its sign-on without waiting, and
//! reads the server's first byte (the bare server's one byte). Prints a Markdown table;
//! asserts nothing about time.
//!
//! ```text
//! cargo bench -p intercept --bench tls                     # about 10 s
//! IMT_BENCH_QUICK=1 cargo bench -p intercept --bench tls   # smoke run
//! ```
//!
//! Clients and servers share this process's runtime (one worker per core) on 127.0.0.1:
//! TLS 1.3, X25519, ECDSA P-256 leaf, ring, no resumption, so every handshake is full.
//! Compare rows, not absolute numbers.
//!
//! With `IMT_BENCH_JSON=FILE` each round's relay rate is also appended to FILE as a JSON
//! line, the bare server's rate of the same round as its peer (see the `bench_json` crate).
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use certs::{Ca, CertResolver, Issuer, KeyKind, LeafCache, NameScope, SystemClock};
use intercept::{Relay, RelaySettings};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_util::sync::CancellationToken;

const CONCURRENCY: usize = 4;

fn quick() -> bool {
    std::env::var_os("IMT_BENCH_QUICK").is_some()
}

fn handshake_count() -> usize {
    if quick() { 300 } else { 4_000 }
}

/// The server side both rows share, and the CA certificate clients trust.
fn server_config() -> (Arc<ServerConfig>, RootCertStore) {
    let scope = NameScope::permitted(["oscar.aol.com"]).unwrap();
    let ca = Ca::create(
        KeyKind::EcdsaP256,
        &scope,
        "Bench CA",
        time::OffsetDateTime::now_utc(),
    )
    .unwrap();
    let issuer = Issuer::new(
        Arc::new(ca),
        scope,
        time::Duration::hours(168),
        Arc::new(SystemClock),
    )
    .unwrap();
    let mut roots = RootCertStore::empty();
    roots.add(issuer.ca().cert_der().clone()).unwrap();
    let cache = LeafCache::for_issuer(issuer, 64, time::Duration::hours(24));
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(CertResolver::new(
                Arc::new(cache),
                "slogin.oscar.aol.com",
            )));
    config.send_tls13_tickets = 0;
    (Arc::new(config), roots)
}

/// A bare tokio-rustls server that reads the client's first bytes after each handshake and
/// answers one byte: the same exchange the relay row does, without the relay.
async fn bare_server(config: Arc<ServerConfig>) -> SocketAddr {
    let acceptor = TlsAcceptor::from(config);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    let mut first = [0u8; 64];
                    let _ = tls.read(&mut first).await;
                    let _ = tls.write_all(b"k").await;
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    addr
}

/// The relay with TLS on, its upstream never reached (clients leave after the hello).
async fn relay_server(config: Arc<ServerConfig>, stop: CancellationToken) -> SocketAddr {
    let relay = Arc::new(
        Relay::new(
            RelaySettings {
                // Both authorizers on a closed local port: a TLS login goes to
                // `upstream_login_tls`, whose default is AOL's name, and looking that up on
                // every handshake (a blocking getaddrinfo each, timing out without a
                // network) is what the relay row measured before.
                upstream_login: SocketAddr::from(([127, 0, 0, 1], 9)).into(),
                upstream_login_tls: SocketAddr::from(([127, 0, 0, 1], 9)).into(),
                tls: Some(intercept::TlsTermination {
                    server: config,
                    presentable: Arc::new(|_: &str| true),
                    fallback_name: "slogin.oscar.aol.com".into(),
                }),
                // Thousands of handshakes a second from one address: the flood limits would
                // (rightly) refuse all but the first burst, as in the relay benchmark.
                limits: intercept::ConnectionLimits {
                    per_address: u32::MAX,
                    per_second: u32::MAX,
                    burst: u32::MAX,
                    max_open: usize::MAX,
                },
                ..RelaySettings::default()
            },
            None,
        )
        .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(intercept::serve(listener, relay, stop));
    addr
}

/// Full handshakes per second against `addr`, `n` in all, [`CONCURRENCY`] at a time; each
/// client sends a FLAP keep-alive and reads the server's first byte.
async fn handshakes(addr: SocketAddr, roots: RootCertStore, n: usize) -> f64 {
    let mut client =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    client.resumption = rustls::client::Resumption::disabled();
    let connector = TlsConnector::from(Arc::new(client));
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let (connector, next) = (connector.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < n {
                let tcp = TcpStream::connect(addr).await.unwrap();
                tcp.set_nodelay(true).unwrap();
                let name = ServerName::try_from("slogin.oscar.aol.com").unwrap();
                let mut tls = connector.connect(name, tcp).await.unwrap();
                // A keep-alive (channel 5, seq 0, no payload): the relay waits past it for
                // the hello, so it reads and answers as the bare server does and goes no
                // further. (A channel-1 hello here made every relay session connect to its
                // authorizer: a login, not a handshake.)
                tls.write_all(&[b'*', 5, 0, 0, 0, 0]).await.unwrap();
                let mut byte = [0u8; 1];
                tls.read_exact(&mut byte).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    n as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let n = handshake_count();
    let mut json = bench_json::BenchJson::from_env("tls", quick()).expect("IMT_BENCH_JSON");
    runtime.block_on(async {
        let (config, roots) = server_config();
        let stop = CancellationToken::new();
        let bare = bare_server(config.clone()).await;
        let relay = relay_server(config, stop.clone()).await;
        // Warm both (the leaf is minted on the first handshake of either; the runtime's
        // threads and the allocator settle: with 20 the first measured round, always the
        // bare server's, often came out 20-40% low).
        handshakes(bare, roots.clone(), 200).await;
        handshakes(relay, roots.clone(), 200).await;
        println!(
            "# TLS handshakes through the relay\n\n{n} full TLS 1.3 handshakes per row, {CONCURRENCY} \
             clients at a time, {} cores shared by clients and server, rows interleaved twice.\n",
            std::thread::available_parallelism().map_or(1, |c| c.get())
        );
        println!("| server | round 1 handshakes/s | round 2 handshakes/s |");
        println!("|---|---:|---:|");
        let mut rows = [
            ("bare tokio-rustls, `CertResolver` (leaf cached), reads then answers", bare, Vec::new()),
            ("IMtegrity relay port (sniff, terminate, read inside TLS, FLAP hello)", relay, Vec::new()),
        ];
        for _ in 0..2 {
            for (_, addr, rates) in &mut rows {
                rates.push(handshakes(*addr, roots.clone(), n).await);
            }
        }
        for (label, _, rates) in &rows {
            println!("| {label} | {:.0} | {:.0} |", rates[0], rates[1]);
        }
        let [(bare, _, bare_rates), (_, _, relay_rates)] = &rows;
        for (round, (ours, peer)) in relay_rates.iter().zip(bare_rates).enumerate() {
            json.rate(
                &format!("full TLS 1.3 handshakes/s through the relay port, round {}", round + 1),
                "handshakes/s",
                *ours,
                &bare.replace('`', ""),
                *peer,
            )
            .expect("IMT_BENCH_JSON");
        }
        stop.cancel();
    });
}
