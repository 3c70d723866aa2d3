//! The libpurple rules `icbm_reading` encodes, one test each, and a property test that
//! mutates real ICBMs and compares the reading with a small model of libpurple's walk.

use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;

use super::*;
use crate::message::icbm::text_message_data;

fn tlv(kind: u16, value: &[u8]) -> Vec<u8> {
    let mut out = kind.to_be_bytes().to_vec();
    out.extend_from_slice(&u16::try_from(value.len()).unwrap().to_be_bytes());
    out.extend_from_slice(value);
    out
}

fn text_fragment(text: &[u8]) -> Vec<u8> {
    let mut out = vec![0x01, 0x01];
    out.extend_from_slice(&u16::try_from(text.len() + 4).unwrap().to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(text);
    out
}

fn features() -> Vec<u8> {
    vec![0x05, 0x01, 0x00, 0x04, 0x01, 0x01, 0x01, 0x02]
}

fn send(channel: u16, area: &[u8]) -> IcbmFrame {
    let mut body = BytesMut::new();
    body.put_slice(b"cookie!!");
    body.put_u16(channel);
    body.put_u8(3);
    body.put_slice(b"bob");
    body.put_slice(area);
    IcbmFrame::of_send(body.freeze()).unwrap()
}

fn shown_plain(reading: &Reading) -> Option<&str> {
    match &reading.shown {
        Shown::Text { text, .. } => Some(text.plain.as_str()),
        _ => None,
    }
}

#[test]
fn plain_im_is_certain() {
    let area = tlv(0x0002, &text_message_data("hello").unwrap());
    let reading = send(1, &area).reading();
    assert_eq!(shown_plain(&reading), Some("hello"));
    assert!(reading.is_certain(), "{reading:?}");
}

#[test]
fn second_message_tlv_is_shown() {
    let mut area = tlv(0x0002, &text_message_data("first").unwrap());
    area.extend(tlv(0x0002, &text_message_data("second").unwrap()));
    let reading = send(1, &area).reading();
    assert_eq!(shown_plain(&reading), Some("second"));
    assert_eq!(reading.variants.len(), 2);
    assert_eq!(reading.variants[0].plain, "first");
    assert!(
        reading
            .doubts
            .contains(&"several message-data TLVs (0x0002)")
    );
}

#[test]
fn last_text_fragment_is_shown() {
    let mut block = features();
    block.extend(text_fragment(b"one"));
    block.extend(text_fragment(b"two"));
    let reading = send(1, &tlv(0x0002, &block)).reading();
    assert_eq!(shown_plain(&reading), Some("two"));
    assert!(reading.doubts.contains(&"several text fragments"));
}

#[test]
fn trailing_byte_is_ignored() {
    let mut area = tlv(0x0002, &text_message_data("hi").unwrap());
    area.push(0x00);
    let reading = send(1, &area).reading();
    assert_eq!(shown_plain(&reading), Some("hi"));
    assert_eq!(reading.doubts, vec!["trailing bytes after the last TLV"]);
}

#[test]
fn lying_tlv_length_stops_the_walk() {
    let mut area = tlv(0x0002, &text_message_data("kept").unwrap());
    area.extend_from_slice(&[0x00, 0x02, 0x00, 0xff, 0x05, 0x01]);
    let reading = send(1, &area).reading();
    assert_eq!(shown_plain(&reading), Some("kept"));
    assert!(!reading.is_certain());
}

#[test]
fn short_text_fragment_shows_nothing() {
    let mut block = features();
    block.extend(text_fragment(b"earlier"));
    // Declares 100 bytes of text, carries 2: libpurple shows nothing for it, and the
    // earlier text is replaced by that nothing.
    block.extend_from_slice(&[0x01, 0x01, 0x00, 0x68, 0x00, 0x00, 0x00, 0x00, b'h', b'i']);
    let reading = send(1, &tlv(0x0002, &block)).reading();
    assert!(matches!(reading.shown, Shown::Unreadable(_)), "{reading:?}");
    assert_eq!(reading.variants.len(), 1);
}

#[test]
fn lying_fragment_length_reads_on() {
    // A skipped fragment claiming more than is left does not move the cursor: the next
    // four bytes are read as a fragment header, here a text fragment.
    let mut block = vec![0x05, 0x01, 0x7f, 0xff];
    block.extend(text_fragment(b"hidden"));
    let reading = send(1, &tlv(0x0002, &block)).reading();
    assert_eq!(shown_plain(&reading), Some("hidden"));
    assert!(
        reading
            .doubts
            .contains(&"a fragment length runs past the end of its TLV")
    );
}

#[test]
fn text_in_tlv_5_on_channel_1_is_unreadable() {
    let area = tlv(0x0005, &text_message_data("sneaky").unwrap());
    assert!(matches!(
        send(1, &area).reading().shown,
        Shown::Unreadable(_)
    ));
}

#[test]
fn channel_3_is_unreadable() {
    let area = tlv(0x0002, &text_message_data("sneaky").unwrap());
    assert!(matches!(
        send(3, &area).reading().shown,
        Shown::Unreadable(_)
    ));
}

fn rendezvous_area(capability: [u8; 16], inner: &[u8]) -> Vec<u8> {
    let mut rdv = vec![0x00, 0x00];
    rdv.extend_from_slice(b"cookie!!");
    rdv.extend_from_slice(&capability);
    rdv.extend_from_slice(inner);
    tlv(0x0005, &rdv)
}

#[test]
fn icq_type_2_text_is_read() {
    let inner = tlv(0x2711, &icq_server_relay_data(b"type two").unwrap());
    let reading = send(2, &rendezvous_area(CAP_ICQ_SERVER_RELAY, &inner)).reading();
    assert_eq!(shown_plain(&reading), Some("type two"));
    assert!(matches!(
        reading.shown,
        Shown::Text {
            shape: TextShape::IcqServerRelay,
            ..
        }
    ));
}

#[test]
fn chat_invitation_text_is_read() {
    let inner = tlv(0x000c, b"join us");
    let reading = send(2, &rendezvous_area(CAP_CHAT, &inner)).reading();
    assert_eq!(shown_plain(&reading), Some("join us"));
}

#[test]
fn unknown_capability_is_unreadable() {
    let inner = tlv(0x000c, b"words");
    let reading = send(2, &rendezvous_area([0x42; 16], &inner)).reading();
    assert!(matches!(reading.shown, Shown::Unreadable(_)));
}

#[test]
fn buddy_icons_and_buddy_lists_are_rendezvous_without_words() {
    use crate::message::icbm::{CAP_BUDDY_ICON, CAP_SEND_BUDDY_LIST};
    for cap in [CAP_BUDDY_ICON, CAP_SEND_BUDDY_LIST] {
        let inner = tlv(0x2711, b"\x00\x01icon");
        let reading = send(2, &rendezvous_area(cap, &inner)).reading();
        assert!(
            matches!(&reading.shown, Shown::Rendezvous(r) if r.capability == cap),
            "{reading:?}"
        );
        assert!(reading.variants.is_empty() && reading.is_certain());
    }
}

#[test]
fn five_thousand_tlvs_still_read() {
    let mut area = Vec::new();
    for _ in 0..5_000 {
        area.extend(tlv(0x0099, &[]));
    }
    area.extend(tlv(0x0002, &text_message_data("needle").unwrap()));
    assert_eq!(shown_plain(&send(1, &area).reading()), Some("needle"));
}

#[test]
fn every_prefix_of_a_real_im_reads_without_panic() {
    let mut area = tlv(0x0002, &text_message_data("prefix test").unwrap());
    area.extend(tlv(0x0003, &[]));
    for end in 0..=area.len() {
        let _ = send(1, &area[..end]).reading();
        let _ = send(2, &area[..end]).reading();
        let _ = send(4, &area[..end]).reading();
    }
}

/// libpurple's channel-1 walk, written as plainly as possible over slices: the charset and
/// bytes of the text shown, if any.
fn model(area: &[u8]) -> Option<(u16, Vec<u8>)> {
    fn be(b: &[u8], at: usize) -> Option<u16> {
        Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
    }
    let mut shown = None;
    let mut at = 0;
    while area.len() - at >= 4 {
        let kind = be(area, at)?;
        let len = usize::from(be(area, at + 2)?);
        at += 4;
        if len > area.len() - at {
            break;
        }
        let value = &area[at..at + len];
        at += len;
        if kind != 2 {
            continue;
        }
        let mut p = 0;
        while value.len() - p >= 4 {
            let ftype = be(value, p)?;
            let flen = be(value, p + 2)?;
            p += 4;
            if ftype == 0x0101 {
                let mut charset = 0;
                if value.len() - p >= 2 {
                    charset = be(value, p)?;
                    p += 2;
                }
                if value.len() - p >= 2 {
                    p += 2;
                }
                let n = usize::from(flen.wrapping_sub(4));
                if value.len() - p >= n {
                    shown = (n > 0).then(|| (charset, value[p..p + n].to_vec()));
                    p += n;
                } else {
                    shown = None;
                }
            } else if usize::from(flen) <= value.len() - p {
                p += usize::from(flen);
            }
        }
    }
    shown
}

/// A mutation of a real ICBM's TLV area.
#[derive(Debug, Clone)]
enum Mutation {
    DuplicateMessageTlv(String),
    ExtraFragment(String),
    Trailing(Vec<u8>),
    LieTlvLength(usize, u16),
    LieFragmentLength(usize, u16),
    FlipByte(usize, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        "[a-z ]{0,12}".prop_map(Mutation::DuplicateMessageTlv),
        "[a-z ]{0,12}".prop_map(Mutation::ExtraFragment),
        proptest::collection::vec(any::<u8>(), 1..6).prop_map(Mutation::Trailing),
        (any::<usize>(), any::<u16>()).prop_map(|(i, l)| Mutation::LieTlvLength(i, l)),
        (any::<usize>(), any::<u16>()).prop_map(|(i, l)| Mutation::LieFragmentLength(i, l)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::FlipByte(i, b)),
    ]
}

fn apply(area: &mut Vec<u8>, m: &Mutation) {
    match m {
        Mutation::DuplicateMessageTlv(text) => {
            area.extend(tlv(0x0002, &text_message_data(text).unwrap()));
        }
        Mutation::ExtraFragment(text) => {
            // Appended to the first TLV 0x0002, whose length is recomputed.
            let len = area.get(2..4).map_or(usize::MAX, |l| {
                usize::from(u16::from_be_bytes([l[0], l[1]]))
            });
            if area.len() >= 4 + len && area[..2] == [0, 2] {
                let mut value = area[4..4 + len].to_vec();
                value.extend(text_fragment(text.as_bytes()));
                let rest = area[4 + len..].to_vec();
                *area = tlv(0x0002, &value);
                area.extend(rest);
            }
        }
        Mutation::Trailing(bytes) => area.extend_from_slice(bytes),
        Mutation::LieTlvLength(i, len) | Mutation::LieFragmentLength(i, len) => {
            if area.len() >= 2 {
                let at = i % (area.len() - 1);
                area[at..at + 2].copy_from_slice(&len.to_be_bytes());
            }
        }
        Mutation::FlipByte(i, b) => {
            if !area.is_empty() {
                let at = i % area.len();
                area[at] = *b;
            }
        }
    }
}

proptest! {
    #[test]
    fn mutated_real_ims_read_as_libpurple_shows_them(
        text in "[a-zA-Z0-9 ]{0,40}",
        mutations in proptest::collection::vec(mutation(), 0..4),
    ) {
        // libpurple's own outgoing IM shape: text TLV, then the ack request.
        let mut area = tlv(0x0002, &text_message_data(&text).unwrap());
        area.extend(tlv(0x0003, &[]));
        for m in &mutations {
            apply(&mut area, m);
        }
        let reading = send(1, &area).reading();
        let got = match &reading.shown {
            Shown::Text { text, .. } => Some((text.charset.0, text.raw.to_vec())),
            _ => None,
        };
        prop_assert_eq!(got, model(&area));
        if let Shown::Text { text, .. } = &reading.shown {
            prop_assert!(reading.variants.contains(text));
        }
    }

    #[test]
    fn any_bytes_read_without_panic(channel in 0u16..6, area in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = send(channel, &area).reading();
        let _ = IcbmFrame::of_receive(Bytes::from(area));
    }
}
