//! TLS for the ingest endpoint (`[ingest] tls`): a leaf for `ingest.name` issued by the
//! gateway CA and renewed before it ends (as the relay's are), and, when `ingest.auth`
//! asks for client certificates, mutual TLS: the sender's certificate must chain to the
//! gateway CA (`imtegrity ca issue-client`). The archive crate serves what this terminates.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use archive_servers::IngestPeer;
use certs::{Ca, Issuer, LeafCache, NameScope, SystemClock};
use rustls::RootCertStore;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
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
        let dir = crate::tls_setup::ca_dir(&config.tls);
        if !crate::tls_setup::has_ca(&dir) {
            return Err(format!(
                "ingest.tls: no gateway CA in {} to issue the endpoint's certificate \
                 (`imtegrity ca init`, or tls.ca_dir)",
                dir.display()
            )
            .into());
        }
        let ca = Arc::new(
            Ca::load(&dir).map_err(|e| format!("the gateway CA in {}: {e}", dir.display()))?,
        );
        let name = config
            .ingest
            .name
            .clone()
            .unwrap_or_else(archive::host_name);
        let not_issuable = |e: certs::CertError| {
            format!(
                "ingest.name {name:?}: {e}. Put its domain in tls.permitted before `imtegrity \
                 ca init`, or set ingest.name to a name the CA may issue for (and the Sametime \
                 module's gateway.server_name to the same)"
            )
        };
        // The issuer may mint this one name only, whatever else the CA could sign.
        let issuer = Issuer::new(
            ca.clone(),
            NameScope::permitted([name.as_str()]).map_err(not_issuable)?,
            time::Duration::hours(i64::from(config.tls.leaf_hours)),
            Arc::new(SystemClock),
        )?;
        let cache = Arc::new(LeafCache::for_issuer(
            issuer,
            1,
            time::Duration::hours(i64::from(config.tls.renew_before_hours)),
        ));
        // Issued now, so a name the CA refuses stops the start instead of every handshake.
        cache.get(&name).map_err(not_issuable)?;
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
        let mut server = builder.with_cert_resolver(Arc::new(OneName {
            cache,
            name: name.clone(),
        }));
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

/// Serves the endpoint's one leaf whatever name the client asked for: a sender that asked
/// for another name then says so itself ("not valid for name"), which is clearer in its log
/// than a refused handshake.
struct OneName {
    cache: Arc<LeafCache>,
    name: String,
}

impl ResolvesServerCert for OneName {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        match self.cache.get(&self.name) {
            Ok(key) => Some(key),
            Err(error) => {
                tracing::warn!(name = %self.name, %error, "minting the ingest leaf failed; handshake refused");
                None
            }
        }
    }
}

impl fmt::Debug for OneName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OneName").field("name", &self.name).finish()
    }
}
