//! The redirected names: exact names and `*.suffix` subtrees, matched case-insensitively.

use std::collections::HashSet;
use std::fmt;

/// The AIM and ICQ login and service names clients resolve themselves (oscar.md §2.7).
/// Everything else a client connects to comes from server messages the relay rewrites.
pub const BUILTIN_NAMES: &[&str] = &[
    "login.oscar.aol.com",
    "login.messaging.aol.com",
    "login.login-grt.messaging.aol.com",
    "slogin.oscar.aol.com",
    "api.oscar.aol.com",
    "api.screenname.aol.com",
    "ars.oscar.aol.com",
    "bos.oscar.aol.com",
    "kdc.uas.aol.com",
    "*.oscar.aol.com",
    "login.icq.com",
    "slogin.icq.com",
    "ars.icq.com",
    "api.login.icq.net",
    "api.icq.net",
    "icq4.mirabilis.com",
    "icq5.mirabilis.com",
];

/// One entry of the name list.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NamePattern {
    /// This name only (lower case, no trailing dot).
    Exact(String),
    /// Every name strictly below this one (`*.oscar.aol.com` holds `oscar.aol.com`), as a
    /// DNS wildcard does: the suffix itself is not matched.
    Subtree(String),
}

impl NamePattern {
    /// Parses `name`, `name.` or `*.name`; labels are letters, digits, `-` and `_`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let lower = text.trim().trim_end_matches('.').to_ascii_lowercase();
        let (subtree, name) = match lower.strip_prefix("*.") {
            Some(rest) => (true, rest.to_owned()),
            None => (false, lower),
        };
        if name.is_empty() {
            return Err(format!("{text:?}: empty name"));
        }
        if name.len() > 253 {
            return Err(format!("{text:?}: longer than 253 characters"));
        }
        for label in name.split('.') {
            if label.is_empty() || label.len() > 63 {
                return Err(format!("{text:?}: every label must be 1 to 63 characters"));
            }
            if !label.bytes().all(host_name_byte) {
                return Err(format!(
                    "{text:?}: only letters, digits, '-' and '_' (and a leading '*.') are allowed"
                ));
            }
        }
        // `*.com` would send every name in a top-level domain to the gateway, which is never
        // what a network team means.
        if subtree && !name.contains('.') {
            return Err(format!(
                "{text:?}: a wildcard needs at least two labels after \"*.\" (like *.example.com), or it takes a whole top-level domain"
            ));
        }
        Ok(if subtree {
            Self::Subtree(name)
        } else {
            Self::Exact(name)
        })
    }
}

/// Whether `b` may appear in a label of a redirected name (lower case after parsing).
fn host_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

impl fmt::Display for NamePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(n) => f.write_str(n),
            Self::Subtree(n) => write!(f, "*.{n}"),
        }
    }
}

/// Why a name is redirected: the rule that matched, and the zone a negative answer's SOA
/// is owned by (the name itself, or the subtree's apex).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameMatch<'a> {
    /// The zone the answer speaks for: the exact name, or the wildcard's suffix.
    pub zone: &'a str,
    /// Whether a `*.` rule matched.
    pub wildcard: bool,
}

/// The redirected names, ready for matching on every query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameSet {
    exact: HashSet<String>,
    subtrees: HashSet<String>,
}

impl NameSet {
    /// Builds the set from patterns (duplicates are harmless).
    pub fn new(patterns: impl IntoIterator<Item = NamePattern>) -> Self {
        let mut set = Self::default();
        for p in patterns {
            match p {
                NamePattern::Exact(n) => set.exact.insert(n),
                NamePattern::Subtree(n) => set.subtrees.insert(n),
            };
        }
        set
    }

    /// The built-in list (if `builtin`) plus `extra`; the first bad entry is an error.
    pub fn from_config(builtin: bool, extra: &[String]) -> Result<Self, String> {
        let builtin = BUILTIN_NAMES
            .iter()
            .filter(|_| builtin)
            .map(|s| (*s).to_owned());
        let mut patterns = Vec::new();
        for text in builtin.chain(extra.iter().cloned()) {
            patterns.push(NamePattern::parse(&text)?);
        }
        Ok(Self::new(patterns))
    }

    /// How many patterns there are.
    pub fn len(&self) -> usize {
        self.exact.len() + self.subtrees.len()
    }

