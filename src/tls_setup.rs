//! From `[tls]` to the pieces that use the gateway CA: the leaf issuer (`ca issue`) and the
//! rustls server configuration the relay terminates client TLS with (`run`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use certs::{Ca, CaPaths, CertResolver, Issuer, LeafCache, NameScope, SystemClock};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use settings::{TlsConfig, UpstreamConfig};

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
        .map_err(|e| crate::exit::UsageError(format!("invalid tls.permitted: {e}")))?;
    Ok(Issuer::new(
        Arc::new(Ca::load(dir)?),
        scope,
        time::Duration::hours(i64::from(tls.leaf_hours)),
        Arc::new(SystemClock),
    )?)
}

/// The relay's client-side TLS: a server configuration whose leaves are minted per SNI
/// name (or `tls.default_name`) from a bounded cache, TLS 1.2 and 1.3 with the ring
/// provider, and the names those leaves can be for.
pub(crate) fn client_tls(
    tls: &TlsConfig,
    dir: &Path,
) -> Result<intercept::TlsTermination, Box<dyn std::error::Error + Send + Sync>> {
    let cache = Arc::new(LeafCache::for_issuer(
        issuer(tls, dir)?,
        tls.cache_size,
        time::Duration::hours(i64::from(tls.renew_before_hours)),
    ));
    let resolver = CertResolver::new(cache.clone(), tls.default_name.clone());
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_cert_resolver(Arc::new(resolver));
    Ok(intercept::TlsTermination {
        server: Arc::new(server),
        presentable: Arc::new(move |name: &str| cache.source().permits(name)),
        fallback_name: tls.default_name.clone(),
    })
}

/// How the relay verifies upstream TLS: the system trust store plus the CAs in
/// `upstream.tls_roots`, or nothing at all with `upstream.tls_insecure` (a lab only).
pub(crate) fn upstream_client_config(
    upstream: &UpstreamConfig,
) -> Result<Arc<rustls::ClientConfig>, Box<dyn std::error::Error + Send + Sync>> {
    let mut roots = Vec::new();
    for (i, path) in upstream.tls_roots.iter().enumerate() {
        let key = format!("upstream.tls_roots[{i}]");
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| crate::exit::UsageError(format!("{key}: {}: {e}", path.display())))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| crate::exit::UsageError(format!("{key}: {}: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(crate::exit::UsageError(format!(
                "{key}: {}: no PEM certificate in the file",
                path.display()
            ))
            .into());
        }
        roots.extend(certs);
    }
    if upstream.tls_insecure {
        tracing::warn!(
            "upstream.tls_insecure: upstream certificates are NOT verified; use only with a lab upstream"
        );
    }
    Ok(intercept::upstream_client_config(
        roots,
        upstream.tls_insecure,
    )?)
}
