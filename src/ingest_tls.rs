//! TLS for the ingest endpoint (`[ingest] tls`): a leaf for `ingest.name` issued by the
//! gateway CA and renewed before it ends (as the relay's are), and, when `ingest.auth`
//! asks for client certificates, mutual TLS: the sender's certificate must chain to the
//! gateway CA (`imtegrity ca issue-client`). The archive crate serves what this terminates.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use archive_servers::IngestPeer;
use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use settings::Config;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One connection's TLS handshake in progress: the stream and who the peer proved to be.
pub(crate) type Handshake =
    Pin<Box<dyn Future<Output = std::io::Result<(TlsStream<TcpStream>, IngestPeer)>> + Send>>;

/// The endpoint's TLS: what accepts, and the name it serves.
#[derive(Clone)]
pub(crate) struct IngestTls {
    acceptor: TlsAcceptor,
    /// The name on the endpoint's certificate.
    pub(crate) name: String,
}

impl IngestTls {
    /// From `[ingest]` and `[tls]`: fails (before anything listens) when there is no CA,
    /// or the CA may not issue for the name.
    pub(crate) fn new(config: &Config) -> Result<Self, BoxError> {
        let name = config
            .ingest
            .name
            .clone()
            .unwrap_or_else(archive::host_name);
        let (ca, leaf) = crate::server_tls::one_name_leaf(
            config,
            "ingest",
            &name,
            " (and the Sametime module's gateway.server_name to the same)",
        )?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?;
        let builder = if config.ingest.auth.needs_client_cert() {
            let mut roots = RootCertStore::empty();
            roots.add(ca.cert_der().clone())?;
            builder.with_client_cert_verifier(
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build()?,
            )
        } else {
            builder.with_no_client_auth()
        };
        let mut server = builder.with_cert_resolver(leaf);
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            name,
        })
    }

    /// The handshake `archive_servers::serve_ingest_with` runs on each accepted connection: TLS,
    /// and the subject of the client certificate rustls verified, if any.
    pub(crate) fn handshake(
        &self,
    ) -> impl Fn(TcpStream, SocketAddr) -> Handshake + Send + Sync + 'static {
        let acceptor = self.acceptor.clone();
        move |stream, addr| {
            let accept = acceptor.accept(stream);
            Box::pin(async move {
                let tls = accept.await?;
                let certificate = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|chain| chain.first())
                    .and_then(|cert| certs::subject_name(cert));
                Ok((tls, IngestPeer { addr, certificate }))
            })
        }
    }
}
