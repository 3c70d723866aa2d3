//! The spool shipped over TLS and mutual TLS to the gateway's real ingest endpoint
//! (`archive_servers::serve_ingest_with`, terminated with rustls under a gateway CA made by the
//! `certs` crate, as `imtegrity run` does for `[ingest] tls`), in process on loopback:
//! records arrive exactly once; a wrong `server_name` ships nothing and loses nothing
//! until it is fixed; a client certificate from another CA is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod c_host_harness;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use archive::{Archive, ArchiveOptions, Direction, Event, Kind, Protocol, Query, Verdict};

use archive_servers::{IngestAuth, IngestEndpoint, IngestPeer};
use c_host_harness::{
    HOST_RECORDS, VALGRIND_CALL_TIMEOUT, VALGRIND_CHECKED, build_host, have_valgrind, library,
};
use certs::{Ca, Issuer, KeyKind, NameScope, SystemClock};
use imtegrity_stchatlog::config::SpiConfig;
use imtegrity_stchatlog::ship_tls::ShipTls;
use imtegrity_stchatlog::shipper::{Shipper, ShipperConfig};
use imtegrity_stchatlog::{RecordSink, Spool};
use rustls::RootCertStore;
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject as _;
use rustls::server::WebPkiClientVerifier;
use time::OffsetDateTime;
use tokio::runtime::Runtime;

const TOKEN: &str = "tls-ingest-token-0123456789";
/// The endpoint's certificate name: inside the test CA's name constraints.
const NAME: &str = "ingest.imtegrity.test";

