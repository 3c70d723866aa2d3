//! ICBM (family 0x0004): instant messages out (0x0006), in (0x0007) and typing (0x0014),
//! with the content of channels 1 (text), 2 (rendezvous) and 4 (ICQ) (oscar.md §4.2–§4.7).

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::message::SnacBody;
use crate::message::user_info::UserInfo;
use crate::reader::Reader;
use crate::screen_name::ScreenName;
use crate::snac::Family;
use crate::text::{Charset, MessageText};
use crate::tlv::TlvList;
use crate::writer::{put_u8_prefixed, u16_len};

/// ICBM channel 1: plain instant messages.
pub const ICBM_CHANNEL_IM: u16 = 0x0001;
/// ICBM channel 2: rendezvous (file transfer, direct IM, chat invitations, ICQ relay).
pub const ICBM_CHANNEL_RENDEZVOUS: u16 = 0x0002;
/// ICBM channel 4: old-style ICQ messages.
pub const ICBM_CHANNEL_ICQ: u16 = 0x0004;

/// ICBM TLV: channel-1 message data (the fragment list).
pub const TLV_MESSAGE_DATA: u16 = 0x0002;
/// ICBM TLV: empty, asks the server to acknowledge.
pub const TLV_REQUEST_ACK: u16 = 0x0003;
/// ICBM TLV: empty, the message is an auto-response (away message).
pub const TLV_AUTO_RESPONSE: u16 = 0x0004;
/// ICBM TLV: channel-2/4 payload.
pub const TLV_CHANNEL_DATA: u16 = 0x0005;
/// ICBM TLV: empty, store if the recipient is offline.
pub const TLV_STORE_OFFLINE: u16 = 0x0006;
/// ICBM TLV: original send time (u32) of an offline message.
pub const TLV_SEND_TIME: u16 = 0x0016;

/// Fragment id of the capabilities/features fragment.
const FRAGMENT_FEATURES: u8 = 0x05;
/// Fragment id of a text fragment.
const FRAGMENT_TEXT: u8 = 0x01;
/// The features libpurple sends for AIM.
const AIM_FEATURES: &[u8] = &[0x01, 0x01, 0x01, 0x02];

/// 0x0004/0x0006: client → server ("send"); the recipient is in the SNAC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcbmSend {
    /// Random message cookie, echoed in acks and errors.
    pub cookie: [u8; 8],
    /// ICBM channel (1 IM, 2 rendezvous, 4 ICQ).
    pub channel: u16,
    /// The recipient's screen name as sent.
    pub recipient: Bytes,
    /// Message TLVs in wire order.
    pub tlvs: TlvList,
}

/// 0x0004/0x0007: server → client ("receive"); the sender is a user-info block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcbmReceive {
    /// Message cookie.
    pub cookie: [u8; 8],
    /// ICBM channel.
    pub channel: u16,
    /// Who sent it.
    pub sender: UserInfo,
    /// Message TLVs in wire order.
    pub tlvs: TlvList,
}

impl IcbmSend {
    /// A channel-1 text IM to `recipient`, as libpurple builds one.
    pub fn text(cookie: [u8; 8], recipient: &ScreenName, text: &str) -> Result<Self, EncodeError> {
        let mut tlvs = TlvList::new();
        tlvs.set(TLV_MESSAGE_DATA, text_message_data(text)?);
        Ok(Self {
            cookie,
            channel: ICBM_CHANNEL_IM,
            recipient: recipient.to_bytes(),
            tlvs,
        })
    }

    /// The recipient, parsed.
    pub fn recipient_name(&self) -> Result<ScreenName, DecodeError> {
        ScreenName::parse(&self.recipient)
    }

    /// What the message carries.
    pub fn content(&self) -> Result<IcbmContent, DecodeError> {
        IcbmContent::decode(self.channel, &self.tlvs)
    }
}

