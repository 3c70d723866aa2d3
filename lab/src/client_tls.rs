//! The scripted client's TLS: which CA it trusts, and a dial that keeps the address apart
//! from the name, so a test can reach a gateway's address while asking for AOL's names
//! (`slogin.oscar.aol.com`, `bos.oscar.aol.com`), as a DNS-redirected client does.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::error::LabError;
use crate::stream::BoxStream;

/// What the scripted client trusts when it speaks TLS: the certificates of one PEM bundle
/// (the lab CA from [`LabServer::ca_pem`], or a gateway's CA), and nothing else.
///
/// [`LabServer::ca_pem`]: crate::LabServer::ca_pem
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<ClientConfig>,
}

impl ClientTls {
    /// Trusts every certificate in `pem` (at least one) as a root.
    pub fn trusting_pem(pem: &str) -> Result<Self, LabError> {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let cert = cert
                .map_err(|e| LabError::TlsConfig(rustls::Error::General(format!("CA PEM: {e}"))))?;
            roots.add(cert)?;
        }
        if roots.is_empty() {
            return Err(LabError::TlsConfig(rustls::Error::General(
                "CA PEM holds no certificate".into(),
            )));
        }
        let config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()?
                .with_root_certificates(roots)
                .with_no_client_auth();
        Ok(Self {
            config: Arc::new(config),
        })
    }

    /// Connects to `addr` and completes a TLS handshake sending `name` as SNI and checking
    /// the certificate against it.
    pub(crate) async fn connect(&self, addr: &str, name: &str) -> Result<BoxStream, LabError> {
        let server_name = ServerName::try_from(name.to_owned())
            .map_err(|_| LabError::TlsName(name.to_owned()))?;
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|source| LabError::Connect {
                addr: addr.to_owned(),
                source,
            })?;
        let _ = tcp.set_nodelay(true);
        let tls = TlsConnector::from(self.config.clone())
            .connect(server_name, tcp)
            .await
            .map_err(|source| LabError::Handshake {
                addr: addr.to_owned(),
                name: name.to_owned(),
                source,
            })?;
        Ok(Box::new(tls))
    }
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pem_without_certificates_is_refused() {
        assert!(ClientTls::trusting_pem("").is_err());
        assert!(ClientTls::trusting_pem("-----BEGIN CERTIFICATE-----\nnope\n").is_err());
    }
}
