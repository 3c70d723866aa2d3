//! Copying what the server passes into owned Rust values, with every bound checked.
//!
//! The server owns every pointer it passes and it is valid only during the call (reference
//! §4.2), so nothing here keeps a pointer: each function copies and returns an owned value.
//! Text is decoded as UTF-8 (the reference's best guess, §10.5); invalid bytes are replaced,
//! and callers that must keep the exact bytes take them with [`copy_bytes`].

use std::ffi::{c_char, c_int, c_ulong};

use crate::abi_types::{ClEntity, entity_type};
use crate::codes::MAX_NAME_LEN;
use crate::error::SpiError;

/// An entity copied out of the server's [`ClEntity`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedEntity {
    /// The user or place id, as given.
    pub id: String,
    /// One of [`entity_type`]'s values, validated.
    pub entity_type: c_int,
    /// Not one of the organisation's users, by the policy's one rule
    /// (`policy::PolicyEngine::is_ours`): the server's word ([`Self::is_external`]) until a
    /// policy with a directory classifies it (`SpiPolicy::classified`).
    pub outsider: bool,
}

impl OwnedEntity {
    /// An entity as the server names it: an outsider when of another community.
    pub fn new(id: impl Into<String>, entity_type: c_int) -> Self {
        Self {
            id: id.into(),
            entity_type,
            outsider: entity_type == entity_type::EXTERNAL_USER,
        }
    }

    /// True for a user of another community, by the server's word: whether the user is signed
    /// on to this server's community (whose names the directory must admit), not whether the
    /// organisation counts them as its own ([`Self::is_outsider`]).
    pub fn is_external(&self) -> bool {
        self.entity_type == entity_type::EXTERNAL_USER
    }

    /// True for someone who is not one of the organisation's users: what decides a record's
    /// direction, its local user and the disclaimer, as in the relay.
    pub fn is_outsider(&self) -> bool {
        self.outsider
    }
}

/// Copies a NUL-terminated string of at most `max` bytes including the NUL.
///
/// # Safety
/// `ptr` must be NULL or point to readable memory up to its first NUL or `max` bytes,
/// whichever comes first.
pub unsafe fn copy_c_str(
    ptr: *const c_char,
    what: &'static str,
    max: usize,
) -> Result<String, SpiError> {
    if ptr.is_null() {
        return Err(SpiError::Null { what });
    }
    let mut bytes = Vec::new();
    for i in 0..max {
        // SAFETY: the caller guarantees the bytes up to the first NUL (or `max`) are
        // readable, and we stop at the first NUL, so `ptr + i` is never past it.
        let byte = unsafe { ptr.add(i).read() } as u8;
        if byte == 0 {
            return Ok(String::from_utf8_lossy(&bytes).into_owned());
        }
        bytes.push(byte);
    }
    Err(SpiError::TooLong { what, max: max - 1 })
}

/// Copies a NUL-terminated string that may be NULL (an optional argument).
///
/// # Safety
/// As [`copy_c_str`].
pub unsafe fn copy_opt_c_str(
    ptr: *const c_char,
    what: &'static str,
    max: usize,
) -> Result<Option<String>, SpiError> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: not NULL; the caller's guarantee covers the rest.
    unsafe { copy_c_str(ptr, what, max) }.map(Some)
}

/// Copies a required entity: its inline id must be NUL-terminated within 256 bytes and not
/// empty, and its type one of `StClEntityType`'s.
///
/// # Safety
/// `ptr` must be NULL or point to a readable [`ClEntity`].
pub unsafe fn copy_entity(
    ptr: *const ClEntity,
    what: &'static str,
) -> Result<OwnedEntity, SpiError> {
    // SAFETY: the caller guarantees `ptr` is NULL or points to a readable entity.
    let Some(entity) = (unsafe { ptr.as_ref() }) else {
        return Err(SpiError::Null { what });
    };
    let raw: Vec<u8> = entity.id.iter().map(|&c| c as u8).collect();
    let Some(end) = raw.iter().position(|&b| b == 0) else {
        return Err(SpiError::TooLong {
            what,
            max: MAX_NAME_LEN - 1,
        });
    };
    if end == 0 {
        return Err(SpiError::EmptyId { what });
    }
    if !(0..=entity_type::MAX).contains(&entity.entity_type) {
        return Err(SpiError::EntityType {
            what,
            value: entity.entity_type,
        });
    }
    Ok(OwnedEntity::new(
        String::from_utf8_lossy(&raw[..end]).into_owned(),
        entity.entity_type,
    ))
}

/// Copies an entity that may be NULL (`scope`, `receiver`).
///
/// # Safety
/// As [`copy_entity`].
pub unsafe fn copy_opt_entity(
    ptr: *const ClEntity,
    what: &'static str,
) -> Result<Option<OwnedEntity>, SpiError> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: not NULL; the caller's guarantee covers the rest.
    unsafe { copy_entity(ptr, what) }.map(Some)
}