impl IcbmReceive {
    /// The delivery of `send` from `sender`, as a server forwards it: the same cookie,
    /// channel and content TLVs, minus the sender-only ack and store-offline flags.
    pub fn delivery_of(send: &IcbmSend, sender: UserInfo) -> Self {
        let tlvs = send
            .tlvs
            .iter()
            .filter(|t| t.kind != TLV_REQUEST_ACK && t.kind != TLV_STORE_OFFLINE)
            .cloned()
            .collect();
        Self {
            cookie: send.cookie,
            channel: send.channel,
            sender,
            tlvs,
        }
    }

    /// What the message carries.
    pub fn content(&self) -> Result<IcbmContent, DecodeError> {
        IcbmContent::decode(self.channel, &self.tlvs)
    }
}

fn read_cookie_channel(r: &mut Reader) -> Result<([u8; 8], u16), DecodeError> {
    Ok((r.fixed::<8>("ICBM cookie")?, r.u16("ICBM channel")?))
}

impl SnacBody for IcbmSend {
    const FAMILY: Family = Family::ICBM;
    const SUBTYPE: u16 = 0x0006;
    const NAME: &'static str = "IcbmSend";

    fn decode_body(body: Bytes) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let (cookie, channel) = read_cookie_channel(&mut r)?;
        let recipient = r.u8_prefixed("ICBM recipient")?;
        let tlvs = TlvList::read_rest(&mut r)?;
        Ok(Self {
            cookie,
            channel,
            recipient,
            tlvs,
        })
    }

    fn encode_body(&self, buf: &mut BytesMut) -> Result<(), EncodeError> {
        buf.put_slice(&self.cookie);
        buf.put_u16(self.channel);
        put_u8_prefixed(buf, &self.recipient, "ICBM recipient")?;
        self.tlvs.encode_rest(buf)
    }
}

impl SnacBody for IcbmReceive {
    const FAMILY: Family = Family::ICBM;
    const SUBTYPE: u16 = 0x0007;
    const NAME: &'static str = "IcbmReceive";

    fn decode_body(body: Bytes) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let (cookie, channel) = read_cookie_channel(&mut r)?;
        let sender = UserInfo::read(&mut r)?;
        let tlvs = TlvList::read_rest(&mut r)?;
        Ok(Self {
            cookie,
            channel,
            sender,
            tlvs,
        })
    }

    fn encode_body(&self, buf: &mut BytesMut) -> Result<(), EncodeError> {
        buf.put_slice(&self.cookie);
        buf.put_u16(self.channel);
        self.sender.encode(buf)?;
        self.tlvs.encode_rest(buf)
    }
}

/// Typing event values of 0x0004/0x0014.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypingEvent(pub u16);

impl TypingEvent {
    /// Finished or cleared.
    pub const FINISHED: Self = Self(0x0000);
    /// Text typed, now paused.
    pub const PAUSED: Self = Self(0x0001);
    /// Typing begun.
    pub const BEGUN: Self = Self(0x0002);
}

/// 0x0004/0x0014: typing notification (`cookie | channel | sn | u16 event`). Client → server
/// it names the peer; server → client, the typist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Typing {
    /// Usually zero.
    pub cookie: [u8; 8],
    /// Always 1 in practice.
    pub channel: u16,
    /// The other party's screen name.
    pub screen_name: Bytes,
    /// What happened.
    pub event: TypingEvent,
}

impl SnacBody for Typing {
    const FAMILY: Family = Family::ICBM;
    const SUBTYPE: u16 = 0x0014;
    const NAME: &'static str = "Typing";

    fn decode_body(body: Bytes) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let (cookie, channel) = read_cookie_channel(&mut r)?;
        let screen_name = r.u8_prefixed("typing screen name")?;
        let event = TypingEvent(r.u16("typing event")?);
        r.finish("typing notification")?;
        Ok(Self {
            cookie,
            channel,
            screen_name,
            event,
        })
    }

    fn encode_body(&self, buf: &mut BytesMut) -> Result<(), EncodeError> {
        buf.put_slice(&self.cookie);
        buf.put_u16(self.channel);
        put_u8_prefixed(buf, &self.screen_name, "typing screen name")?;
        buf.put_u16(self.event.0);
        Ok(())
    }
}

