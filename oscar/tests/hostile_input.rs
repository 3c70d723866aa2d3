//! Hostile and truncated input: every prefix of captured streams, lengths and counts that
//! lie, oversize frames, and the address rewrite of oscar.md §10.5 checked byte for byte.
//! Every test asserts concrete values (frame counts, error variants with their numbers,
//! exact bytes), so a codec change that alters behaviour makes it fail.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use bytes::{BufMut, Bytes, BytesMut};
use oscar::message::icbm::{CAP_CHAT, CAP_SEND_FILE, IcbmContent, IcqMessage};
use oscar::message::signon::Redirect;
use oscar::message::{
    IcbmSend, KeyReply, LoginReply, Migration, RoomInfo, SnacMessage, Typing, UserInfo, UserList,
};
use oscar::{
    Channel, DecodeError, EncodeError, FLAP_MAX_PAYLOAD, Family, Flap, FlapCodec, FlapError,
    MAX_TLVS_PER_BLOCK, Message, ServerAddress, Snac, SnacBody, Tlv, TlvList,
};
use tokio_util::codec::{Decoder, Encoder};

// ---------------------------------------------------------------------------------------
// Captured and reference bytes
// ---------------------------------------------------------------------------------------

/// libpurple's first 45 bytes on an authorizer connection (real-peers.md §2a): a channel-1
/// hello and the BUCP key request for "tester1".
const LIBPURPLE_HELLO_AND_KEY_REQUEST: &[u8] = &[
    0x2a, 0x01, 0x00, 0x01, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, 0x2a, 0x02, 0x00, 0x02, 0x00, 0x1d,
    0x00, 0x17, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x07, 0x74, 0x65,
    0x73, 0x74, 0x65, 0x72, 0x31, 0x00, 0x4b, 0x00, 0x00, 0x00, 0x5a, 0x00, 0x00,
];

/// libpurple's outgoing IM to "probebuddy" (real-peers.md §2b), FLAP payload only.
const LIBPURPLE_IM: &[u8] = &[
    0x00, 0x04, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x19, 0x33, 0x38, 0x35, 0x35, 0x31, 0x35,
    0x34, 0x00, 0x00, 0x01, 0x0a, 0x70, 0x72, 0x6f, 0x62, 0x65, 0x62, 0x75, 0x64, 0x64, 0x79, 0x00,
    0x02, 0x00, 0x3e, 0x05, 0x01, 0x00, 0x04, 0x01, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00, 0x32, 0x00,
    0x00, 0x00, 0x00, 0x3c, 0x48, 0x54, 0x4d, 0x4c, 0x3e, 0x3c, 0x42, 0x4f, 0x44, 0x59, 0x3e, 0x68,
    0x69, 0x20, 0x62, 0x61, 0x63, 0x6b, 0x20, 0x66, 0x72, 0x6f, 0x6d, 0x20, 0x62, 0x69, 0x74, 0x6c,
    0x62, 0x65, 0x65, 0x3c, 0x2f, 0x42, 0x4f, 0x44, 0x59, 0x3e, 0x3c, 0x2f, 0x48, 0x54, 0x4d, 0x4c,
    0x3e, 0x00, 0x03, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00,
];

/// The IM above in a FLAP (channel 2, sequence 3, length 0x0069).
fn libpurple_im_frame() -> Vec<u8> {
    let mut wire = vec![0x2a, 0x02, 0x00, 0x03, 0x00, 0x69];
    wire.extend_from_slice(LIBPURPLE_IM);
    wire
}

/// The 256-byte login cookie of the §10.5 example.
fn cookie() -> Vec<u8> {
    (0..=255u8).rev().collect()
}

/// oscar.md §10.5: SNAC 0017/0003 with TLVs 0x0001 "alice", 0x0005 `address`, 0x0006 the
/// 256-byte cookie and 0x008E = 0, inside a FLAP with the given header bytes.
fn login_reply_frame(flap_header: [u8; 6], address: &[u8]) -> Vec<u8> {
    let mut wire = flap_header.to_vec();
    wire.extend_from_slice(&[0x00, 0x17, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02]);
    wire.extend_from_slice(&[0x00, 0x01, 0x00, 0x05]);
    wire.extend_from_slice(b"alice");
    wire.extend_from_slice(&[0x00, 0x05, 0x00, u8::try_from(address.len()).unwrap()]);
    wire.extend_from_slice(address);
    wire.extend_from_slice(&[0x00, 0x06, 0x01, 0x00]);
    wire.extend_from_slice(&cookie());
    wire.extend_from_slice(&[0x00, 0x8e, 0x00, 0x01, 0x00]);
    wire
}

/// Upstream's frame: sequence 0x1234, LL = 0x0131 (305 bytes).
fn upstream_login_reply() -> Vec<u8> {
    login_reply_frame([0x2a, 0x02, 0x12, 0x34, 0x01, 0x31], b"64.12.30.168:5190")
}

fn all_captured() -> Vec<u8> {
    let mut wire = LIBPURPLE_HELLO_AND_KEY_REQUEST.to_vec();
    wire.extend(libpurple_im_frame());
    wire.extend(upstream_login_reply());
    wire
}

/// A FLAP header for `len` payload bytes.
fn flap_header(channel: u8, seq: u16, len: u16) -> [u8; 6] {
    let [s0, s1] = seq.to_be_bytes();
    let [l0, l1] = len.to_be_bytes();
    [0x2a, channel, s0, s1, l0, l1]
}

