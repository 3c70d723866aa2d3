//! Cuts a byte stream into [`Flap`] frames and writes them back. Never looks inside the
//! payload. The payload cap is checked *before* any buffer is reserved, so a hostile length
//! cannot make us allocate.

use bytes::{Buf, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::error::FlapError;
use crate::flap::{Channel, FLAP_HEADER_LEN, FLAP_MARKER, FLAP_MAX_PAYLOAD, Flap};

/// A parsed FLAP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    channel: Channel,
    seq: u16,
    len: usize,
}

#[derive(Debug, Clone, Copy)]
enum State {
    Header,
    Payload(Header),
}

/// `tokio_util` codec for FLAP frames.
///
/// Partial frames are not errors (`Ok(None)` until the rest arrives); several frames in one
/// read come out one per `decode` call. A bad start marker or an over-cap length is an error
/// that ends the stream, because OSCAR cannot be resynchronised.
#[derive(Debug, Clone)]
pub struct FlapCodec {
    state: State,
    max_payload: usize,
}

impl Default for FlapCodec {
    /// Accepts any payload the u16 length can express.
    fn default() -> Self {
        Self::with_max_payload(FLAP_MAX_PAYLOAD)
    }
}

impl FlapCodec {
    /// A codec that rejects frames whose declared payload exceeds `max_payload` bytes.
    pub fn with_max_payload(max_payload: usize) -> Self {
        Self {
            state: State::Header,
            max_payload,
        }
    }

    /// Whether the decoder is between frames (nothing half-read).
    pub fn is_at_frame_boundary(&self) -> bool {
        matches!(self.state, State::Header)
    }

    /// Checks the next frame's header, once its six bytes are buffered, as
    /// [`decode`](Decoder::decode) would: a bad marker or an over-cap length is the same
    /// error here, before any of the payload is read. For a reader that decodes a frame
    /// only once [`has_complete_frame`](Self::has_complete_frame) says it is whole (so the
    /// codec never reserves room for a payload in a buffer that frames cut from it still
    /// share). `Ok` while the header is incomplete, and mid-frame.
    pub fn check_header(&self, buffered: &[u8]) -> Result<(), FlapError> {
        match (self.state, buffered.first_chunk::<FLAP_HEADER_LEN>()) {
            (State::Header, Some(raw)) => self.parse_header(raw).map(drop),
            _ => Ok(()),
        }
    }

    fn parse_header(&self, raw: &[u8; FLAP_HEADER_LEN]) -> Result<Header, FlapError> {
        let [marker, channel, s0, s1, l0, l1] = *raw;
        if marker != FLAP_MARKER {
            return Err(FlapError::BadMarker(marker));
        }
        let header = Header {
            channel: Channel(channel),
            seq: u16::from_be_bytes([s0, s1]),
            len: usize::from(u16::from_be_bytes([l0, l1])),
        };
        if header.len > self.max_payload {
            return Err(FlapError::TooLong {
                len: header.len,
                max: self.max_payload,
            });
        }
        Ok(header)
    }

    /// Whether `buffered`, the bytes read and not yet decoded, already holds the whole next
    /// frame, so [`decode`](Decoder::decode) would return it without another read. A relay
    /// asks before flushing its writes: with another frame waiting it can write both at
    /// once. Says nothing about whether that frame is valid; `decode` decides.
    pub fn has_complete_frame(&self, buffered: &[u8]) -> bool {
        match self.state {
            State::Payload(header) => buffered.len() >= header.len,
            State::Header => {
                buffered
                    .first_chunk::<FLAP_HEADER_LEN>()
                    .is_some_and(|&[_, _, _, _, l0, l1]| {
                        buffered.len()
                            >= FLAP_HEADER_LEN + usize::from(u16::from_be_bytes([l0, l1]))
                    })
            }
        }
    }
}

impl Decoder for FlapCodec {
    type Item = Flap;
    type Error = FlapError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Flap>, FlapError> {
        let header = match self.state {
            State::Payload(header) => header,
            State::Header => {
                let Some(raw) = src.first_chunk::<FLAP_HEADER_LEN>() else {
                    return Ok(None);
                };
                let header = self.parse_header(raw)?;
                src.advance(FLAP_HEADER_LEN);
                src.reserve(header.len);
                self.state = State::Payload(header);
                header
            }
        };
        if src.len() < header.len {
            return Ok(None);
        }
        self.state = State::Header;
        let payload = src.split_to(header.len).freeze();
        Ok(Some(Flap {
            channel: header.channel,
            seq: header.seq,
            payload,
        }))
    }
}

impl Encoder<Flap> for FlapCodec {
    type Error = FlapError;

    fn encode(&mut self, flap: Flap, dst: &mut BytesMut) -> Result<(), FlapError> {
        flap.put(dst).map_err(FlapError::from)
    }
}

impl Encoder<&Flap> for FlapCodec {
    type Error = FlapError;

    fn encode(&mut self, flap: &Flap, dst: &mut BytesMut) -> Result<(), FlapError> {
        flap.put(dst).map_err(FlapError::from)
    }
}

#[cfg(test)]
mod tests {
    use bytes::BufMut as _;

    use super::*;

