//! [`SecretUrl`]: a configured URL that may carry a secret (a proxy's `user:password@`, a
//! webhook's token in its path or query), kept whole for the code that connects and shown
//! everywhere else as scheme and host only, so no `Debug`, `Display`, log line, error or
//! `check-config --print` can leak it by accident.

use std::fmt;

use serde::{Deserialize, Serialize, Serializer};

/// A URL whose user information, path and query are secret. `Debug`, `Display` and
/// `Serialize` give [`SecretUrl::redacted`]; only [`SecretUrl::expose`] gives the URL.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct SecretUrl(String);

impl SecretUrl {
    /// Wraps `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL itself, for the code that connects with it. Never log or print this.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What may be shown: `scheme://host:port`, with `***@` where user information was and
    /// `/…` where a path or query was (`https://hooks.example.com/…`,
    /// `socks5://***@proxy.corp:1080`). Where the host cannot be told for sure (no
    /// `scheme://`, or an `@` after a `/`, `?` or `#`), only `scheme://…` or `…`.
    pub fn redacted(&self) -> String {
        redact(&self.0)
    }
}

/// See [`SecretUrl::redacted`].
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "…".to_owned();
    };
    // Only a real scheme (RFC 3986: a letter, then letters, digits, `+`, `-`, `.`) is shown:
    // in a value like `gw:secret@proxy:1080x://…` everything before `://` is user text,
    // password included (found by the `secret_text` fuzz target).
    if !is_scheme(scheme) {
        return "…".to_owned();
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    // User information ends at the last `@`; one after a `/`, `?` or `#` (a password with
    // a slash in it, or an address in a query) leaves where the host is unclear.
    let (userinfo, host) = match rest.rfind('@') {
        None => ("", authority),
        Some(at) if at < end => ("***@", &authority[at + 1..]),
        Some(_) => return format!("{scheme}://…"),
    };
    let tail = if tail.is_empty() || tail == "/" {
        tail
    } else {
        "/…"
    };
    format!("{scheme}://{userinfo}{host}{tail}")
}

/// Whether `text` is a URL scheme (RFC 3986: a letter, then letters, digits, `+`, `-`, `.`),
/// and so safe to show: text before `://` that is not may be user information.
pub(crate) fn is_scheme(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_alphabetic())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

impl From<&str> for SecretUrl {
    fn from(url: &str) -> Self {
        Self::new(url)
    }
}

impl From<String> for SecretUrl {
    fn from(url: String) -> Self {
        Self(url)
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretUrl({:?})", self.redacted())
    }
}

/// Serialized redacted: `check-config --print` and `--json` show what `Display` shows.
impl Serialize for SecretUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_scheme_and_host_only() {
        for (url, shown) in [
            (
                "https://hooks.example.com/services/T0/B0/XyZsecret",
                "https://hooks.example.com/…",
            ),
            (
                "https://hooks.example.com:8443?token=XyZsecret",
                "https://hooks.example.com:8443/…",
            ),
            (
                "socks5://gw:XyZsecret@proxy.corp:1080",
                "socks5://***@proxy.corp:1080",
            ),
            (
                "http://gw:p@ss@word@proxy.corp:3128/",
                "http://***@proxy.corp:3128/",
            ),
            ("http://proxy.corp:3128", "http://proxy.corp:3128"),
            ("socks5://gw:Xy/Zsecret@proxy.corp:1080", "socks5://…"),
            ("https://h.example/hook?to=XyZsecret@corp", "https://…"),
            ("gw:XyZsecret@proxy.corp:1080", "…"),
            (
                "sockskce:Sup3rSecretPassw0rd@p:1080ecretP05://alice:Sup3rSecretPassw0rd@p:1080",
                "…",
            ),
            ("1http://proxy.corp:3128", "…"),
        ] {
            let secret = SecretUrl::from(url);
            assert_eq!(secret.to_string(), shown, "{url}");
            assert_eq!(format!("{secret:?}"), format!("SecretUrl({shown:?})"));
            let table = std::collections::BTreeMap::from([("url", secret.clone())]);
            assert_eq!(
                toml::to_string(&table).unwrap(),
                format!("url = {shown:?}\n")
            );
            assert_eq!(secret.expose(), url);
        }
    }

    #[test]
    fn hostile_text_shows_no_password() {
        for text in [
            "socks5://user:LongPassword12@",
            "socks5://:LongPassword12@h:1/x",
            "://user:LongPassword12@h",
            "http://user:LongPassword12@h:1@",
            "http://user:LongPassword12",
            "http://u:LongPassword12@h:99999",
            "\u{0}://u:LongPassword12@\u{10ffff}",
        ] {
            crate::fuzzing::secret_text(text.as_bytes());
        }
    }

    #[test]
    fn deserializes_the_whole_url() {
        let table: std::collections::BTreeMap<String, SecretUrl> =
            toml::from_str("url = \"https://h.example/XyZsecret\"").unwrap();
        assert_eq!(table["url"].expose(), "https://h.example/XyZsecret");
    }
}
