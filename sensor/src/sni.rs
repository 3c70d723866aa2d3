//! The server name a TLS client asks for (SNI, RFC 6066 §3), read from its ClientHello as
//! it crosses the wire (RFC 8446 §4.1.2). Only what is needed is read, every length is
//! checked against what is there, and nothing is allocated but the name.

// Bytes from the network: no index or slice that could panic (as in `oscar`); tests may.
#![warn(clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::indexing_slicing))]

/// What the first bytes of a client's stream say about TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hello {
    /// Not enough bytes yet.
    NeedMore,
    /// Not a TLS ClientHello.
    NotTls,
    /// A ClientHello, with its server name if it sent one (lower case, no trailing dot).
    Tls(Option<String>),
}

const CONTENT_HANDSHAKE: u8 = 0x16;
const HANDSHAKE_CLIENT_HELLO: u8 = 0x01;
const EXTENSION_SERVER_NAME: u16 = 0x0000;
const NAME_TYPE_HOST: u8 = 0x00;
/// A TLS record holds at most 2^14 bytes of plaintext (RFC 8446 §5.1).
const MAX_RECORD: usize = 16 * 1024;

/// Reads `data`, the first bytes of a client's stream.
pub fn client_hello(data: &[u8]) -> Hello {
    let Some(&[content, major, _, l0, l1]) = data.first_chunk::<5>() else {
        return match data.first() {
            Some(&b) if b != CONTENT_HANDSHAKE => Hello::NotTls,
            _ => Hello::NeedMore,
        };
    };
    if content != CONTENT_HANDSHAKE || major != 3 {
        return Hello::NotTls;
    }
    let len = usize::from(u16::from_be_bytes([l0, l1]));
    if len == 0 || len > MAX_RECORD {
        return Hello::NotTls;
    }
    let Some(record) = data.get(5..5 + len) else {
        return Hello::NeedMore;
    };
    // A ClientHello longer than its first record is rare (huge key shares); what the first
    // record holds is read, and a name cut off there counts as none.
    match parse_hello(record) {
        Ok(name) => Hello::Tls(name),
        Err(Cut::Short) => Hello::Tls(None),
        Err(Cut::Invalid) => Hello::NotTls,
    }
}

enum Cut {
    /// The hello continues past this record.
    Short,
    /// Not a ClientHello.
    Invalid,
}

/// A cursor over the record with checked reads.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Cut> {
        let (head, rest) = self.0.split_at_checked(n).ok_or(Cut::Short)?;
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, Cut> {
        Ok(self.take(1)?.first().copied().unwrap_or_default())
    }
    fn u16(&mut self) -> Result<usize, Cut> {
        let b = self.take(2)?;
        Ok(usize::from(u16::from_be_bytes([
            b.first().copied().unwrap_or_default(),
            b.get(1).copied().unwrap_or_default(),
        ])))
    }
    fn vec8(&mut self) -> Result<&'a [u8], Cut> {
        let n = usize::from(self.u8()?);
        self.take(n)
    }
    fn vec16(&mut self) -> Result<&'a [u8], Cut> {
        let n = self.u16()?;
        self.take(n)
    }
}

fn parse_hello(record: &[u8]) -> Result<Option<String>, Cut> {
    let mut r = Reader(record);
    if r.u8()? != HANDSHAKE_CLIENT_HELLO {
        return Err(Cut::Invalid);
    }
    r.take(3)?; // handshake length (the body may continue in the next record)
    let version = r.take(2)?;
    if version.first() != Some(&3) {
        return Err(Cut::Invalid);
    }
    r.take(32)?; // random
    r.vec8()?; // legacy session id
    r.vec16()?; // cipher suites
    r.vec8()?; // compression methods
    if r.0.is_empty() {
        return Ok(None); // no extensions at all (SSL 3.0-style hello)
    }
    let mut extensions = Reader(r.vec16()?);
    while !extensions.0.is_empty() {
        let kind = extensions.u16()?;
        let body = extensions.vec16()?;
        if kind == usize::from(EXTENSION_SERVER_NAME) {
            return Ok(server_name(body));
        }
    }
    Ok(None)
}

