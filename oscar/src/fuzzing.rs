//! Entry points for the `fuzz/` targets (one per parser). Each asserts the parser's
//! invariants: no panic on any input, and whatever decodes re-encodes to the same bytes.
//! Not part of the supported API.

use bytes::{Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::message::icbm::{
    ICBM_CHANNEL_ICQ, ICBM_CHANNEL_IM, ICBM_CHANNEL_RENDEZVOUS, TLV_CHANNEL_DATA, TLV_MESSAGE_DATA,
};
use crate::message::icbm_reading::{IcbmFrame, Shown};
use crate::message::{IcbmContent, Message, RoomInfo, SnacBody, UserInfo, UserList};
use crate::{Charset, FlapCodec, MessageText, ServerAddress, Snac, TlvList, html_to_plain};

/// FLAP framing: frames cut from `data` re-encode to the bytes they were cut from, the
/// look-ahead ([`FlapCodec::has_complete_frame`]) says a frame is there exactly when
/// decoding then yields one (or rejects a bad header), and the header check
/// ([`FlapCodec::check_header`]) refuses exactly the headers decoding refuses.
pub fn flap(data: &[u8]) {
    let mut codec = FlapCodec::with_max_payload(8 * 1024);
    let mut buf = BytesMut::from(data);
    let mut consumed = 0;
    let mut out = BytesMut::new();
    loop {
        let before = buf.len();
        let complete = codec.has_complete_frame(&buf);
        let checked = codec.check_header(&buf).is_ok();
        let decoded = codec.decode(&mut buf);
        if let Ok(frame) = &decoded {
            assert_eq!(frame.is_some(), complete);
        }
        assert_eq!(decoded.is_ok(), checked);
        match decoded {
            Ok(Some(frame)) => {
                consumed += before - buf.len();
                assert!(codec.encode(&frame, &mut out).is_ok());
            }
            Ok(None) | Err(_) => break,
        }
    }
    if codec.is_at_frame_boundary() {
        assert_eq!(Some(&out[..]), data.get(..consumed));
    }
}

/// SNAC header and prefix block.
pub fn snac(data: &[u8]) {
    if let Ok(snac) = Snac::decode(Bytes::copy_from_slice(data)) {
        assert_eq!(snac.to_bytes().ok().as_deref(), Some(data));
    }
}

/// TLV containers: the same bytes read as a rest, a count-prefixed and a length-prefixed
/// block; each one that decodes re-encodes to exactly `data`.
pub fn tlv(data: &[u8]) {
    let bytes = Bytes::copy_from_slice(data);
    if let Ok(list) = TlvList::decode_rest(bytes.clone()) {
        assert_eq!(list.to_bytes().ok().as_deref(), Some(data));
    }
    if let Ok(list) = TlvList::decode_counted(bytes.clone()) {
        let mut out = BytesMut::new();
        assert!(list.encode_counted(&mut out).is_ok());
        assert_eq!(&out[..], data);
    }
    if let Ok(list) = TlvList::decode_length_prefixed(bytes) {
        let mut out = BytesMut::new();
        assert!(list.encode_length_prefixed(&mut out).is_ok());
        assert_eq!(&out[..], data);
    }
}

/// User-info blocks, standalone and as a list filling a body: whatever decodes re-encodes
/// to the same bytes, and parsing the screen name never panics.
pub fn user_info(data: &[u8]) {
    let bytes = Bytes::copy_from_slice(data);
    if let Ok(info) = UserInfo::decode(bytes.clone()) {
        let _ = info.name();
        let mut out = BytesMut::new();
        assert!(info.encode(&mut out).is_ok());
        assert_eq!(&out[..], data);
    }
    if let Ok(list) = UserList::decode(bytes) {
        let mut out = BytesMut::new();
        assert!(list.encode(&mut out).is_ok());
        assert_eq!(&out[..], data);
    }
}

/// Chat room info (the value of a service request's TLV 0x0001, and the head of a room-info
/// update).
pub fn room_info(data: &[u8]) {
    if let Ok(room) = RoomInfo::decode(Bytes::copy_from_slice(data)) {
        let _ = room.name();
        let mut out = BytesMut::new();
        assert!(room.encode(&mut out).is_ok());
        assert_eq!(&out[..], data);
    }
    // The room info leading a longer block (a room-info update): what it took re-encodes
    // to exactly those bytes.
    if let Ok((room, used)) = RoomInfo::decode_leading(Bytes::copy_from_slice(data)) {
        let mut out = BytesMut::new();
        assert!(room.encode(&mut out).is_ok());
        assert_eq!(Some(&out[..]), data.get(..used));
    }
}

/// `host[:port]` strings: whatever parses prints to a string that parses to the same value.
pub fn host_port(data: &[u8]) {
    if let Ok(hp) = ServerAddress::parse(data) {
        let printed = hp.to_string();
        assert_eq!(ServerAddress::parse(printed.as_bytes()).ok(), Some(hp));
    }
}

/// Charset decoding and the HTML-to-plain rendering: the first byte picks the charset.
/// Single-byte charsets are lossless both ways; UCS-2BE and the UTF-8 fallback are too
/// whenever the input is valid in them.
pub fn text(data: &[u8]) {
    let Some((&pick, raw)) = data.split_first() else {
        return;
    };
    let charset = match pick % 4 {
        0 => Charset::ASCII,
        1 => Charset::LATIN1,
        2 => Charset::UCS2BE,
        _ => Charset(0xff00 | u16::from(pick)),
    };
    let decoded = charset.decode(raw);
    let _ = html_to_plain(&decoded);
    let text = MessageText::decode(charset, 0, Bytes::copy_from_slice(raw));
    assert_eq!(text.html, decoded);
    let lossless = match charset {
        Charset::ASCII | Charset::LATIN1 => true,
        Charset::UCS2BE => {
            let units = raw
                .chunks_exact(2)
                .filter_map(|c| <[u8; 2]>::try_from(c).ok())
                .map(u16::from_be_bytes);
            raw.len() % 2 == 0 && char::decode_utf16(units).all(|c| c.is_ok())
        }
        _ => std::str::from_utf8(raw).is_ok(),
    };
    if lossless {
        assert_eq!(&charset.encode(&decoded)[..], raw);
    }
}

/// ICBM content: the first byte picks the ICBM channel (1 text, 2 rendezvous, 4 ICQ), the
/// rest is the message data TLV's value. Decoding and every accessor must not panic.
pub fn icbm_content(data: &[u8]) {
    let Some((&pick, value)) = data.split_first() else {
        return;
    };
    let (channel, kind) = match pick % 3 {
        0 => (ICBM_CHANNEL_IM, TLV_MESSAGE_DATA),
        1 => (ICBM_CHANNEL_RENDEZVOUS, TLV_CHANNEL_DATA),
        _ => (ICBM_CHANNEL_ICQ, TLV_CHANNEL_DATA),
    };
    let mut tlvs = TlvList::new();
    tlvs.set(kind, Bytes::copy_from_slice(value));
    match IcbmContent::decode(channel, &tlvs) {
        Ok(IcbmContent::Text(t)) => {
            let _ = (t.html(), t.plain());
        }
        Ok(IcbmContent::Rendezvous(r)) => {
            let _ = r.file_offer();
        }
        Ok(IcbmContent::Icq(i)) => {
            let _ = i.decoded_text();
        }
        Ok(IcbmContent::Other) | Err(_) => {}
    }
    // The relay's reading (what the recipient is shown): the same bytes as a whole TLV
    // area on the picked channel, and as a send and a delivery body.
    let frame = IcbmFrame {
        cookie: [0; 8],
        channel,
        peer: Bytes::new(),
        tlv_area: Bytes::copy_from_slice(value),
    };
    let reading = frame.reading();
    if let Shown::Text { text, .. } = &reading.shown {
        assert!(reading.variants.contains(text));
    }
    for body in [IcbmFrame::of_send, IcbmFrame::of_receive] {
        if let Ok(frame) = body(Bytes::copy_from_slice(value)) {
            let _ = frame.reading();
        }
    }
}

/// Typed messages: the first byte picks the FLAP channel, the rest is the payload; every
/// decoded message re-encodes identically, and content accessors never panic.
pub fn message(data: &[u8]) {
    let Some((&channel, payload)) = data.split_first() else {
        return;
    };
    let flap = crate::Flap {
        channel: crate::Channel(channel % 6),
        seq: 0,
        payload: Bytes::copy_from_slice(payload),
    };
    let Ok(message) = Message::decode(&flap) else {
        return;
    };
    touch_accessors(&message);
    let again = message.to_flap();
    assert_eq!(again.ok().map(|f| f.payload), Some(flap.payload));
}

fn touch_accessors(message: &Message) {
    use crate::message::{Redirect, SnacMessage};
    let Message::Snac { body, .. } = message else {
        return;
    };
    match body {
        SnacMessage::IcbmSend(m) => {
            let _ = m.content();
        }
        SnacMessage::IcbmReceive(m) => {
            let _ = m.content().map(|c| match c {
                IcbmContent::Rendezvous(r) => {
                    let _ = r.file_offer();
                }
                IcbmContent::Icq(i) => {
                    let _ = i.decoded_text();
                }
                _ => {}
            });
        }
        SnacMessage::ChatSend(m) => {
            let _ = m.0.text();
        }
        SnacMessage::ChatReceive(m) => {
            let _ = m.0.text();
            let _ = m.0.sender();
        }
        SnacMessage::ServiceRequest(m) => {
            let _ = m.room().map(|r| r.map(|r| r.name()));
        }
        SnacMessage::ServiceResponse(m) => {
            let _ = m.address();
        }
        SnacMessage::LoginReply(m) => {
            let _ = m.address();
        }
        SnacMessage::Migration(m) => {
            let _ = m.address();
            let _ = m.body_bytes();
        }
        _ => {}
    }
}
