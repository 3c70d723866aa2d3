//! TLS from the shipper to the gateway's ingest endpoint (`[gateway] ca`): rustls with the
//! ring provider over the shipper's blocking `TcpStream`, the gateway's certificate checked
//! against the gateway CA for `server_name`, and, with `client_cert`/`client_key`, this
//! library's client certificate presented (mutual TLS).
//!
//! The PEM files are read once, at init, so a missing or unreadable file fails
//! `stDdaClInit` with its name rather than every shipping attempt later.

use std::fmt;
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use crate::error::SpiError;
use crate::no_sigpipe::NoSigPipe;

/// A TLS stream to the gateway.
pub(crate) type TlsStream = StreamOwned<ClientConnection, NoSigPipe>;

/// How the shipper speaks TLS to the gateway.
#[derive(Clone)]
pub struct ShipTls {
    config: Arc<ClientConfig>,
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
        let ca_certs = certificates("gateway.ca", ca)?;
        let mut roots = RootCertStore::empty();
        for cert in ca_certs {
            roots
                .add(cert)
                .map_err(|e| SpiError::Config(format!("gateway.ca {}: {e}", ca.display())))?;
        }
        let client = match client {
            Some((cert, key)) => Some((
                certificates("gateway.client_cert", cert)?,
                PrivateKeyDer::from_pem_file(key).map_err(|e| {
                    SpiError::Config(format!("gateway.client_key {}: {e}", key.display()))
                })?,
            )),
            None => None,
        };
        Self::new(roots, server_name, client)
    }

    /// From parsed parts: the trusted roots, the name, and the client chain and key.
    pub fn new(
        roots: RootCertStore,
        server_name: &str,
        client: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    ) -> Result<Self, SpiError> {
        let server_name = ServerName::try_from(server_name.to_owned())
            .map_err(|e| SpiError::Config(format!("gateway.server_name {server_name:?}: {e}")))?;
        let builder =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| SpiError::Config(format!("TLS: {e}")))?
                .with_root_certificates(roots);
        let mut config = match client {
            Some((chain, key)) => builder.with_client_auth_cert(chain, key).map_err(|e| {
                SpiError::Config(format!("gateway.client_cert / gateway.client_key: {e}"))
            })?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            config: Arc::new(config),
            server_name,
        })
    }

    /// The name the gateway's certificate must carry.
    pub fn server_name(&self) -> String {
        self.server_name.to_str().into_owned()
    }

    /// Runs the handshake over `tcp` (whose timeouts bound it); the stream, or why the
    /// gateway was not accepted (wrong CA, wrong name, expired, client certificate refused).
    pub(crate) fn connect(&self, tcp: TcpStream) -> Result<TlsStream, String> {
        let mut tcp = NoSigPipe(tcp);
        let mut conn = ClientConnection::new(Arc::clone(&self.config), self.server_name.clone())
            .map_err(|e| format!("TLS: {e}"))?;
        while conn.is_handshaking() {
            conn.complete_io(&mut tcp)
                .map_err(|e| format!("TLS handshake (as {}): {e}", self.server_name()))?;
        }
        Ok(StreamOwned::new(conn, tcp))
    }
}

impl fmt::Debug for ShipTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShipTls")
            .field("server_name", &self.server_name)
            .field(
                "client_cert",
                &self.config.client_auth_cert_resolver.has_certs(),
            )
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
}
