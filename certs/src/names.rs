//! Host names: checking and normalising them, and the DNS subtrees (X.509 name constraints,
//! RFC 5280 §4.2.1.10) a CA may issue for.

use std::fmt;

use rustls::pki_types::DnsName;

use crate::CertError;

/// `name` as a leaf is issued for it: checked to be a DNS host name (no IP address, no
/// wildcard), lower case, without a trailing dot.
pub fn normalize(name: &str) -> Result<String, CertError> {
    let bad = |reason| CertError::BadName {
        name: name.to_owned(),
        reason,
    };
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    // DnsName takes one trailing dot as "fully qualified"; a second is an empty label, and
    // letting it through would make `x.` a different leaf (and cache entry) from `x`.
    if trimmed.ends_with('.') {
        return Err(bad("an empty label (two dots in a row)"));
    }
    if trimmed.contains('*') {
        return Err(bad(
            "wildcards are never issued; each host gets its own leaf",
        ));
    }
    DnsName::try_from(trimmed).map_err(|_| {
        bad("expected letters, digits, '-' and '_' in dot-separated labels of 1 to 63 characters, not an IP address")
    })?;
    Ok(trimmed.to_ascii_lowercase())
}

/// Whether `name` is `base` or below it (both normalised). A `base` with a leading dot (an
/// enterprise CA may have one) matches only names below it, as OpenSSL reads it.
fn within(name: &str, base: &str) -> bool {
    if let Some(parent) = base.strip_prefix('.') {
        return name.len() > parent.len() + 1 && name.ends_with(base);
    }
    name == base
        || (name.len() > base.len()
            && name.ends_with(base)
            && name.as_bytes()[name.len() - base.len() - 1] == b'.')
}

/// The DNS names a CA may issue for: its permitted subtrees (none: any name) minus its
/// excluded subtrees. A subtree `aol.com` holds `aol.com` and every name below it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct NameScope {
    permitted: Vec<String>,
    excluded: Vec<String>,
}

impl NameScope {
    /// The subtrees below each of `permitted` (at least one), each a DNS name.
    pub fn permitted<S: AsRef<str>>(
        permitted: impl IntoIterator<Item = S>,
    ) -> Result<Self, CertError> {
        let permitted = permitted
            .into_iter()
            .map(|n| normalize(n.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        if permitted.is_empty() {
            return Err(CertError::NoPermittedNames);
        }
        Ok(Self {
            permitted,
            excluded: Vec::new(),
        })
    }

    /// Every name (a CA certificate without name constraints).
    pub fn unconstrained() -> Self {
        Self::default()
    }

    /// A scope as read from a certificate's name constraints, kept as written there (lower
    /// case); leading dots are meaningful.
    pub(crate) fn from_constraints(permitted: Vec<String>, excluded: Vec<String>) -> Self {
        let lower = |v: Vec<String>| v.into_iter().map(|s| s.to_ascii_lowercase()).collect();
        Self {
            permitted: lower(permitted),
            excluded: lower(excluded),
        }
    }

    /// The permitted subtrees; empty means every name.
    pub fn permitted_subtrees(&self) -> &[String] {
        &self.permitted
    }

    /// The excluded subtrees.
    pub fn excluded_subtrees(&self) -> &[String] {
        &self.excluded
    }

    /// Whether a certificate for the normalised `name` is inside this scope.
    pub fn permits(&self, name: &str) -> bool {
        (self.permitted.is_empty() || self.permitted.iter().any(|base| within(name, base)))
            && !self.excluded.iter().any(|base| within(name, base))
    }

    /// [`permits`](Self::permits), as an error naming the scope.
    pub fn check(&self, name: &str) -> Result<(), CertError> {
        if self.permits(name) {
            Ok(())
        } else {
            Err(CertError::NotPermitted {
                name: name.to_owned(),
                permitted: self.to_string(),
            })
        }
    }
}

impl fmt::Display for NameScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.permitted.is_empty() {
            f.write_str("any name")?;
        } else {
            f.write_str(&self.permitted.join(", "))?;
        }
        if !self.excluded.is_empty() {
            write!(f, "; excluded: {}", self.excluded.join(", "))?;
        }
        Ok(())
    }
}

