//! What the recipient of an ICBM is shown, read the way its client reads it rather than the
//! way a strict decoder would. A relay that archives what a strict decoder finds can be
//! made to archive one text while the recipient is shown another, or nothing while the
//! recipient is shown text (two message-data TLVs, two text fragments, one
//! trailing byte). The reference is libpurple 2.14's oscar prpl, the client behind the
//! gateway's own end-to-end tests (`family_icbm.c`: `incomingim_ch1`,
//! `incomingim_ch1_parsemsg`, `incomingim_ch2`, `incomingim_ch2_icqserverrelay`,
//! `incomingim_ch4`; oscar.md §4.2–§4.4). Its rules, each pinned by a test below:
//!
//! - The ICBM's TLVs are walked while at least four bytes remain; a TLV whose length runs
//!   past the end stops the walk, keeping what was read before it; up to three trailing
//!   bytes are ignored (`trailing_byte_is_ignored`, `lying_tlv_length_stops_the_walk`).
//! - Channel 1: every TLV 0x0002 is read, in order, as a list of `u16 type | u16 length`
//!   fragments within that TLV; only type 0x0101 is text, every other fragment (features
//!   0x0501 among them) is skipped. Each text fragment replaces the one before, so the last
//!   text fragment of the last TLV 0x0002 is shown (`second_message_tlv_is_shown`,
//!   `last_text_fragment_is_shown`).
//! - A text fragment is `u16 charset | u16 subset | text`, the text being its length − 4
//!   bytes. When fewer remain, libpurple's read fails without moving: nothing is shown for
//!   it (it still replaces the earlier text) and the walk reads on from after the subset
//!   (`short_text_fragment_shows_nothing`). A skipped fragment whose length runs past the
//!   end does not move either (`lying_fragment_length_reads_on`).
//! - Channels 2 and 4 use the first TLV 0x0005 (`aim_tlv_gettlv(.., 1)`); inside a
//!   rendezvous, the first 0x000C (invitation text) and 0x2711 (service data). File and
//!   direct-IM proposals, buddy icons and buddy lists show no words; other capabilities are
//!   not interpreted (`unknown_capability_is_unreadable`).
//!
//! Where other clients may show something else (several texts, trailing bytes, a lying
//! length), the reading says so in `doubts`, and keeps every text variant, so the archive
//! can hold all of them and the raw bytes.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::message::icbm::{
    CAP_BUDDY_ICON, CAP_CHAT, CAP_DIRECT_IM, CAP_ICQ_SERVER_RELAY, CAP_SEND_BUDDY_LIST,
    CAP_SEND_FILE, ICBM_CHANNEL_ICQ, ICBM_CHANNEL_IM, ICBM_CHANNEL_RENDEZVOUS, IcqMessage,
    Rendezvous, RendezvousKind, TLV_AUTO_RESPONSE, TLV_CHANNEL_DATA, TLV_MESSAGE_DATA,
    TLV_RDV_INVITATION, TLV_RDV_SERVICE_DATA,
};
use crate::message::user_info::UserInfo;
use crate::reader::Reader;
use crate::text::{Charset, MessageText};
use crate::writer::u16_len;

/// The type word of a text fragment (`01 01`).
const FRAGMENT_TEXT: u16 = 0x0101;
/// Rendezvous TLV: the charset name of the invitation text.
const TLV_RDV_ENCODING: u16 = 0x000d;
/// The two header lengths libpurple insists on in an ICQ server-relay body.
const ICQ_RELAY_HEADERS: [u16; 2] = [0x001b, 0x000e];

/// An ICBM (0x0004/0x0006 or 0x0004/0x0007) split only as far as every client splits it:
/// the TLV area is kept as bytes, because how it is read is the question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcbmFrame {
    /// Message cookie.
    pub cookie: [u8; 8],
    /// ICBM channel.
    pub channel: u16,
    /// The other party: the recipient of a send, the sender of a delivery.
    pub peer: Bytes,
    /// Everything after the screen name (send) or user-info block (delivery).
    pub tlv_area: Bytes,
}