fn snac_payload(family: u16, subtype: u16, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&family.to_be_bytes());
    out.extend_from_slice(&subtype.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0, 0, 9]);
    out.extend_from_slice(body);
    out
}

fn decode_payload(channel: u8, payload: &[u8]) -> Result<Message, DecodeError> {
    Message::decode(&Flap {
        channel: Channel(channel),
        seq: 0,
        payload: Bytes::copy_from_slice(payload),
    })
}

fn decode_all(codec: &mut FlapCodec, buf: &mut BytesMut) -> Vec<Flap> {
    let mut out = Vec::new();
    while let Some(f) = codec
        .decode(buf)
        .expect("a prefix of valid frames is never an error")
    {
        out.push(f);
    }
    out
}

fn encode(frames: &[Flap]) -> Vec<u8> {
    let mut codec = FlapCodec::default();
    let mut out = BytesMut::new();
    for f in frames {
        codec.encode(f, &mut out).unwrap();
    }
    out.to_vec()
}

// ---------------------------------------------------------------------------------------
// Every prefix of captured streams
// ---------------------------------------------------------------------------------------

/// Each stream, with the offsets at which its frames end.
fn captured_streams() -> Vec<(&'static str, Vec<u8>, Vec<usize>)> {
    vec![
        (
            "libpurple hello + key request",
            LIBPURPLE_HELLO_AND_KEY_REQUEST.to_vec(),
            vec![10, 45],
        ),
        ("libpurple IM", libpurple_im_frame(), vec![111]),
        ("§10.5 login reply", upstream_login_reply(), vec![311]),
        ("all of them", all_captured(), vec![10, 45, 156, 467]),
    ]
}

#[test]
fn captured_streams_have_the_expected_frames() {
    for (name, wire, ends) in captured_streams() {
        assert_eq!(wire.len(), *ends.last().unwrap(), "{name}");
        let frames = decode_all(&mut FlapCodec::default(), &mut BytesMut::from(&wire[..]));
        assert_eq!(frames.len(), ends.len(), "{name}");
        assert_eq!(encode(&frames), wire, "{name}");
    }
    let frames = decode_all(
        &mut FlapCodec::default(),
        &mut BytesMut::from(&all_captured()[..]),
    );
    let seqs: Vec<u16> = frames.iter().map(|f| f.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 0x1234]);
    let lens: Vec<usize> = frames.iter().map(|f| f.payload.len()).collect();
    assert_eq!(lens, [4, 29, 105, 305]);

    let messages: Vec<Message> = frames.iter().map(|f| Message::decode(f).unwrap()).collect();
    let Message::Signon(hello) = &messages[0] else {
        panic!("frame 0: {:?}", messages[0]);
    };
    assert_eq!(hello.version, 1);
    assert!(hello.tlvs.is_empty());
    let Message::Snac {
        body: SnacMessage::KeyRequest(key_request),
        ..
    } = &messages[1]
    else {
        panic!("frame 1: {:?}", messages[1]);
    };
    assert_eq!(&key_request.screen_name().unwrap()[..], b"tester1");
    let Message::Snac {
        body: SnacMessage::IcbmSend(im),
        header,
        ..
    } = &messages[2]
    else {
        panic!("frame 2: {:?}", messages[2]);
    };
    assert_eq!(header.request_id, 0x19);
    assert_eq!(&im.recipient[..], b"probebuddy");
    let Message::Snac {
        body: SnacMessage::LoginReply(reply),
        ..
    } = &messages[3]
    else {
        panic!("frame 3: {:?}", messages[3]);
    };
    assert_eq!(
        reply.address().unwrap().unwrap(),
        ServerAddress::new("64.12.30.168", 5190)
    );
    assert_eq!(&reply.cookie().unwrap()[..], &cookie()[..]);
    for (message, frame) in messages.iter().zip(&frames) {
        assert_eq!(message.to_flap().unwrap().payload, frame.payload);
    }
}

#[test]
fn every_prefix_of_captured_streams_is_incomplete_not_an_error() {
    for max_payload in [FLAP_MAX_PAYLOAD, 4096] {
        for (name, wire, ends) in captured_streams() {
            let all = decode_all(
                &mut FlapCodec::with_max_payload(max_payload),
                &mut BytesMut::from(&wire[..]),
            );
            for cut in 0..=wire.len() {
                let mut codec = FlapCodec::with_max_payload(max_payload);
                let mut buf = BytesMut::from(&wire[..cut]);
                let mut frames = decode_all(&mut codec, &mut buf);
                // Exactly the frames that end within the prefix have come out.
                let complete = ends.iter().filter(|&&end| end <= cut).count();
                assert_eq!(frames.len(), complete, "{name}, cut at {cut}");
                // Between frames until a whole header has arrived.
                let start = ends
                    .iter()
                    .copied()
                    .filter(|&e| e <= cut)
                    .max()
                    .unwrap_or(0);
                assert_eq!(
                    codec.is_at_frame_boundary(),
                    cut - start < 6,
                    "{name}, cut at {cut}"
                );
                // The rest, in one piece, gives the remaining frames.
                buf.extend_from_slice(&wire[cut..]);
                frames.extend(decode_all(&mut codec, &mut buf));
                assert_eq!(frames, all, "{name}, cut at {cut}");
                assert!(buf.is_empty(), "{name}, cut at {cut}");
                assert!(codec.is_at_frame_boundary(), "{name}, cut at {cut}");
            }
        }
    }
}

