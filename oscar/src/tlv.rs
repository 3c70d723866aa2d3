//! TLVs (`type u16 | length u16 | value`) and the three containers they come in
//! (oscar.md §1.3): a *rest* block up to the end of the enclosing data, a *count-prefixed*
//! block and a *length-prefixed* block.
//!
//! A [`TlvList`] keeps every TLV, in order, duplicates included, so re-encoding an
//! unmodified list reproduces the input byte for byte. Changing one value and re-encoding
//! recomputes that TLV's length, and the enclosing containers' lengths are computed when
//! they are encoded in turn, so no length is ever patched by hand.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::reader::Reader;
use crate::writer::{put_u16_prefixed, u16_len};

/// Most TLVs accepted in one container. A 64 KiB FLAP can hold at most 16 Ki empty TLVs;
/// real messages carry a few dozen. The cap bounds the work a hostile frame can cause.
pub const MAX_TLVS_PER_BLOCK: usize = 4096;

/// Size of a TLV header (type + length).
const TLV_HEADER_LEN: usize = 4;

/// One TLV: a type tag and its exact value bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Tlv {
    /// The type tag; meaning depends on the enclosing message.
    pub kind: u16,
    /// The value bytes, never NUL-terminated on the wire.
    pub value: Bytes,
}

impl Tlv {
    /// A TLV from a tag and any byte source.
    pub fn new(kind: u16, value: impl Into<Bytes>) -> Self {
        Self {
            kind,
            value: value.into(),
        }
    }

    /// A TLV holding a big-endian u16.
    pub fn u16(kind: u16, value: u16) -> Self {
        Self::new(kind, value.to_be_bytes().to_vec())
    }

    /// A TLV holding a big-endian u32.
    pub fn u32(kind: u16, value: u32) -> Self {
        Self::new(kind, value.to_be_bytes().to_vec())
    }

    /// An empty TLV (a flag).
    pub fn flag(kind: u16) -> Self {
        Self::new(kind, Bytes::new())
    }

    /// The value as a u8, if it is exactly one byte.
    pub fn as_u8(&self) -> Option<u8> {
        match self.value[..] {
            [b] => Some(b),
            _ => None,
        }
    }

    /// The value as a big-endian u16, if it is exactly two bytes.
    pub fn as_u16(&self) -> Option<u16> {
        <[u8; 2]>::try_from(&self.value[..])
            .ok()
            .map(u16::from_be_bytes)
    }

    /// The value as a big-endian u32, if it is exactly four bytes.
    pub fn as_u32(&self) -> Option<u32> {
        <[u8; 4]>::try_from(&self.value[..])
            .ok()
            .map(u32::from_be_bytes)
    }

    /// Reads one TLV.
    fn read(r: &mut Reader) -> Result<Self, DecodeError> {
        let kind = r.u16("TLV type")?;
        let value = r.u16_prefixed("TLV value")?;
        Ok(Self { kind, value })
    }

    /// Bytes this TLV takes on the wire.
    pub fn encoded_len(&self) -> usize {
        TLV_HEADER_LEN + self.value.len()
    }

    /// Appends this TLV in wire form.
    pub fn encode(&self, buf: &mut BytesMut) -> Result<(), EncodeError> {
        buf.put_u16(self.kind);
        put_u16_prefixed(buf, &self.value, "TLV value")
    }
}

impl fmt::Debug for Tlv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tlv({:#06x}, {} bytes)", self.kind, self.value.len())
    }
}

/// An ordered list of TLVs, duplicates allowed, as found in one container.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TlvList(Vec<Tlv>);

impl TlvList {
    /// An empty list.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// Parses a *rest* block: TLVs until `bytes` ends. Trailing bytes too short for a TLV
    /// are an error.
    pub fn decode_rest(bytes: Bytes) -> Result<Self, DecodeError> {
        Self::read_rest(&mut Reader::new(bytes))
    }

