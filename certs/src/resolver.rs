//! The rustls side: which certificate a client gets in the handshake.

use std::fmt;
use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::{CertError, Issuer, LeafCache, LeafSource};

/// Serves each client a leaf for the name it asked for (SNI), or for `default_name` when it
/// sent none (old clients, or a client connecting to an IP address), from a [`LeafCache`].
///
/// A name the CA may not issue for gets no certificate, and rustls ends the handshake with
/// an alert: a leaf outside the CA's name constraints would be rejected by the client
/// anyway. Kept behind this one type so the move to rustls 0.24's `ServerCredentialResolver`
/// touches one file.
pub struct CertResolver<S = Issuer> {
    cache: Arc<LeafCache<S>>,
    default_name: String,
}

impl<S: LeafSource> CertResolver<S> {
    /// A resolver over `cache`, using `default_name` for clients that send no SNI.
    pub fn new(cache: Arc<LeafCache<S>>, default_name: impl Into<String>) -> Self {
        Self {
            cache,
            default_name: default_name.into(),
        }
    }

    /// The cache it serves from.
    pub fn cache(&self) -> &Arc<LeafCache<S>> {
        &self.cache
    }

    /// The leaf for a client that asked for `sni`.
    pub fn resolve_name(&self, sni: Option<&str>) -> Result<Arc<CertifiedKey>, CertError> {
        self.cache.get(sni.unwrap_or(&self.default_name))
    }
}

impl<S: LeafSource> ResolvesServerCert for CertResolver<S> {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let sni = client_hello.server_name();
        match self.resolve_name(sni) {
            Ok(key) => Some(key),
            Err(error @ (CertError::NotPermitted { .. } | CertError::BadName { .. })) => {
                // What a client asked for, not a fault of the gateway's.
                tracing::info!(sni, %error, "no certificate for this name; handshake refused");
                None
            }
            Err(error) => {
                tracing::warn!(sni, %error, "minting a leaf failed; handshake refused");
                None
            }
        }
    }
}

impl<S> fmt::Debug for CertResolver<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertResolver")
            .field("default_name", &self.default_name)
            .field("cache", &self.cache)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use time::{Duration, OffsetDateTime};

    use super::*;
    use crate::{Ca, KeyKind, NameScope, SystemClock};

    fn resolver(default_name: &str) -> CertResolver {
        let scope = NameScope::permitted(["oscar.aol.com", "icq.com"]).unwrap();
        let ca = Ca::create(KeyKind::EcdsaP256, &scope, "CA", OffsetDateTime::now_utc()).unwrap();
        let issuer = Issuer::new(
            Arc::new(ca),
            scope,
            Duration::hours(24),
            Arc::new(SystemClock),
        )
        .unwrap();
        CertResolver::new(
            Arc::new(LeafCache::for_issuer(issuer, 16, Duration::hours(1))),
            default_name,
        )
    }

    fn leaf_name(key: &CertifiedKey) -> String {
        let (_, cert) = x509_parser::parse_x509_certificate(&key.cert[0]).unwrap();
        cert.subject().to_string()
    }

    #[test]
    fn sni_picks_the_leaf_and_no_sni_gets_the_default_name() {
        let r = resolver("slogin.oscar.aol.com");
        assert_eq!(
            leaf_name(&r.resolve_name(Some("slogin.icq.com")).unwrap()),
            "CN=slogin.icq.com"
        );
        assert_eq!(
            leaf_name(&r.resolve_name(None).unwrap()),
            "CN=slogin.oscar.aol.com"
        );
        assert!(r.resolve_name(Some("www.example.org")).is_err());
        // A default name outside the CA's names fails the same way, and visibly.
        let err = resolver("gw.example.net").resolve_name(None).unwrap_err();
        assert!(matches!(err, CertError::NotPermitted { .. }), "{err}");
    }
}
