//! TLS from the shipper to the gateway's ingest endpoint (`[gateway] ca`): rustls with the
//! ring provider, run by ureq (`ship_http.rs`), the gateway's certificate checked
//! against the gateway CA for `server_name`, and, with `client_cert`/`client_key`, this
//! library's client certificate presented (mutual TLS).
//!
//! The PEM files are read once, at init, so a missing or unreadable file fails
//! `stDdaClInit` with its name rather than every shipping attempt later. They are also
//! checked there the way rustls will take them (each CA certificate a trust anchor, the
//! client key matching its certificate): ureq builds its rustls configuration lazily, at
//! the first connection, skips a root it cannot parse and panics on a client key rustls
//! refuses, so neither may reach it unchecked.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig, TlsProvider};

use crate::error::SpiError;

/// How the shipper speaks TLS to the gateway.
#[derive(Clone)]
pub struct ShipTls {
    config: TlsConfig,
    server_name: ServerName<'static>,
}

impl ShipTls {
    /// Trusting the CA certificate(s) in the PEM file `ca`, expecting the gateway's
    /// certificate to be for `server_name`, and presenting the PEM certificate chain and
    /// key of `client` if given. Fails naming the file or the name.
    pub fn load(
        ca: &Path,
        server_name: &str,
        client: Option<(&Path, &Path)>,
    ) -> Result<Self, SpiError> {
        let roots = certificates("gateway.ca", ca)?;
        // Checked here, with the file's name, rather than skipped by ureq later.
        let mut store = RootCertStore::empty();
        for cert in &roots {
            store
                .add(cert.clone())
                .map_err(|e| SpiError::Config(format!("gateway.ca {}: {e}", ca.display())))?;
        }
        let client = match client {
            Some((cert, key)) => Some(client_cert(
                certificates("gateway.client_cert", cert)?,
                key,
            )?),
            None => None,
        };
        let server_name = ServerName::try_from(server_name.to_owned())
            .map_err(|e| SpiError::Config(format!("gateway.server_name {server_name:?}: {e}")))?;
        let roots: Vec<Certificate<'static>> = roots
            .iter()
            .map(|c| Certificate::from_der(c.as_ref()).to_owned())
            .collect();
        let config = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(provider())
            .root_certs(RootCerts::from(roots))
            .client_cert(client)
            .build();
        Ok(Self {
            config,
            server_name,
        })
    }

    /// The name the gateway's certificate must carry.
    pub fn server_name(&self) -> String {
        self.server_name.to_str().into_owned()
    }

    /// That name as the host of a URL: an IPv6 address in brackets.
    pub(crate) fn url_host(&self) -> String {
        match &self.server_name {
            ServerName::IpAddress(rustls::pki_types::IpAddr::V6(_)) => {
                format!("[{}]", self.server_name.to_str())
            }
            name => name.to_str().into_owned(),
        }
    }

    /// ureq's TLS settings: the gateway CA alone trusted, the client certificate if any.
    pub(crate) fn ureq_config(&self) -> TlsConfig {
        self.config.clone()
    }
}

/// The crypto provider: ring, as everywhere in the workspace, handed to ureq (which has
/// none of its own compiled in) and used for the checks here.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The client certificate `chain` and the key in the PEM file `key_file`, as ureq takes
/// them, once rustls has accepted the key and found it matches the certificate.
///
/// The key goes to ureq as its PEM (ureq's DER constructor wants a key kind it does not
/// export), read the same way as rustls reads it here: the first private key in the file;
/// the two readings are compared, so what rustls accepted is what ureq gets.
fn client_cert(
    chain: Vec<CertificateDer<'static>>,
    key_file: &Path,
) -> Result<ClientCert, SpiError> {
    let bad = |e: &dyn fmt::Display| {
        SpiError::Config(format!("gateway.client_key {}: {e}", key_file.display()))
    };
    let pem = std::fs::read(key_file).map_err(|e| bad(&e))?;
    let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| bad(&e))?;
    let ureq_key = PrivateKey::from_pem(&pem).map_err(|e| bad(&e))?;
    if ureq_key.der() != key.secret_der() {
        return Err(bad(
            &"the first private key in the file is not one rustls and ureq both read",
        ));
    }
    let ureq_chain: Vec<Certificate<'static>> = chain
        .iter()
        .map(|c| Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| SpiError::Config(format!("TLS: {e}")))?
        .with_root_certificates(RootCertStore::empty())
        .with_client_auth_cert(chain, key)
        .map_err(|e| SpiError::Config(format!("gateway.client_cert / gateway.client_key: {e}")))?;
    Ok(ClientCert::new_with_certs(&ureq_chain, ureq_key))
}