/// What an ICBM carries, by channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IcbmContent {
    /// Channel 1: text, possibly in several parts.
    Text(TextMessage),
    /// Channel 2: a rendezvous proposal, cancel or accept.
    Rendezvous(Rendezvous),
    /// Channel 4: an old-style ICQ message.
    Icq(IcqMessage),
    /// A channel this codec does not interpret, or a message without its data TLV.
    Other,
}

impl IcbmContent {
    /// Interprets the TLVs of an ICBM sent on `channel`.
    pub fn decode(channel: u16, tlvs: &TlvList) -> Result<Self, DecodeError> {
        match channel {
            ICBM_CHANNEL_IM => match tlvs.value(TLV_MESSAGE_DATA) {
                Some(data) => Ok(Self::Text(TextMessage::decode(
                    data.clone(),
                    tlvs.contains(TLV_AUTO_RESPONSE),
                )?)),
                None => Ok(Self::Other),
            },
            ICBM_CHANNEL_RENDEZVOUS => match tlvs.value(TLV_CHANNEL_DATA) {
                Some(data) => Rendezvous::decode(data.clone()).map(Self::Rendezvous),
                None => Ok(Self::Other),
            },
            ICBM_CHANNEL_ICQ => match tlvs.value(TLV_CHANNEL_DATA) {
                Some(data) => IcqMessage::decode(data.clone()).map(Self::Icq),
                None => Ok(Self::Other),
            },
            _ => Ok(Self::Other),
        }
    }
}

/// The fragment list of a channel-1 message (TLV 0x0002).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TextMessage {
    /// The features fragment (0x05), e.g. `01 01 01 02` from AIM clients.
    pub features: Bytes,
    /// Every text fragment (0x0101) in order; multipart messages have several.
    pub parts: Vec<MessageText>,
    /// Whether TLV 0x0004 marked this as an auto-response (away message).
    pub auto_response: bool,
}

impl TextMessage {
    fn decode(data: Bytes, auto_response: bool) -> Result<Self, DecodeError> {
        let mut r = Reader::new(data);
        let mut features = Bytes::new();
        let mut parts = Vec::new();
        while !r.is_empty() {
            let id = r.u8("fragment id")?;
            let _version = r.u8("fragment version")?;
            let mut frag = Reader::new(r.u16_prefixed("fragment")?);
            match id {
                FRAGMENT_FEATURES => features = frag.rest(),
                FRAGMENT_TEXT => {
                    let charset = Charset(frag.u16("text charset")?);
                    let subset = frag.u16("text charset subset")?;
                    parts.push(MessageText::decode(charset, subset, frag.rest()));
                }
                // Unknown fragments carry nothing we log; skip them.
                _ => {}
            }
        }
        Ok(Self {
            features,
            parts,
            auto_response,
        })
    }

    /// All parts' decoded text (HTML as sent), concatenated in order.
    pub fn html(&self) -> String {
        self.parts.iter().map(|p| p.html.as_str()).collect()
    }

    /// All parts' plain-text rendering, concatenated in order.
    pub fn plain(&self) -> String {
        self.parts.iter().map(|p| p.plain.as_str()).collect()
    }
}

/// Builds the TLV 0x0002 value for `text`: an AIM features fragment and one text fragment
/// in ASCII when it fits, UCS-2BE otherwise.
pub fn text_message_data(text: &str) -> Result<Bytes, EncodeError> {
    let charset = Charset::for_text(text);
    let encoded = charset.encode(text);
    let mut buf = BytesMut::new();
    buf.put_u8(FRAGMENT_FEATURES);
    buf.put_u8(0x01);
    buf.put_u16(u16_len(AIM_FEATURES.len(), "features fragment")?);
    buf.put_slice(AIM_FEATURES);
    buf.put_u8(FRAGMENT_TEXT);
    buf.put_u8(0x01);
    buf.put_u16(u16_len(encoded.len() + 4, "text fragment")?);
    buf.put_u16(charset.0);
    buf.put_u16(0x0000);
    buf.put_slice(&encoded);
    Ok(buf.freeze())
}