    /// Whether no name is redirected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `name` (lower case, no trailing dot, in presentation form) is redirected, and
    /// by which rule. An exact entry wins over a subtree; a longer subtree over a shorter one.
    ///
    /// Matching is by whole labels. A name whose labels hold anything but letters, digits,
    /// `-` and `_` never matches: in presentation form a dot inside a label is written `\.`,
    /// and splitting `login\.oscar.aol.com` (three labels under `aol.com`) at its dots would
    /// find the suffix `oscar.aol.com` that the name does not have. No pattern can hold such
    /// a label, so refusing them loses nothing.
    pub fn lookup<'n>(&self, name: &'n str) -> Option<NameMatch<'n>> {
        if !name
            .split('.')
            .all(|label| !label.is_empty() && label.bytes().all(host_name_byte))
        {
            return None;
        }
        if self.exact.contains(name) {
            return Some(NameMatch {
                zone: name,
                wildcard: false,
            });
        }
        // Each proper suffix after a dot, longest first.
        let mut rest = name;
        while let Some((_, suffix)) = rest.split_once('.') {
            if self.subtrees.contains(suffix) {
                return Some(NameMatch {
                    zone: suffix,
                    wildcard: true,
                });
            }
            rest = suffix;
        }
        None
    }

    /// Every pattern, sorted, for `check-config` and the logs.
    pub fn patterns(&self) -> Vec<NamePattern> {
        let mut all: Vec<NamePattern> = self
            .exact
            .iter()
            .cloned()
            .map(NamePattern::Exact)
            .chain(self.subtrees.iter().cloned().map(NamePattern::Subtree))
            .collect();
        all.sort_by_key(|p| p.to_string());
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(patterns: &[&str]) -> NameSet {
        NameSet::new(patterns.iter().map(|p| NamePattern::parse(p).unwrap()))
    }

    #[test]
    fn exact_and_subtree() {
        let s = set(&["login.oscar.aol.com", "*.icq.com"]);
        assert!(s.lookup("login.oscar.aol.com").is_some());
        assert!(s.lookup("oscar.aol.com").is_none());
        assert!(s.lookup("xlogin.oscar.aol.com").is_none());
        let m = s.lookup("a.b.icq.com").unwrap();
        assert_eq!(m.zone, "icq.com");
        assert!(m.wildcard);
        // A wildcard does not match its own apex.
        assert!(s.lookup("icq.com").is_none());
        assert!(s.lookup("icq.com.evil").is_none());
    }

    /// A label holding a dot (`login\.oscar` as a presentation name shows it) is one label:
    /// such a name is under `aol.com`, not under `oscar.aol.com`, and matches neither the
    /// wildcard nor the exact name it looks like once the dot is read as a separator.
    #[test]
    fn wildcards_match_whole_labels_only() {
        let s = set(&["login.oscar.aol.com", "*.oscar.aol.com"]);
        assert_eq!(s.lookup("x.oscar.aol.com").unwrap().zone, "oscar.aol.com");
        for hostile in [
            "login\\.oscar.aol.com",
            "x\\.oscar.aol.com",
            "a.login\\.oscar.aol.com",
            "x\\046oscar.aol.com",
            "x.oscar.aol.com\\.",
            ".oscar.aol.com",
            "x..oscar.aol.com",
            "x.oscar.aol.com.",
            "x y.oscar.aol.com",
            "",
        ] {
            assert_eq!(s.lookup(hostile), None, "{hostile:?}");
        }
    }

    #[test]
    fn longest_subtree_names_the_zone() {
        let s = set(&["*.aol.com", "*.oscar.aol.com"]);
        assert_eq!(s.lookup("bos.oscar.aol.com").unwrap().zone, "oscar.aol.com");
        assert_eq!(s.lookup("www.aol.com").unwrap().zone, "aol.com");
    }

    #[test]
    fn parse_normalises_and_rejects() {
        assert_eq!(
            NamePattern::parse("Login.OSCAR.aol.com.").unwrap(),
            NamePattern::Exact("login.oscar.aol.com".into())
        );
        assert_eq!(
            NamePattern::parse("*.Example.NET").unwrap().to_string(),
            "*.example.net"
        );
        for bad in [
            "",
            "*.",
            "a..b",
            "a b.com",
            "*.*.x",
            "x*.y",
            &"a".repeat(64),
        ] {
            assert!(NamePattern::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn builtin_list_parses_and_covers_the_login_hosts() {
        let s = NameSet::from_config(true, &[]).unwrap();
        assert_eq!(s.len(), BUILTIN_NAMES.len());
        for host in [
            "login.oscar.aol.com",
            "slogin.icq.com",
            "api.screenname.aol.com",
        ] {
            assert!(s.lookup(host).is_some(), "{host}");
        }
        assert!(NameSet::from_config(false, &[]).unwrap().is_empty());
    }
}
