//! OSERVICE (family 0x0001): service redirects, migration and self info (oscar.md §3).

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::message::SnacBody;
use crate::message::body::tlv_body;
use crate::message::signon::Redirect;
use crate::message::user_info::UserInfo;
use crate::reader::Reader;
use crate::snac::Family;
use crate::tlv::TlvList;
use crate::writer::{put_u8_prefixed, u16_len};

/// Service response TLV: the family the new connection serves (u16).
pub const TLV_SERVICE_FAMILY: u16 = 0x000d;
/// Service request TLV: chat room info.
pub const TLV_ROOM_INFO: u16 = 0x0001;
/// Service request TLV: empty flag asking for TLS on the new connection.
pub const TLV_WANT_TLS: u16 = 0x008c;

/// A chat room's identity: `u16 exchange | u8 len | cookie | u16 instance`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoomInfo {
    /// Exchange number (4 for public rooms on AOL).
    pub exchange: u16,
    /// The room cookie, e.g. `!aol://2719:10-4-<room>` or `<exchange>-<instance>-<name>`.
    pub cookie: Bytes,
    /// Room instance.
    pub instance: u16,
}

impl RoomInfo {
    pub(crate) fn read(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(Self {
            exchange: r.u16("room exchange")?,
            cookie: r.u8_prefixed("room cookie")?,
            instance: r.u16("room instance")?,
        })
    }

    /// Parses a room-info value that must fill `bytes` exactly.
    pub fn decode(bytes: Bytes) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let room = Self::read(&mut r)?;
        r.finish("room info")?;
        Ok(room)
    }

    /// Parses the room info that opens `bytes`, ignoring what follows it: the chat
    /// service's room-info update (0x000E/0x0002) and chatnav's room blocks put a detail
    /// level and TLVs after it. Returns the room and how many bytes it took.
    pub fn decode_leading(bytes: Bytes) -> Result<(Self, usize), DecodeError> {
        let total = bytes.len();
        let mut r = Reader::new(bytes);
        let room = Self::read(&mut r)?;
        Ok((room, total - r.remaining()))
    }

    /// Appends the room info in wire form.
    pub fn encode(&self, buf: &mut BytesMut) -> Result<(), EncodeError> {
        buf.put_u16(self.exchange);
        put_u8_prefixed(buf, &self.cookie, "room cookie")?;
        buf.put_u16(self.instance);
        Ok(())
    }

    /// The room's human name: what follows the second `-` of the cookie, %-decoded where
    /// the cookie uses AOL's URL form (libpurple's `extract_name`).
    pub fn name(&self) -> String {
        let text = String::from_utf8_lossy(&self.cookie);
        let mut parts = text.splitn(3, '-');
        let name = match (parts.next(), parts.next(), parts.next()) {
            (Some(_), Some(_), Some(name)) => name.to_owned(),
            _ => text.into_owned(),
        };
        percent_decode(&name)
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// 0x0001/0x0004: the client asks for a connection to another service (`u16 family | TLVs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRequest {
    /// The family wanted (0x000E chat, 0x000D chat navigation, 0x0010 icons, ...).
    pub family: Family,
    /// TLV 0x0001 room info for chat, 0x008C TLS wanted, and others.
    pub tlvs: TlvList,
}

impl ServiceRequest {
    /// A request for a chat room connection.
    pub fn chat(room: &RoomInfo) -> Result<Self, EncodeError> {
        let mut value = BytesMut::new();
        room.encode(&mut value)?;
        let mut tlvs = TlvList::new();
        tlvs.set(TLV_ROOM_INFO, value.freeze());
        Ok(Self {
            family: Family::CHAT,
            tlvs,
        })
    }

    /// The chat room asked for, when the family is chat.
    pub fn room(&self) -> Option<Result<RoomInfo, DecodeError>> {
        self.tlvs
            .value(TLV_ROOM_INFO)
            .map(|v| RoomInfo::decode(v.clone()))
    }
}

impl SnacBody for ServiceRequest {
    const FAMILY: Family = Family::OSERVICE;
    const SUBTYPE: u16 = 0x0004;
    const NAME: &'static str = "ServiceRequest";

    fn decode_body(body: Bytes) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let family = Family(r.u16("service family")?);
        let tlvs = TlvList::read_rest(&mut r)?;
        Ok(Self { family, tlvs })
    }

    fn encode_body(&self, buf: &mut BytesMut) -> Result<(), EncodeError> {
        buf.put_u16(self.family.0);
        self.tlvs.encode_rest(buf)
    }
}

tlv_body!(
    /// 0x0001/0x0005: where to connect for the requested service: TLV 0x000D family,
    /// 0x0005 address (rewritten by a relay: carrier C), 0x0006 cookie, 0x008D cert name,
    /// 0x008E SSL state.
    ServiceResponse,
    Family::OSERVICE,
    0x0005
);

impl ServiceResponse {
    /// The family the new connection serves.
    pub fn family(&self) -> Option<Family> {
        self.tlvs
            .get(TLV_SERVICE_FAMILY)
            .and_then(|t| t.as_u16())
            .map(Family)
    }
}

