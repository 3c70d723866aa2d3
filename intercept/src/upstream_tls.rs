//! TLS to the real servers. Certificates are verified against the system trust store plus
//! the configured extra roots, for the name the client itself would have validated, so the
//! gateway trusts an upstream exactly when the client, talking to it directly, would have.
//! Skipping verification exists only as an explicit setting for a lab upstream.

use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use settings::HostPort;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::error::SessionError;

/// The client configuration for upstream TLS: the system trust store plus `extra_roots`,
/// or, with `insecure`, no certificate check at all (signatures are still verified, so the
/// handshake is sound; only the server's identity goes unchecked).
pub fn upstream_client_config(
    extra_roots: Vec<CertificateDer<'static>>,
    insecure: bool,
) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = if insecure {
        Arc::new(AcceptAnyName(provider.clone()))
    } else {
        Arc::new(
            rustls_platform_verifier::Verifier::new_with_extra_roots(extra_roots, provider.clone())
                .map_err(|e| format!("cannot load the system trust store: {e}"))?,
        )
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Completes a TLS handshake with the upstream on `stream`, sending `name` as SNI and
/// verifying the certificate against it.
pub(crate) async fn connect_tls(
    config: Arc<ClientConfig>,
    name: &str,
    addr: &HostPort,
    stream: TcpStream,
    timeout: Duration,
) -> Result<TlsStream<TcpStream>, SessionError> {
    let fail = |source: std::io::Error| SessionError::UpstreamTls {
        addr: addr.clone(),
        name: name.to_owned(),
        source,
    };
    let server_name = ServerName::try_from(name.to_owned()).map_err(|e| {
        fail(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("not a valid certificate name: {e}"),
        ))
    })?;
    let handshake = tokio_rustls::TlsConnector::from(config).connect(server_name, stream);
    match tokio::time::timeout(timeout, handshake).await {
        Ok(Ok(tls)) => Ok(tls),
        Ok(Err(e)) => Err(fail(e)),
        Err(_) => Err(fail(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no TLS handshake within {} s", timeout.as_secs()),
        ))),
    }
}

/// Accepts any certificate chain (`upstream.tls_insecure`, a lab upstream only).
#[derive(Debug)]
struct AcceptAnyName(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyName {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
