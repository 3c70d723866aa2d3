//! The CA's name constraints hold against real verifiers: OpenSSL's `openssl verify` and
//! rustls's webpki accept a leaf the issuer mints and reject leaves signed with the same CA
//! key for a name outside the constraints, or for an IP address, which the issuer would
//! never mint (they are forged here with rcgen directly, as a thief holding the key would).
//!
//! The OpenSSL half needs `/usr/bin/openssl` (tests/peers/install.sh); skipped locally
//! without it, a failure in CI.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use certs::{Ca, Issuer, KeyKind, NameScope, SystemClock};
use rcgen::{CertificateParams, KeyPair};
use rustls::client::danger::ServerCertVerifier as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use time::{Duration, OffsetDateTime};

const OPENSSL: &str = "/usr/bin/openssl";

fn openssl_present(test: &str) -> bool {
    if Path::new(OPENSSL).exists() {
        return true;
    }
    test_skips::skip_or_fail(test, "install openssl (tests/peers/install.sh)");
    false
}

/// `openssl ARGS` in `dir`: whether it succeeded, and stdout + stderr.
fn openssl(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(OPENSSL)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A CA constrained to `aol.com`, saved in `dir`, with an issuer over it.
fn ca_in(dir: &Path, kind: KeyKind) -> Issuer {
    let scope = NameScope::permitted(["aol.com"]).unwrap();
    let ca = Ca::create(
        kind,
        &scope,
        "Constraint Test CA",
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    ca.save(dir, false).unwrap();
    Issuer::new(
        Arc::new(ca),
        scope,
        Duration::hours(24),
        Arc::new(SystemClock),
    )
    .unwrap()
}

/// A leaf for `san` signed with the CA key in `dir`, bypassing the issuer's checks.
fn forge(dir: &Path, san: &str) -> CertificateDer<'static> {
    let ca_key = KeyPair::from_pem(&std::fs::read_to_string(dir.join("ca.key")).unwrap()).unwrap();
    let ca_pem = std::fs::read_to_string(dir.join("ca.pem")).unwrap();
    let issuer = rcgen::Issuer::from_ca_cert_pem(&ca_pem, ca_key).unwrap();
    let mut params = CertificateParams::new(vec![san.to_owned()]).unwrap();
    params.not_before = OffsetDateTime::now_utc() - Duration::hours(1);
    params.not_after = OffsetDateTime::now_utc() + Duration::hours(24);
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate().unwrap();
    params.signed_by(&key, &issuer).unwrap().der().clone()
}

fn write_pem(path: &Path, der: &CertificateDer<'_>) {
    let pem = pem::encode(&pem::Pem::new("CERTIFICATE", der.to_vec()));
    std::fs::write(path, pem).unwrap();
}

#[test]
fn openssl_accepts_issued_leaves_and_rejects_forged_ones_outside_the_constraints() {
    if !openssl_present("openssl_accepts_issued_leaves_and_rejects_forged_ones") {
        return;
    }
    for kind in [KeyKind::EcdsaP256, KeyKind::Rsa2048] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let issuer = ca_in(dir, kind);

        // The CA as OpenSSL reads it.
        let (ok, text) = openssl(dir, &["x509", "-in", "ca.pem", "-noout", "-text"]);
        assert!(ok, "{text}");
        for expected in [
            "X509v3 Basic Constraints: critical",
            "CA:TRUE, pathlen:0",
            "X509v3 Name Constraints: critical",
            "DNS:aol.com",
            "IP:0.0.0.0/0.0.0.0",
            "X509v3 Key Usage: critical",
            "Certificate Sign",
        ] {
            assert!(
                text.contains(expected),
                "{kind}: {expected:?} not in\n{text}"
            );
        }

        let leaf = issuer.issue("login.oscar.aol.com").unwrap();
        std::fs::write(dir.join("leaf.pem"), leaf.cert_pem()).unwrap();
        let (ok, text) = openssl(
            dir,
            &[
                "verify",
                "-CAfile",
                "ca.pem",
                "-purpose",
                "sslserver",
                "-verify_hostname",
                "login.oscar.aol.com",
                "leaf.pem",
            ],
        );
        assert!(ok && text.contains("leaf.pem: OK"), "{kind}: {text}");

        write_pem(&dir.join("forged.pem"), &forge(dir, "www.example.org"));
        let (ok, text) = openssl(dir, &["verify", "-CAfile", "ca.pem", "forged.pem"]);
        assert!(
            !ok,
            "{kind}: a forged leaf for www.example.org verified: {text}"
        );
        assert!(
            text.contains("permitted subtree violation"),
            "{kind}: {text}"
        );

        write_pem(&dir.join("ip.pem"), &forge(dir, "127.0.0.1"));
        let (ok, text) = openssl(dir, &["verify", "-CAfile", "ca.pem", "ip.pem"]);
        assert!(!ok, "{kind}: a forged leaf for 127.0.0.1 verified: {text}");
        assert!(
            text.contains("excluded subtree violation"),
            "{kind}: {text}"
        );
    }
}

#[test]
fn rustls_accepts_issued_leaves_and_rejects_forged_ones_outside_the_constraints() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let issuer = ca_in(dir, KeyKind::EcdsaP256);
    let mut roots = rustls::RootCertStore::empty();
    roots.add(issuer.ca().cert_der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .unwrap();
    let verify = |der: &CertificateDer<'_>, name: &str| {
        verifier.verify_server_cert(
            der,
            &[],
            &ServerName::try_from(name.to_owned()).unwrap(),
            &[],
            UnixTime::now(),
        )
    };

    let leaf = issuer.issue("login.oscar.aol.com").unwrap();
    verify(&leaf.chain()[0], "login.oscar.aol.com").unwrap();

    let err = verify(&forge(dir, "www.example.org"), "www.example.org").unwrap_err();
    assert!(
        format!("{err:?}").contains("NameConstraintViolation"),
        "{err:?}"
    );
    let err = verify(&forge(dir, "127.0.0.1"), "127.0.0.1").unwrap_err();
    assert!(
        format!("{err:?}").contains("NameConstraintViolation"),
        "{err:?}"
    );
    // The issuer itself refuses both.
    assert!(issuer.issue("www.example.org").is_err());
    assert!(issuer.issue("127.0.0.1").is_err());
}
