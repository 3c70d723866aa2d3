//! The lab's TLS side over real loopback sockets: the SSL authorizer and TLS BOS, service
//! redirects asked for with TLV 0x008C, migration of a TLS session, and the leaves the lab
//! CA serves per SNI name.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use lab::{
    Accounts, ClientEvent, ClientTls, LabClient, LabConfig, LabError, LabServer, LoginMethod,
    SslLogin,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::TlsConnector;

const WAIT: Duration = Duration::from_secs(5);

async fn tls_lab() -> LabServer {
    LabServer::start(LabConfig {
        accounts: Accounts::from_pairs([("alice", "wonderland"), ("bob", "builder")]),
        ..LabConfig::ephemeral_tls()
    })
    .await
    .unwrap()
}

fn trust(lab: &LabServer) -> ClientTls {
    ClientTls::trusting_pem(lab.ca_pem().unwrap()).unwrap()
}

#[tokio::test]
async fn ssl_login_then_tls_bos_and_the_echo_bot() {
    let lab = tls_lab().await;
    let tls = lab.tls.unwrap();
    for method in [
        LoginMethod::Md5Strong,
        LoginMethod::Md5Weak,
        LoginMethod::Legacy,
    ] {
        let login = SslLogin {
            method,
            ..SslLogin::new(trust(&lab))
        };
        let mut alice = LabClient::login_ssl(tls.auth, &login, "alice", "wonderland")
            .await
            .unwrap_or_else(|e| panic!("{method:?}: {e}"));
        // No TLV 0x008D in the reply: the client checked the fixed BOS name.
        assert_eq!(alice.bos_tls_name(), Some("bos.oscar.aol.com"));
        alice.send_im("labbot", "over TLS").await.unwrap();
        assert_eq!(alice.expect_im("labbot", WAIT).await.unwrap(), "over TLS");
        alice.logout().await.unwrap();
    }
    let err = LabClient::login_ssl(tls.auth, &SslLogin::new(trust(&lab)), "alice", "nope")
        .await
        .unwrap_err();
    assert!(
        matches!(err, LabError::LoginRefused { code } if code == lab::ERR_BAD_PASSWORD),
        "{err}"
    );
}

#[tokio::test]
async fn a_tls_user_and_a_plain_user_exchange_ims() {
    let lab = tls_lab().await;
    let tls = lab.tls.unwrap();
    let mut alice =
        LabClient::login_ssl(tls.auth, &SslLogin::new(trust(&lab)), "alice", "wonderland")
            .await
            .unwrap();
    let mut bob = LabClient::login(lab.auth_addr, "bob", "builder")
        .await
        .unwrap();
    // The plain authorizer of a TLS lab still sends plain clients to the plain BOS.
    assert_eq!(bob.bos_tls_name(), None);
    alice.send_im("bob", "hi bob").await.unwrap();
    assert_eq!(bob.expect_im("alice", WAIT).await.unwrap(), "hi bob");
    bob.send_im("alice", "hi alice").await.unwrap();
    assert_eq!(alice.expect_im("bob", WAIT).await.unwrap(), "hi alice");
}

#[tokio::test]
async fn the_ssl_authorizer_refuses_a_client_that_does_not_trust_the_lab_ca() {
    let lab = tls_lab().await;
    let other = LabServer::start(LabConfig::ephemeral_tls()).await.unwrap();
    let err = LabClient::login_ssl(
        lab.tls.unwrap().auth,
        &SslLogin::new(trust(&other)),
        "alice",
        "wonderland",
    )
    .await
    .unwrap_err();
    assert!(matches!(err, LabError::Handshake { .. }), "{err}");
}

