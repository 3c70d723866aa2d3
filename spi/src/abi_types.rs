//! The C types of the SPI, laid out as the Sametime server passes them (reference §2.2, §4.3).
//!
//! Our own definitions, written from the reference's description; enums crossing the
//! boundary are plain `c_int`s, validated on the way in, because a C enum value outside the
//! Rust enum's variants would be undefined behaviour.

use std::ffi::{c_char, c_int, c_ulong};

use crate::codes::MAX_NAME_LEN;

/// A participant or scope (`StDdaClEntity`): an inline, NUL-terminated id and its kind.
/// Always owned by the server and valid only during the call that passes it.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ClEntity {
    /// NUL-terminated user or place id.
    pub id: [c_char; MAX_NAME_LEN],
    /// One of the [`entity_type`] values.
    pub entity_type: c_int,
}

/// The values of `StClEntityType`.
pub mod entity_type {
    use std::ffi::c_int;

    /// No type given.
    pub const NO_TYPE: c_int = 0;
    /// A user of this community.
    pub const USER: c_int = 1;
    /// A section of a place.
    pub const SECTION: c_int = 2;
    /// An activity of a place.
    pub const ACTIVITY: c_int = 3;
    /// A session; with the id `"PLACE"` as a join's scope it marks an n-way chat.
    pub const SESSION: c_int = 4;
    /// A user from another community.
    pub const EXTERNAL_USER: c_int = 5;
    /// A user who was offline.
    pub const OFFLINE_USER: c_int = 6;
    /// The largest valid value.
    pub const MAX: c_int = OFFLINE_USER;
}

/// A server message the library asks the server to deliver (`StDdaClSrvMsg`). Allocated by
/// the library ([`crate::srv_msgs`]), handed back through `stDdaClCleanSrvMsgs` to be freed.
#[repr(C)]
#[derive(Debug)]
pub struct ClSrvMsg {
    /// `StClSrvMsgType`: 0 text, 1 data, 2 server message.
    pub msg_type: c_int,
    /// `StClSrvMsgDestination`: 0 the sender, 1 the receiver.
    pub destination: c_int,
    /// Length of `msg` without its NUL.
    pub msg_len: c_ulong,
    /// NUL-terminated, allocated by the library.
    pub msg: *mut c_char,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_match_the_reference() {
        // Reference §4.3: the entity is 260 bytes, align 4; the server message 24 bytes on
        // LP64 (16 on 32-bit targets).
        assert_eq!(size_of::<ClEntity>(), 260);
        assert_eq!(align_of::<ClEntity>(), 4);
        #[cfg(all(unix, target_pointer_width = "64"))]
        assert_eq!(size_of::<ClSrvMsg>(), 24);
    }
}
