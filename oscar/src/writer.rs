//! Length-checked writers: every length prefix the codec emits goes through here, so an
//! oversized field is an [`EncodeError`] instead of a silently truncated length.

use bytes::{BufMut, BytesMut};

use crate::error::EncodeError;

/// Writes `value` behind a `u8` length.
pub(crate) fn put_u8_prefixed(
    buf: &mut BytesMut,
    value: &[u8],
    what: &'static str,
) -> Result<(), EncodeError> {
    let len = u8::try_from(value.len()).map_err(|_| EncodeError::TooLong {
        what,
        len: value.len(),
        max: usize::from(u8::MAX),
    })?;
    buf.put_u8(len);
    buf.put_slice(value);
    Ok(())
}

/// Writes `value` behind a big-endian `u16` length.
pub(crate) fn put_u16_prefixed(
    buf: &mut BytesMut,
    value: &[u8],
    what: &'static str,
) -> Result<(), EncodeError> {
    buf.put_u16(u16_len(value.len(), what)?);
    buf.put_slice(value);
    Ok(())
}

/// `len` as a u16 length field, or the error naming `what`.
pub(crate) fn u16_len(len: usize, what: &'static str) -> Result<u16, EncodeError> {
    u16::try_from(len).map_err(|_| EncodeError::TooLong {
        what,
        len,
        max: usize::from(u16::MAX),
    })
}
