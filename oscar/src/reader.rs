//! One bounded reader through which every OSCAR structure is parsed.
//!
//! A nested reader (`sub`) cannot read past its parent's length prefix, so a lying length
//! can only make a parse fail, never read a neighbour's bytes.

use bytes::Bytes;

use crate::error::DecodeError;

/// Reads big-endian fields from a shared byte buffer without copying.
#[derive(Debug, Clone)]
pub(crate) struct Reader {
    rest: Bytes,
}

impl Reader {
    /// A reader over all of `bytes`.
    pub(crate) fn new(bytes: Bytes) -> Self {
        Self { rest: bytes }
    }

    /// Bytes not yet read.
    pub(crate) fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// Whether everything has been read.
    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next `len` bytes, zero-copy.
    pub(crate) fn take(&mut self, len: usize, what: &'static str) -> Result<Bytes, DecodeError> {
        if len > self.rest.len() {
            return Err(DecodeError::LengthMismatch {
                what,
                declared: len,
                available: self.rest.len(),
            });
        }
        Ok(self.rest.split_to(len))
    }

    /// Everything left.
    pub(crate) fn rest(&mut self) -> Bytes {
        std::mem::take(&mut self.rest)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let (head, _) = self
            .rest
            .split_first_chunk::<N>()
            .ok_or(DecodeError::Truncated(what))?;
        let head = *head;
        let _ = self.rest.split_to(N);
        Ok(head)
    }

    /// One byte.
    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        self.array::<1>(what).map(|[b]| b)
    }

    /// A big-endian u16.
    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        self.array::<2>(what).map(u16::from_be_bytes)
    }

    /// A big-endian u32.
    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        self.array::<4>(what).map(u32::from_be_bytes)
    }

    /// A fixed-size array.
    pub(crate) fn fixed<const N: usize>(
        &mut self,
        what: &'static str,
    ) -> Result<[u8; N], DecodeError> {
        self.array::<N>(what)
    }

    /// A `u8`-length-prefixed byte string (screen names).
    pub(crate) fn u8_prefixed(&mut self, what: &'static str) -> Result<Bytes, DecodeError> {
        let len = self.u8(what)?;
        self.take(usize::from(len), what)
    }

    /// A `u16`-length-prefixed byte string.
    pub(crate) fn u16_prefixed(&mut self, what: &'static str) -> Result<Bytes, DecodeError> {
        let len = self.u16(what)?;
        self.take(usize::from(len), what)
    }

    /// Fails unless everything was consumed.
    pub(crate) fn finish(&self, what: &'static str) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::Trailing(what))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_big_endian_fields_in_order() {
        let mut r = Reader::new(Bytes::from_static(&[1, 0, 2, 0, 0, 0, 3, 2, b'h', b'i']));
        assert_eq!(r.u8("a").unwrap(), 1);
        assert_eq!(r.u16("b").unwrap(), 2);
        assert_eq!(r.u32("c").unwrap(), 3);
        assert_eq!(&r.u8_prefixed("d").unwrap()[..], b"hi");
        r.finish("x").unwrap();
    }

    #[test]
    fn a_lying_length_is_an_error_not_a_panic() {
        let mut r = Reader::new(Bytes::from_static(&[0xff, 0xff, 1]));
        assert!(matches!(
            r.u16_prefixed("s"),
            Err(DecodeError::LengthMismatch {
                declared: 65535,
                available: 1,
                ..
            })
        ));
        let mut r = Reader::new(Bytes::from_static(&[0]));
        assert_eq!(r.u16("w"), Err(DecodeError::Truncated("w")));
    }
}
