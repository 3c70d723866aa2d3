//! TLS and plain OSCAR on the relay's one port: with a gateway CA (`imtegrity ca init`), a
//! client that opens with a TLS ClientHello (SSL login to `slogin.oscar.aol.com`) gets a leaf
//! for its SNI name that chains to the CA, and its FLAP inside the TLS is relayed to the lab
//! authorizer, with the BOS redirect rewritten back to the gateway; a plain client on the
//! same port signs on and IMs as before. A client that does not trust the CA cannot complete
//! the handshake, and without a CA TLS clients fail (on the FLAP start marker) while plain
//! ones are relayed.
//!
//! The upstream leg stays plain here (the lab has no TLS listener yet): this is the client
//! side of issue 6's second deliverable.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::gateway::{Gateway, cli};
use futures_util::{SinkExt, StreamExt};
use oscar::message::{Redirect, SignOff, SignonHello};
use oscar::{Channel, FlapCodec, ScreenName};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_util::codec::Framed;

/// The name libpurple's SSL login connects to.
const SSL_LOGIN: &str = "slogin.oscar.aol.com";

/// A rustls client trusting only the CA certificate at `ca_pem`.
fn connector(ca_pem: &Path) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_pem).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

/// `imtegrity ca init` into `dir`.
async fn ca_init(dir: &Path) {
    let set = format!("tls.ca_dir={}", dir.display());
    let (code, _, stderr) = cli(&["ca", "init", "--set", &set]).await;
    assert_eq!(code, Some(0), "ca init: {stderr}");
}

/// Over TLS to the relay at `relay` with SNI [`SSL_LOGIN`]: the server hello, then a legacy
/// channel-1 login whose channel-4 answer carries the BOS address; returns that address.
async fn ssl_login(
    connector: &TlsConnector,
    relay: SocketAddr,
    name: &str,
) -> std::io::Result<String> {
    let tcp = TcpStream::connect(relay).await?;
    let tls = connector
        .connect(ServerName::try_from(SSL_LOGIN).unwrap(), tcp)
        .await?;
    let mut conn = Framed::new(tls, FlapCodec::default());
    let hello = tokio::time::timeout(Duration::from_secs(5), conn.next())
        .await
        .expect("the relay's hello in time")
        .expect("a frame")
        .unwrap();
    assert_eq!(hello.channel, Channel::SIGNON, "{hello:?}");
    let sn = ScreenName::parse(name.as_bytes()).unwrap();
    let mut login = SignonHello::legacy_login(&sn, b"pw", "imtegrity TLS test")
        .to_flap()
        .unwrap();
    login.seq = 1;
    conn.send(login).await.unwrap();
    let reply = loop {
        let flap = tokio::time::timeout(Duration::from_secs(5), conn.next())
            .await
            .expect("the login reply in time")
            .expect("a frame")
            .unwrap();
        if flap.channel == Channel::SIGNOFF {
            break SignOff::from_flap(&flap).unwrap();
        }
    };
    assert_eq!(reply.error_code(), None);
    assert!(reply.cookie().is_some());
    Ok(reply.address().unwrap().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_plain_clients_share_the_relay_port() {
    let lab = lab::LabServer::start(lab::LabConfig::ephemeral())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_dir = dir.path().join("ca");
    ca_init(&ca_dir).await;
    let set_ca = format!("tls.ca_dir={}", ca_dir.display());
    let gw = Gateway::start(
        &lab.auth_addr.to_string(),
        &dir.path().join("archive"),
        "gw-tls",
        &[&set_ca],
    )
    .await;

    // SSL login: terminated with a leaf for the SNI name, relayed, BOS rewritten to us.
    let trusted = connector(&ca_dir.join("ca.pem"));
    let bos = ssl_login(&trusted, gw.relay, "sslalice").await.unwrap();
    assert_eq!(
        bos,
        gw.relay.to_string(),
        "the BOS redirect points back at the gateway"
    );

    // A plain client on the same port: full sign-on and an IM.
    let mut alice = lab::LabClient::login(gw.relay, "alice", "a").await.unwrap();
    let mut bob = lab::LabClient::login(gw.relay, "bob", "b").await.unwrap();
    alice.send_im("bob", "plain beside TLS").await.unwrap();
    assert_eq!(
        bob.expect_im("alice", Duration::from_secs(5))
            .await
            .unwrap(),
        "plain beside TLS"
    );
    alice.logout().await.unwrap();
    bob.logout().await.unwrap();

    // A client trusting another CA does not complete the handshake.
    let other = dir.path().join("other-ca");
    ca_init(&other).await;
    let untrusted = connector(&other.join("ca.pem"));
    let err = ssl_login(&untrusted, gw.relay, "mallory")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("invalid peer certificate"),
        "expected a certificate error, got {err}"
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_ca_tls_clients_are_refused_and_plain_ones_relayed() {
    let lab = lab::LabServer::start(lab::LabConfig::ephemeral())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("no-ca");
    let set_ca = format!("tls.ca_dir={}", empty.display());
    let gw = Gateway::start(
        &lab.auth_addr.to_string(),
        &dir.path().join("archive"),
        "gw-no-tls",
        &[&set_ca],
    )
    .await;
    let some_ca = dir.path().join("some-ca");
    ca_init(&some_ca).await;
    assert!(
        ssl_login(&connector(&some_ca.join("ca.pem")), gw.relay, "x")
            .await
            .is_err(),
        "a TLS client must not get through a gateway without a CA"
    );
    let alice = lab::LabClient::login(gw.relay, "alice", "a").await.unwrap();
    alice.logout().await.unwrap();
    gw.stop().await;
}
