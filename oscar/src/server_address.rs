//! The `host[:port]` strings servers hand out in TLV 0x0005 (oscar.md §3.3).

use std::fmt;

use crate::error::DecodeError;

/// A server address as carried in TLV 0x0005: a host (IPv4 literal or DNS name) and an
/// optional port. Without a port the client reuses the port of its current connection.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerAddress {
    /// IPv4 literal or DNS name. Never an IPv6 literal: the format cannot express one.
    pub host: String,
    /// Explicit port, if the server gave one.
    pub port: Option<u16>,
}

impl ServerAddress {
    /// An address with an explicit port.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Self {
            host: host.into(),
            port: Some(port),
        }
    }

    /// Parses `host[:port]`, splitting at the first colon as clients do.
    pub fn parse(raw: &[u8]) -> Result<Self, DecodeError> {
        let text = std::str::from_utf8(raw).map_err(|_| DecodeError::Invalid("host:port"))?;
        let (host, port) = match text.split_once(':') {
            Some((host, port)) => {
                // Digits only: `u16::from_str` would also take a leading '+'.
                let port = port
                    .bytes()
                    .all(|b| b.is_ascii_digit())
                    .then(|| port.parse::<u16>().ok())
                    .flatten()
                    .ok_or(DecodeError::Invalid("host:port port"))?;
                (host, Some(port))
            }
            None => (text, None),
        };
        if host.is_empty()
            || host
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(DecodeError::Invalid("host:port host"));
        }
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }

    /// The port, or `default` when the server gave none.
    pub fn port_or(&self, default: u16) -> u16 {
        self.port.unwrap_or(default)
    }
}

impl fmt::Display for ServerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let hp = ServerAddress::parse(b"64.12.30.168:5190").unwrap();
        assert_eq!(hp, ServerAddress::new("64.12.30.168", 5190));
        assert_eq!(hp.to_string(), "64.12.30.168:5190");
        let bare = ServerAddress::parse(b"bos.example").unwrap();
        assert_eq!(bare.port_or(443), 443);
    }

    #[test]
    fn rejects_garbage() {
        assert!(ServerAddress::parse(b":5190").is_err());
        assert!(ServerAddress::parse(b"h:99999").is_err());
        assert!(ServerAddress::parse(b"h:").is_err());
        assert!(ServerAddress::parse(b"h:+5190").is_err());
        assert!(ServerAddress::parse(&[0xff, 0xfe]).is_err());
    }
}
