//! Chat (family 0x000E): members joining and leaving a room, messages sent to and received
//! from it (oscar.md §4.8). One TCP connection per room.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::message::SnacBody;
use crate::message::user_info::{UserInfo, user_list_body};
use crate::reader::Reader;
use crate::snac::Family;
use crate::text::{Charset, MessageText};
use crate::tlv::TlvList;

user_list_body!(
    /// 0x000E/0x0003: users joined the room.
    ChatUsersJoined,
    Family::CHAT,
    0x0003
);

user_list_body!(
    /// 0x000E/0x0004: users left the room.
    ChatUsersLeft,
    Family::CHAT,
    0x0004
);

/// Chat TLV: empty "public message" flag.
pub const TLV_CHAT_PUBLIC: u16 = 0x0001;
/// Chat TLV (receive): the sender's user-info block.
pub const TLV_CHAT_SENDER: u16 = 0x0003;
/// Chat TLV: the message info (nested TLVs: 1 text, 2 encoding, 3 language).
pub const TLV_CHAT_MESSAGE_INFO: u16 = 0x0005;
/// Chat TLV (send): empty, ask the server to reflect the message back to the sender.
pub const TLV_CHAT_REFLECT: u16 = 0x0006;

/// Message-info TLV: the text.
const INFO_TEXT: u16 = 0x0001;
/// Message-info TLV: encoding name.
const INFO_ENCODING: u16 = 0x0002;
/// Message-info TLV: language.
const INFO_LANGUAGE: u16 = 0x0003;

/// The channel chat messages use.
pub const CHAT_CHANNEL: u16 = 0x0003;

/// A chat message body, sent (0x0005) or received (0x0006): `u64 cookie | u16 channel |
/// TLVs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    /// Message cookie; the reflected copy carries the same one.
    pub cookie: [u8; 8],
    /// Always 3.
    pub channel: u16,
    /// Flags, sender (on receive), message info, in wire order.
    pub tlvs: TlvList,
}

impl ChatMessage {
    /// A public message carrying `text`, asking for reflection (as libpurple sends).
    pub fn public(cookie: [u8; 8], text: &str) -> Result<Self, EncodeError> {
        let charset = Charset::for_text(text);
        let encoding: &[u8] = if charset == Charset::UCS2BE {
            b"unicode-2-0"
        } else {
            b"us-ascii"
        };
        let mut info = TlvList::new();
        info.set(INFO_TEXT, charset.encode(text));
        info.set(INFO_ENCODING, Bytes::from_static(encoding));
        info.set(INFO_LANGUAGE, Bytes::from_static(b"en"));
        let mut tlvs = TlvList::new();
        tlvs.push(crate::Tlv::flag(TLV_CHAT_PUBLIC));
        tlvs.push(crate::Tlv::flag(TLV_CHAT_REFLECT));
        tlvs.set(TLV_CHAT_MESSAGE_INFO, info.to_bytes()?);
        Ok(Self {
            cookie,
            channel: CHAT_CHANNEL,
            tlvs,
        })
    }

    /// The same message as the room delivers it to its members, from `sender`.
    pub fn delivery(&self, sender: &UserInfo) -> Result<Self, EncodeError> {
        let mut info = BytesMut::new();
        sender.encode(&mut info)?;
        let mut tlvs: TlvList = self
            .tlvs
            .iter()
            .filter(|t| t.kind != TLV_CHAT_REFLECT)
            .cloned()
            .collect();
        tlvs.set(TLV_CHAT_SENDER, info.freeze());
        Ok(Self {
            cookie: self.cookie,
            channel: self.channel,
            tlvs,
        })
    }

    /// The sender's user info (present on received messages).
    pub fn sender(&self) -> Option<Result<UserInfo, DecodeError>> {
        self.tlvs
            .value(TLV_CHAT_SENDER)
            .map(|v| UserInfo::decode(v.clone()))
    }

    /// The text, decoded per the encoding named in the message info.
    pub fn text(&self) -> Option<Result<MessageText, DecodeError>> {
        let info = self.tlvs.value(TLV_CHAT_MESSAGE_INFO)?;
        Some(TlvList::decode_rest(info.clone()).map(|info| {
            let charset = info
                .value(INFO_ENCODING)
                .map_or(Charset::ASCII, |e| Charset::from_chat_encoding(e));
            let raw = info.value(INFO_TEXT).cloned().unwrap_or_default();
            MessageText::decode(charset, 0, raw)
        }))
    }

    /// Whether the sender asked for the message to be reflected back.
    pub fn wants_reflection(&self) -> bool {
        self.tlvs.contains(TLV_CHAT_REFLECT)
    }

    fn decode_body(body: Bytes) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let cookie = r.fixed::<8>("chat cookie")?;
        let channel = r.u16("chat channel")?;
        let tlvs = TlvList::read_rest(&mut r)?;
        Ok(Self {
            cookie,
            channel,
            tlvs,
        })
    }

    fn encode_body(&self, buf: &mut BytesMut) -> Result<(), EncodeError> {
        buf.put_slice(&self.cookie);
        buf.put_u16(self.channel);
        self.tlvs.encode_rest(buf)
    }
}

/// 0x000E/0x0005: a member sends a message to the room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatSend(pub ChatMessage);

/// 0x000E/0x0006: the room delivers a message (TLV 0x0003 names the sender).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatReceive(pub ChatMessage);

impl SnacBody for ChatSend {
    const FAMILY: Family = Family::CHAT;
    const SUBTYPE: u16 = 0x0005;
    const NAME: &'static str = "ChatSend";

    fn decode_body(body: Bytes) -> Result<Self, DecodeError> {
        ChatMessage::decode_body(body).map(Self)
    }

    fn encode_body(&self, buf: &mut BytesMut) -> Result<(), EncodeError> {
        self.0.encode_body(buf)
    }
}

impl SnacBody for ChatReceive {
    const FAMILY: Family = Family::CHAT;
    const SUBTYPE: u16 = 0x0006;
    const NAME: &'static str = "ChatReceive";

    fn decode_body(body: Bytes) -> Result<Self, DecodeError> {
        ChatMessage::decode_body(body).map(Self)
    }

    fn encode_body(&self, buf: &mut BytesMut) -> Result<(), EncodeError> {
        self.0.encode_body(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScreenName;

    #[test]
    fn send_then_deliver_keeps_text_and_names_sender() {
        let sent = ChatMessage::public([9; 8], "hello room ☃").unwrap();
        assert!(sent.wants_reflection());
        let alice = UserInfo::new(&ScreenName::parse(b"alice").unwrap());
        let got = ChatReceive(sent.delivery(&alice).unwrap());
        let again = ChatReceive::decode_body(got.body_bytes().unwrap()).unwrap();
        assert_eq!(again.0.text().unwrap().unwrap().plain, "hello room ☃");
        assert_eq!(
            again.0.sender().unwrap().unwrap().name().unwrap().display(),
            "alice"
        );
        assert!(!again.0.wants_reflection());
    }

    #[test]
    fn members_round_trip() {
        let users = crate::message::UserList {
            users: vec![
                UserInfo::new(&ScreenName::parse(b"a").unwrap()),
                UserInfo::new(&ScreenName::parse(b"b").unwrap()),
            ],
        };
        let joined = ChatUsersJoined(users);
        assert_eq!(
            ChatUsersJoined::decode_body(joined.body_bytes().unwrap()).unwrap(),
            joined
        );
    }
}
