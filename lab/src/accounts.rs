//! Who may log in to the lab server.

use std::collections::HashMap;

use record::normalize_screen_name;

/// The lab's account list: a fixed set of screen names with passwords, or "any password"
/// where every name logs in with whatever it types.
#[derive(Debug, Clone, Default)]
pub enum Accounts {
    /// Every screen name is accepted with any password (the default; handy by hand).
    #[default]
    AnyPassword,
    /// Only these accounts, keyed by normalised screen name.
    List(HashMap<String, String>),
}

impl Accounts {
    /// Accounts from `name:password` pairs.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self::List(
            pairs
                .into_iter()
                .map(|(n, p)| (normalize_screen_name(n), p.to_owned()))
                .collect(),
        )
    }

    /// Whether `screen_name` exists.
    pub fn knows(&self, screen_name: &str) -> bool {
        match self {
            Self::AnyPassword => true,
            Self::List(map) => map.contains_key(&normalize_screen_name(screen_name)),
        }
    }

    /// The password to check against; `None` means any password is accepted.
    pub fn password(&self, screen_name: &str) -> Option<&str> {
        match self {
            Self::AnyPassword => None,
            Self::List(map) => map
                .get(&normalize_screen_name(screen_name))
                .map(String::as_str),
        }
    }
}