/// Copies `len` bytes of a message. `msgLen` is authoritative (reference §4.2): nothing past
/// it is read, NULs inside are kept. A zero length may come with a NULL pointer (a typing
/// notice does).
///
/// # Safety
/// `ptr` must be NULL or point to at least `len` readable bytes.
pub unsafe fn copy_bytes(
    ptr: *const c_char,
    len: c_ulong,
    what: &'static str,
    max: usize,
) -> Result<Vec<u8>, SpiError> {
    let too_long = SpiError::MessageTooLong { what, max };
    let len = usize::try_from(len).map_err(|_| too_long)?;
    if len > max {
        return Err(SpiError::MessageTooLong { what, max });
    }
    if len == 0 {
        return Ok(Vec::new());
    }
    if ptr.is_null() {
        return Err(SpiError::MissingData {
            what,
            len: len as u64,
        });
    }
    // SAFETY: not NULL, and the caller guarantees `len` readable bytes behind it; `len` is
    // at most `max`, far below `isize::MAX`.
    let slice = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) };
    Ok(slice.to_vec())
}

/// Writes `text` as a NUL-terminated string into a server buffer of `capacity` bytes, on
/// one line (line breaks and other control characters become spaces: the server logs each
/// message as one line), truncated at a character boundary. Does nothing for a NULL buffer.
///
/// # Safety
/// `dst` must be NULL or point to `capacity` writable bytes.
pub unsafe fn write_c_str(dst: *mut c_char, capacity: usize, text: &str) {
    if dst.is_null() || capacity == 0 {
        return;
    }
    let flat: String;
    let text = if text.chars().any(char::is_control) {
        flat = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        flat.as_str()
    } else {
        text
    };
    let mut end = text.len().min(capacity - 1);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    // SAFETY: `dst` has `capacity` writable bytes; we write `end < capacity` bytes and the
    // NUL at index `end`. The source is our own string and cannot overlap the server's buffer.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr().cast::<c_char>(), dst, end);
        dst.add(end).write(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Safe wrappers: every pointer the tests pass is NULL or points to a live local of the
    // stated size, which is each function's whole contract.
    fn c_str(s: &std::ffi::CStr, max: usize) -> Result<String, SpiError> {
        // SAFETY: a `CStr` is readable up to and including its NUL.
        unsafe { copy_c_str(s.as_ptr(), "s", max) }
    }

    fn entity_of(e: Option<&ClEntity>) -> Result<Option<OwnedEntity>, SpiError> {
        let ptr = e.map_or(std::ptr::null(), std::ptr::from_ref);
        // SAFETY: NULL or a reference to a live entity.
        unsafe { copy_opt_entity(ptr, "e") }
    }

    fn bytes_of(data: Option<&[u8]>, len: c_ulong) -> Result<Vec<u8>, SpiError> {
        let ptr = data.map_or(std::ptr::null(), |d| d.as_ptr().cast());
        // SAFETY: NULL, or a slice the tests make at least `len` long whenever `len` is
        // within the limit of 10 (longer lengths are refused before any read).
        unsafe { copy_bytes(ptr, len, "m", 10) }
    }

    fn entity(id: &[u8], entity_type: c_int) -> ClEntity {
        let mut e = ClEntity {
            id: [0; MAX_NAME_LEN],
            entity_type,
        };
        for (dst, &b) in e.id.iter_mut().zip(id) {
            *dst = b as c_char;
        }
        e
    }

    #[test]
    fn strings_stop_at_nul_and_refuse_past_the_limit() {
        assert_eq!(c_str(c"alice", 6).unwrap(), "alice");
        assert!(matches!(
            c_str(c"alice", 5),
            Err(SpiError::TooLong { max: 4, .. })
        ));
        // SAFETY: NULL is allowed and never read.
        let null = unsafe { copy_c_str(std::ptr::null(), "s", 5) };
        assert!(matches!(null, Err(SpiError::Null { .. })));
    }

    #[test]
    fn entities_are_checked() {
        let e = entity(b"alice", entity_type::USER);
        assert_eq!(entity_of(Some(&e)).unwrap().unwrap().id, "alice");
        let full = entity(&[b'x'; MAX_NAME_LEN], entity_type::USER);
        assert!(matches!(
            entity_of(Some(&full)),
            Err(SpiError::TooLong { .. })
        ));
        let bad = entity(b"alice", 7);
        assert!(matches!(
            entity_of(Some(&bad)),
            Err(SpiError::EntityType { .. })
        ));
        let empty = entity(b"", entity_type::USER);
        assert!(matches!(
            entity_of(Some(&empty)),
            Err(SpiError::EmptyId { .. })
        ));
        assert_eq!(entity_of(None).unwrap(), None);
    }

    #[test]
    fn bytes_keep_nuls_and_respect_length() {
        let data = [0u8, 4, b'd', 0];
        assert_eq!(bytes_of(Some(&data), 3).unwrap(), [0, 4, b'd']);
        assert!(bytes_of(None, 0).unwrap().is_empty());
        assert!(matches!(
            bytes_of(None, 1),
            Err(SpiError::MissingData { .. })
        ));
        assert!(matches!(
            bytes_of(Some(&data), 11),
            Err(SpiError::MessageTooLong { .. })
        ));
    }

    #[test]
    fn output_is_truncated_on_a_char_boundary() {
        let mut buf = [0x55 as c_char; 4];
        // SAFETY: `buf` has the 4 writable bytes we declare.
        unsafe { write_c_str(buf.as_mut_ptr(), 4, "aé€") };
        assert_eq!(buf.map(|c| c as u8), [b'a', 0xC3, 0xA9, 0]);
    }
}
