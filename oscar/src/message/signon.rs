//! FLAP channel 1 (sign-on hello) and channel 4 (sign-off) payloads (oscar.md §1.5, §2.2).

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::flap::{Channel, Flap};
use crate::reader::Reader;
use crate::screen_name::ScreenName;
use crate::server_address::ServerAddress;
use crate::tlv::TlvList;

/// The FLAP version word every sign-on hello starts with.
pub const FLAP_VERSION: u32 = 0x0000_0001;

/// TLV: screen name (legacy login, login replies).
pub const TLV_SCREEN_NAME: u16 = 0x0001;
/// TLV: roasted password (legacy channel-1 login).
pub const TLV_ROASTED_PASSWORD: u16 = 0x0002;
/// TLV: client id string.
pub const TLV_CLIENT_ID: u16 = 0x0003;
/// TLV: error URL.
pub const TLV_ERROR_URL: u16 = 0x0004;
/// TLV: server address `host[:port]` (BOS, service, migration).
pub const TLV_ADDRESS: u16 = 0x0005;
/// TLV: login or service cookie.
pub const TLV_COOKIE: u16 = 0x0006;
/// TLV: login error code (u16).
pub const TLV_ERROR_CODE: u16 = 0x0008;
/// TLV: disconnect reason on BOS (u16; 1 = signed on elsewhere).
pub const TLV_DISCONNECT_REASON: u16 = 0x0009;
/// TLV: name to validate the next hop's TLS certificate against.
pub const TLV_CERT_NAME: u16 = 0x008d;
/// TLV: SSL state for the next hop (0 none, 1 use, 2 use with resume).
pub const TLV_SSL_STATE: u16 = 0x008e;

/// The XOR table of the legacy channel-1 login (oscar.md §2.2).
const ROAST_TABLE: [u8; 16] = [
    0xf3, 0x26, 0x81, 0xc4, 0x39, 0x86, 0xdb, 0x92, 0x71, 0xa3, 0xb9, 0xe6, 0x53, 0x7a, 0x95, 0x7c,
];

/// Roasts (or, being an XOR, un-roasts) a legacy login password. It is reversible, which
/// is why roasted passwords must never reach a log.
pub fn roast_password(password: &[u8]) -> Vec<u8> {
    password
        .iter()
        .zip(ROAST_TABLE.iter().cycle())
        .map(|(p, k)| p ^ k)
        .collect()
}

/// What a client's sign-on hello asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignonKind {
    /// A bare hello: a BUCP login follows on this connection.
    Plain,
    /// A follow-on connection (BOS, chat, service) presenting the cookie it was handed.
    Cookie(Bytes),
    /// A legacy login with the credentials in the hello itself.
    LegacyLogin {
        /// The screen name or UIN.
        screen_name: Bytes,
    },
}

/// FLAP channel 1 payload: `u32 version` then TLVs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignonHello {
    /// The FLAP version word; always 1 in practice, kept as sent.
    pub version: u32,
    /// Cookie, login or client-identification TLVs, in wire order.
    pub tlvs: TlvList,
}

impl Default for SignonHello {
    fn default() -> Self {
        Self {
            version: FLAP_VERSION,
            tlvs: TlvList::new(),
        }
    }
}

impl SignonHello {
    /// A hello presenting `cookie` (a follow-on connection).
    pub fn with_cookie(cookie: impl Into<Bytes>) -> Self {
        let mut hello = Self::default();
        hello.tlvs.set(TLV_COOKIE, cookie);
        hello
    }

    /// A legacy channel-1 login hello.
    pub fn legacy_login(screen_name: &ScreenName, password: &[u8], client_id: &str) -> Self {
        let mut hello = Self::default();
        hello.tlvs.set(TLV_SCREEN_NAME, screen_name.to_bytes());
        hello
            .tlvs
            .set(TLV_ROASTED_PASSWORD, roast_password(password));
        hello
            .tlvs
            .set(TLV_CLIENT_ID, Bytes::copy_from_slice(client_id.as_bytes()));
        hello
    }

    /// Parses a channel-1 payload. A version word with nothing after it is a plain hello.
    pub fn decode(payload: Bytes) -> Result<Self, DecodeError> {
        let mut r = Reader::new(payload);
        let version = r.u32("FLAP version")?;
        let tlvs = TlvList::read_rest(&mut r)?;
        Ok(Self { version, tlvs })
    }

    /// Parses the hello in `flap`, which must be on channel 1.
    pub fn from_flap(flap: &Flap) -> Result<Self, DecodeError> {
        if flap.channel != Channel::SIGNON {
            return Err(DecodeError::WrongMessage("sign-on hello (channel 1)"));
        }
        Self::decode(flap.payload.clone())
    }

