//! The lab's own upstream CA and the TLS side of its listeners: an SSL authorizer, a TLS
//! BOS, a TLS chat service and the HTTPS clientLogin API (oscar.md §2.3, §2.5, §5.1).
//!
//! The CA is minted in memory at start with the workspace `certs` crate, exactly as the
//! gateway mints its own: a leaf per SNI name from a bounded cache, `bos.oscar.aol.com` for
//! clients that send no SNI. Tests trust it through [`LabServer::ca_pem`]; a gateway in
//! front of the lab trusts it through `upstream.tls_roots`.
//!
//! [`LabServer::ca_pem`]: crate::LabServer::ca_pem

use std::net::SocketAddr;
use std::sync::Arc;

use certs::{Ca, CertResolver, Issuer, KeyKind, LeafCache, NameScope, SystemClock};
use rustls::ServerConfig;

use crate::error::LabError;

/// The name AOL's BOS certificates carried, and what libpurple checks the BOS leg of an SSL
/// login against (oscar.md §2.3). Also the lab's leaf for clients that send no SNI.
pub const BOS_CERT_NAME: &str = "bos.oscar.aol.com";
/// The certificate name the lab hands out (TLV 0x008D) with TLS chat redirects.
pub const CHAT_CERT_NAME: &str = "chat.oscar.aol.com";
/// The SSL authorizer's name (libpurple's default SSL login server).
pub const SSL_LOGIN_NAME: &str = "slogin.oscar.aol.com";
/// libpurple's clientLogin host (AIM).
pub const CLIENT_LOGIN_HOST: &str = "api.screenname.aol.com";
/// libpurple's startOSCARSession host (AIM).
pub const START_SESSION_HOST: &str = "api.oscar.aol.com";

/// The domains the lab CA may sign for: AOL's and ICQ's, as a real deployment's CA would
/// be constrained. Names outside get no leaf, and the handshake fails.
pub const LAB_CA_NAMES: &[&str] = &["aol.com", "aim.com", "icq.com", "icq.net"];

/// How many leaves the lab keeps minted; it serves a handful of names.
const LEAF_CACHE: u64 = 64;

/// Where the lab's TLS listeners bind. Port 0 picks a free one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabTlsConfig {
    /// The SSL authorizer: TLS from the first byte, then BUCP or legacy login.
    pub auth: SocketAddr,
    /// The TLS BOS listener (also chat navigation, as the plain one).
    pub bos: SocketAddr,
    /// The TLS chat listener.
    pub chat: SocketAddr,
    /// The HTTPS clientLogin / startOSCARSession API.
    pub api: SocketAddr,
    /// The domains the lab CA may sign for (its name constraints).
    pub permitted: Vec<String>,
}

impl Default for LabTlsConfig {
    fn default() -> Self {
        Self::ephemeral()
    }
}

impl LabTlsConfig {
    /// Every TLS listener on loopback with a free port, over [`LAB_CA_NAMES`].
    pub fn ephemeral() -> Self {
        Self::on(std::net::IpAddr::from([127, 0, 0, 1]))
    }

    /// Every TLS listener on `ip` with a free port, over [`LAB_CA_NAMES`].
    pub fn on(ip: std::net::IpAddr) -> Self {
        let free = SocketAddr::new(ip, 0);
        Self {
            auth: free,
            bos: free,
            chat: free,
            api: free,
            permitted: LAB_CA_NAMES.iter().map(|n| (*n).to_owned()).collect(),
        }
    }
}

/// Where a running lab's TLS listeners are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsListeners {
    /// The SSL authorizer.
    pub auth: SocketAddr,
    /// The TLS BOS listener.
    pub bos: SocketAddr,
    /// The TLS chat listener.
    pub chat: SocketAddr,
    /// The HTTPS API listener.
    pub api: SocketAddr,
}

/// The lab CA and the rustls server configurations made from it.
pub(crate) struct LabTls {
    /// The CA certificate, PEM, for clients to trust.
    pub(crate) ca_pem: String,
    /// For the OSCAR listeners: no ALPN.
    pub(crate) oscar: Arc<ServerConfig>,
    /// For the API listener: ALPN `http/1.1`, the only HTTP the lab speaks.
    pub(crate) api: Arc<ServerConfig>,
}

impl LabTls {
    /// Mints a fresh CA constrained to `config.permitted` and the server configurations
    /// over it.
    pub(crate) fn new(config: &LabTlsConfig) -> Result<Self, LabError> {
        let scope = NameScope::permitted(&config.permitted)?;
        let ca = Ca::create(
            KeyKind::EcdsaP256,
            &scope,
            "IMtegrity lab upstream CA",
            time::OffsetDateTime::now_utc(),
        )?;
        let ca_pem = ca.cert_pem();
        // The CA's own constraints already limit the names; the issuer adds none.
        let issuer = Issuer::new(
            Arc::new(ca),
            NameScope::unconstrained(),
            time::Duration::days(2),
            Arc::new(SystemClock),
        )?;
        let cache = Arc::new(LeafCache::for_issuer(
            issuer,
            LEAF_CACHE,
            time::Duration::hours(1),
        ));
        let resolver = Arc::new(CertResolver::new(cache, BOS_CERT_NAME));
        let build = |alpn: &[&[u8]]| -> Result<Arc<ServerConfig>, LabError> {
            let mut config = ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
            config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
            Ok(Arc::new(config))
        };
        Ok(Self {
            ca_pem,
            oscar: build(&[])?,
            api: build(&[b"http/1.1"])?,
        })
    }
}

impl std::fmt::Debug for LabTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LabTls").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_lab_ca_is_constrained_to_the_configured_domains() {
        let tls = LabTls::new(&LabTlsConfig::ephemeral()).unwrap();
        assert!(tls.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        let mut config = LabTlsConfig::ephemeral();
        config.permitted.clear();
        assert!(matches!(
            LabTls::new(&config),
            Err(LabError::Certs(certs::CertError::NoPermittedNames))
        ));
    }
}