#[tokio::test]
async fn a_chat_join_with_0x8c_goes_to_the_tls_chat_listener() {
    let lab = tls_lab().await;
    let tls = lab.tls.unwrap();
    let mut alice =
        LabClient::login_ssl(tls.auth, &SslLogin::new(trust(&lab)), "alice", "wonderland")
            .await
            .unwrap();
    let mut bob = LabClient::login(lab.auth_addr, "bob", "builder")
        .await
        .unwrap();
    // Chat navigation (TLS BOS, 0x008D bos.oscar.aol.com) creates the room ...
    let room = alice.create_room("compliance").await.unwrap();
    // ... and the chat request with 0x008C gets the TLS chat listener as chat.oscar.aol.com.
    let mut alice_chat = alice.join_room(&room).await.unwrap();
    assert_eq!(alice_chat.tls_name(), Some("chat.oscar.aol.com"));
    // Without 0x008C, the same room on the plain chat listener.
    let mut bob_chat = bob.join_room(&room).await.unwrap();
    assert_eq!(bob_chat.tls_name(), None);
    alice_chat
        .expect_event(WAIT, "bob joins", |e| {
            matches!(e, ClientEvent::ChatJoined(who) if who.iter().any(|n| n.normalized() == "bob"))
        })
        .await
        .unwrap();
    alice_chat.send("hello over TLS").await.unwrap();
    assert_eq!(
        bob_chat.expect_message("alice", WAIT).await.unwrap(),
        "hello over TLS"
    );
    bob_chat.send("hello in plain text").await.unwrap();
    assert_eq!(
        alice_chat.expect_message("bob", WAIT).await.unwrap(),
        "hello in plain text"
    );
}

#[tokio::test]
async fn a_lab_without_tls_ignores_0x8c() {
    let lab = LabServer::start(LabConfig::ephemeral()).await.unwrap();
    assert!(lab.tls.is_none() && lab.ca_pem().is_none());
    let other = LabServer::start(LabConfig::ephemeral_tls()).await.unwrap();
    let mut alice = LabClient::login(lab.auth_addr, "alice", "x").await.unwrap();
    // Trusting a CA, the client asks for TLS (0x008C) on every service request ...
    alice.set_tls(Some(trust(&other)));
    let room = alice.create_room("plain").await.unwrap();
    // ... and a lab without TLS answers with its plain listeners (0x008E = 0).
    assert_eq!(alice.join_room(&room).await.unwrap().tls_name(), None);
}

#[tokio::test]
async fn a_tls_session_migrates_to_the_tls_bos() {
    let lab = tls_lab().await;
    let tls = lab.tls.unwrap();
    let mut alice =
        LabClient::login_ssl(tls.auth, &SslLogin::new(trust(&lab)), "alice", "wonderland")
            .await
            .unwrap();
    assert!(lab.migrate("alice").await.unwrap());
    let moved = alice
        .expect_event(WAIT, "the migration", |e| {
            matches!(e, ClientEvent::Migrated(_))
        })
        .await
        .unwrap();
    assert_eq!(
        moved,
        ClientEvent::Migrated(format!("127.0.0.1:{}", tls.bos.port()))
    );
    alice.send_im("labbot", "after the move").await.unwrap();
    assert_eq!(
        alice.expect_im("labbot", WAIT).await.unwrap(),
        "after the move"
    );
}

/// A bare rustls handshake with the TLS BOS: `sni` sent (or, with `None`, no SNI at all),
/// the certificate checked against `sni`, else `check`.
async fn handshake(lab: &LabServer, sni: Option<&str>, check: &str) -> Result<(), String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(lab.ca_pem().unwrap().as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.enable_sni = sni.is_some();
    let name = ServerName::try_from(sni.unwrap_or(check).to_owned()).unwrap();
    let tcp = tokio::net::TcpStream::connect(lab.tls.unwrap().bos)
        .await
        .unwrap();
    TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn leaves_follow_sni_and_default_to_the_bos_name() {
    let lab = tls_lab().await;
    handshake(&lab, Some("bos.oscar.aol.com"), "bos.oscar.aol.com")
        .await
        .unwrap();
    handshake(&lab, Some("slogin.icq.com"), "slogin.icq.com")
        .await
        .unwrap();
    // No SNI: the leaf is bos.oscar.aol.com, so only that name verifies.
    handshake(&lab, None, "bos.oscar.aol.com").await.unwrap();
    assert!(handshake(&lab, None, "chat.oscar.aol.com").await.is_err());
    // A name outside the lab CA's constraints gets no leaf at all.
    assert!(
        handshake(&lab, Some("www.example.org"), "www.example.org")
            .await
            .is_err()
    );
}