    /// What this hello asks for. OSCAR servers decide legacy login by the presence of
    /// TLV 0x0001 (old ICQ clients omit the password when none is stored).
    pub fn kind(&self) -> SignonKind {
        if let Some(cookie) = self.tlvs.value(TLV_COOKIE) {
            SignonKind::Cookie(cookie.clone())
        } else if let Some(sn) = self.tlvs.value(TLV_SCREEN_NAME) {
            SignonKind::LegacyLogin {
                screen_name: sn.clone(),
            }
        } else {
            SignonKind::Plain
        }
    }

    /// The cleartext password of a legacy login, if present. Handle with care: never log it.
    pub fn legacy_password(&self) -> Option<Vec<u8>> {
        self.tlvs
            .value(TLV_ROASTED_PASSWORD)
            .map(|p| roast_password(p))
    }

    /// The payload in wire form.
    pub fn to_bytes(&self) -> Result<Bytes, EncodeError> {
        let mut buf = BytesMut::with_capacity(4 + self.tlvs.encoded_len());
        buf.put_u32(self.version);
        self.tlvs.encode_rest(&mut buf)?;
        Ok(buf.freeze())
    }

    /// The hello as a channel-1 FLAP.
    pub fn to_flap(&self) -> Result<Flap, EncodeError> {
        Ok(Flap::new(Channel::SIGNON, self.to_bytes()?))
    }
}

/// FLAP channel 4 payload: optional TLVs. On an authorizer connection after a legacy login
/// this is the login result (BOS address + cookie, or an error); on BOS, a disconnect reason.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SignOff {
    /// The TLVs, in wire order; empty for a bare close.
    pub tlvs: TlvList,
}

impl SignOff {
    /// Parses a channel-4 payload.
    pub fn decode(payload: Bytes) -> Result<Self, DecodeError> {
        Ok(Self {
            tlvs: TlvList::decode_rest(payload)?,
        })
    }

    /// Parses the sign-off in `flap`, which must be on channel 4.
    pub fn from_flap(flap: &Flap) -> Result<Self, DecodeError> {
        if flap.channel != Channel::SIGNOFF {
            return Err(DecodeError::WrongMessage("sign-off (channel 4)"));
        }
        Self::decode(flap.payload.clone())
    }

    /// The payload in wire form.
    pub fn to_bytes(&self) -> Result<Bytes, EncodeError> {
        self.tlvs.to_bytes()
    }

    /// The sign-off as a channel-4 FLAP.
    pub fn to_flap(&self) -> Result<Flap, EncodeError> {
        Ok(Flap::new(Channel::SIGNOFF, self.to_bytes()?))
    }
}

/// Accessors shared by every message that hands out a next-hop address and cookie:
/// legacy sign-off replies, BUCP login replies, service responses and migrations.
pub trait Redirect {
    /// The TLVs that carry the address.
    fn redirect_tlvs(&self) -> &TlvList;
    /// Mutable access to them, for rewriting.
    fn redirect_tlvs_mut(&mut self) -> &mut TlvList;

    /// The `host[:port]` in TLV 0x0005, if present and well-formed.
    fn address(&self) -> Option<Result<ServerAddress, DecodeError>> {
        self.redirect_tlvs()
            .value(TLV_ADDRESS)
            .map(|v| ServerAddress::parse(v))
    }

    /// Replaces TLV 0x0005 with `address` (explicit port always written), in place.
    fn set_address(&mut self, address: &ServerAddress) {
        self.redirect_tlvs_mut()
            .set(TLV_ADDRESS, Bytes::from(address.to_string()));
    }

    /// The cookie in TLV 0x0006.
    fn cookie(&self) -> Option<&Bytes> {
        self.redirect_tlvs().value(TLV_COOKIE)
    }

    /// The login error code in TLV 0x0008.
    fn error_code(&self) -> Option<u16> {
        self.redirect_tlvs()
            .get(TLV_ERROR_CODE)
            .and_then(|t| t.as_u16())
    }

    /// The screen name in TLV 0x0001.
    fn screen_name(&self) -> Option<&Bytes> {
        self.redirect_tlvs().value(TLV_SCREEN_NAME)
    }

    /// TLV 0x008E, the SSL state of the next connection: 0 plain, 1 TLS, 2 TLS with
    /// resumption. One byte in service responses, two in Kerberos tickets: both are read.
    fn ssl_state(&self) -> Option<u16> {
        let tlv = self.redirect_tlvs().get(TLV_SSL_STATE)?;
        tlv.as_u8().map(u16::from).or_else(|| tlv.as_u16())
    }