    /// libpurple's first 45 bytes on an authorizer connection (real-peers.md §2a).
    const LIBPURPLE_HELLO_AND_KEY_REQUEST: &[u8] = &[
        0x2a, 0x01, 0x00, 0x01, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, 0x2a, 0x02, 0x00, 0x02, 0x00,
        0x1d, 0x00, 0x17, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x07,
        0x74, 0x65, 0x73, 0x74, 0x65, 0x72, 0x31, 0x00, 0x4b, 0x00, 0x00, 0x00, 0x5a, 0x00, 0x00,
    ];

    #[test]
    fn a_complete_next_frame_is_seen_before_decoding_and_mid_frame() {
        let mut codec = FlapCodec::default();
        let all = LIBPURPLE_HELLO_AND_KEY_REQUEST;
        // The hello is 6 + 4 bytes; the key request 6 + 29.
        for cut in 0..all.len() {
            let whole = cut >= 10;
            assert_eq!(codec.has_complete_frame(&all[..cut]), whole, "cut {cut}");
        }
        let mut buf = BytesMut::from(&all[..12]);
        assert!(codec.decode(&mut buf).unwrap().is_some());
        assert!(!codec.has_complete_frame(&buf));
        // Half a payload: the decoder has taken the header; the rest is not all here.
        buf.extend_from_slice(&all[12..20]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert!(!codec.is_at_frame_boundary());
        assert!(!codec.has_complete_frame(&buf));
        buf.extend_from_slice(&all[20..]);
        assert!(codec.has_complete_frame(&buf));
        assert!(codec.decode(&mut buf).unwrap().is_some());
    }

    fn decode_all(codec: &mut FlapCodec, buf: &mut BytesMut) -> Vec<Flap> {
        let mut out = Vec::new();
        while let Some(f) = codec.decode(buf).unwrap() {
            out.push(f);
        }
        out
    }

    #[test]
    fn two_frames_in_one_read() {
        let mut buf = BytesMut::from(LIBPURPLE_HELLO_AND_KEY_REQUEST);
        let frames = decode_all(&mut FlapCodec::default(), &mut buf);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].channel, Channel::SIGNON);
        assert_eq!(frames[0].seq, 1);
        assert_eq!(&frames[0].payload[..], &[0, 0, 0, 1]);
        assert_eq!(frames[1].channel, Channel::DATA);
        assert_eq!(frames[1].payload.len(), 0x1d);
        assert!(buf.is_empty());
    }

    #[test]
    fn every_prefix_is_incomplete_not_an_error() {
        let wire = LIBPURPLE_HELLO_AND_KEY_REQUEST;
        for cut in 0..=wire.len() {
            let mut codec = FlapCodec::default();
            let mut buf = BytesMut::from(&wire[..cut]);
            let first = decode_all(&mut codec, &mut buf);
            // Feed the rest byte by byte: the same two frames must come out.
            let mut rest = first;
            for b in &wire[cut..] {
                buf.put_u8(*b);
                rest.extend(decode_all(&mut codec, &mut buf));
            }
            assert_eq!(rest.len(), 2, "cut at {cut}");
            let mut again = BytesMut::new();
            for f in &rest {
                codec.encode(f, &mut again).unwrap();
            }
            assert_eq!(&again[..], wire, "cut at {cut}");
        }
    }

    #[test]
    fn oversize_length_is_rejected_before_allocating() {
        let mut codec = FlapCodec::with_max_payload(1024);
        let mut buf = BytesMut::from(&[0x2a, 0x02, 0, 1, 0xff, 0xff][..]);
        let err = codec.decode(&mut buf).unwrap_err();
        assert!(matches!(
            err,
            FlapError::TooLong {
                len: 65535,
                max: 1024
            }
        ));
        assert!(buf.capacity() < 65535);
    }

    #[test]
    fn the_header_check_refuses_what_decoding_refuses_before_the_payload_is_here() {
        let codec = FlapCodec::with_max_payload(1024);
        for cut in 0..6 {
            assert!(
                codec
                    .check_header(&[0x2a, 2, 0, 1, 0xff, 0xff][..cut])
                    .is_ok()
            );
        }
        assert!(matches!(
            codec.check_header(&[0x2a, 2, 0, 1, 0xff, 0xff]),
            Err(FlapError::TooLong {
                len: 65535,
                max: 1024
            })
        ));
        assert!(matches!(
            codec.check_header(b"GET / "),
            Err(FlapError::BadMarker(b'G'))
        ));
        assert!(codec.check_header(&[0x2a, 2, 0, 1, 0x04, 0x00]).is_ok());
    }

    #[test]
    fn bad_marker_is_an_error() {
        let mut buf = BytesMut::from(&b"GET / HTTP/1.1\r\n"[..]);
        assert!(matches!(
            FlapCodec::default().decode(&mut buf),
            Err(FlapError::BadMarker(b'G'))
        ));
    }

    #[test]
    fn zero_length_keepalive() {
        let mut buf = BytesMut::from(&[0x2a, 0x05, 0x12, 0x34, 0, 0][..]);
        let f = FlapCodec::default().decode(&mut buf).unwrap().unwrap();
        assert_eq!(f.channel, Channel::KEEPALIVE);
        assert_eq!(f.seq, 0x1234);
        assert!(f.payload.is_empty());
    }

    #[test]
    fn encoding_a_too_large_payload_fails() {
        let f = Flap::new(Channel::DATA, vec![0u8; 70_000]);
        assert!(f.to_bytes().is_err());
    }
}
