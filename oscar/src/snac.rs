//! SNACs: the typed payload of FLAP channel 2 (oscar.md §1.2).
//!
//! `family u16 | subtype u16 | flags u16 | request id u32 | [0x8000: u16 len + block] | body`.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::flap::{Channel, Flap};
use crate::reader::Reader;
use crate::writer::put_u16_prefixed;

/// SNAC family ("foodgroup") as sent on the wire; unknown families are relayed as-is.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Family(pub u16);

impl Family {
    /// Generic service controls (rates, redirects, self info, migration).
    pub const OSERVICE: Self = Self(0x0001);
    /// User location and profiles.
    pub const LOCATE: Self = Self(0x0002);
    /// Legacy buddy list and presence.
    pub const BUDDY: Self = Self(0x0003);
    /// Instant messages.
    pub const ICBM: Self = Self(0x0004);
    /// Account administration.
    pub const ADMIN: Self = Self(0x0007);
    /// Permit/deny lists.
    pub const PERMIT_DENY: Self = Self(0x0009);
    /// Chat room navigation.
    pub const CHAT_NAV: Self = Self(0x000d);
    /// Chat rooms.
    pub const CHAT: Self = Self(0x000e);
    /// Buddy icons.
    pub const BART: Self = Self(0x0010);
    /// Server-stored buddy list.
    pub const FEEDBAG: Self = Self(0x0013);
    /// ICQ extensions.
    pub const ICQ: Self = Self(0x0015);
    /// The authorizer's MD5 login.
    pub const BUCP: Self = Self(0x0017);
    /// E-mail alerts.
    pub const ALERT: Self = Self(0x0018);
}

impl fmt::Debug for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match *self {
            Self::OSERVICE => "OSERVICE",
            Self::LOCATE => "LOCATE",
            Self::BUDDY => "BUDDY",
            Self::ICBM => "ICBM",
            Self::ADMIN => "ADMIN",
            Self::PERMIT_DENY => "PERMIT_DENY",
            Self::CHAT_NAV => "CHAT_NAV",
            Self::CHAT => "CHAT",
            Self::BART => "BART",
            Self::FEEDBAG => "FEEDBAG",
            Self::ICQ => "ICQ",
            Self::BUCP => "BUCP",
            Self::ALERT => "ALERT",
            Self(other) => return write!(f, "Family({other:#06x})"),
        };
        f.write_str(name)
    }
}

/// SNAC flag: more SNACs for this request id follow.
pub const SNAC_FLAG_MORE: u16 = 0x0001;
/// SNAC flag: a length-prefixed block precedes the body.
pub const SNAC_FLAG_PREFIX: u16 = 0x8000;
/// Request ids of server-initiated SNACs have this bit set.
pub const SERVER_REQUEST_ID_BIT: u32 = 0x8000_0000;

/// Length of the SNAC header.
pub const SNAC_HEADER_LEN: usize = 10;

/// The fixed SNAC header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnacHeader {
    /// Family of the SNAC.
    pub family: Family,
    /// Subtype within the family.
    pub subtype: u16,
    /// Flags; see [`SNAC_FLAG_MORE`] and [`SNAC_FLAG_PREFIX`].
    pub flags: u16,
    /// Request id; replies echo the request's.
    pub request_id: u32,
}

impl SnacHeader {
    /// A header with no flags.
    pub fn new(family: Family, subtype: u16, request_id: u32) -> Self {
        Self {
            family,
            subtype,
            flags: 0,
            request_id,
        }
    }

    /// Whether this is `family`/`subtype`.
    pub fn is(&self, family: Family, subtype: u16) -> bool {
        self.family == family && self.subtype == subtype
    }
}

/// A SNAC as received: the typed header, the optional 0x8000 prefix block and the exact
/// body bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Snac {
    /// The header.
    pub header: SnacHeader,
    /// Contents of the length-prefixed block present when flag 0x8000 is set.
    pub prefix: Option<Bytes>,
    /// The body, uninterpreted.
    pub body: Bytes,
}

impl Snac {
    /// A SNAC with no prefix block (flag 0x8000 is cleared to match).
    pub fn new(mut header: SnacHeader, body: impl Into<Bytes>) -> Self {
        header.flags &= !SNAC_FLAG_PREFIX;
        Self {
            header,
            prefix: None,
            body: body.into(),
        }
    }