impl fmt::Debug for NameScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NameScope({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised_or_refused() {
        assert_eq!(
            normalize("Login.OSCAR.aol.com.").unwrap(),
            "login.oscar.aol.com"
        );
        for bad in [
            "",
            "*.oscar.aol.com",
            "127.0.0.1",
            "::1",
            "a..b",
            "bad name.aol.com",
            "-x.aol.com.-",
            &"a".repeat(64),
        ] {
            assert!(
                matches!(normalize(bad), Err(CertError::BadName { .. })),
                "{bad}"
            );
        }
    }

    /// What a client can put in SNI: refused or normalised, never a panic, and a
    /// normalised name normalises to itself.
    #[test]
    fn hostile_sni_names_are_refused_or_normalised_stably() {
        let scope = NameScope::permitted(["oscar.aol.com"]).unwrap();
        for name in [
            ".",
            "..",
            ".oscar.aol.com",
            "oscar.aol.com..",
            "x.oscar.aol.com\0",
            "\u{0}",
            "løgin.oscar.aol.com",
            &format!("{}.oscar.aol.com", "a.".repeat(200)),
            &"a".repeat(300),
            "aol.com",
            "coscar.aol.com",
        ] {
            if let Ok(n) = normalize(name) {
                assert_eq!(normalize(&n).unwrap(), n, "{name:?}");
                let _ = scope.permits(&n);
            }
            // Raw, unnormalised input must not trip the subtree test either.
            let _ = scope.permits(name);
        }
        assert!(!scope.permits("coscar.aol.com"));
        assert!(normalize(".oscar.aol.com").is_err());
    }

    #[test]
    fn a_subtree_holds_its_name_and_every_name_below_it_only() {
        let scope = NameScope::permitted(["oscar.aol.com", "ICQ.com"]).unwrap();
        for yes in [
            "oscar.aol.com",
            "login.oscar.aol.com",
            "a.b.oscar.aol.com",
            "icq.com",
            "slogin.icq.com",
        ] {
            assert!(scope.permits(yes), "{yes}");
        }
        for no in [
            "aol.com",
            "www.aol.com",
            "xoscar.aol.com",
            "oscar.aol.com.evil.example",
            "notícq.com",
            "www.example.org",
        ] {
            assert!(!scope.permits(no), "{no}");
        }
        let err = scope.check("www.example.org").unwrap_err();
        assert_eq!(
            err.to_string(),
            "www.example.org is outside the names this CA may issue for (oscar.aol.com, \
             icq.com); clients would reject a certificate for it"
        );
    }

    #[test]
    fn an_empty_permitted_list_is_refused() {
        let none: [&str; 0] = [];
        assert!(matches!(
            NameScope::permitted(none),
            Err(CertError::NoPermittedNames)
        ));
        assert!(NameScope::permitted(["10.0.0.1"]).is_err());
    }

    #[test]
    fn certificate_constraints_with_exclusions_and_leading_dots() {
        let scope = NameScope::from_constraints(
            vec!["Example.COM".into(), ".corp.example".into()],
            vec!["secret.example.com".into()],
        );
        assert!(scope.permits("example.com"));
        assert!(scope.permits("im.example.com"));
        assert!(!scope.permits("secret.example.com"));
        assert!(!scope.permits("x.secret.example.com"));
        // A leading dot: below the name, not the name itself.
        assert!(scope.permits("gw.corp.example"));
        assert!(!scope.permits("corp.example"));
        assert!(NameScope::unconstrained().permits("anything.example"));
        assert_eq!(
            scope.to_string(),
            "example.com, .corp.example; excluded: secret.example.com"
        );
    }
}