    /// Parses a standalone *count-prefixed* block that must fill `bytes` exactly.
    pub fn decode_counted(bytes: Bytes) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let list = Self::read_counted(&mut r)?;
        r.finish("counted TLV block")?;
        Ok(list)
    }

    /// Parses a standalone *length-prefixed* block that must fill `bytes` exactly.
    pub fn decode_length_prefixed(bytes: Bytes) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let list = Self::read_length_prefixed(&mut r)?;
        r.finish("length-prefixed TLV block")?;
        Ok(list)
    }

    pub(crate) fn read_rest(r: &mut Reader) -> Result<Self, DecodeError> {
        let mut tlvs = Vec::new();
        while !r.is_empty() {
            if tlvs.len() == MAX_TLVS_PER_BLOCK {
                return Err(DecodeError::TooManyTlvs {
                    what: "TLV block",
                    max: MAX_TLVS_PER_BLOCK,
                });
            }
            tlvs.push(Tlv::read(r)?);
        }
        Ok(Self(tlvs))
    }

    /// Reads a *count-prefixed* block: `u16 count` then that many TLVs.
    pub(crate) fn read_counted(r: &mut Reader) -> Result<Self, DecodeError> {
        let count = usize::from(r.u16("TLV count")?);
        // A count that cannot fit in what is left is a lie; fail before allocating for it.
        let fits = r.remaining() / TLV_HEADER_LEN;
        if count > fits {
            return Err(DecodeError::LengthMismatch {
                what: "TLV count",
                declared: count,
                available: r.remaining(),
            });
        }
        if count > MAX_TLVS_PER_BLOCK {
            return Err(DecodeError::TooManyTlvs {
                what: "counted TLV block",
                max: MAX_TLVS_PER_BLOCK,
            });
        }
        let mut tlvs = Vec::with_capacity(count);
        for _ in 0..count {
            tlvs.push(Tlv::read(r)?);
        }
        Ok(Self(tlvs))
    }

    /// Reads a *length-prefixed* block: `u16 byte length` then TLVs filling it exactly.
    pub(crate) fn read_length_prefixed(r: &mut Reader) -> Result<Self, DecodeError> {
        let len = usize::from(r.u16("TLV block length")?);
        let mut sub = Reader::new(r.take(len, "TLV block")?);
        Self::read_rest(&mut sub)
    }

    /// Number of TLVs.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// All TLVs in wire order.
    pub fn iter(&self) -> std::slice::Iter<'_, Tlv> {
        self.0.iter()
    }

    /// The first TLV of type `kind`.
    pub fn get(&self, kind: u16) -> Option<&Tlv> {
        self.0.iter().find(|t| t.kind == kind)
    }

    /// The value of the first TLV of type `kind`.
    pub fn value(&self, kind: u16) -> Option<&Bytes> {
        self.get(kind).map(|t| &t.value)
    }

    /// Whether a TLV of type `kind` is present.
    pub fn contains(&self, kind: u16) -> bool {
        self.get(kind).is_some()
    }

    /// Appends a TLV at the end.
    pub fn push(&mut self, tlv: Tlv) {
        self.0.push(tlv);
    }

    /// Replaces the value of the first TLV of type `kind` in place (keeping its position),
    /// or appends one if there is none.
    pub fn set(&mut self, kind: u16, value: impl Into<Bytes>) {
        let value = value.into();
        match self.0.iter_mut().find(|t| t.kind == kind) {
            Some(tlv) => tlv.value = value,
            None => self.0.push(Tlv { kind, value }),
        }
    }

    /// Removes every TLV of type `kind`; returns how many were removed.
    pub fn remove(&mut self, kind: u16) -> usize {
        let before = self.0.len();
        self.0.retain(|t| t.kind != kind);
        before - self.0.len()
    }

    /// Bytes the TLVs take on the wire, without any prefix.
    pub fn encoded_len(&self) -> usize {
        self.0.iter().map(Tlv::encoded_len).sum()
    }

    /// Appends the TLVs as a *rest* block.
    pub fn encode_rest(&self, buf: &mut BytesMut) -> Result<(), EncodeError> {
        buf.reserve(self.encoded_len());
        self.0.iter().try_for_each(|t| t.encode(buf))
    }

    /// Appends the TLVs as a *count-prefixed* block.
    pub fn encode_counted(&self, buf: &mut BytesMut) -> Result<(), EncodeError> {
        buf.put_u16(u16_len(self.0.len(), "TLV count")?);
        self.encode_rest(buf)
    }

    /// Appends the TLVs as a *length-prefixed* block.
    pub fn encode_length_prefixed(&self, buf: &mut BytesMut) -> Result<(), EncodeError> {
        buf.put_u16(u16_len(self.encoded_len(), "TLV block")?);
        self.encode_rest(buf)
    }

    /// The TLVs as a standalone *rest* block.
    pub fn to_bytes(&self) -> Result<Bytes, EncodeError> {
        let mut buf = BytesMut::with_capacity(self.encoded_len());
        self.encode_rest(&mut buf)?;
        Ok(buf.freeze())
    }
}