/// Rendezvous message types (channel 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RendezvousKind(pub u16);

impl RendezvousKind {
    /// A proposal (file offer, direct IM request, chat invitation).
    pub const PROPOSE: Self = Self(0x0000);
    /// The proposal was cancelled.
    pub const CANCEL: Self = Self(0x0001);
    /// The proposal was accepted.
    pub const ACCEPT: Self = Self(0x0002);
}

/// Capability GUID of a file transfer ("send file").
pub const CAP_SEND_FILE: [u8; 16] = [
    0x09, 0x46, 0x13, 0x43, 0x4c, 0x7f, 0x11, 0xd1, 0x82, 0x22, 0x44, 0x45, 0x53, 0x54, 0x00, 0x00,
];
/// Capability GUID of Direct IM (peer-to-peer, bypasses the server).
pub const CAP_DIRECT_IM: [u8; 16] = [
    0x09, 0x46, 0x13, 0x45, 0x4c, 0x7f, 0x11, 0xd1, 0x82, 0x22, 0x44, 0x45, 0x53, 0x54, 0x00, 0x00,
];
/// Capability GUID of a buddy icon sent to one buddy (the picture in TLV 0x2711, no words).
pub const CAP_BUDDY_ICON: [u8; 16] = [
    0x09, 0x46, 0x13, 0x46, 0x4c, 0x7f, 0x11, 0xd1, 0x82, 0x22, 0x44, 0x45, 0x53, 0x54, 0x00, 0x00,
];
/// Capability GUID of a buddy list sent to one buddy (groups and names in TLV 0x2711).
pub const CAP_SEND_BUDDY_LIST: [u8; 16] = [
    0x09, 0x46, 0x13, 0x4b, 0x4c, 0x7f, 0x11, 0xd1, 0x82, 0x22, 0x44, 0x45, 0x53, 0x54, 0x00, 0x00,
];
/// Capability GUID of a chat invitation.
pub const CAP_CHAT: [u8; 16] = [
    0x74, 0x8f, 0x24, 0x20, 0x62, 0x87, 0x11, 0xd1, 0x82, 0x22, 0x44, 0x45, 0x53, 0x54, 0x00, 0x00,
];
/// Capability GUID of an ICQ server-relay (type-2) message.
pub const CAP_ICQ_SERVER_RELAY: [u8; 16] = [
    0x09, 0x46, 0x13, 0x49, 0x4c, 0x7f, 0x11, 0xd1, 0x82, 0x22, 0x44, 0x45, 0x53, 0x54, 0x00, 0x00,
];

/// Rendezvous TLV: invitation text.
pub const TLV_RDV_INVITATION: u16 = 0x000c;
/// Rendezvous TLV: service data (file name and size, chat room, ICQ relay body).
pub const TLV_RDV_SERVICE_DATA: u16 = 0x2711;

/// The channel-2 payload in TLV 0x0005: `u16 kind | u64 cookie | capability GUID | TLVs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendezvous {
    /// Propose, cancel or accept.
    pub kind: RendezvousKind,
    /// Same as the ICBM cookie.
    pub cookie: [u8; 8],
    /// What is being proposed (see the `CAP_*` constants).
    pub capability: [u8; 16],
    /// Addresses, ports, invitation text, service data.
    pub tlvs: TlvList,
}

impl Rendezvous {
    /// Parses a channel-2 payload.
    pub fn decode(data: Bytes) -> Result<Self, DecodeError> {
        let mut r = Reader::new(data);
        let kind = RendezvousKind(r.u16("rendezvous type")?);
        let cookie = r.fixed::<8>("rendezvous cookie")?;
        let capability = r.fixed::<16>("rendezvous capability")?;
        let tlvs = TlvList::read_rest(&mut r)?;
        Ok(Self {
            kind,
            cookie,
            capability,
            tlvs,
        })
    }