    /// Parses a FLAP channel-2 payload.
    pub fn decode(payload: Bytes) -> Result<Self, DecodeError> {
        let mut r = Reader::new(payload);
        let header = SnacHeader {
            family: Family(r.u16("SNAC family")?),
            subtype: r.u16("SNAC subtype")?,
            flags: r.u16("SNAC flags")?,
            request_id: r.u32("SNAC request id")?,
        };
        let prefix = if header.flags & SNAC_FLAG_PREFIX != 0 {
            Some(r.u16_prefixed("SNAC prefix block")?)
        } else {
            None
        };
        Ok(Self {
            header,
            prefix,
            body: r.rest(),
        })
    }

    /// Parses the SNAC carried by `flap`, which must be on channel 2.
    pub fn from_flap(flap: &Flap) -> Result<Self, DecodeError> {
        if flap.channel != Channel::DATA {
            return Err(DecodeError::WrongMessage("SNAC (channel 2)"));
        }
        Self::decode(flap.payload.clone())
    }

    /// Bytes the SNAC takes on the wire.
    pub fn encoded_len(&self) -> usize {
        SNAC_HEADER_LEN + self.prefix.as_ref().map_or(0, |p| 2 + p.len()) + self.body.len()
    }

    /// The SNAC in wire form (a FLAP channel-2 payload).
    pub fn to_bytes(&self) -> Result<Bytes, EncodeError> {
        let mut buf = BytesMut::with_capacity(self.encoded_len());
        buf.put_u16(self.header.family.0);
        buf.put_u16(self.header.subtype);
        // The prefix flag follows whether there is a prefix, so the output always parses.
        let flags = match self.prefix {
            Some(_) => self.header.flags | SNAC_FLAG_PREFIX,
            None => self.header.flags & !SNAC_FLAG_PREFIX,
        };
        buf.put_u16(flags);
        buf.put_u32(self.header.request_id);
        if let Some(prefix) = &self.prefix {
            put_u16_prefixed(&mut buf, prefix, "SNAC prefix block")?;
        }
        buf.put_slice(&self.body);
        Ok(buf.freeze())
    }

    /// The SNAC wrapped in a channel-2 FLAP (sequence 0; the sender stamps it).
    pub fn to_flap(&self) -> Result<Flap, EncodeError> {
        Ok(Flap::new(Channel::DATA, self.to_bytes()?))
    }
}

impl fmt::Debug for Snac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snac")
            .field("family", &self.header.family)
            .field("subtype", &format_args!("{:#06x}", self.header.subtype))
            .field("flags", &format_args!("{:#06x}", self.header.flags))
            .field(
                "request_id",
                &format_args!("{:#010x}", self.header.request_id),
            )
            .field("body_len", &self.body.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_request_header_parses() {
        let payload = Bytes::from_static(&[
            0x00, 0x17, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x01,
            b'a',
        ]);
        let snac = Snac::decode(payload.clone()).unwrap();
        assert!(snac.header.is(Family::BUCP, 0x0006));
        assert_eq!(snac.header.request_id, 1);
        assert_eq!(snac.body.len(), 5);
        assert_eq!(snac.to_bytes().unwrap(), payload);
    }

    #[test]
    fn prefix_block_is_split_off_and_restored() {
        let payload = Bytes::from_static(&[
            0, 1, 0, 3, 0x80, 0, 0, 0, 0, 7, 0, 6, 0, 1, 0, 2, 0, 4, 0xaa, 0xbb,
        ]);
        let snac = Snac::decode(payload.clone()).unwrap();
        assert_eq!(snac.prefix.as_deref(), Some(&[0, 1, 0, 2, 0, 4][..]));
        assert_eq!(&snac.body[..], &[0xaa, 0xbb]);
        assert_eq!(snac.to_bytes().unwrap(), payload);
    }

    #[test]
    fn short_header_and_lying_prefix_are_errors() {
        assert!(Snac::decode(Bytes::from_static(&[0, 1, 0, 3, 0])).is_err());
        assert!(
            Snac::decode(Bytes::from_static(&[0, 1, 0, 3, 0x80, 0, 0, 0, 0, 1, 0, 9])).is_err()
        );
    }
}
