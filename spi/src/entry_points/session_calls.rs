//! The entry points of a session's life as the server reports it (started, joined, left,
//! text and data messages, ended), and the shared bodies their `...WithSrvMsg` variants
//! ([`super::srv_msg_calls`]) run too.
//!
//! # Safety (every entry point here)
//! As [`super`]'s documentation says: that is "the module documentation" each one below
//! refers to.

use std::ffi::{c_char, c_int, c_ulong};

use super::{boundary, boundary_outcome};
use crate::abi_types::ClEntity;
use crate::codes::{MAX_DATA_LEN, MAX_STR_LEN, MAX_TEXT_LEN};
use crate::error::SpiError;
use crate::ffi_strings::{copy_bytes, copy_c_str, copy_entity, copy_opt_entity};
use crate::runtime;
use crate::srv_msgs::EntryResult;

/// A session started: opens it and records a `session_start`. A session id already open
/// gets the session-exists code.
///
/// # Safety
/// See the module documentation.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn stDdaClSessionStarted(session_id: *const c_char) -> c_int {
    boundary("stDdaClSessionStarted", || {
        // SAFETY: NULL or NUL-terminated, per the contract.
        let id = unsafe { copy_c_str(session_id, "sessionId", MAX_STR_LEN) }?;
        runtime::current()?.sessions.start(id, None)
    })
}

/// As `stDdaClSessionStarted`, with the organisation (multi-tenant servers, SPI ≥ 12),
/// kept in the session's records.
///
/// # Safety
/// See the module documentation.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn stDdaClSessionStartedByOrgName(
    session_id: *const c_char,
    organization: *const c_char,
) -> c_int {
    boundary("stDdaClSessionStartedByOrgName", || {
        // SAFETY: NULL or NUL-terminated, per the contract.
        let id = unsafe { copy_c_str(session_id, "sessionId", MAX_STR_LEN) }?;
        // SAFETY: as above.
        let org = unsafe { copy_c_str(organization, "organization", MAX_STR_LEN) }?;
        runtime::current()?.sessions.start(id, Some(org))
    })
}

/// A session ended: records a `session_end` with everyone who took part and its data
/// message counts.
///
/// # Safety
/// See the module documentation.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn stDdaClSessionEnded(session_id: *const c_char) -> c_int {
    boundary("stDdaClSessionEnded", || {
        // SAFETY: NULL or NUL-terminated, per the contract.
        let id = unsafe { copy_c_str(session_id, "sessionId", MAX_STR_LEN) }?;
        runtime::current()?.sessions.end(&id)
    })
}

/// Shared body of the two joining entry points; `replies`: the server takes server messages.
///
/// # Safety
/// See the module documentation.
pub(super) unsafe fn joining(
    session_id: *const c_char,
    entity: *const ClEntity,
    scope: *const ClEntity,
    replies: bool,
) -> Result<EntryResult, SpiError> {
    // SAFETY: each pointer is NULL or valid for this call, per the contract.
    let (id, who, scope) = unsafe {
        (
            copy_c_str(session_id, "sessionId", MAX_STR_LEN)?,
            copy_entity(entity, "entity")?,
            copy_opt_entity(scope, "scope")?,
        )
    };
    let runtime = runtime::current()?;
    let policy = runtime.policy.as_ref();
    runtime.sessions.join_with(&id, who, scope, policy, replies)
}

/// Someone joined. `scope == NULL`: a two-way chat (or an announcement); a scope (normally
/// `{"PLACE", ST_DDA_CL_SESSION}`): an n-way chat, whose joins are recorded. Under a policy
/// the join may be declined (`codes.session_creation_declined`, no notice: this entry point
/// has no way to return one).
///
/// # Safety
/// See the module documentation.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn stDdaClJoiningSession(
    session_id: *const c_char,
    entity: *const ClEntity,
    scope: *const ClEntity,
) -> c_int {
    let (none, no_len) = (std::ptr::null_mut(), std::ptr::null_mut());
    // SAFETY: NULL out-pointers; the server's pointers, forwarded under the same contract.
    unsafe {
        boundary_outcome("stDdaClJoiningSession", none, no_len, |replies| {
            joining(session_id, entity, scope, replies)
        })
    }
}

/// Shared body of the two leaving entry points.
///
/// # Safety
/// See the module documentation.
pub(super) unsafe fn leaving(
    session_id: *const c_char,
    entity: *const ClEntity,
) -> Result<(), SpiError> {
    // SAFETY: each pointer is NULL or valid for this call, per the contract.
    let (id, who) = unsafe {
        (
            copy_c_str(session_id, "sessionId", MAX_STR_LEN)?,
            copy_entity(entity, "entity")?,
        )
    };
    runtime::current()?.sessions.leave(&id, &who)
}