/// A gateway CA as `imtegrity ca init --set tls.permitted=[...]` would make, with its
/// certificate written to `dir/ca.pem` for the module.
fn gateway_ca(dir: &Path) -> (Arc<Ca>, PathBuf) {
    let scope = NameScope::permitted(["oscar.aol.com", "imtegrity.test"]).unwrap();
    let ca = Ca::create(
        KeyKind::EcdsaP256,
        &scope,
        "Test gateway CA",
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    let path = dir.join("ca.pem");
    std::fs::write(&path, ca.cert_pem()).unwrap();
    (Arc::new(ca), path)
}

/// A client certificate from `ca` (`imtegrity ca issue-client st1.example.com`), as files.
fn client_cert(ca: &Ca, dir: &Path) -> (PathBuf, PathBuf) {
    let client = ca
        .issue_client(
            "st1.example.com",
            time::Duration::days(1),
            OffsetDateTime::now_utc(),
        )
        .unwrap();
    let (cert, key) = (dir.join("st1.pem"), dir.join("st1.key"));
    client.save(&cert, &key, true).unwrap();
    (cert, key)
}

/// The ingest endpoint over TLS with a leaf for [`NAME`] from `ca`; with `mutual`, client
/// certificates from `ca` required and no token. Stops when the sender is dropped or sent.
fn start_gateway(
    runtime: &Runtime,
    archive: &Archive,
    ca: &Arc<Ca>,
    mutual: bool,
    addr: SocketAddr,
) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let issuer = Issuer::new(
        ca.clone(),
        NameScope::permitted([NAME]).unwrap(),
        time::Duration::hours(1),
        Arc::new(SystemClock),
    )
    .unwrap();
    let leaf = issuer.issue(NAME).unwrap();
    let key = PrivateKeyDer::from_pem_slice(leaf.key_pem().as_bytes()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = if mutual {
        let mut roots = RootCertStore::empty();
        roots.add(ca.cert_der().clone()).unwrap();
        builder.with_client_cert_verifier(
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap(),
        )
    } else {
        builder.with_no_client_auth()
    };
    let server = builder
        .with_single_cert(leaf.chain().to_vec(), key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let endpoint = IngestEndpoint::new(
        archive.clone(),
        if mutual {
            IngestAuth::any_client_cert()
        } else {
            IngestAuth::shared_token(TOKEN)
        },
    );
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(addr))
        .unwrap();
    let bound = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    runtime.spawn(archive_servers::serve_ingest_with(
        listener,
        endpoint,
        move |stream, addr| {
            let accept = acceptor.accept(stream);
            async move {
                let tls = accept.await?;
                let certificate = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .and_then(|c| certs::subject_name(c));
                Ok((tls, IngestPeer { addr, certificate }))
            }
        },
        async move {
            let _ = stopped.await;
        },
    ));
    (bound, stop)
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn archived(runtime: &Runtime, archive: &Archive) -> usize {
    runtime.block_on(archive.sync()).unwrap();
    archive
        .search(&Query::default())
        .filter(|r| r.as_ref().unwrap().event.protocol == Protocol::Sametime)
        .count()
}

fn event(i: usize) -> Event {
    Event {
        time_ns: 1_795_600_000_000_000_000 + i64::try_from(i).unwrap(),
        protocol: Protocol::Sametime,
        kind: Kind::Im,
        conversation: "sametime:a|b".into(),
        sender: "a".into(),
        recipients: vec!["b".into()],
        direction: Direction::Internal,
        local_user: "a".into(),
        room: None,
        client_addr: None,
        node: "st1".into(),
        text: format!("message {i}"),
        raw: format!("message {i}"),
        charset: None,
        verdict: Verdict::Allowed,
        detail: None,
        employee: None,
    }
}

fn fast(mut config: ShipperConfig) -> ShipperConfig {
    config.backoff_min = Duration::from_millis(20);
    config.backoff_max = Duration::from_millis(200);
    config.io_timeout = Duration::from_secs(5);
    config
}

/// Waits until `spool` is empty (or 20 s).
fn drained(spool: &Spool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !spool.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    spool.is_empty()
}

#[test]
fn records_ship_over_tls_with_the_token_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::new().unwrap();
    let archive = Archive::open(&dir.path().join("archive"), ArchiveOptions::default()).unwrap();
    let (ca, ca_pem) = gateway_ca(dir.path());
    let (addr, _stop) = start_gateway(&runtime, &archive, &ca, false, loopback());

    let spool = Arc::new(Spool::open(&dir.path().join("spool")).unwrap());
    let mut config = fast(ShipperConfig::new(addr.to_string(), TOKEN));
    config.tls = Some(ShipTls::load(&ca_pem, NAME, None).unwrap());
    let shipper = Shipper::start(Arc::clone(&spool), config).unwrap();
    for i in 0..300 {
        spool.append(&event(i)).unwrap();
    }
    assert!(drained(&spool), "{} records left in the spool", spool.len());
    assert!(shipper.stop(Duration::from_secs(2)));
    assert_eq!(archived(&runtime, &archive), 300);

    // Plain HTTP to the TLS endpoint ships nothing and keeps the records.
    spool.append(&event(300)).unwrap();
    let shipper = Shipper::start(
        Arc::clone(&spool),
        fast(ShipperConfig::new(addr.to_string(), TOKEN)),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(shipper.stop(Duration::from_secs(2)));
    assert_eq!(spool.len(), 1);
    assert_eq!(archived(&runtime, &archive), 300);
    assert!(archive.verify().unwrap().is_intact());
}

/// The module's configuration file for mutual TLS to `addr`, expecting `server_name`.
fn write_config(
    dir: &Path,
    addr: SocketAddr,
    server_name: &str,
    cert: &Path,
    key: &Path,
) -> PathBuf {
    let path = dir.join(format!("imtegrity_stchatlog.{server_name}.toml"));
    let text = format!(
        "spool = \"spool\"\n[gateway]\naddress = \"{addr}\"\nca = \"ca.pem\"\n\
         server_name = \"{server_name}\"\nclient_cert = \"{}\"\nclient_key = \"{}\"\n",
        cert.display(),
        key.display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// One run of the C host with `config`; what the library wrote to stderr.
fn run_host(host: &Path, config: &Path) -> String {
    run_host_under(&[], host, config)
}

/// As [`run_host`], the host started under `wrapper` (a valgrind command line) if given.
fn run_host_under(wrapper: &[&str], host: &Path, config: &Path) -> String {
    let mut command = match wrapper.split_first() {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(host);
            c
        }
        None => Command::new(host),
    };
    let output = command
        .arg(library())
        .env("IMTEGRITY_SPI_CONFIG", config)
        .env_remove("IMTEGRITY_SPI_SPOOL")
        .env_remove("IMTEGRITY_SPI_GATEWAY")
        .env_remove("IMTEGRITY_SPI_TOKEN")
        .env_remove("IMTEGRITY_SPI_TOKEN_FILE")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "host: {}: {}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn the_c_host_ships_over_mutual_tls_and_a_wrong_name_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let host = build_host(dir.path());
    let runtime = Runtime::new().unwrap();
    let archive = Archive::open(&dir.path().join("archive"), ArchiveOptions::default()).unwrap();
    let (ca, _) = gateway_ca(dir.path());
    let (cert, key) = client_cert(&ca, dir.path());
    let (addr, _stop) = start_gateway(&runtime, &archive, &ca, true, loopback());
    let spool_dir = dir.path().join("spool");

    // The module expects another name: every handshake fails, the spool keeps everything.
    let wrong = write_config(dir.path(), addr, "wrong.imtegrity.test", &cert, &key);
    let stderr = run_host(&host, &wrong);
    // Said with the reason, once per shipper (the host may init more than once), not once
    // per retry.
    let said: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("TLS handshake"))
        .collect();
    assert!((1..=3).contains(&said.len()), "{stderr}");
    assert!(
        said.iter()
            .all(|l| l.contains("wrong.imtegrity.test") && l.contains("not valid for name")),
        "{stderr}"
    );
    assert!(!stderr.contains("stopping"), "{stderr}");
    let produced = Spool::read_all(&spool_dir).unwrap().len();
    assert!(produced > 0, "the host produced nothing");
    assert_eq!(
        archived(&runtime, &archive),
        0,
        "shipped to a gateway of the wrong name"
    );

    // The name fixed: the next run ships its records and the backlog over mutual TLS (no
    // token anywhere); what is left at terminate drains with the library's own shipper,
    // configured from the same file. Every record arrives once.
    let right = write_config(dir.path(), addr, NAME, &cert, &key);
    run_host(&host, &right);
    let config = SpiConfig::read(&right).unwrap();
    let shipper_config = fast(ShipperConfig::from_config(&config).unwrap().unwrap());
    assert!(shipper_config.token.is_none());
    let spool = Arc::new(Spool::open(&config.spool_dir()).unwrap());
    let shipper = Shipper::start(Arc::clone(&spool), shipper_config).unwrap();
    assert!(drained(&spool), "{} records left in the spool", spool.len());
    assert!(shipper.stop(Duration::from_secs(2)));
    // The host produces the same records each run.
    assert_eq!(
        archived(&runtime, &archive),
        2 * produced,
        "lost or doubled records"
    );
    assert!(archive.verify().unwrap().is_intact());
}

/// The TLS path (rustls and ring inside the library, the shipper's socket with
/// `MSG_NOSIGNAL`) under valgrind: no error, no definite leak, every record delivered once.
#[test]
fn under_valgrind_mutual_tls_shipping_is_clean() {
    if !have_valgrind("ingest_tls") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let host = build_host(dir.path());
    let runtime = Runtime::new().unwrap();
    let archive = Archive::open(&dir.path().join("archive"), ArchiveOptions::default()).unwrap();
    let (ca, _) = gateway_ca(dir.path());
    let (cert, key) = client_cert(&ca, dir.path());
    let (addr, _stop) = start_gateway(&runtime, &archive, &ca, true, loopback());
    let config_path = write_config(dir.path(), addr, NAME, &cert, &key);
    let text = std::fs::read_to_string(&config_path).unwrap();
    std::fs::write(&config_path, format!("{VALGRIND_CALL_TIMEOUT}{text}")).unwrap();
    // Two reports from inside ring's AES-GCM assembly, which memcheck cannot follow; the
    // file says why they are false (the gateway authenticates every byte sent).
    let suppressions = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/valgrind/ring-aead.supp");
    let suppressions = format!("--suppressions={}", suppressions.display());
    let mut wrapper = VALGRIND_CHECKED.to_vec();
    wrapper.push(&suppressions);
    run_host_under(&wrapper, &host, &config_path);
    let config = SpiConfig::read(&config_path).unwrap();
    let spool = Arc::new(Spool::open(&config.spool_dir()).unwrap());
    let left = spool.len();
    let shipper_config = fast(ShipperConfig::from_config(&config).unwrap().unwrap());
    let shipper = Shipper::start(Arc::clone(&spool), shipper_config).unwrap();
    assert!(drained(&spool), "{} records left in the spool", spool.len());
    assert!(shipper.stop(Duration::from_secs(2)));
    let shipped = archived(&runtime, &archive);
    assert!(
        shipped > left,
        "the host under valgrind shipped nothing itself"
    );
    assert_eq!(
        shipped, HOST_RECORDS,
        "every record of the host's run, once"
    );
}

#[test]
fn a_client_certificate_from_another_ca_ships_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::new().unwrap();
    let archive = Archive::open(&dir.path().join("archive"), ArchiveOptions::default()).unwrap();
    let (ca, ca_pem) = gateway_ca(dir.path());
    let (addr, _stop) = start_gateway(&runtime, &archive, &ca, true, loopback());
    let other = tempfile::tempdir().unwrap();
    let (stranger, _) = gateway_ca(other.path());
    let (cert, key) = client_cert(&stranger, other.path());

    let spool = Arc::new(Spool::open(&dir.path().join("spool")).unwrap());
    for i in 0..5 {
        spool.append(&event(i)).unwrap();
    }
    let mut config = fast(ShipperConfig::new(addr.to_string(), TOKEN));
    config.token = None;
    config.tls = Some(ShipTls::load(&ca_pem, NAME, Some((&cert, &key))).unwrap());
    let shipper = Shipper::start(Arc::clone(&spool), config).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(shipper.stop(Duration::from_secs(2)));
    assert_eq!(spool.len(), 5);
    assert_eq!(archived(&runtime, &archive), 0);
}

#[test]
fn a_missing_tls_file_fails_init_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[gateway]\naddress = \"127.0.0.1:1\"\ntoken = \"t\"\nca = \"missing-ca.pem\"\n";
    let path = dir.path().join("imtegrity_stchatlog.toml");
    std::fs::write(&path, text).unwrap();
    let config = SpiConfig::read(&path).unwrap();
    let e = ShipperConfig::from_config(&config).unwrap_err().to_string();
    assert!(
        e.contains("gateway.ca") && e.contains("missing-ca.pem"),
        "{e}"
    );
}
