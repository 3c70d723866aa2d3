//! FLAP frames: the outer framing of every OSCAR TCP stream (oscar.md §1.1).
//!
//! `2A | channel u8 | sequence u16 | length u16 | payload`.

use std::fmt;

use bytes::Bytes;

/// FLAP channel as sent on the wire; unknown channels are kept and relayed as-is.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Channel(pub u8);

impl Channel {
    /// New connection / sign-on: version word plus optional TLVs.
    pub const SIGNON: Self = Self(0x01);
    /// One SNAC per frame.
    pub const DATA: Self = Self(0x02);
    /// FLAP-level error (rare).
    pub const ERROR: Self = Self(0x03);
    /// Close connection / sign-off, with optional TLVs.
    pub const SIGNOFF: Self = Self(0x04);
    /// Keep-alive, empty.
    pub const KEEPALIVE: Self = Self(0x05);
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::SIGNON => f.write_str("SIGNON"),
            Self::DATA => f.write_str("DATA"),
            Self::ERROR => f.write_str("ERROR"),
            Self::SIGNOFF => f.write_str("SIGNOFF"),
            Self::KEEPALIVE => f.write_str("KEEPALIVE"),
            Self(other) => write!(f, "Channel({other:#04x})"),
        }
    }
}

/// The start marker of every FLAP frame.
pub const FLAP_MARKER: u8 = 0x2a;

/// Length of the FLAP header in bytes.
pub const FLAP_HEADER_LEN: usize = 6;

/// Largest payload a FLAP can carry: its length field is a u16.
pub const FLAP_MAX_PAYLOAD: usize = u16::MAX as usize;

/// One FLAP frame: channel, sequence number and exact payload bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Flap {
    /// Which kind of payload this is.
    pub channel: Channel,
    /// Per-connection, per-direction sequence number; a relay renumbers it per leg.
    pub seq: u16,
    /// The payload, zero-copy from the stream buffer.
    pub payload: Bytes,
}

impl Flap {
    /// A frame with sequence number 0; the sending side stamps the real number.
    pub fn new(channel: Channel, payload: impl Into<Bytes>) -> Self {
        Self {
            channel,
            seq: 0,
            payload: payload.into(),
        }
    }

    /// The frame as it goes on the wire. Fails only for payloads over 65535 bytes.
    pub fn to_bytes(&self) -> Result<Bytes, crate::EncodeError> {
        let mut buf = bytes::BytesMut::with_capacity(FLAP_HEADER_LEN + self.payload.len());
        self.put(&mut buf)?;
        Ok(buf.freeze())
    }

    /// The frame's header in wire form, its length computed from the payload: a writer
    /// that sends the payload bytes as they are (a relay forwarding them without a copy)
    /// sends this in front. Fails only for payloads over 65535 bytes.
    pub fn header(&self) -> Result<[u8; FLAP_HEADER_LEN], crate::EncodeError> {
        let [l0, l1] = crate::writer::u16_len(self.payload.len(), "FLAP payload")?.to_be_bytes();
        let [s0, s1] = self.seq.to_be_bytes();
        Ok([FLAP_MARKER, self.channel.0, s0, s1, l0, l1])
    }

    /// Appends the frame in wire form to `dst` (the codec's encoder and [`Self::to_bytes`]
    /// share it). Fails only for payloads over 65535 bytes.
    pub(crate) fn put(&self, dst: &mut bytes::BytesMut) -> Result<(), crate::EncodeError> {
        let header = self.header()?;
        dst.reserve(FLAP_HEADER_LEN + self.payload.len());
        dst.extend_from_slice(&header);
        dst.extend_from_slice(&self.payload);
        Ok(())
    }
}

impl fmt::Debug for Flap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Flap")
            .field("channel", &self.channel)
            .field("seq", &self.seq)
            .field("len", &self.payload.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn the_header_is_what_the_whole_frame_starts_with(
            channel in any::<u8>(),
            seq in any::<u16>(),
            len in prop_oneof![0usize..600, 65_530usize..65_540],
        ) {
            let flap = Flap { channel: Channel(channel), seq, payload: Bytes::from(vec![7u8; len]) };
            match (flap.header(), flap.to_bytes()) {
                (Ok(header), Ok(wire)) => {
                    prop_assert_eq!(&wire[..FLAP_HEADER_LEN], &header[..]);
                    prop_assert_eq!(wire.len(), FLAP_HEADER_LEN + len);
                }
                (Err(_), Err(_)) => prop_assert!(len > FLAP_MAX_PAYLOAD),
                _ => prop_assert!(false, "header and frame disagree at {}", len),
            }
        }
    }
}
