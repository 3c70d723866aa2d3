//! A gateway CA for TLS tests (`imtegrity ca init`), and a client that trusts only it.

// These helpers assert as the calling test would: a failure panics with what went wrong.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio_rustls::TlsConnector;

use crate::{Binary, cli};

/// `imtegrity ca init` into `dir`.
pub async fn ca_init(binary: Binary, dir: &Path) {
    let set = format!("tls.ca_dir={}", dir.display());
    let (code, _, stderr) = cli(binary, &["ca", "init", "--set", &set]).await;
    assert_eq!(code, Some(0), "ca init: {stderr}");
}

/// A rustls client trusting only the CA certificate at `ca_pem`.
pub fn connector(ca_pem: &Path) -> TlsConnector {
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
