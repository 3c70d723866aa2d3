//! `HostPort`: a host name or IP address with a port, as written in the configuration
//! (`login.oscar.aol.com:5190`, `10.0.0.5:5190`, `[2001:db8::1]:5190`) or handed out by a
//! server (a redirect's address, a login API answer), and carried typed from there to the
//! connect.

use std::fmt;
use std::net::{Ipv6Addr, SocketAddr};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Longest DNS name, in its textual form without the trailing dot (RFC 1035 §2.3.4).
const MAX_HOST_LEN: usize = 253;

/// A host (DNS name, IPv4 or IPv6 address) and a port. Parsed once: when the config loads,
/// or with [`HostPort::new`] where it comes off the network.
///
/// Written `host:port`; an IPv6 address goes in brackets (`[::1]:5190`). The port is
/// required by [`HostPort::parse`] (use [`HostPort::parse_with_default_port`] where it is
/// optional). Port 0 parses; whether it is acceptable is for the caller's validation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    /// Without brackets: `::1`, not `[::1]`.
    host: String,
    port: u16,
}

/// Why a `host:port` string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostPortError {
    /// Nothing before the colon.
    #[error("`{0}` has no host; expected host:port, e.g. login.oscar.aol.com:5190")]
    EmptyHost(String),
    /// No `:port` at the end.
    #[error("`{0}` has no port; expected host:port, e.g. login.oscar.aol.com:5190")]
    MissingPort(String),
    /// The port is not a number from 0 to 65535.
    #[error("`{0}` has an invalid port; expected a number up to 65535")]
    InvalidPort(String),
    /// The host has characters a DNS name or IPv4 address cannot have, or is too long.
    #[error("`{0}` is not a valid host name or IP address")]
    InvalidHost(String),
    /// An IPv6 address without brackets: the port cannot be told apart from the address.
    #[error("`{0}`: write an IPv6 address in brackets, e.g. [2001:db8::1]:5190")]
    UnbracketedIpv6(String),
}

impl HostPort {
    /// Parses `host:port` (`[v6addr]:port` for IPv6).
    pub fn parse(text: &str) -> Result<Self, HostPortError> {
        match split(text)? {
            (host, Some(port)) => Ok(Self { host, port }),
            (_, None) => Err(HostPortError::MissingPort(text.to_owned())),
        }
    }

    /// Parses `host` or `host:port`, taking `default_port` when there is none (for
    /// addresses such as `relay.advertise`, where the port usually follows the listener).
    pub fn parse_with_default_port(text: &str, default_port: u16) -> Result<Self, HostPortError> {
        let (host, port) = split(text)?;
        Ok(Self {
            host,
            port: port.unwrap_or(default_port),
        })
    }

    /// A host and a port that arrived apart (a redirect's server address, a login API
    /// answer's `host` and `port`), checked as [`HostPort::parse`] checks the host: a DNS
    /// name, an IPv4 address, or an IPv6 address (without brackets). For values that come
    /// off the network, so a name that is none is refused where it arrives.
    pub fn new(host: &str, port: u16) -> Result<Self, HostPortError> {
        if host.is_empty() {
            return Err(HostPortError::EmptyHost(format!(":{port}")));
        }
        if !valid_name(host) && host.parse::<Ipv6Addr>().is_err() {
            // The host alone: it is what is wrong, and the port was never text.
            return Err(HostPortError::InvalidHost(host.to_owned()));
        }
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }

    /// A value known to be valid at compile time (the built-in defaults).
    pub(crate) fn from_static(host: &'static str, port: u16) -> Self {
        debug_assert!(valid_name(host), "invalid built-in host {host}");
        Self {
            host: host.to_owned(),
            port,
        }
    }

    /// The host name or address, without brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

/// Splits and checks `host[:port]`; the port is `None` when absent.
fn split(text: &str) -> Result<(String, Option<u16>), HostPortError> {
    let bad_port = || HostPortError::InvalidPort(text.to_owned());
    let parse_port = |p: &str| {
        // u16::from_str accepts a leading '+'; a port is digits only.
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad_port());
        }
        p.parse::<u16>().map_err(|_| bad_port())
    };
    if let Some(rest) = text.strip_prefix('[') {
        let Some((addr, after)) = rest.split_once(']') else {
            return Err(HostPortError::InvalidHost(text.to_owned()));
        };
        if addr.parse::<Ipv6Addr>().is_err() {
            return Err(HostPortError::InvalidHost(text.to_owned()));
        }
        let port = match after {
            "" => None,
            _ => match after.strip_prefix(':') {
                Some(p) => Some(parse_port(p)?),
                None => return Err(HostPortError::InvalidHost(text.to_owned())),
            },
        };
        return Ok((addr.to_owned(), port));
    }
    let (host, port) = match text.split_once(':') {
        Some((host, port)) if port.contains(':') => {
            return Err(if text.parse::<Ipv6Addr>().is_ok() || host.is_empty() {
                HostPortError::UnbracketedIpv6(text.to_owned())
            } else {
                HostPortError::InvalidHost(text.to_owned())
            });
        }
        Some((host, port)) => (host, Some(parse_port(port)?)),
        None => (text, None),
    };
    if host.is_empty() {
        return Err(HostPortError::EmptyHost(text.to_owned()));
    }
    if !valid_name(host) {
        return Err(HostPortError::InvalidHost(text.to_owned()));
    }
    Ok((host.to_owned(), port))
}