impl IcbmFrame {
    /// Splits a client's 0x0004/0x0006 body: `cookie | channel | u8 sn | TLVs`.
    pub fn of_send(body: Bytes) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let cookie = r.fixed::<8>("ICBM cookie")?;
        let channel = r.u16("ICBM channel")?;
        let peer = r.u8_prefixed("ICBM recipient")?;
        Ok(Self {
            cookie,
            channel,
            peer,
            tlv_area: r.rest(),
        })
    }

    /// Splits a server's 0x0004/0x0007 body: `cookie | channel | user info | TLVs`.
    pub fn of_receive(body: Bytes) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let cookie = r.fixed::<8>("ICBM cookie")?;
        let channel = r.u16("ICBM channel")?;
        let sender = UserInfo::read(&mut r)?;
        Ok(Self {
            cookie,
            channel,
            peer: sender.screen_name,
            tlv_area: r.rest(),
        })
    }

    /// Reads the message as the recipient's client does.
    pub fn reading(&self) -> Reading {
        let walk = TlvWalk::of(self.tlv_area.clone());
        let mut reading = Reading {
            shown: Shown::Unreadable("nothing"),
            variants: Vec::new(),
            doubts: walk.doubts.clone(),
            auto_response: walk.first(TLV_AUTO_RESPONSE).is_some(),
        };
        reading.shown = match self.channel {
            ICBM_CHANNEL_IM => channel_one(&walk, &mut reading),
            ICBM_CHANNEL_RENDEZVOUS => rendezvous(&walk, &mut reading),
            ICBM_CHANNEL_ICQ => match walk.first(TLV_CHANNEL_DATA) {
                Some(data) => match IcqMessage::decode(data.clone()) {
                    Ok(msg) => {
                        reading.variants.push(msg.decoded_text());
                        Shown::Icq(msg)
                    }
                    Err(_) => Shown::Unreadable("an ICQ channel-4 body that does not parse"),
                },
                None => Shown::Unreadable("an ICQ channel-4 message without its data TLV"),
            },
            _ => Shown::Unreadable("an ICBM on a channel clients do not show as an IM"),
        };
        if walk.count(TLV_CHANNEL_DATA) > 1 {
            reading.doubts.push("several channel-data TLVs (0x0005)");
        }
        reading
    }
}

/// How an ICBM reads: what is shown, every text variant, and why that may be uncertain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// What the recipient is shown.
    pub shown: Shown,
    /// Every text the message carries, in wire order (all text fragments of all TLVs
    /// 0x0002; the one text of other shapes).
    pub variants: Vec<MessageText>,
    /// Shapes on which clients may differ; empty when every client reads it alike.
    pub doubts: Vec<&'static str>,
    /// TLV 0x0004: an auto-response (away message).
    pub auto_response: bool,
}

impl Reading {
    /// Whether the reading can be stood behind without the raw bytes beside it.
    pub fn is_certain(&self) -> bool {
        self.doubts.is_empty() && self.variants.len() <= 1
    }
}

/// What the recipient is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shown {
    /// Text shown as an IM.
    Text {
        /// The text.
        text: MessageText,
        /// Which shape carried it.
        shape: TextShape,
    },
    /// A rendezvous without words (file or direct-IM proposal, cancel, accept).
    Rendezvous(Rendezvous),
    /// An old-style ICQ message (channel 4).
    Icq(IcqMessage),
    /// Nothing this reader can stand behind, and why.
    Unreadable(&'static str),
}

/// The shapes that carry text shown as an IM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextShape {
    /// Channel 1, text fragment in TLV 0x0002.
    ChannelOne,
    /// Channel 2 with the ICQ server-relay capability ("type-2"), text in TLV 0x2711.
    IcqServerRelay,
    /// Channel 2 chat invitation, text in TLV 0x000C.
    ChatInvitation,
}

impl TextShape {
    /// How a record names the shape.
    pub fn describe(self) -> &'static str {
        match self {
            Self::ChannelOne => "channel 1",
            Self::IcqServerRelay => "ICQ server-relayed (type-2) message, channel 2",
            Self::ChatInvitation => "chat invitation text, channel 2",
        }
    }
}

/// The ICBM's TLVs as libpurple walks them.
#[derive(Debug, Clone)]
struct TlvWalk {
    tlvs: Vec<(u16, Bytes)>,
    doubts: Vec<&'static str>,
}

