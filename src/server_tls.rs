//! One certificate for one name, for the gateway's own servers (the ingest endpoint, the
//! reviewer console): a leaf for the name issued by the gateway CA, minted at start (so a name
//! the CA may not issue for stops the start instead of every handshake) and renewed before it
//! ends, as the relay's are.

use std::fmt;
use std::sync::Arc;

use certs::{Ca, Issuer, LeafCache, NameScope, SystemClock};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use settings::Config;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The gateway CA and a resolver that serves `name`'s leaf from it. `key` names the setting
/// in errors (`ingest`, `console`); `hint` says what else to change for another name.
pub(crate) fn one_name_leaf(
    config: &Config,
    key: &str,
    name: &str,
    hint: &str,
) -> Result<(Arc<Ca>, Arc<dyn ResolvesServerCert>), BoxError> {
    let dir = crate::tls_setup::ca_dir(&config.tls);
    if !crate::tls_setup::has_ca(&dir) {
        return Err(format!(
            "{key}.tls: no gateway CA in {} to issue the certificate (`imtegrity ca init`, or \
             tls.ca_dir)",
            dir.display()
        )
        .into());
    }
    let ca =
        Arc::new(Ca::load(&dir).map_err(|e| format!("the gateway CA in {}: {e}", dir.display()))?);
    let not_issuable = |e: certs::CertError| {
        format!(
            "{key}.name {name:?}: {e}. Put its domain in tls.permitted before `imtegrity ca \
             init`, or set {key}.name to a name the CA may issue for{hint}"
        )
    };
    // The issuer may mint this one name only, whatever else the CA could sign.
    let issuer = Issuer::new(
        ca.clone(),
        NameScope::permitted([name]).map_err(not_issuable)?,
        time::Duration::hours(i64::from(config.tls.leaf_hours)),
        Arc::new(SystemClock),
    )?;
    let cache = Arc::new(LeafCache::for_issuer(
        issuer,
        1,
        time::Duration::hours(i64::from(config.tls.renew_before_hours)),
    ));
    cache.get(name).map_err(not_issuable)?;
    Ok((
        ca,
        Arc::new(OneName {
            cache,
            name: name.to_owned(),
        }),
    ))
}

/// Serves the one leaf whatever name the client asked for: a client that asked for another
/// name then says so itself ("not valid for name"), which is clearer in its log than a
/// refused handshake.
struct OneName {
    cache: Arc<LeafCache>,
    name: String,
}

impl ResolvesServerCert for OneName {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        match self.cache.get(&self.name) {
            Ok(key) => Some(key),
            Err(error) => {
                tracing::warn!(name = %self.name, %error, "minting the server's leaf failed; handshake refused");
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
