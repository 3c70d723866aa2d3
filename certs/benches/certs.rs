//! Certificate benchmark: what minting a leaf costs on first contact (under a P-256 CA and an
//! RSA-2048 CA), what a cached lookup costs, and full TLS handshakes per second against a
//! bare rustls server holding one static certificate versus the same server asking the
//! `CertResolver`. Prints Markdown tables; asserts nothing about time.
//!
//! ```text
//! cargo bench -p certs --bench certs                     # about 20 s
//! IMT_BENCH_QUICK=1 cargo bench -p certs --bench certs   # smoke run, a few seconds
//! ```
//!
//! Everything runs in this process: the handshakes are between a tokio-rustls server and
//! rustls clients on 127.0.0.1, TLS 1.3 (X25519, ECDSA P-256 leaf, ring provider), no
//! resumption and no session tickets, so every handshake is a full one. Each connection
//! carries one byte from the server after the handshake, so both sides have finished.
//! Clients and server share the runtime's workers (one per core): compare rows, not absolute
//! numbers.
//!
//! Environment: `IMT_BENCH_QUICK=1` (smaller counts), `IMT_BENCH_NOTE` (a sentence for the
//! header, e.g. what else loads the machine), `IMT_BENCH_JSON=FILE` (also append every table
//! row to FILE as a JSON line, see the `bench_json` crate: the resolver's handshake rates with
//! the static certificate's as their peer, issuance and lookup costs without one).
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use certs::{Ca, CertResolver, Issuer, KeyKind, LeafCache, NameScope, SystemClock};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

struct Counts {
    p256_leaves: usize,
    rsa_leaves: usize,
    lookups: usize,
    handshakes: usize,
    concurrency: usize,
}

fn quick() -> bool {
    std::env::var_os("IMT_BENCH_QUICK").is_some()
}

fn counts() -> Counts {
    if quick() {
        Counts {
            p256_leaves: 300,
            rsa_leaves: 50,
            lookups: 100_000,
            handshakes: 300,
            concurrency: 4,
        }
    } else {
        Counts {
            p256_leaves: 3_000,
            rsa_leaves: 500,
            lookups: 2_000_000,
            handshakes: 4_000,
            concurrency: 4,
        }
    }
}

fn scope() -> NameScope {
    NameScope::permitted(["oscar.aol.com", "icq.com"]).unwrap()
}

fn issuer(kind: KeyKind) -> Issuer {
    let ca = Ca::create(kind, &scope(), "Bench CA", time::OffsetDateTime::now_utc()).unwrap();
    Issuer::new(
        Arc::new(ca),
        scope(),
        time::Duration::hours(168),
        Arc::new(SystemClock),
    )
    .unwrap()
}

/// Median and 99th percentile of `samples`, in µs.
fn percentiles(samples: &mut [Duration]) -> (f64, f64) {
    samples.sort_unstable();
    let at = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples[i].as_secs_f64() * 1e6
    };
    (at(0.5), at(0.99))
}

/// Mints `n` leaves for new names, `via` the issuer or a cache miss; µs mean, p50, p99.
fn first_contact(kind: KeyKind, n: usize, through_cache: bool) -> (f64, f64, f64) {
    let cache = LeafCache::for_issuer(issuer(kind), n as u64 + 1, time::Duration::hours(24));
    let mut samples = Vec::with_capacity(n);
    let started = Instant::now();
    for i in 0..n {
        let name = format!("h{i}.oscar.aol.com");
        let t = Instant::now();
        if through_cache {
            black_box(cache.get(&name).unwrap());
        } else {
            black_box(cache.source().issue(&name).unwrap());
        }
        samples.push(t.elapsed());
    }
    let mean = started.elapsed().as_secs_f64() * 1e6 / n as f64;
    let (p50, p99) = percentiles(&mut samples);
    (mean, p50, p99)
}

/// ns per cached lookup, cycling over `names` warm names.
fn cached_lookup(n: usize, names: usize) -> f64 {
    let cache = LeafCache::for_issuer(issuer(KeyKind::EcdsaP256), 1024, time::Duration::hours(24));
    let list: Vec<String> = (0..names).map(|i| format!("h{i}.oscar.aol.com")).collect();
    for name in &list {
        cache.get(name).unwrap();
    }
    let started = Instant::now();
    for i in 0..n {
        black_box(cache.get(&list[i % names]).unwrap());
    }
    started.elapsed().as_secs_f64() * 1e9 / n as f64
}

/// What the server presents.
#[derive(Clone, Copy, PartialEq)]
enum Server {
    Static,
    ResolverCached,
    ResolverFirstContact,
}

impl Server {
    fn label(self) -> &'static str {
        match self {
            Self::Static => "bare rustls, one static certificate (`with_single_cert`)",
            Self::ResolverCached => "`CertResolver`, leaf cached (one SNI)",
            Self::ResolverFirstContact => "`CertResolver`, a new SNI every handshake (mints each)",
        }
    }
}