    /// TLV 0x008D, the name the client validates the next connection's certificate against.
    fn cert_name(&self) -> Option<&Bytes> {
        self.redirect_tlvs().value(TLV_CERT_NAME)
    }

    /// Sets (or with `None` removes) the certificate name the client will validate.
    fn set_cert_name(&mut self, name: Option<&str>) {
        let tlvs = self.redirect_tlvs_mut();
        match name {
            Some(name) => tlvs.set(TLV_CERT_NAME, Bytes::copy_from_slice(name.as_bytes())),
            None => {
                tlvs.remove(TLV_CERT_NAME);
            }
        }
    }

    /// Tells the client to connect in plain text: SSL state 0 (kept at its width), no
    /// certificate name.
    fn set_plain(&mut self) {
        let width = self
            .redirect_tlvs()
            .get(TLV_SSL_STATE)
            .map(|t| t.value.len());
        if let Some(width) = width {
            self.redirect_tlvs_mut()
                .set(TLV_SSL_STATE, vec![0u8; width.clamp(1, 2)]);
        }
        self.set_cert_name(None);
    }
}

impl Redirect for SignOff {
    fn redirect_tlvs(&self) -> &TlvList {
        &self.tlvs
    }
    fn redirect_tlvs_mut(&mut self) -> &mut TlvList {
        &mut self.tlvs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_fields_of_a_redirect() {
        let mut off = SignOff::default();
        assert_eq!(off.ssl_state(), None);
        off.tlvs.set(TLV_SSL_STATE, vec![2u8]);
        off.set_cert_name(Some("bos.oscar.aol.com"));
        assert_eq!(off.ssl_state(), Some(2));
        assert_eq!(
            off.cert_name().map(|b| &b[..]),
            Some(&b"bos.oscar.aol.com"[..])
        );
        off.set_plain();
        assert_eq!(off.ssl_state(), Some(0));
        assert_eq!(off.tlvs.get(TLV_SSL_STATE).map(|t| t.value.len()), Some(1));
        assert_eq!(off.cert_name(), None);
        // Kerberos tickets carry the state in two bytes; its width is kept.
        off.tlvs.set(TLV_SSL_STATE, vec![0u8, 1]);
        assert_eq!(off.ssl_state(), Some(1));
        off.set_plain();
        assert_eq!(
            off.tlvs.value(TLV_SSL_STATE).map(|v| &v[..]),
            Some(&[0u8, 0][..])
        );
    }

    #[test]
    fn roasting_is_reversible() {
        let roasted = roast_password(b"secret");
        assert_ne!(&roasted[..], b"secret");
        assert_eq!(roast_password(&roasted), b"secret");
    }

    #[test]
    fn hello_kinds() {
        let plain = SignonHello::decode(Bytes::from_static(&[0, 0, 0, 1])).unwrap();
        assert_eq!(plain.kind(), SignonKind::Plain);
        let cookie =
            SignonHello::decode(Bytes::from_static(&[0, 0, 0, 1, 0, 6, 0, 2, 0xab, 0xcd])).unwrap();
        assert_eq!(
            cookie.kind(),
            SignonKind::Cookie(Bytes::from_static(&[0xab, 0xcd]))
        );
        let sn = ScreenName::parse(b"olduser").unwrap();
        let legacy = SignonHello::legacy_login(&sn, b"pw", "ICQ Inc.");
        let again = SignonHello::decode(legacy.to_bytes().unwrap()).unwrap();
        assert!(matches!(again.kind(), SignonKind::LegacyLogin { .. }));
        assert_eq!(again.legacy_password().unwrap(), b"pw");
    }

    #[test]
    fn truncated_hello_is_an_error() {
        assert!(SignonHello::decode(Bytes::from_static(&[0, 0, 1])).is_err());
        assert!(SignonHello::decode(Bytes::from_static(&[0, 0, 0, 1, 0, 6, 0, 9])).is_err());
    }

    #[test]
    fn legacy_login_reply_rewrite() {
        let mut off = SignOff::default();
        off.tlvs.set(TLV_SCREEN_NAME, &b"olduser"[..]);
        off.tlvs.set(TLV_ADDRESS, &b"64.12.30.168:5190"[..]);
        off.tlvs.set(TLV_COOKIE, vec![7u8; 256]);
        off.set_address(&ServerAddress::new("10.0.0.5", 15190));
        let again = SignOff::decode(off.to_bytes().unwrap()).unwrap();
        assert_eq!(
            again.address().unwrap().unwrap(),
            ServerAddress::new("10.0.0.5", 15190)
        );
        assert_eq!(again.cookie().unwrap().len(), 256);
    }
}