/// Someone left; recorded for n-way chats.
///
/// # Safety
/// See the module documentation.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn stDdaClLeavingSession(
    session_id: *const c_char,
    entity: *const ClEntity,
) -> c_int {
    // SAFETY: the server's pointers, forwarded under the same contract.
    boundary("stDdaClLeavingSession", || unsafe {
        leaving(session_id, entity)
    })
}

/// Shared body of the two text-message entry points; `replies`: the server takes server
/// messages.
///
/// # Safety
/// See the module documentation.
pub(super) unsafe fn session_msg(
    session_id: *const c_char,
    sender: *const ClEntity,
    msg_len: c_ulong,
    msg: *const c_char,
    receiver: *const ClEntity,
    replies: bool,
) -> Result<EntryResult, SpiError> {
    // SAFETY: each pointer is NULL or valid for this call (`msg` for `msg_len` bytes).
    let (id, sender, bytes, receiver) = unsafe {
        (
            copy_c_str(session_id, "sessionId", MAX_STR_LEN)?,
            copy_entity(sender, "sender")?,
            copy_bytes(msg, msg_len, "msg", MAX_TEXT_LEN)?,
            copy_opt_entity(receiver, "receiver")?,
        )
    };
    let runtime = runtime::current()?;
    let policy = runtime.policy.as_ref();
    runtime
        .sessions
        .text_with(&id, &sender, receiver.as_ref(), &bytes, policy, replies)
}

/// A text message (HTML from rich-text clients); `receiver == NULL` is "to all". Recorded,
/// durably, before this returns. Under a policy that blocks or masks it, this entry point
/// cannot hand over a notice or the masked text, so the message is dropped:
/// `codes.msg_changed` with no server messages (never delivered unmasked), recorded as
/// blocked.
///
/// # Safety
/// See the module documentation.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn stDdaClSessionMsg(
    session_id: *const c_char,
    sender: *const ClEntity,
    msg_len: c_ulong,
    msg: *const c_char,
    receiver: *const ClEntity,
) -> c_int {
    let (none, no_len) = (std::ptr::null_mut(), std::ptr::null_mut());
    // SAFETY: NULL out-pointers; the server's pointers, forwarded under the same contract.
    unsafe {
        boundary_outcome("stDdaClSessionMsg", none, no_len, |replies| {
            session_msg(session_id, sender, msg_len, msg, receiver, replies)
        })
    }
}

/// Shared body of the two data-message entry points.
///
/// # Safety
/// See the module documentation.
#[allow(
    clippy::useless_conversion,
    reason = "c_ulong is u64 on LP64 but u32 on Windows"
)]
pub(super) unsafe fn session_data_msg(
    session_id: *const c_char,
    sender: *const ClEntity,
    data_type: c_ulong,
    data_sub_type: c_ulong,
    msg_len: c_ulong,
    msg: *const c_char,
    receiver: *const ClEntity,
) -> Result<(), SpiError> {
    // SAFETY: each pointer is NULL or valid for this call (`msg` for `msg_len` bytes).
    let (id, sender, bytes) = unsafe {
        // The receiver is checked (a malformed one is the server's bug) but not needed:
        // data messages are counted per session.
        copy_opt_entity(receiver, "receiver")?;
        (
            copy_c_str(session_id, "sessionId", MAX_STR_LEN)?,
            copy_entity(sender, "sender")?,
            copy_bytes(msg, msg_len, "msg", MAX_DATA_LEN)?,
        )
    };
    runtime::current()?.sessions.data(
        &id,
        &sender,
        u64::from(data_type),
        u64::from(data_sub_type),
        &bytes,
    )
}

/// A data message (typing, rich-text capability, inline image, …): binary, counted for the
/// session's end record, never stored as text.
///
/// # Safety
/// See the module documentation.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn stDdaClSessionDataMsg(
    session_id: *const c_char,
    sender: *const ClEntity,
    data_type: c_ulong,
    data_sub_type: c_ulong,
    msg_len: c_ulong,
    msg: *const c_char,
    receiver: *const ClEntity,
) -> c_int {
    // SAFETY: the server's pointers, forwarded under the same contract.
    boundary("stDdaClSessionDataMsg", || unsafe {
        session_data_msg(
            session_id,
            sender,
            data_type,
            data_sub_type,
            msg_len,
            msg,
            receiver,
        )
    })
}