/// A DNS name or dotted IPv4 address: labels of letters, digits, `-` and `_`, separated by
/// single dots, at most 253 characters (a trailing dot is allowed).
fn valid_name(host: &str) -> bool {
    let body = host.strip_suffix('.').unwrap_or(host);
    !body.is_empty()
        && body.len() <= MAX_HOST_LEN
        && body.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// An address and port are always a valid `HostPort` (the address literal as its host).
impl From<SocketAddr> for HostPort {
    fn from(addr: SocketAddr) -> Self {
        Self {
            host: addr.ip().to_string(),
            port: addr.port(),
        }
    }
}

impl FromStr for HostPort {
    type Err = HostPortError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl Serialize for HostPort {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HostPort {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_name_ipv4_and_bracketed_ipv6() {
        let hp = HostPort::parse("login.oscar.aol.com:5190").unwrap();
        assert_eq!((hp.host(), hp.port()), ("login.oscar.aol.com", 5190));
        let hp = HostPort::parse("127.0.0.1:15190").unwrap();
        assert_eq!((hp.host(), hp.port()), ("127.0.0.1", 15190));
        let hp = HostPort::parse("[2001:db8::1]:443").unwrap();
        assert_eq!((hp.host(), hp.port()), ("2001:db8::1", 443));
        assert_eq!(hp.to_string(), "[2001:db8::1]:443");
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "login.oscar.aol.com:5190",
            "10.0.0.5:1",
            "[::1]:65535",
            "a_b-c.:0",
        ] {
            assert_eq!(HostPort::parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn port_is_required() {
        assert_eq!(
            HostPort::parse("login.oscar.aol.com"),
            Err(HostPortError::MissingPort("login.oscar.aol.com".into()))
        );
        assert!(matches!(
            HostPort::parse("[::1]"),
            Err(HostPortError::MissingPort(_))
        ));
    }

    #[test]
    fn port_zero_parses_for_validation_to_reject() {
        assert_eq!(HostPort::parse("example.com:0").unwrap().port(), 0);
    }

    #[test]
    fn rejects_malformed() {
        use HostPortError::*;
        for (text, want) in [
            (":5190", EmptyHost(":5190".into())),
            ("host:", InvalidPort("host:".into())),
            ("host:+1", InvalidPort("host:+1".into())),
            ("host:65536", InvalidPort("host:65536".into())),
            ("host:http", InvalidPort("host:http".into())),
            ("bad host:1", InvalidHost("bad host:1".into())),
            ("a..b:1", InvalidHost("a..b:1".into())),
            ("[not-v6]:1", InvalidHost("[not-v6]:1".into())),
            ("[::1]5190", InvalidHost("[::1]5190".into())),
            (
                "2001:db8::1:5190",
                UnbracketedIpv6("2001:db8::1:5190".into()),
            ),
            ("::1", UnbracketedIpv6("::1".into())),
        ] {
            assert_eq!(HostPort::parse(text), Err(want), "{text}");
        }
    }

    #[test]
    fn parts_are_checked_as_the_parser_checks_them() {
        let hp = HostPort::new("bos.oscar.aol.com", 5190).unwrap();
        assert_eq!(hp, HostPort::parse("bos.oscar.aol.com:5190").unwrap());
        assert_eq!(
            HostPort::new("64.12.30.168", 443).unwrap().to_string(),
            "64.12.30.168:443"
        );
        let v6 = HostPort::new("2001:db8::1", 443).unwrap();
        assert_eq!(v6, HostPort::parse("[2001:db8::1]:443").unwrap());
        use HostPortError::*;
        for (host, want) in [
            ("", EmptyHost(":5190".into())),
            ("bad host", InvalidHost("bad host".into())),
            ("a..b", InvalidHost("a..b".into())),
            ("bos:5190", InvalidHost("bos:5190".into())),
            ("[::1]", InvalidHost("[::1]".into())),
            ("bos\n", InvalidHost("bos\n".into())),
        ] {
            assert_eq!(HostPort::new(host, 5190), Err(want), "{host:?}");
        }
    }

    #[test]
    fn a_socket_address_is_its_address_and_port() {
        let v4: SocketAddr = "127.0.0.1:15190".parse().unwrap();
        assert_eq!(
            HostPort::from(v4),
            HostPort::parse("127.0.0.1:15190").unwrap()
        );
        let v6: SocketAddr = "[::1]:443".parse().unwrap();
        assert_eq!(HostPort::from(v6).to_string(), "[::1]:443");
        assert_eq!(HostPort::from(v6).host(), "::1");
    }

    #[test]
    fn default_port_applies_only_when_absent() {
        let hp = HostPort::parse_with_default_port("gw.example.com", 5190).unwrap();
        assert_eq!(hp.to_string(), "gw.example.com:5190");
        let hp = HostPort::parse_with_default_port("gw.example.com:443", 5190).unwrap();
        assert_eq!(hp.port(), 443);
        let hp = HostPort::parse_with_default_port("[::1]", 5190).unwrap();
        assert_eq!(hp.to_string(), "[::1]:5190");
    }
}
