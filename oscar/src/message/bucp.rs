//! BUCP (family 0x0017): the authorizer's MD5 login (oscar.md §2.1).

use bytes::{Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::message::SnacBody;
use crate::message::body::tlv_body;
use crate::message::signon::Redirect;
use crate::reader::Reader;
use crate::snac::Family;
use crate::tlv::TlvList;
use crate::writer::put_u16_prefixed;

/// Login request TLV: the 16-byte MD5 password hash.
pub const TLV_PASSWORD_HASH: u16 = 0x0025;
/// Login request TLV: empty flag meaning the "strong" hash `MD5(key‖MD5(pw)‖magic)`.
pub const TLV_STRONG_HASH: u16 = 0x004c;
/// Key reply TLV: truncate the password to 8 characters before hashing.
pub const TLV_TRUNCATE_PASSWORD: u16 = 0x0026;

/// The constant every BUCP password hash ends with.
pub const AIM_HASH_MAGIC: &[u8] = b"AOL Instant Messenger (SM)";

tlv_body!(
    /// 0x0017/0x0006: the client asks for a login key (TLV 0x0001 = screen name).
    KeyRequest,
    Family::BUCP,
    0x0006
);

tlv_body!(
    /// 0x0017/0x0002: the login request with the MD5 hash (TLV 0x0001 screen name,
    /// 0x0025 hash, 0x004C strong-hash flag, client identification TLVs).
    LoginRequest,
    Family::BUCP,
    0x0002
);

tlv_body!(
    /// 0x0017/0x0003: the login reply: screen name, BOS address and cookie, or an error
    /// code. The address in TLV 0x0005 is what a relay rewrites (address carrier B).
    LoginReply,
    Family::BUCP,
    0x0003
);

impl KeyRequest {
    /// The screen name the client is logging in as.
    pub fn screen_name(&self) -> Option<&Bytes> {
        self.tlvs.value(crate::message::signon::TLV_SCREEN_NAME)
    }
}

impl LoginRequest {
    /// The screen name the client is logging in as.
    pub fn screen_name(&self) -> Option<&Bytes> {
        self.tlvs.value(crate::message::signon::TLV_SCREEN_NAME)
    }

    /// The 16-byte password hash, if present and well-sized.
    pub fn password_hash(&self) -> Option<[u8; 16]> {
        self.tlvs
            .value(TLV_PASSWORD_HASH)
            .and_then(|v| <[u8; 16]>::try_from(&v[..]).ok())
    }

    /// Whether the client used the strong hash variant (TLV 0x004C present).
    pub fn strong_hash(&self) -> bool {
        self.tlvs.contains(TLV_STRONG_HASH)
    }
}

impl Redirect for LoginReply {
    fn redirect_tlvs(&self) -> &TlvList {
        &self.tlvs
    }
    fn redirect_tlvs_mut(&mut self) -> &mut TlvList {
        &mut self.tlvs
    }
}

/// 0x0017/0x0007: the authorizer's login key (`u16 len | key | TLVs`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyReply {
    /// The key, ASCII digits in practice.
    pub key: Bytes,
    /// Optional TLVs (0x0026: truncate password to 8 characters).
    pub tlvs: TlvList,
}

impl SnacBody for KeyReply {
    const FAMILY: Family = Family::BUCP;
    const SUBTYPE: u16 = 0x0007;
    const NAME: &'static str = "KeyReply";

    fn decode_body(body: Bytes) -> Result<Self, DecodeError> {
        // Shutko's page calls the length a dword; libpurple and open-oscar-server use u16.
        let mut r = Reader::new(body);
        let key = r.u16_prefixed("login key")?;
        let tlvs = TlvList::read_rest(&mut r)?;
        Ok(Self { key, tlvs })
    }

    fn encode_body(&self, buf: &mut BytesMut) -> Result<(), EncodeError> {
        put_u16_prefixed(buf, &self.key, "login key")?;
        self.tlvs.encode_rest(buf)
    }
}
