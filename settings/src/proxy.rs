//! `upstream.proxy`: the corporate proxy upstream connections go through.

use std::fmt;

use crate::host_port::HostPort;

/// Which kind of proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    /// SOCKS5 (RFC 1928); the proxy resolves names.
    Socks5,
    /// HTTP CONNECT (RFC 9110 §9.3.6).
    HttpConnect,
}

/// A parsed proxy URL. The password is never shown by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    /// SOCKS5 or HTTP CONNECT.
    pub kind: ProxyKind,
    /// Where the proxy listens.
    pub address: HostPort,
    /// Username and password, if the proxy wants them.
    pub credentials: Option<(String, String)>,
}

impl ProxyUrl {
    /// Parses `socks5://[user:pass@]host:port` or `http://[user:pass@]host:port`. Errors
    /// never quote the text: it may hold the password.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (scheme, rest) = text
            .split_once("://")
            .ok_or("expected socks5://host:port or http://host:port")?;
        let kind = match scheme.to_ascii_lowercase().as_str() {
            "socks5" | "socks5h" => ProxyKind::Socks5,
            "http" => ProxyKind::HttpConnect,
            other if crate::secret_url::is_scheme(other) => {
                return Err(format!(
                    "unsupported proxy scheme {other:?} (socks5 or http)"
                ));
            }
            // Not a scheme: the text before `://` may hold user information, so it is not
            // quoted.
            _ => return Err("expected socks5://host:port or http://host:port".into()),
        };
        let rest = rest.trim_end_matches('/');
        let (credentials, host) = match rest.rsplit_once('@') {
            Some((user_pass, host)) => {
                let (user, pass) = user_pass
                    .split_once(':')
                    .ok_or("proxy credentials must be user:password")?;
                (Some((user.to_owned(), pass.to_owned())), host)
            }
            None => (None, rest),
        };
        // The host part follows the last `@`, so it cannot hold the password.
        let address = HostPort::parse(host).map_err(|e| format!("proxy address: {e}"))?;
        if address.port() == 0 {
            return Err("proxy port 0 cannot be connected to".into());
        }
        Ok(Self {
            kind,
            address,
            credentials,
        })
    }
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.kind {
            ProxyKind::Socks5 => "socks5",
            ProxyKind::HttpConnect => "http",
        };
        match &self.credentials {
            Some((user, _)) => write!(f, "{scheme}://{user}:***@{}", self.address),
            None => write!(f, "{scheme}://{}", self.address),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_kinds_and_hides_the_password() {
        let p = ProxyUrl::parse("socks5://127.0.0.1:1080").unwrap();
        assert_eq!(
            (p.kind, p.address.to_string()),
            (ProxyKind::Socks5, "127.0.0.1:1080".to_owned())
        );
        let p = ProxyUrl::parse("http://gw:s3cret@proxy.corp:3128/").unwrap();
        assert_eq!(p.kind, ProxyKind::HttpConnect);
        assert_eq!(p.credentials, Some(("gw".into(), "s3cret".into())));
        assert_eq!(p.to_string(), "http://gw:***@proxy.corp:3128");
        assert!(!format!("{p:?}").contains("s3cret"));
    }

    #[test]
    fn rejects_what_it_cannot_use() {
        for bad in [
            "proxy:1080",
            "ftp://p:21",
            "socks5://p",
            "socks5://p:0",
            "http://user@p:80",
        ] {
            assert!(ProxyUrl::parse(bad).is_err(), "{bad}");
        }
    }

    /// Text before `://` that is no scheme may be user information: it is never quoted.
    #[test]
    fn a_password_before_the_scheme_separator_is_not_quoted() {
        let err = ProxyUrl::parse("gw:Sup3rSecretPassw0rd@proxy:1080x://p:1080").unwrap_err();
        assert!(!err.contains("Sup3rSecret"), "{err}");
        let err = ProxyUrl::parse("ftp://p:21").unwrap_err();
        assert!(err.contains("\"ftp\""), "{err}");
    }
}