/// The host name in a server_name extension body, if it is a plausible DNS name.
fn server_name(body: &[u8]) -> Option<String> {
    let mut list = Reader(Reader(body).vec16().ok()?);
    while !list.0.is_empty() {
        let kind = list.u8().ok()?;
        let name = list.vec16().ok()?;
        if kind == NAME_TYPE_HOST {
            let text = std::str::from_utf8(name).ok()?;
            let text = text.strip_suffix('.').unwrap_or(text);
            let ok = !text.is_empty()
                && text.len() <= 253
                && text
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
            return ok.then(|| text.to_ascii_lowercase());
        }
    }
    None
}

/// A minimal TLS 1.2-style ClientHello record naming `sni` (for tests, benchmarks and fuzz
/// seeds).
pub fn build_client_hello(sni: Option<&str>) -> Vec<u8> {
    let mut ext = Vec::new();
    if let Some(name) = sni {
        let n = name.len();
        ext.extend_from_slice(&[0, 0]);
        ext.extend_from_slice(&u16::try_from(n + 5).unwrap_or(0).to_be_bytes());
        ext.extend_from_slice(&u16::try_from(n + 3).unwrap_or(0).to_be_bytes());
        ext.push(0);
        ext.extend_from_slice(&u16::try_from(n).unwrap_or(0).to_be_bytes());
        ext.extend_from_slice(name.as_bytes());
    }
    let mut body = vec![3, 3];
    body.extend_from_slice(&[0x11; 32]);
    body.push(0); // session id
    body.extend_from_slice(&[0, 2, 0x13, 0x01]); // one cipher suite
    body.extend_from_slice(&[1, 0]); // null compression
    body.extend_from_slice(&u16::try_from(ext.len()).unwrap_or(0).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![HANDSHAKE_CLIENT_HELLO];
    hs.extend_from_slice(&u32::try_from(body.len()).unwrap_or(0).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut rec = vec![CONTENT_HANDSHAKE, 3, 1];
    rec.extend_from_slice(&u16::try_from(hs.len()).unwrap_or(0).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_server_name_is_read() {
        let hello = build_client_hello(Some("SLogin.Oscar.AOL.com."));
        assert_eq!(
            client_hello(&hello),
            Hello::Tls(Some("slogin.oscar.aol.com".into()))
        );
        assert_eq!(client_hello(&build_client_hello(None)), Hello::Tls(None));
    }

    #[test]
    fn every_prefix_needs_more_and_the_rest_is_not_tls() {
        let hello = build_client_hello(Some("bos.oscar.aol.com"));
        for cut in 0..hello.len() {
            assert_eq!(client_hello(&hello[..cut]), Hello::NeedMore, "cut {cut}");
        }
        for other in [
            &b"GET / HTTP/1.1\r\n"[..],
            b"\x2a\x01\x00\x01\x00\x04\x00\x00\x00\x01",
        ] {
            assert_eq!(client_hello(other), Hello::NotTls);
        }
    }

    #[test]
    fn a_name_that_is_not_a_host_name_is_none() {
        let hello = build_client_hello(Some("bad name!"));
        assert_eq!(client_hello(&hello), Hello::Tls(None));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(mut data in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = client_hello(&data);
            if data.len() > 5 {
                data[0] = CONTENT_HANDSHAKE;
                data[1] = 3;
                let _ = client_hello(&data);
            }
        }

        #[test]
        fn a_mutated_hello_never_panics(at in 0usize..80, byte in any::<u8>()) {
            let mut hello = build_client_hello(Some("login.icq.com"));
            let at = at % hello.len();
            hello[at] = byte;
            let _ = client_hello(&hello);
        }
    }
}