/// Full handshakes per second: `n` in total, `concurrency` clients at a time.
async fn handshakes(server: Server, n: usize, concurrency: usize) -> f64 {
    let issuer = issuer(KeyKind::EcdsaP256);
    let mut roots = RootCertStore::empty();
    roots.add(issuer.ca().cert_der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth();
    let mut config = if server == Server::Static {
        let leaf = issuer.issue("login.oscar.aol.com").unwrap();
        let key = PrivateKeyDer::from_pem_slice(leaf.key_pem().as_bytes()).unwrap();
        builder
            .with_single_cert(leaf.chain().to_vec(), key)
            .unwrap()
    } else {
        let cache = LeafCache::for_issuer(issuer, n as u64 + 16, time::Duration::hours(24));
        builder.with_cert_resolver(Arc::new(CertResolver::new(
            Arc::new(cache),
            "slogin.oscar.aol.com",
        )))
    };
    config.send_tls13_tickets = 0;
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accept = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    let _ = tls.write_all(b"k").await;
                    let _ = tls.shutdown().await;
                }
            });
        }
    });

    let mut client = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.resumption = rustls::client::Resumption::disabled();
    let connector = TlsConnector::from(Arc::new(client));
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (connector, next) = (connector.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return;
                }
                let name = match server {
                    Server::ResolverFirstContact => format!("h{i}.oscar.aol.com"),
                    _ => "login.oscar.aol.com".to_owned(),
                };
                let tcp = TcpStream::connect(addr).await.unwrap();
                tcp.set_nodelay(true).unwrap();
                let mut tls = connector
                    .connect(ServerName::try_from(name).unwrap(), tcp)
                    .await
                    .unwrap();
                let mut byte = [0u8; 1];
                tls.read_exact(&mut byte).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    accept.abort();
    rate
}

/// A figure without a peer measured beside it.
fn alone(
    json: &mut bench_json::BenchJson,
    what: &str,
    unit: &str,
    better: bench_json::Better,
    ours: f64,
) {
    json.figure(&bench_json::Figure {
        what,
        unit,
        better,
        ours,
        peer: None,
        peer_value: None,
    })
    .expect("IMT_BENCH_JSON");
}

fn main() {
    let c = counts();
    let mut json = bench_json::BenchJson::from_env("certs", quick()).expect("IMT_BENCH_JSON");
    println!("# certificate benchmark\n");
    if let Ok(note) = std::env::var("IMT_BENCH_NOTE") {
        println!("{note}\n");
    }
    println!(
        "{} cores; rustls 0.23 with the ring provider; leaves are ECDSA P-256, valid 7 days.\n",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    println!("## Leaf issuance on first contact (one thread)\n");
    println!("| CA key | path | leaves | mean µs | p50 µs | p99 µs | leaves/s |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for (kind, n) in [
        (KeyKind::EcdsaP256, c.p256_leaves),
        (KeyKind::Rsa2048, c.rsa_leaves),
    ] {
        for (through_cache, path) in [(false, "`Issuer::issue`"), (true, "`LeafCache::get`, miss")]
        {
            let (mean, p50, p99) = first_contact(kind, n, through_cache);
            println!(
                "| {kind} | {path} | {n} | {mean:.1} | {p50:.1} | {p99:.1} | {:.0} |",
                1e6 / mean
            );
            alone(
                &mut json,
                &format!(
                    "leaf issuance on first contact, {kind} CA, {}, mean",
                    path.replace('`', "")
                ),
                "µs",
                bench_json::Better::Lower,
                mean,
            );
        }
    }

    println!("\n## Cached lookup (`LeafCache::get`, hit, one thread)\n");
    println!("| warm names | lookups | ns each |");
    println!("|---:|---:|---:|");
    for names in [1, 1000] {
        let ns = cached_lookup(c.lookups, names);
        println!("| {names} | {} | {ns:.0} |", c.lookups);
        alone(
            &mut json,
            &format!("cached lookup (LeafCache::get, hit), {names} warm names"),
            "ns",
            bench_json::Better::Lower,
            ns,
        );
    }

    println!(
        "\n## Full TLS 1.3 handshakes on loopback ({} handshakes, {} clients at a time)\n",
        c.handshakes, c.concurrency
    );
    println!("| server | handshakes/s |");
    println!("|---|---:|");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut rates = Vec::new();
    for server in [
        Server::Static,
        Server::ResolverCached,
        Server::ResolverFirstContact,
    ] {
        let rate = runtime.block_on(handshakes(server, c.handshakes, c.concurrency));
        println!("| {} | {rate:.0} |", server.label());
        rates.push((server, rate));
    }
    // The static certificate is the peer: what a bare rustls server does without a resolver.
    let peer = Server::Static.label().replace('`', "");
    let peer_rate = rates[0].1;
    for (server, rate) in &rates[1..] {
        json.rate(
            &format!(
                "full TLS 1.3 handshakes/s, {}",
                server.label().replace('`', "")
            ),
            "handshakes/s",
            *rate,
            &peer,
            peer_rate,
        )
        .expect("IMT_BENCH_JSON");
    }
}
