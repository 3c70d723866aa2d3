//! `[tls]`: the interception CA's directory, permitted names, default name and leaf
//! lifetimes, and what makes a name a certificate name.

use crate::config::{ConfigError, TlsConfig, defaults};

/// `[tls]`: a CA that can only sign for the names it is meant to, and leaves that clients
/// accept.
pub(super) fn check(tls: &TlsConfig) -> Result<(), ConfigError> {
    if tls
        .ca_dir
        .as_ref()
        .is_some_and(|p| p.as_os_str().is_empty())
    {
        return Err(ConfigError::invalid(
            "tls.ca_dir",
            "empty; leave the key out for the default directory",
        ));
    }
    if tls.permitted.is_empty() {
        return Err(ConfigError::invalid(
            "tls.permitted",
            "empty: the CA could issue for no name (default: the AIM and ICQ domains)",
        ));
    }
    let mut permitted = Vec::with_capacity(tls.permitted.len());
    for (i, name) in tls.permitted.iter().enumerate() {
        let key = || format!("tls.permitted[{i}]");
        if let Some(base) = name.trim().strip_prefix("*.") {
            return Err(ConfigError::invalid(
                key(),
                format!("{name:?}: an entry already covers every name below it; write {base:?}"),
            ));
        }
        let name = tls_name(name).map_err(|e| ConfigError::invalid(key(), e))?;
        if !name.contains('.') {
            return Err(ConfigError::invalid(
                key(),
                format!(
                    "{name:?} is a whole top-level domain: the CA could sign for every name in it"
                ),
            ));
        }
        permitted.push(name);
    }
    let default_name =
        tls_name(&tls.default_name).map_err(|e| ConfigError::invalid("tls.default_name", e))?;
    if !permitted.iter().any(|base| within(&default_name, base)) {
        return Err(ConfigError::invalid(
            "tls.default_name",
            format!(
                "{default_name} is outside tls.permitted, so clients without SNI would get no \
                 certificate"
            ),
        ));
    }
    if tls.leaf_hours == 0 || tls.leaf_hours > defaults::TLS_MAX_LEAF_HOURS {
        return Err(ConfigError::invalid(
            "tls.leaf_hours",
            format!(
                "{} h: between 1 and {} (397 days, the most clients accept) (default: {})",
                tls.leaf_hours,
                defaults::TLS_MAX_LEAF_HOURS,
                defaults::TLS_LEAF_HOURS
            ),
        ));
    }
    if u64::from(tls.renew_before_hours) * 2 > u64::from(tls.leaf_hours) {
        return Err(ConfigError::invalid(
            "tls.renew_before_hours",
            format!(
                "{} h is more than half of tls.leaf_hours ({} h): leaves would be replaced \
                 almost as soon as they are made (default: {})",
                tls.renew_before_hours,
                tls.leaf_hours,
                defaults::TLS_RENEW_BEFORE_HOURS
            ),
        ));
    }
    if tls.cache_size == 0 {
        return Err(ConfigError::invalid(
            "tls.cache_size",
            format!(
                "0 would mint a leaf for every connection (default: {})",
                defaults::TLS_CACHE_SIZE
            ),
        ));
    }
    Ok(())
}

/// `name` as a certificate name: a DNS name, lower case, no trailing dot, no wildcard, not
/// an IP address.
pub(super) fn tls_name(name: &str) -> Result<String, String> {
    match crate::dns::NamePattern::parse(name)? {
        crate::dns::NamePattern::Subtree(_) => {
            Err(format!("{name:?}: a certificate name cannot be a wildcard"))
        }
        crate::dns::NamePattern::Exact(n) => {
            if n.rsplit('.')
                .next()
                .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
            {
                return Err(format!(
                    "{name:?}: an IP address; certificates are issued for names only"
                ));
            }
            Ok(n)
        }
    }
}

/// Whether `name` is `base` or below it.
fn within(name: &str, base: &str) -> bool {
    name == base
        || name
            .strip_suffix(base)
            .is_some_and(|head| head.ends_with('.'))
}
