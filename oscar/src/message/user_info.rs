//! The user-info block (oscar.md §1.4): who sent a message, who arrived, who joined a room.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::reader::Reader;
use crate::screen_name::ScreenName;
use crate::tlv::TlvList;
use crate::writer::put_u8_prefixed;

/// `u8 sn_len | sn | u16 warning level | u16 tlv count | TLVs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    /// The screen name as sent.
    pub screen_name: Bytes,
    /// Warning ("evil") level.
    pub warning: u16,
    /// User class, sign-on time, capabilities and the rest, in wire order.
    pub tlvs: TlvList,
}

impl UserInfo {
    /// User-info TLV: user class flags (u16).
    pub const TLV_USER_CLASS: u16 = 0x0001;
    /// User-info TLV: sign-on time (u32, seconds since the Unix epoch).
    pub const TLV_SIGNON_TIME: u16 = 0x0003;
    /// User class: a free AIM account, what AIM servers set for ordinary users.
    pub const CLASS_FREE: u16 = 0x0010;
    /// User class: an ICQ account.
    pub const CLASS_ICQ: u16 = 0x0040;
    /// User-info TLV: external IPv4 address of the user.
    pub const TLV_EXTERNAL_IP: u16 = 0x000a;
    /// User-info TLV: ICQ direct-connection info.
    pub const TLV_DC_INFO: u16 = 0x000c;

    /// A block for `screen_name` with no TLVs.
    pub fn new(screen_name: &ScreenName) -> Self {
        Self {
            screen_name: screen_name.to_bytes(),
            warning: 0,
            tlvs: TlvList::new(),
        }
    }

    /// A block for `screen_name` as a server describes a user who is on: the user class
    /// (free AIM, or ICQ for a numeric UIN) and the sign-on time, which AIM servers send
    /// with every IM and strict clients expect before they show one.
    pub fn online(screen_name: &ScreenName, signed_on_secs: u32) -> Self {
        let class = if screen_name.is_icq_uin() {
            Self::CLASS_ICQ | Self::CLASS_FREE
        } else {
            Self::CLASS_FREE
        };
        let mut info = Self::new(screen_name);
        info.tlvs.set(
            Self::TLV_USER_CLASS,
            Bytes::copy_from_slice(&class.to_be_bytes()),
        );
        info.tlvs.set(
            Self::TLV_SIGNON_TIME,
            Bytes::copy_from_slice(&signed_on_secs.to_be_bytes()),
        );
        info
    }

    pub(crate) fn read(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(Self {
            screen_name: r.u8_prefixed("user-info screen name")?,
            warning: r.u16("user-info warning level")?,
            tlvs: TlvList::read_counted(r)?,
        })
    }

    /// Appends the block in wire form.
    pub fn encode(&self, buf: &mut BytesMut) -> Result<(), EncodeError> {
        put_u8_prefixed(buf, &self.screen_name, "user-info screen name")?;
        buf.put_u16(self.warning);
        self.tlvs.encode_counted(buf)
    }

    /// Parses a standalone block that must fill `bytes` exactly.
    pub fn decode(bytes: Bytes) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let info = Self::read(&mut r)?;
        r.finish("user-info block")?;
        Ok(info)
    }

    /// The screen name, parsed.
    pub fn name(&self) -> Result<ScreenName, DecodeError> {
        ScreenName::parse(&self.screen_name)
    }
}

/// One or more user-info blocks filling a SNAC body: buddy arrived/departed (0x0003/0x000B,
/// 0x000C) and chat members joined/left (0x000E/0x0003, 0x0004).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserList {
    /// The users, in wire order.
    pub users: Vec<UserInfo>,
}

impl UserList {
    /// Parses blocks until the body ends.
    pub fn decode(body: Bytes) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let mut users = Vec::new();
        while !r.is_empty() {
            // Each block is at least 5 bytes, so a 64 KiB body bounds this loop.
            users.push(UserInfo::read(&mut r)?);
        }
        Ok(Self { users })
    }

    /// Appends every block.
    pub fn encode(&self, buf: &mut BytesMut) -> Result<(), EncodeError> {
        self.users.iter().try_for_each(|u| u.encode(buf))
    }
}

/// Defines a SNAC body that is a [`UserList`].
macro_rules! user_list_body {
    ($(#[$meta:meta])* $name:ident, $family:expr, $subtype:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name(pub $crate::message::UserList);

        impl $crate::message::SnacBody for $name {
            const FAMILY: $crate::snac::Family = $family;
            const SUBTYPE: u16 = $subtype;
            const NAME: &'static str = stringify!($name);

            fn decode_body(body: bytes::Bytes) -> Result<Self, $crate::error::DecodeError> {
                $crate::message::UserList::decode(body).map(Self)
            }

            fn encode_body(
                &self,
                buf: &mut bytes::BytesMut,
            ) -> Result<(), $crate::error::EncodeError> {
                self.0.encode(buf)
            }
        }
    };
}
pub(crate) use user_list_body;
