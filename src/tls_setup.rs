//! From `[tls]` to the pieces that use the gateway CA: the leaf issuer (`ca issue`) and the
//! rustls server configuration the relay terminates client TLS with (`run`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use certs::{Ca, CaPaths, CertResolver, Issuer, LeafCache, NameScope, SystemClock};
use policy::TlsConfig;

/// The CA directory `[tls]` names, or the default data directory.
pub(crate) fn ca_dir(tls: &TlsConfig) -> PathBuf {
    tls.ca_dir
        .clone()
        .unwrap_or_else(|| crate::archive_access::data_dir("ca"))
}

/// Whether `dir` holds a CA certificate.
pub(crate) fn has_ca(dir: &Path) -> bool {
    CaPaths::in_dir(dir).cert.exists()
}

/// An issuer of leaves under the CA in `dir`, for the names `tls.permitted` allows.
pub(crate) fn issuer(
    tls: &TlsConfig,
    dir: &Path,
) -> Result<Issuer, Box<dyn std::error::Error + Send + Sync>> {
    let scope = NameScope::permitted(&tls.permitted)
        .map_err(|e| crate::cli::UsageError(format!("invalid tls.permitted: {e}")))?;
    Ok(Issuer::new(
        Arc::new(Ca::load(dir)?),
        scope,
        time::Duration::hours(i64::from(tls.leaf_hours)),
        Arc::new(SystemClock),
    )?)
}

/// The relay's TLS server configuration: leaves minted per SNI name (or `tls.default_name`)
/// from a bounded cache, TLS 1.2 and 1.3 with the ring provider.
pub(crate) fn server_config(
    tls: &TlsConfig,
    dir: &Path,
) -> Result<Arc<rustls::ServerConfig>, Box<dyn std::error::Error + Send + Sync>> {
    let cache = LeafCache::for_issuer(
        issuer(tls, dir)?,
        tls.cache_size,
        time::Duration::hours(i64::from(tls.renew_before_hours)),
    );
    let resolver = CertResolver::new(Arc::new(cache), tls.default_name.clone());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_cert_resolver(Arc::new(resolver));
    Ok(Arc::new(config))
}
