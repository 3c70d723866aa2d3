//! Entry points for the `fuzz/` targets (one per parser). Each asserts the parser's
//! invariants: no panic on any input, and whatever decodes re-encodes to the same bytes.
//! Not part of the supported API.

use bytes::{Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::message::{Message, SnacBody};
use crate::{FlapCodec, Snac, TlvList};

/// FLAP framing: frames cut from `data` re-encode to the bytes they were cut from.
pub fn flap(data: &[u8]) {
    let mut codec = FlapCodec::with_max_payload(8 * 1024);
    let mut buf = BytesMut::from(data);
    let mut consumed = 0;
    let mut out = BytesMut::new();
    loop {
        let before = buf.len();
        match codec.decode(&mut buf) {
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

/// TLV rest blocks.
pub fn tlv(data: &[u8]) {
    if let Ok(list) = TlvList::decode_rest(Bytes::copy_from_slice(data)) {
        assert_eq!(list.to_bytes().ok().as_deref(), Some(data));
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
                crate::message::IcbmContent::Rendezvous(r) => {
                    let _ = r.file_offer();
                }
                crate::message::IcbmContent::Icq(i) => {
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