#[test]
fn every_prefix_then_the_rest_byte_by_byte() {
    let wire = all_captured();
    let all = decode_all(&mut FlapCodec::default(), &mut BytesMut::from(&wire[..]));
    for cut in 0..=wire.len() {
        let mut codec = FlapCodec::default();
        let mut buf = BytesMut::from(&wire[..cut]);
        let mut frames = decode_all(&mut codec, &mut buf);
        for b in &wire[cut..] {
            buf.put_u8(*b);
            frames.extend(decode_all(&mut codec, &mut buf));
        }
        assert_eq!(frames, all, "cut at {cut}");
        assert_eq!(encode(&frames), wire, "cut at {cut}");
    }
}

/// Every prefix of each captured payload, decoded as a message: exactly the cuts at
/// structure boundaries decode (and re-encode identically); every other cut is an error.
#[test]
fn every_prefix_of_captured_payloads_decodes_only_at_boundaries() {
    let login_reply = upstream_login_reply();
    let cases: [(&str, u8, &[u8], &[usize]); 4] = [
        ("hello", 1, &LIBPURPLE_HELLO_AND_KEY_REQUEST[6..10], &[4]),
        (
            "key request",
            2,
            &LIBPURPLE_HELLO_AND_KEY_REQUEST[16..],
            // header | TLV 0x0001 "tester1" | TLV 0x004B | TLV 0x005A
            &[10, 21, 25, 29],
        ),
        (
            "IM",
            2,
            LIBPURPLE_IM,
            // cookie, channel, recipient | TLV 0x0002 | TLV 0x0003 | TLV 0x0006
            &[31, 97, 101, 105],
        ),
        (
            "login reply",
            2,
            &login_reply[6..],
            // header | 0x0001 | 0x0005 | 0x0006 cookie | 0x008E
            &[10, 19, 40, 300, 305],
        ),
    ];
    for (name, channel, payload, boundaries) in cases {
        for cut in 0..=payload.len() {
            let prefix = &payload[..cut];
            match decode_payload(channel, prefix) {
                Ok(message) => {
                    assert!(boundaries.contains(&cut), "{name}: cut at {cut} decoded");
                    assert_eq!(&message.to_flap().unwrap().payload[..], prefix, "{name}");
                }
                Err(e) => {
                    assert!(!boundaries.contains(&cut), "{name}: cut at {cut}: {e}");
                    assert!(
                        matches!(
                            e,
                            DecodeError::Truncated(_) | DecodeError::LengthMismatch { .. }
                        ),
                        "{name}: cut at {cut}: {e:?}"
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// FLAP framing limits
// ---------------------------------------------------------------------------------------

#[test]
fn flap_length_at_the_cap_is_accepted_and_one_more_is_rejected() {
    for cap in [0usize, 1, 10, 4096, 65534] {
        let len = u16::try_from(cap).unwrap();
        let mut wire = BytesMut::from(&flap_header(2, 9, len)[..]);
        wire.put_bytes(0xab, cap);
        let mut codec = FlapCodec::with_max_payload(cap);
        let frame = codec.decode(&mut wire).unwrap().unwrap();
        assert_eq!(frame.payload.len(), cap);
        assert_eq!(frame.seq, 9);

        // One byte over: rejected from the header alone, nothing consumed or reserved.
        let mut buf = BytesMut::from(&flap_header(2, 9, len + 1)[..]);
        let capacity = buf.capacity();
        let mut codec = FlapCodec::with_max_payload(cap);
        let err = codec.decode(&mut buf).unwrap_err();
        assert!(
            matches!(err, FlapError::TooLong { len: l, max } if l == cap + 1 && max == cap),
            "cap {cap}: {err:?}"
        );
        assert_eq!(buf.len(), 6);
        assert_eq!(buf.capacity(), capacity);
    }
}

#[test]
fn default_codec_takes_the_largest_frame_and_relay_cap_refuses_it() {
    let mut wire = BytesMut::from(&flap_header(2, 1, 0xffff)[..]);
    wire.put_bytes(0, 0xffff);
    let frame = FlapCodec::default().decode(&mut wire.clone()).unwrap();
    assert_eq!(frame.unwrap().payload.len(), 65535);
    let err = FlapCodec::with_max_payload(0xfff9)
        .decode(&mut wire)
        .unwrap_err();
    assert!(matches!(
        err,
        FlapError::TooLong {
            len: 65535,
            max: 0xfff9
        }
    ));
}

#[test]
fn a_good_frame_then_an_oversize_header_yields_the_frame_then_the_error() {
    let mut buf = BytesMut::from(&LIBPURPLE_HELLO_AND_KEY_REQUEST[..10]);
    buf.extend_from_slice(&flap_header(2, 2, 5000));
    let mut codec = FlapCodec::with_max_payload(4096);
    let first = codec.decode(&mut buf).unwrap().unwrap();
    assert_eq!(first.channel, Channel::SIGNON);
    assert!(matches!(
        codec.decode(&mut buf),
        Err(FlapError::TooLong {
            len: 5000,
            max: 4096
        })
    ));
}

#[test]
fn non_flap_streams_are_bad_markers() {
    // An HTTP request, a TLS ClientHello record header, and a frame followed by junk.
    for (wire, marker) in [
        (&b"GET / HTTP/1.1\r\n"[..], b'G'),
        (&[0x16, 0x03, 0x01, 0x00, 0xa5, 0x01][..], 0x16),
    ] {
        let err = FlapCodec::default()
            .decode(&mut BytesMut::from(wire))
            .unwrap_err();
        assert!(
            matches!(err, FlapError::BadMarker(m) if m == marker),
            "{err:?}"
        );
    }
    let mut buf = BytesMut::from(&LIBPURPLE_HELLO_AND_KEY_REQUEST[..10]);
    buf.extend_from_slice(&[0x00, 0x2a]);
    let mut codec = FlapCodec::default();
    assert!(codec.decode(&mut buf).unwrap().is_some());
    // Too few bytes to judge a header yet; the marker is checked once six are in.
    assert!(codec.decode(&mut buf).unwrap().is_none());
    buf.extend_from_slice(&[0, 0, 0, 0]);
    assert!(matches!(
        codec.decode(&mut buf),
        Err(FlapError::BadMarker(0))
    ));
}

// ---------------------------------------------------------------------------------------
// SNAC headers
// ---------------------------------------------------------------------------------------

#[test]
fn truncated_snac_headers_name_the_missing_field() {
    let full = &LIBPURPLE_HELLO_AND_KEY_REQUEST[16..26];
    for cut in 0..10 {
        let field = match cut {
            0..2 => "SNAC family",
            2..4 => "SNAC subtype",
            4..6 => "SNAC flags",
            _ => "SNAC request id",
        };
        let prefix = Bytes::copy_from_slice(&full[..cut]);
        assert_eq!(
            Snac::decode(prefix.clone()).unwrap_err(),
            DecodeError::Truncated(field),
            "cut at {cut}"
        );
        assert_eq!(
            decode_payload(2, &prefix).unwrap_err(),
            DecodeError::Truncated(field)
        );
    }
    let header_only = Snac::decode(Bytes::copy_from_slice(full)).unwrap();
    assert!(header_only.body.is_empty());
    assert_eq!(header_only.prefix, None);
}

#[test]
fn snac_prefix_blocks_that_lie() {
    // Flag 0x8000 set, but no room for the length word.
    let mut payload = vec![0, 1, 0, 3, 0x80, 0, 0, 0, 0, 1, 0];
    assert_eq!(
        Snac::decode(Bytes::copy_from_slice(&payload)).unwrap_err(),
        DecodeError::Truncated("SNAC prefix block")
    );
    // A length beyond the end of the frame.
    payload.extend_from_slice(&[0x10, 0xaa, 0xbb]);
    assert_eq!(
        Snac::decode(Bytes::copy_from_slice(&payload)).unwrap_err(),
        DecodeError::LengthMismatch {
            what: "SNAC prefix block",
            declared: 16,
            available: 2,
        }
    );
    // The prefix block does not count as body: a LoginReply whose TLVs start after it.
    let mut payload = vec![0, 0x17, 0, 3, 0x80, 0, 0, 0, 0, 1, 0, 6, 0, 1, 0, 2, 0, 1];
    payload.extend_from_slice(&[0, 5, 0, 3, b'h', b':', b'1']);
    let Message::Snac {
        prefix,
        body: SnacMessage::LoginReply(reply),
        ..
    } = decode_payload(2, &payload).unwrap()
    else {
        panic!("not a login reply");
    };
    assert_eq!(prefix.as_deref(), Some(&[0, 1, 0, 2, 0, 1][..]));
    assert_eq!(
        reply.address().unwrap().unwrap(),
        ServerAddress::new("h", 1)
    );
}

// ---------------------------------------------------------------------------------------
// TLVs
// ---------------------------------------------------------------------------------------

#[test]
fn tlv_lengths_beyond_the_end() {
    assert_eq!(
        TlvList::decode_rest(Bytes::from_static(&[0, 1, 0, 5, b'a', b'b'])).unwrap_err(),
        DecodeError::LengthMismatch {
            what: "TLV value",
            declared: 5,
            available: 2,
        }
    );
    assert_eq!(
        TlvList::decode_rest(Bytes::from_static(&[0, 1, 0])).unwrap_err(),
        DecodeError::Truncated("TLV value")
    );
    assert_eq!(
        TlvList::decode_rest(Bytes::from_static(&[0, 1, 0, 0, 0])).unwrap_err(),
        DecodeError::Truncated("TLV type")
    );
    assert_eq!(
        TlvList::decode_length_prefixed(Bytes::from_static(&[0xff, 0xff, 0, 1, 0, 0])).unwrap_err(),
        DecodeError::LengthMismatch {
            what: "TLV block",
            declared: 65535,
            available: 4,
        }
    );
}

#[test]
fn a_tlv_cannot_read_past_its_enclosing_block() {
    // The block says 6 bytes; its TLV claims 4 value bytes but only 2 are inside the
    // block. The 2 bytes after the block must not be borrowed.
    let wire = Bytes::from_static(&[0, 6, 0, 1, 0, 4, b'a', b'b', b'c', b'd']);
    assert_eq!(
        TlvList::decode_length_prefixed(wire).unwrap_err(),
        DecodeError::LengthMismatch {
            what: "TLV value",
            declared: 4,
            available: 2,
        }
    );
    // Same inside a user-info screen name: the u8 length cannot reach the warning level.
    let wire = Bytes::from_static(&[9, b'a', b'b', 0, 0, 0, 0]);
    assert_eq!(
        UserInfo::decode(wire).unwrap_err(),
        DecodeError::LengthMismatch {
            what: "user-info screen name",
            declared: 9,
            available: 6,
        }
    );
}

#[test]
fn a_typed_message_with_a_lying_tlv_length_is_an_error() {
    // The §10.5 reply with TLV 0x0005's length raised to 0xFFFF.
    let mut payload = upstream_login_reply()[6..].to_vec();
    payload[21] = 0xff;
    payload[22] = 0xff;
    assert_eq!(
        decode_payload(2, &payload).unwrap_err(),
        DecodeError::LengthMismatch {
            what: "TLV value",
            declared: 65535,
            available: 305 - 23,
        }
    );
    // ... and lowered by one: the remaining bytes no longer parse as TLVs either.
    let mut payload = upstream_login_reply()[6..].to_vec();
    payload[22] -= 1;
    assert!(decode_payload(2, &payload).is_err());
    // The frame itself is still cut correctly, so a relay can pass it on raw.
    let mut wire = upstream_login_reply();
    wire[6 + 22] = 0xff;
    let frame = FlapCodec::default()
        .decode(&mut BytesMut::from(&wire[..]))
        .unwrap()
        .unwrap();
    assert_eq!(frame.payload.len(), 305);
}

#[test]
fn counted_blocks_whose_count_lies() {
    assert_eq!(
        TlvList::decode_counted(Bytes::from_static(&[0xff, 0xff, 0, 1, 0, 0])).unwrap_err(),
        DecodeError::LengthMismatch {
            what: "TLV count",
            declared: 65535,
            available: 4,
        }
    );
    // The count fits the bytes, but the second "TLV" is garbage with a lying length.
    assert_eq!(
        TlvList::decode_counted(Bytes::from_static(&[0, 2, 0, 1, 0, 0, 0, 9, 0, 5])).unwrap_err(),
        DecodeError::LengthMismatch {
            what: "TLV value",
            declared: 5,
            available: 0,
        }
    );
    // Too small a count leaves bytes over.
    assert_eq!(
        TlvList::decode_counted(Bytes::from_static(&[0, 0, 0, 1, 0, 0])).unwrap_err(),
        DecodeError::Trailing("counted TLV block")
    );
    // The per-block cap, at and past the limit.
    let block = |count: usize| {
        let mut wire = BytesMut::new();
        wire.put_u16(u16::try_from(count).unwrap());
        wire.put_bytes(0, 4 * count);
        wire.freeze()
    };
    assert_eq!(
        TlvList::decode_counted(block(MAX_TLVS_PER_BLOCK))
            .unwrap()
            .len(),
        MAX_TLVS_PER_BLOCK
    );
    assert_eq!(
        TlvList::decode_counted(block(MAX_TLVS_PER_BLOCK + 1)).unwrap_err(),
        DecodeError::TooManyTlvs {
            what: "counted TLV block",
            max: MAX_TLVS_PER_BLOCK,
        }
    );
}

#[test]
fn too_many_tlvs_in_a_typed_message() {
    let body = vec![0u8; 4 * (MAX_TLVS_PER_BLOCK + 1)];
    let payload = snac_payload(0x0017, 0x0003, &body);
    assert_eq!(
        decode_payload(2, &payload).unwrap_err(),
        DecodeError::TooManyTlvs {
            what: "TLV block",
            max: MAX_TLVS_PER_BLOCK,
        }
    );
    // One fewer is fine and re-encodes exactly.
    let payload = snac_payload(0x0017, 0x0003, &body[4..]);
    let message = decode_payload(2, &payload).unwrap();
    assert_eq!(message.to_flap().unwrap().payload, payload);
}

// ---------------------------------------------------------------------------------------
// User-info blocks
// ---------------------------------------------------------------------------------------

fn alice() -> UserInfo {
    let mut caps = CAP_CHAT.to_vec();
    caps.extend_from_slice(&CAP_SEND_FILE);
    UserInfo {
        screen_name: Bytes::from_static(b"alice"),
        warning: 0x0102,
        tlvs: [
            Tlv::u16(UserInfo::TLV_USER_CLASS, 0x0010),
            Tlv::u32(0x0003, 0x3b9a_ca00),
            Tlv::new(0x000d, caps),
        ]
        .into_iter()
        .collect(),
    }
}

fn bob() -> UserInfo {
    UserInfo {
        screen_name: Bytes::from_static(b"bob"),
        warning: 0,
        tlvs: TlvList::new(),
    }
}

fn encoded(info: &UserInfo) -> Vec<u8> {
    let mut out = BytesMut::new();
    info.encode(&mut out).unwrap();
    out.to_vec()
}

#[test]
fn user_info_truncated_at_every_byte() {
    let wire = encoded(&alice());
    // sn 1+5, warning 2, count 2, TLVs 6 + 8 + 36.
    assert_eq!(wire.len(), 60);
    assert_eq!(&wire[..10], &[5, b'a', b'l', b'i', b'c', b'e', 1, 2, 0, 3]);
    for cut in 0..wire.len() {
        let err = UserInfo::decode(Bytes::copy_from_slice(&wire[..cut])).unwrap_err();
        let expected_kind = matches!(
            err,
            DecodeError::Truncated(_) | DecodeError::LengthMismatch { .. }
        );
        assert!(expected_kind, "cut at {cut}: {err:?}");
    }
    assert_eq!(
        UserInfo::decode(Bytes::from(wire.clone())).unwrap(),
        alice()
    );
    let mut long = wire.clone();
    long.push(0);
    assert_eq!(
        UserInfo::decode(Bytes::from(long)).unwrap_err(),
        DecodeError::Trailing("user-info block")
    );
    // Cut inside the counted block: the count (3) no longer fits, so it fails early.
    assert_eq!(
        UserInfo::decode(Bytes::copy_from_slice(&wire[..20])).unwrap_err(),
        DecodeError::LengthMismatch {
            what: "TLV count",
            declared: 3,
            available: 10,
        }
    );
}

#[test]
fn user_lists_truncated_at_every_byte_decode_only_at_block_ends() {
    let mut wire = encoded(&alice());
    wire.extend(encoded(&bob()));
    let ends = [0, 60, 60 + 8];
    assert_eq!(wire.len(), 68);
    for cut in 0..=wire.len() {
        let result = UserList::decode(Bytes::copy_from_slice(&wire[..cut]));
        match ends.iter().position(|&e| e == cut) {
            Some(users) => assert_eq!(result.unwrap().users.len(), users, "cut at {cut}"),
            None => assert!(result.is_err(), "cut at {cut}"),
        }
    }
    // The same as buddy-arrived and chat-joined messages.
    for (family, subtype) in [(0x0003, 0x000b), (0x000e, 0x0003)] {
        let payload = snac_payload(family, subtype, &wire);
        for cut in 10..=payload.len() {
            let result = decode_payload(2, &payload[..cut]);
            assert_eq!(result.is_ok(), ends.contains(&(cut - 10)), "cut at {cut}");
        }
        let message = decode_payload(2, &payload).unwrap();
        let users = match &message {
            Message::Snac {
                body: SnacMessage::BuddyArrived(b),
                ..
            } => &b.0.users,
            Message::Snac {
                body: SnacMessage::ChatUsersJoined(j),
                ..
            } => &j.0.users,
            other => panic!("{other:?}"),
        };
        assert_eq!(users, &vec![alice(), bob()]);
    }
}

#[test]
fn icbm_receive_and_self_info_with_truncated_sender() {
    let sender = encoded(&alice());
    let mut body = b"cookie!!".to_vec();
    body.extend_from_slice(&[0, 1]);
    body.extend_from_slice(&sender);
    body.extend_from_slice(&[0, 0x0b, 0, 0]);
    let payload = snac_payload(0x0004, 0x0007, &body);
    let sender_end = 10 + 10 + sender.len();
    for cut in 10..=payload.len() {
        let ok = decode_payload(2, &payload[..cut]).is_ok();
        assert_eq!(
            ok,
            cut == sender_end || cut == payload.len(),
            "cut at {cut}"
        );
    }
    // SelfInfo keeps what follows the block raw, so every cut after it decodes.
    let mut body = sender.clone();
    body.extend_from_slice(b"\x00\x1b\x00\x00tail");
    let payload = snac_payload(0x0001, 0x000f, &body);
    for cut in 10..=payload.len() {
        let result = decode_payload(2, &payload[..cut]);
        assert_eq!(result.is_ok(), cut >= 10 + sender.len(), "cut at {cut}");
        if let Ok(Message::Snac {
            body: SnacMessage::SelfInfo(info),
            ..
        }) = result
        {
            assert_eq!(info.user, alice());
            assert_eq!(&info.trailing[..], &payload[10 + sender.len()..cut]);
        }
    }
    // A sender whose TLV count lies about 0xFFFF TLVs.
    let mut body = b"cookie!!".to_vec();
    body.extend_from_slice(&[0, 1, 3, b'b', b'o', b'b', 0, 0, 0xff, 0xff, 0, 1, 0, 0]);
    assert_eq!(
        decode_payload(2, &snac_payload(0x0004, 0x0007, &body)).unwrap_err(),
        DecodeError::LengthMismatch {
            what: "TLV count",
            declared: 65535,
            available: 4,
        }
    );
}

// ---------------------------------------------------------------------------------------
// Other lying fields
// ---------------------------------------------------------------------------------------

#[test]
fn migration_counts_that_lie() {
    assert_eq!(
        Migration::decode_body(Bytes::from_static(&[0xff, 0xff, 0, 1])).unwrap_err(),
        DecodeError::LengthMismatch {
            what: "migration family count",
            declared: 65535,
            available: 2,
        }
    );
    assert_eq!(
        Migration::decode_body(Bytes::from_static(&[0, 3, 0, 1, 0, 4])).unwrap_err(),
        DecodeError::LengthMismatch {
            what: "migration family count",
            declared: 3,
            available: 4,
        }
    );
    // A genuine migration of OSERVICE and ICBM to 1.2.3.4:5190 with cookie "c".
    let mut body = vec![0, 2, 0, 1, 0, 4];
    body.extend_from_slice(&[0, 5, 0, 12]);
    body.extend_from_slice(b"1.2.3.4:5190");
    body.extend_from_slice(&[0, 6, 0, 1, b'c']);
    let m = Migration::decode_body(Bytes::from(body.clone())).unwrap();
    assert_eq!(m.families, [Family::OSERVICE, Family::ICBM]);
    assert_eq!(
        m.address().unwrap().unwrap(),
        ServerAddress::new("1.2.3.4", 5190)
    );
    assert_eq!(m.body_bytes().unwrap(), body);
    // Count too high: the families swallow the TLV header and the TLVs misparse.
    let mut high = body.clone();
    high[1] = 4;
    assert_eq!(
        Migration::decode_body(Bytes::from(high)).unwrap_err(),
        DecodeError::LengthMismatch {
            what: "TLV value",
            declared: 0x322e,
            available: 13,
        }
    );
    // Count too low: the second family is read as a TLV type.
    let mut low = body.clone();
    low[1] = 1;
    assert_eq!(
        Migration::decode_body(Bytes::from(low)).unwrap_err(),
        DecodeError::LengthMismatch {
            what: "TLV value",
            declared: 0x2e34,
            available: 10,
        }
    );
    // The same through Message::decode.
    let payload = snac_payload(0x0001, 0x0012, &[0xff, 0xff, 0, 1]);
    assert!(matches!(
        decode_payload(2, &payload),
        Err(DecodeError::LengthMismatch {
            what: "migration family count",
            ..
        })
    ));
}

fn icq_data(len_field: [u8; 2], text: &[u8]) -> Bytes {
    let mut data = BytesMut::new();
    data.put_u32_le(123_456_789);
    data.put_u8(0x01);
    data.put_u8(0x00);
    data.put_slice(&len_field);
    data.put_slice(text);
    data.freeze()
}

#[test]
fn icq_channel_4_lengths_that_lie() {
    assert_eq!(
        IcqMessage::decode(icq_data([0xff, 0xff], b"hello\0")).unwrap_err(),
        DecodeError::LengthMismatch {
            what: "ICQ message text",
            declared: 65535,
            available: 6,
        }
    );
    // The length is little-endian: 06 00 is 6, while 00 06 would be 1536.
    let ok = IcqMessage::decode(icq_data([0x06, 0x00], b"hello\0")).unwrap();
    assert_eq!(ok.sender_uin, 123_456_789);
    assert_eq!(&ok.text[..], b"hello");
    assert_eq!(
        IcqMessage::decode(icq_data([0x00, 0x06], b"hello\0")).unwrap_err(),
        DecodeError::LengthMismatch {
            what: "ICQ message text",
            declared: 1536,
            available: 6,
        }
    );
    // A short length takes only what it says.
    let short = IcqMessage::decode(icq_data([0x02, 0x00], b"hello\0")).unwrap();
    assert_eq!(&short.text[..], b"he");
    // Truncated before the length.
    let data = icq_data([0x06, 0x00], b"");
    assert_eq!(
        IcqMessage::decode(data.slice(..7)).unwrap_err(),
        DecodeError::Truncated("ICQ message length")
    );
    assert_eq!(
        IcqMessage::decode(data.slice(..3)).unwrap_err(),
        DecodeError::Truncated("ICQ sender UIN")
    );

    // Inside an ICBM: the frame still decodes (content is interpreted lazily) and
    // re-encodes byte for byte; only the content accessor reports the lie.
    let lying = icq_data([0xff, 0xff], b"hello\0");
    let mut body = b"cookie!!".to_vec();
    body.extend_from_slice(&[0, 4, 3, b'b', b'o', b'b']);
    body.extend_from_slice(&[0, 5]);
    body.extend_from_slice(&u16::try_from(lying.len()).unwrap().to_be_bytes());
    body.extend_from_slice(&lying);
    let payload = snac_payload(0x0004, 0x0006, &body);
    let message = decode_payload(2, &payload).unwrap();
    assert_eq!(message.to_flap().unwrap().payload, payload);
    let Message::Snac {
        body: SnacMessage::IcbmSend(im),
        ..
    } = message
    else {
        panic!("not an IcbmSend");
    };
    assert_eq!(
        im.content().unwrap_err(),
        DecodeError::LengthMismatch {
            what: "ICQ message text",
            declared: 65535,
            available: 6,
        }
    );
    let mut honest = im.clone();
    honest.tlvs.set(0x0005, icq_data([0x06, 0x00], b"hello\0"));
    let IcbmContent::Icq(icq) = honest.content().unwrap() else {
        panic!("not ICQ content");
    };
    assert_eq!(icq.decoded_text().plain, "hello");
}

#[test]
fn other_short_and_lying_fields() {
    // ICBM recipient length beyond the body.
    let mut body = b"cookie!!".to_vec();
    body.extend_from_slice(&[0, 1, 200, b'b', b'o', b'b']);
    assert_eq!(
        IcbmSend::decode_body(Bytes::from(body)).unwrap_err(),
        DecodeError::LengthMismatch {
            what: "ICBM recipient",
            declared: 200,
            available: 3,
        }
    );
    // Login key length beyond the body.
    assert_eq!(
        KeyReply::decode_body(Bytes::from_static(&[0, 10, b'1', b'2'])).unwrap_err(),
        DecodeError::LengthMismatch {
            what: "login key",
            declared: 10,
            available: 2,
        }
    );
    // Typing notifications must fill the body exactly.
    let mut body = vec![0; 8];
    body.extend_from_slice(&[0, 1, 3, b'b', b'o', b'b', 0, 2]);
    assert_eq!(
        Typing::decode_body(Bytes::from(body.clone()))
            .unwrap()
            .event
            .0,
        2
    );
    body.push(0);
    assert_eq!(
        Typing::decode_body(Bytes::from(body)).unwrap_err(),
        DecodeError::Trailing("typing notification")
    );
    // A sign-on hello shorter than its version word.
    assert_eq!(
        decode_payload(1, &[0, 0, 1]).unwrap_err(),
        DecodeError::Truncated("FLAP version")
    );
    // Room info truncated at every byte, and with a byte too many.
    let room = [0, 4, 5, b'4', b'-', b'0', b'-', b'x', 0, 0];
    for cut in 0..room.len() {
        assert!(RoomInfo::decode(Bytes::copy_from_slice(&room[..cut])).is_err());
    }
    assert_eq!(
        RoomInfo::decode(Bytes::copy_from_slice(&room))
            .unwrap()
            .name(),
        "x"
    );
    let mut long = room.to_vec();
    long.push(0);
    assert_eq!(
        RoomInfo::decode(Bytes::from(long)).unwrap_err(),
        DecodeError::Trailing("room info")
    );
}

// ---------------------------------------------------------------------------------------
// Rewriting (oscar.md §10.5)
// ---------------------------------------------------------------------------------------

#[test]
fn login_reply_address_rewrite_fixes_tlv_and_flap_lengths() {
    let upstream = upstream_login_reply();
    assert_eq!(upstream.len(), 6 + 0x131);
    let mut buf = BytesMut::from(&upstream[..]);
    let mut codec = FlapCodec::default();
    let frame = codec.decode(&mut buf).unwrap().unwrap();
    let Message::Snac {
        header,
        prefix,
        body: SnacMessage::LoginReply(mut reply),
    } = Message::decode(&frame).unwrap()
    else {
        panic!("not a login reply");
    };
    assert_eq!(
        reply.address().unwrap().unwrap(),
        ServerAddress::new("64.12.30.168", 5190)
    );
    reply.set_address(&ServerAddress::new("10.0.0.5", 15190));

    let mut out = Message::Snac {
        header,
        prefix,
        body: SnacMessage::LoginReply(reply),
    }
    .to_flap()
    .unwrap();
    out.seq = 0x0007; // the client leg's sequence number
    let mut wire = BytesMut::new();
    codec.encode(&out, &mut wire).unwrap();

    let expected = login_reply_frame([0x2a, 0x02, 0x00, 0x07, 0x01, 0x2e], b"10.0.0.5:15190");
    assert_eq!(&wire[..], &expected[..]);
    // LL' = LL − 3, and TLV 0x0005's length went from 0x11 to 0x0E.
    let ll = u16::from_be_bytes([upstream[4], upstream[5]]);
    let ll2 = u16::from_be_bytes([wire[4], wire[5]]);
    assert_eq!((ll, ll2), (0x0131, 0x012e));
    assert_eq!(ll2, ll - 3);
    assert_eq!(&upstream[25..29], &[0x00, 0x05, 0x00, 0x11]);
    assert_eq!(&wire[25..29], &[0x00, 0x05, 0x00, 0x0e]);
    assert_eq!(&wire[29..43], b"10.0.0.5:15190");
    // The cookie and everything after it is unchanged, only shifted by 3.
    assert_eq!(&wire[43..], &upstream[46..]);
}

#[test]
fn a_rewrite_that_overflows_the_flap_is_an_encode_error() {
    // A login reply exactly 65535 bytes long: 10 + (4+12) + (4+cookie) + ...
    let mut tlvs = TlvList::new();
    tlvs.set(0x0005, &b"1.2.3.4:5190"[..]);
    tlvs.set(0x0006, vec![7u8; 65535 - 10 - 16 - 4]);
    let mut reply = LoginReply { tlvs };
    let snac = reply.to_snac(2).unwrap();
    assert_eq!(snac.encoded_len(), 65535);
    let flap = snac.to_flap().unwrap();
    assert_eq!(flap.to_bytes().unwrap().len(), 6 + 65535);

    reply.set_address(&ServerAddress::new("10.0.0.5", 15190));
    let flap = reply.to_snac(2).unwrap().to_flap().unwrap();
    let too_long = EncodeError::TooLong {
        what: "FLAP payload",
        len: 65537,
        max: 65535,
    };
    assert_eq!(flap.to_bytes().unwrap_err(), too_long);
    let mut out = BytesMut::new();
    let err = FlapCodec::default().encode(&flap, &mut out).unwrap_err();
    assert!(
        matches!(err, FlapError::Encode(e) if e == too_long),
        "{err:?}"
    );
    assert!(out.is_empty());

    // Field-level limits.
    let huge = TlvList::from_iter([Tlv::new(1, vec![0u8; 65536])]);
    assert_eq!(
        huge.to_bytes().unwrap_err(),
        EncodeError::TooLong {
            what: "TLV value",
            len: 65536,
            max: 65535,
        }
    );
    let im = IcbmSend {
        cookie: [0; 8],
        channel: 1,
        recipient: Bytes::from(vec![b'a'; 256]),
        tlvs: TlvList::new(),
    };
    assert_eq!(
        im.body_bytes().unwrap_err(),
        EncodeError::TooLong {
            what: "ICBM recipient",
            len: 256,
            max: 255,
        }
    );
}