impl TlvWalk {
    fn of(mut area: Bytes) -> Self {
        let mut tlvs = Vec::new();
        let mut doubts = Vec::new();
        while area.remaining() >= 4 {
            let kind = area.get_u16();
            let len = usize::from(area.get_u16());
            if len > area.remaining() {
                doubts.push("a TLV length runs past the end of the message");
                area.clear();
                break;
            }
            tlvs.push((kind, area.split_to(len)));
        }
        if !area.is_empty() {
            doubts.push("trailing bytes after the last TLV");
        }
        Self { tlvs, doubts }
    }

    fn first(&self, kind: u16) -> Option<&Bytes> {
        self.tlvs.iter().find(|(k, _)| *k == kind).map(|(_, v)| v)
    }

    fn all(&self, kind: u16) -> impl Iterator<Item = &Bytes> {
        self.tlvs
            .iter()
            .filter(move |(k, _)| *k == kind)
            .map(|(_, v)| v)
    }

    fn count(&self, kind: u16) -> usize {
        self.all(kind).count()
    }
}

/// libpurple's bounded stream reads: a read that does not fit returns 0 or nothing and
/// leaves the cursor where it was.
struct Cursor {
    data: Bytes,
    pos: usize,
}

impl Cursor {
    fn left(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    fn u16(&mut self) -> u16 {
        match self.data.get(self.pos..self.pos.saturating_add(2)) {
            Some(&[hi, lo]) => {
                self.pos += 2;
                u16::from_be_bytes([hi, lo])
            }
            _ => 0,
        }
    }

    fn le16(&mut self) -> Option<u16> {
        self.take(2)
            .and_then(|b| b.first_chunk::<2>().map(|b| u16::from_le_bytes(*b)))
    }

    fn advance(&mut self, n: usize) -> bool {
        if n <= self.left() {
            self.pos += n;
            true
        } else {
            false
        }
    }

    fn take(&mut self, n: usize) -> Option<Bytes> {
        let end = self.pos.checked_add(n)?;
        let out = self.data.get(self.pos..end).map(Bytes::copy_from_slice)?;
        self.pos = end;
        Some(out)
    }
}

/// Channel 1: the last text fragment of the last TLV 0x0002.
fn channel_one(walk: &TlvWalk, reading: &mut Reading) -> Shown {
    let blocks = walk.count(TLV_MESSAGE_DATA);
    if blocks == 0 {
        return Shown::Unreadable("a channel-1 IM without a message-data TLV (0x0002)");
    }
    if blocks > 1 {
        reading.doubts.push("several message-data TLVs (0x0002)");
    }
    let mut shown: Option<MessageText> = None;
    let mut texts = 0usize;
    for block in walk.all(TLV_MESSAGE_DATA) {
        let mut c = Cursor {
            data: block.clone(),
            pos: 0,
        };
        while c.left() >= 4 {
            let kind = c.u16();
            let len = c.u16();
            if kind == FRAGMENT_TEXT {
                texts += 1;
                let text_len = usize::from(len.wrapping_sub(4));
                let charset = Charset(c.u16());
                let subset = c.u16();
                shown = match c.take(text_len) {
                    Some(raw) if !raw.is_empty() => {
                        let text = MessageText::decode(charset, subset, raw);
                        reading.variants.push(text.clone());
                        Some(text)
                    }
                    Some(_) => None,
                    None => {
                        reading
                            .doubts
                            .push("a text fragment shorter than its length");
                        None
                    }
                };
            } else if !c.advance(usize::from(len)) {
                reading
                    .doubts
                    .push("a fragment length runs past the end of its TLV");
            }
        }
        if c.left() > 0 {
            reading
                .doubts
                .push("trailing bytes after the last fragment");
        }
    }
    if texts > 1 {
        reading.doubts.push("several text fragments");
    }
    match shown {
        Some(text) => Shown::Text {
            text,
            shape: TextShape::ChannelOne,
        },
        None => Shown::Unreadable("a channel-1 IM whose last text fragment shows nothing"),
    }
}

/// Channel 2: the rendezvous in the first TLV 0x0005, with the texts libpurple shows.
fn rendezvous(walk: &TlvWalk, reading: &mut Reading) -> Shown {
    let Some(data) = walk.first(TLV_CHANNEL_DATA) else {
        return Shown::Unreadable("a rendezvous without its data TLV (0x0005)");
    };
    let Ok(rdv) = Rendezvous::decode(data.clone()) else {
        return Shown::Unreadable("a rendezvous body that does not parse");
    };
    if rdv
        .tlvs
        .iter()
        .filter(|t| t.kind == TLV_RDV_INVITATION)
        .count()
        > 1
        || rdv
            .tlvs
            .iter()
            .filter(|t| t.kind == TLV_RDV_SERVICE_DATA)
            .count()
            > 1
    {
        reading.doubts.push("duplicate rendezvous TLVs");
    }
    let propose = rdv.kind == RendezvousKind::PROPOSE;
    if rdv.capability == CAP_ICQ_SERVER_RELAY {
        if !propose {
            return Shown::Rendezvous(rdv);
        }
        let Some(text) = rdv
            .tlvs
            .value(TLV_RDV_SERVICE_DATA)
            .and_then(icq_relay_text)
        else {
            return Shown::Unreadable("an ICQ server-relayed message whose text does not parse");
        };
        reading.variants.push(text.clone());
        Shown::Text {
            text,
            shape: TextShape::IcqServerRelay,
        }
    } else if rdv.capability == CAP_CHAT {
        if !propose {
            return Shown::Rendezvous(rdv);
        }
        let charset = rdv
            .tlvs
            .value(TLV_RDV_ENCODING)
            .map_or(Charset(0xffff), |name| Charset::from_chat_encoding(name));
        let raw = rdv
            .tlvs
            .value(TLV_RDV_INVITATION)
            .cloned()
            .unwrap_or_default();
        let text = MessageText::decode(charset, 0, raw);
        reading.variants.push(text.clone());
        Shown::Text {
            text,
            shape: TextShape::ChatInvitation,
        }
    } else if [
        CAP_SEND_FILE,
        CAP_DIRECT_IM,
        CAP_BUDDY_ICON,
        CAP_SEND_BUDDY_LIST,
    ]
    .contains(&rdv.capability)
    {
        // No words shown: a file or direct-IM proposal, a buddy icon or buddy list.
        Shown::Rendezvous(rdv)
    } else {
        Shown::Unreadable("a rendezvous with a capability the gateway does not interpret")
    }
}

/// The text of an ICQ server-relay body (little-endian): two headers of fixed lengths,
/// `u8 type | u8 flags | u16 status | u16 priority | u16 len | text NUL`. The text is
/// UTF-8 from current clients, Latin-1 from old ones.
fn icq_relay_text(data: &Bytes) -> Option<MessageText> {
    let mut c = Cursor {
        data: data.clone(),
        pos: 0,
    };
    for expected in ICQ_RELAY_HEADERS {
        let len = c.le16()?;
        if len != expected || !c.advance(usize::from(len)) {
            return None;
        }
    }
    c.advance(1 + 1 + 2 + 2).then_some(())?;
    let len = c.le16()?;
    let mut raw = c.take(usize::from(len))?;
    if let Some(nul) = raw.iter().position(|b| *b == 0) {
        raw.truncate(nul);
    }
    Some(MessageText::decode(Charset(0xffff), 0, raw))
}

/// Builds an ICQ server-relay body (TLV 0x2711 of a type-2 message) carrying `text` as a
/// plain message, in the layout [`IcbmFrame::reading`] and libpurple read: for the lab and
/// tests that play an ICQ client.
pub fn icq_server_relay_data(text: &[u8]) -> Result<Bytes, EncodeError> {
    let mut out = BytesMut::new();
    for len in ICQ_RELAY_HEADERS {
        out.put_u16_le(len);
        out.put_bytes(0, usize::from(len));
    }
    // Plain message, no flags, status and priority zero.
    out.put_slice(&[0x01, 0x00, 0, 0, 0, 0]);
    out.put_u16_le(u16_len(text.len() + 1, "ICQ server-relay text")?);
    out.put_slice(text);
    out.put_u8(0);
    Ok(out.freeze())
}

#[cfg(test)]
#[path = "icbm_reading_tests.rs"]
mod tests;
