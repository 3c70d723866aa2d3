//! `[tls]`: the gateway CA and the leaf certificates it mints for intercepted TLS
//! connections, edited by the network team (and whoever runs the enterprise PKI).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::defaults;

/// `[tls]`: where the CA lives, what `imtegrity ca init` creates, and how leaves are minted
/// and cached.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// The directory holding `ca.pem`, `ca.key` (and `chain.pem` for an enterprise sub-CA).
    /// Default: unset; the caller's data directory (`/var/lib/imtegrity/ca` for root).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_dir: Option<PathBuf>,
    /// The key type `imtegrity ca init` generates. Default: `ecdsa-p256`.
    pub ca_key: CaKey,
    /// The DNS subtrees the CA may issue for: its name constraints, fixed when the CA is
    /// created, and the names leaves are minted for. Each holds the name and every name
    /// below it. Default: the domains of the built-in AIM/ICQ names, not all of `aol.com`.
    pub permitted: Vec<String>,
    /// The name on the leaf for clients that send no SNI. Default: `slogin.oscar.aol.com`.
    pub default_name: String,
    /// Hours a leaf is valid (from an hour before it is minted). Default: 168 (7 days); at
    /// most 9528 (397 days, what clients accept).
    pub leaf_hours: u32,
    /// Hours before its end a leaf is replaced on its next use. Default: 24; at most half
    /// of `leaf_hours`.
    pub renew_before_hours: u32,
    /// Leaves kept in memory, least recently used out first. Default: 1024.
    pub cache_size: u64,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            ca_dir: None,
            ca_key: CaKey::EcdsaP256,
            permitted: defaults::tls_permitted(),
            default_name: defaults::TLS_DEFAULT_NAME.to_owned(),
            leaf_hours: defaults::TLS_LEAF_HOURS,
            renew_before_hours: defaults::TLS_RENEW_BEFORE_HOURS,
            cache_size: defaults::TLS_CACHE_SIZE,
        }
    }
}

/// The CA key type `imtegrity ca init` generates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
pub enum CaKey {
    /// ECDSA P-256: small and fast; every TLS 1.2 and 1.3 client takes it.
    #[default]
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
    /// RSA-2048, for trust stores or management tools that want an RSA root. Leaves are
    /// still P-256.
    #[serde(rename = "rsa-2048")]
    Rsa2048,
}