    /// For a file offer: the file name (or first name of several) and total size in bytes,
    /// from service data `u16 kind | u16 files | u32 size | name NUL`.
    pub fn file_offer(&self) -> Option<(String, u32)> {
        if self.capability != CAP_SEND_FILE {
            return None;
        }
        let mut data = self.tlvs.value(TLV_RDV_SERVICE_DATA)?.clone();
        if data.remaining() < 8 {
            return None;
        }
        let _kind = data.get_u16();
        let _files = data.get_u16();
        let size = data.get_u32();
        let name = data.split(|b| *b == 0).next().unwrap_or_default();
        Some((String::from_utf8_lossy(name).into_owned(), size))
    }
}

/// Channel-4 payload in TLV 0x0005, little-endian: `u32 uin | u8 type | u8 flags |
/// u16 len | text incl. NUL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcqMessage {
    /// The sender's UIN.
    pub sender_uin: u32,
    /// Message type (0x01 plain, 0x04 URL, 0x06 auth request, ...).
    pub message_type: u8,
    /// Flags.
    pub flags: u8,
    /// Text bytes without the trailing NUL, in the sender's code page.
    pub text: Bytes,
}

impl IcqMessage {
    /// Parses a channel-4 payload.
    pub fn decode(data: Bytes) -> Result<Self, DecodeError> {
        let mut r = Reader::new(data);
        let uin = r.fixed::<4>("ICQ sender UIN")?;
        let message_type = r.u8("ICQ message type")?;
        let flags = r.u8("ICQ message flags")?;
        let len = r.fixed::<2>("ICQ message length")?;
        let mut text = r.take(usize::from(u16::from_le_bytes(len)), "ICQ message text")?;
        if text.last() == Some(&0) {
            text.truncate(text.len() - 1);
        }
        Ok(Self {
            sender_uin: u32::from_le_bytes(uin),
            message_type,
            flags,
            text,
        })
    }