impl Redirect for ServiceResponse {
    fn redirect_tlvs(&self) -> &TlvList {
        &self.tlvs
    }
    fn redirect_tlvs_mut(&mut self) -> &mut TlvList {
        &mut self.tlvs
    }
}

/// 0x0001/0x0012: the server moves the listed families to another host
/// (`u16 n | n × u16 family | TLVs`; carrier D).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Migration {
    /// Families being moved; all families on the connection when it covers them all.
    pub families: Vec<Family>,
    /// TLV 0x0005 new address, 0x0006 cookie.
    pub tlvs: TlvList,
}

impl SnacBody for Migration {
    const FAMILY: Family = Family::OSERVICE;
    const SUBTYPE: u16 = 0x0012;
    const NAME: &'static str = "Migration";

    fn decode_body(body: Bytes) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let count = usize::from(r.u16("migration family count")?);
        if count > r.remaining() / 2 {
            return Err(DecodeError::LengthMismatch {
                what: "migration family count",
                declared: count,
                available: r.remaining(),
            });
        }
        let mut families = Vec::with_capacity(count);
        for _ in 0..count {
            families.push(Family(r.u16("migration family")?));
        }
        let tlvs = TlvList::read_rest(&mut r)?;
        Ok(Self { families, tlvs })
    }

    fn encode_body(&self, buf: &mut BytesMut) -> Result<(), EncodeError> {
        buf.put_u16(u16_len(self.families.len(), "migration families")?);
        for family in &self.families {
            buf.put_u16(family.0);
        }
        self.tlvs.encode_rest(buf)
    }
}

impl Redirect for Migration {
    fn redirect_tlvs(&self) -> &TlvList {
        &self.tlvs
    }
    fn redirect_tlvs_mut(&mut self) -> &mut TlvList {
        &mut self.tlvs
    }
}

/// 0x0001/0x000F: the server tells the client who it is (a user-info block, then anything
/// newer servers append, kept raw).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfInfo {
    /// The client's own user info; its screen name confirms the local identity.
    pub user: UserInfo,
    /// Bytes after the block, kept as sent.
    pub trailing: Bytes,
}

impl SnacBody for SelfInfo {
    const FAMILY: Family = Family::OSERVICE;
    const SUBTYPE: u16 = 0x000f;
    const NAME: &'static str = "SelfInfo";

    fn decode_body(body: Bytes) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let user = UserInfo::read(&mut r)?;
        Ok(Self {
            user,
            trailing: r.rest(),
        })
    }

    fn encode_body(&self, buf: &mut BytesMut) -> Result<(), EncodeError> {
        self.user.encode(buf)?;
        buf.put_slice(&self.trailing);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server_address::ServerAddress;

    #[test]
    fn room_names_from_both_cookie_styles() {
        let aol = RoomInfo {
            exchange: 4,
            cookie: Bytes::from_static(b"!aol://2719:10-4-Lobby%20Chat"),
            instance: 0,
        };
        assert_eq!(aol.name(), "Lobby Chat");
        let oos = RoomInfo {
            exchange: 4,
            cookie: Bytes::from_static(b"4-0-compliance"),
            instance: 0,
        };
        assert_eq!(oos.name(), "compliance");
    }

    #[test]
    fn a_leading_room_info_is_read_and_every_prefix_is_refused() {
        let update = b"\x00\x04\x0e4-0-compliance\x00\x00\x02\x00\x00";
        let (room, used) = RoomInfo::decode_leading(Bytes::from_static(update)).unwrap();
        assert_eq!(
            (room.exchange, room.name(), room.instance, used),
            (4, "compliance".into(), 0, 19)
        );
        for cut in 0..used {
            assert!(
                RoomInfo::decode_leading(Bytes::copy_from_slice(&update[..cut])).is_err(),
                "prefix {cut}"
            );
        }
    }

    #[test]
    fn migration_round_trips_and_rewrites() {
        let mut m = Migration {
            families: vec![Family::OSERVICE, Family::ICBM],
            tlvs: TlvList::new(),
        };
        m.tlvs
            .set(crate::message::signon::TLV_ADDRESS, &b"1.2.3.4:5190"[..]);
        m.tlvs
            .set(crate::message::signon::TLV_COOKIE, &b"c00kie"[..]);
        let body = m.body_bytes().unwrap();
        let mut again = Migration::decode_body(body).unwrap();
        assert_eq!(again, m);
        again.set_address(&ServerAddress::new("127.0.0.1", 15190));
        let out = Migration::decode_body(again.body_bytes().unwrap()).unwrap();
        assert_eq!(
            out.address().unwrap().unwrap().to_string(),
            "127.0.0.1:15190"
        );
    }

    #[test]
    fn migration_count_lie_is_an_error() {
        assert!(Migration::decode_body(Bytes::from_static(&[0xff, 0xff, 0, 1])).is_err());
    }
}