impl fmt::Debug for ShipTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShipTls")
            .field("server_name", &self.server_name)
            .field("client_cert", &self.config.client_cert().is_some())
            .finish()
    }
}

/// The certificates in the PEM file `path`, at least one; errors name `key` and the file.
fn certificates(key: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, SpiError> {
    let bad = |e: &dyn fmt::Display| SpiError::Config(format!("{key} {}: {e}", path.display()));
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(&e))?;
    if certs.is_empty() {
        return Err(bad(&"no PEM certificate in the file"));
    }
    Ok(certs)
}

/// The host of `host:port` (`[v6]:port` too): the name to expect when none is configured.
pub fn host_of(address: &str) -> &str {
    let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_name_is_the_host_of_the_address() {
        assert_eq!(host_of("gw.example:7443"), "gw.example");
        assert_eq!(host_of("[::1]:7443"), "::1");
        assert_eq!(host_of("127.0.0.1:7443"), "127.0.0.1");
        assert_eq!(host_of("gw.example"), "gw.example");
    }

    #[test]
    fn missing_or_empty_files_are_named() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let missing = dir.path().join("nope.pem");
        let e = ShipTls::load(&missing, "gw.example", None)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("gateway.ca") && e.contains("nope.pem"), "{e}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not pem\n").unwrap_or_else(|e| panic!("{e}"));
        let e = ShipTls::load(&empty, "gw.example", None)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("no PEM certificate"), "{e}");
    }

    /// A client key that is not its certificate's is refused at load, with the files'
    /// keys named: ureq, which builds its rustls configuration at the first connection,
    /// would panic on it there.
    #[test]
    fn a_client_key_of_another_certificate_is_refused_at_load() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let scope =
            certs::NameScope::permitted(["imtegrity.test"]).unwrap_or_else(|e| panic!("{e}"));
        let now = time::OffsetDateTime::now_utc();
        let ca = certs::Ca::create(certs::KeyKind::EcdsaP256, &scope, "Test CA", now)
            .unwrap_or_else(|e| panic!("{e}"));
        let ca_pem = dir.path().join("ca.pem");
        std::fs::write(&ca_pem, ca.cert_pem()).unwrap_or_else(|e| panic!("{e}"));
        let mut files = Vec::new();
        for name in ["st1.example.com", "st2.example.com"] {
            let (cert, key) = (
                dir.path().join(format!("{name}.pem")),
                dir.path().join(format!("{name}.key")),
            );
            ca.issue_client(name, time::Duration::days(1), now)
                .and_then(|c| c.save(&cert, &key, true))
                .unwrap_or_else(|e| panic!("{e}"));
            files.push((cert, key));
        }
        let (cert, key) = (&files[0].0, &files[0].1);
        let tls = ShipTls::load(&ca_pem, "gw.imtegrity.test", Some((cert, key)))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(format!("{tls:?}").contains("client_cert: true"), "{tls:?}");
        let e = ShipTls::load(&ca_pem, "gw.imtegrity.test", Some((cert, &files[1].1)))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("gateway.client_cert / gateway.client_key"),
            "{e}"
        );
        let e = ShipTls::load(&ca_pem, "gw.imtegrity.test", Some((cert, cert)))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("gateway.client_key") && e.contains("st1.example.com.pem"),
            "{e}"
        );
    }
}