    /// The text decoded (UTF-8 if valid, else Latin-1), with URL-type fields joined by
    /// spaces instead of ICQ's 0xFE separator.
    pub fn decoded_text(&self) -> MessageText {
        let joined: Vec<u8> = self
            .text
            .iter()
            .map(|&b| if b == 0xfe { b' ' } else { b })
            .collect();
        MessageText::decode(Charset(0xffff), 0, Bytes::from(joined))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// libpurple's outgoing IM (real-peers.md §2b), FLAP payload only.
    const LIBPURPLE_IM: &[u8] = &[
        0x00, 0x04, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x19, 0x33, 0x38, 0x35, 0x35, 0x31,
        0x35, 0x34, 0x00, 0x00, 0x01, 0x0a, 0x70, 0x72, 0x6f, 0x62, 0x65, 0x62, 0x75, 0x64, 0x64,
        0x79, 0x00, 0x02, 0x00, 0x3e, 0x05, 0x01, 0x00, 0x04, 0x01, 0x01, 0x01, 0x02, 0x01, 0x01,
        0x00, 0x32, 0x00, 0x00, 0x00, 0x00, 0x3c, 0x48, 0x54, 0x4d, 0x4c, 0x3e, 0x3c, 0x42, 0x4f,
        0x44, 0x59, 0x3e, 0x68, 0x69, 0x20, 0x62, 0x61, 0x63, 0x6b, 0x20, 0x66, 0x72, 0x6f, 0x6d,
        0x20, 0x62, 0x69, 0x74, 0x6c, 0x62, 0x65, 0x65, 0x3c, 0x2f, 0x42, 0x4f, 0x44, 0x59, 0x3e,
        0x3c, 0x2f, 0x48, 0x54, 0x4d, 0x4c, 0x3e, 0x00, 0x03, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00,
    ];

    #[test]
    fn decodes_the_libpurple_capture() {
        let snac = crate::Snac::decode(Bytes::from_static(LIBPURPLE_IM)).unwrap();
        let im = IcbmSend::from_snac(&snac).unwrap();
        assert_eq!(&im.cookie, b"3855154\0");
        assert_eq!(im.recipient_name().unwrap().display(), "probebuddy");
        let IcbmContent::Text(text) = im.content().unwrap() else {
            panic!("expected text");
        };
        assert_eq!(&text.features[..], &[1, 1, 1, 2]);
        assert_eq!(
            text.html(),
            "<HTML><BODY>hi back from bitlbee</BODY></HTML>"
        );
        assert_eq!(text.plain(), "hi back from bitlbee");
        assert!(im.tlvs.contains(TLV_REQUEST_ACK));
        assert_eq!(im.to_snac(0x19).unwrap().to_bytes().unwrap(), LIBPURPLE_IM);
    }

    #[test]
    fn unicode_text_round_trips() {
        let to = ScreenName::parse(b"bob").unwrap();
        let im = IcbmSend::text([1; 8], &to, "naïve ☃").unwrap();
        let again = IcbmSend::decode_body(im.body_bytes().unwrap()).unwrap();
        let IcbmContent::Text(text) = again.content().unwrap() else {
            panic!("expected text");
        };
        assert_eq!(text.parts[0].charset, Charset::UCS2BE);
        assert_eq!(text.plain(), "naïve ☃");
    }

    #[test]
    fn delivery_keeps_content_and_drops_sender_flags() {
        let to = ScreenName::parse(b"bob").unwrap();
        let mut im = IcbmSend::text([2; 8], &to, "hi").unwrap();
        im.tlvs.push(crate::Tlv::flag(TLV_REQUEST_ACK));
        let from = ScreenName::parse(b"alice").unwrap();
        let rx = IcbmReceive::delivery_of(&im, UserInfo::new(&from));
        assert!(!rx.tlvs.contains(TLV_REQUEST_ACK));
        let again = IcbmReceive::decode_body(rx.body_bytes().unwrap()).unwrap();
        assert_eq!(again.sender.name().unwrap(), from);
        assert!(matches!(again.content().unwrap(), IcbmContent::Text(t) if t.plain() == "hi"));
    }

    #[test]
    fn icq_channel_4_message() {
        let mut data = BytesMut::new();
        data.put_u32_le(123_456_789);
        data.put_u8(0x01);
        data.put_u8(0x00);
        data.put_u16_le(6);
        data.put_slice(b"hello\0");
        let msg = IcqMessage::decode(data.freeze()).unwrap();
        assert_eq!(msg.sender_uin, 123_456_789);
        assert_eq!(msg.decoded_text().plain, "hello");
    }

    #[test]
    fn file_offer_is_recognised() {
        let mut tlvs = TlvList::new();
        let mut svc = BytesMut::new();
        svc.put_u16(1);
        svc.put_u16(1);
        svc.put_u32(4096);
        svc.put_slice(b"report.pdf\0");
        tlvs.set(TLV_RDV_SERVICE_DATA, svc.freeze());
        let rdv = Rendezvous {
            kind: RendezvousKind::PROPOSE,
            cookie: [0; 8],
            capability: CAP_SEND_FILE,
            tlvs,
        };
        assert_eq!(rdv.file_offer(), Some(("report.pdf".to_owned(), 4096)));
    }

    #[test]
    fn typing_with_trailing_bytes_is_an_error() {
        let t = Typing {
            cookie: [0; 8],
            channel: 1,
            screen_name: Bytes::from_static(b"bob"),
            event: TypingEvent::BEGUN,
        };
        let mut body = BytesMut::from(&t.body_bytes().unwrap()[..]);
        assert_eq!(Typing::decode_body(body.clone().freeze()).unwrap(), t);
        body.put_u8(0);
        assert!(Typing::decode_body(body.freeze()).is_err());
    }
}