impl FromIterator<Tlv> for TlvList {
    fn from_iter<I: IntoIterator<Item = Tlv>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl<'a> IntoIterator for &'a TlvList {
    type Item = &'a Tlv;
    type IntoIter = std::slice::Iter<'a, Tlv>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Debug for TlvList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.0).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_block_round_trips_with_duplicates_in_order() {
        let wire = Bytes::from_static(&[
            0, 1, 0, 2, b'h', b'i', 0, 0x4b, 0, 0, 0, 1, 0, 1, b'x', 0, 0x5a, 0, 0,
        ]);
        let list = TlvList::decode_rest(wire.clone()).unwrap();
        assert_eq!(list.len(), 4);
        assert_eq!(&list.value(1).unwrap()[..], b"hi");
        assert_eq!(list.to_bytes().unwrap(), wire);
    }

    #[test]
    fn set_keeps_position_and_fixes_length() {
        let wire =
            Bytes::from_static(&[0, 1, 0, 1, b'a', 0, 5, 0, 3, b'1', b':', b'2', 0, 6, 0, 0]);
        let mut list = TlvList::decode_rest(wire).unwrap();
        list.set(5, &b"10.0.0.5:15190"[..]);
        let out = list.to_bytes().unwrap();
        assert_eq!(&out[5..9], &[0, 5, 0, 14]);
        assert_eq!(&out[9..23], b"10.0.0.5:15190");
        assert_eq!(&out[23..], &[0, 6, 0, 0]);
    }

    #[test]
    fn counted_block_that_lies_about_its_count_fails_early() {
        let mut r = Reader::new(Bytes::from_static(&[0xff, 0xff, 0, 1, 0, 0]));
        assert!(matches!(
            TlvList::read_counted(&mut r),
            Err(DecodeError::LengthMismatch {
                what: "TLV count",
                ..
            })
        ));
        let mut r = Reader::new(Bytes::from_static(&[0, 2, 0, 1, 0, 0, 0, 2, 0, 9]));
        assert!(TlvList::read_counted(&mut r).is_err());
    }

    #[test]
    fn the_three_containers_round_trip() {
        let list: TlvList = [Tlv::u16(1, 7), Tlv::flag(0x4b), Tlv::u32(3, 9)]
            .into_iter()
            .collect();
        let mut counted = BytesMut::new();
        list.encode_counted(&mut counted).unwrap();
        assert_eq!(&counted[..2], &[0, 3]);
        assert_eq!(TlvList::decode_counted(counted.freeze()).unwrap(), list);
        let mut prefixed = BytesMut::new();
        list.encode_length_prefixed(&mut prefixed).unwrap();
        assert_eq!(&prefixed[..2], &[0, 18]);
        assert_eq!(
            TlvList::decode_length_prefixed(prefixed.freeze()).unwrap(),
            list
        );
    }

    #[test]
    fn truncated_value_is_an_error() {
        assert!(TlvList::decode_rest(Bytes::from_static(&[0, 1, 0, 9, b'a'])).is_err());
        assert!(TlvList::decode_rest(Bytes::from_static(&[0, 1, 0])).is_err());
    }

    #[test]
    fn too_many_tlvs_is_an_error() {
        let wire = vec![0u8; (MAX_TLVS_PER_BLOCK + 1) * 4];
        assert!(matches!(
            TlvList::decode_rest(Bytes::from(wire)),
            Err(DecodeError::TooManyTlvs { .. })
        ));
    }
}
