//! The entry points that can answer with server messages (the policy check and the
//! `...WithSrvMsg` variants), and `stDdaClCleanSrvMsgs`, which frees what they handed over.
//!
//! # Safety (every entry point here)
//! As [`super`]'s documentation says: that is "the module documentation" each one below
//! refers to.

use std::ffi::{c_char, c_int, c_ulong};

use super::session_calls::{joining, leaving, session_data_msg, session_msg};
use super::{boundary, boundary_outcome};
use crate::abi_types::{ClEntity, ClSrvMsg};
use crate::ffi_strings::copy_entity;
use crate::runtime;
use crate::srv_msgs::{self, EntryResult};

/// May `entity` start a one-to-one chat with `to_entity`? Without a policy, yes
/// (`ST_DDA_API_OK`, no server messages). Under one, refused when an insider party is not
/// admitted or a rule blocks every message between them: `codes.session_creation_declined`,
/// the profile's notice to the initiator (`ST_DDA_CL_SENDER`), a `policy_action` record.
///
/// # Safety
/// See the module documentation.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn stDdaClSessionPolicycheckFunc(
    entity: *const ClEntity,
    to_entity: *const ClEntity,
    srv_messages: *mut *mut ClSrvMsg,
    srv_messages_len: *mut c_ulong,
) -> c_int {
    // SAFETY: each pointer is NULL or valid for this call, per the contract.
    unsafe {
        boundary_outcome(
            "stDdaClSessionPolicycheckFunc",
            srv_messages,
            srv_messages_len,
            |replies| {
                let initiator = copy_entity(entity, "entity")?;
                let target = copy_entity(to_entity, "toEntity")?;
                let runtime = runtime::current()?;
                let policy = runtime.policy.as_ref();
                runtime
                    .sessions
                    .policy_check(&initiator, &target, policy, replies)
            },
        )
    }
}

/// `stDdaClJoiningSession`, able to return server messages: under a policy, a declined join
/// (`codes.session_creation_declined`, the notice to the chat's initiator,
/// `ST_DDA_CL_RECEIVER`, as IBM's sample) or, joining a place with an outsider, the
/// disclaimer to the joiner (`codes.msg_changed`, `ST_DDA_CL_SENDER`).
///
/// # Safety
/// See the module documentation.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn stDdaClJoiningSessionWithSrvMsg(
    session_id: *const c_char,
    entity: *const ClEntity,
    scope: *const ClEntity,
    srv_messages: *mut *mut ClSrvMsg,
    srv_messages_len: *mut c_ulong,
) -> c_int {
    // SAFETY: the server's pointers, forwarded under the same contract.
    unsafe {
        boundary_outcome(
            "stDdaClJoiningSessionWithSrvMsg",
            srv_messages,
            srv_messages_len,
            |replies| joining(session_id, entity, scope, replies),
        )
    }
}

/// `stDdaClLeavingSession`, able to return server messages; this slice returns none.
///
/// # Safety
/// See the module documentation.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn stDdaClLeavingSessionWithSrvMsg(
    session_id: *const c_char,
    entity: *const ClEntity,
    srv_messages: *mut *mut ClSrvMsg,
    srv_messages_len: *mut c_ulong,
) -> c_int {
    // SAFETY: the server's pointers, forwarded under the same contract.
    unsafe {
        boundary_outcome(
            "stDdaClLeavingSessionWithSrvMsg",
            srv_messages,
            srv_messages_len,
            |_| leaving(session_id, entity).map(|()| EntryResult::allowed()),
        )
    }
}

/// `stDdaClSessionMsg`, able to replace or block the message. Under a policy: blocked,
/// `codes.msg_changed` with only the notice to the sender; masked, `codes.msg_changed` with
/// the masked text to the receiver; the first message of a two-way chat with an outsider,
/// `codes.msg_changed` with the disclaimer to both and the message to the receiver; else
/// `ST_DDA_API_OK`. Each recorded with its verdict.
///
/// # Safety
/// See the module documentation.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn stDdaClSessionMsgWithSrvMsg(
    session_id: *const c_char,
    sender: *const ClEntity,
    msg_len: c_ulong,
    msg: *const c_char,
    receiver: *const ClEntity,
    srv_messages: *mut *mut ClSrvMsg,
    srv_messages_len: *mut c_ulong,
) -> c_int {
    // SAFETY: the server's pointers, forwarded under the same contract.
    unsafe {
        boundary_outcome(
            "stDdaClSessionMsgWithSrvMsg",
            srv_messages,
            srv_messages_len,
            |replies| session_msg(session_id, sender, msg_len, msg, receiver, replies),
        )
    }
}

/// `stDdaClSessionDataMsg`, able to return server messages; counts the message and returns
/// none (policy judges text: disclaimers go with the first text message, as IBM's sample
/// sends them).
///
/// # Safety
/// See the module documentation.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn stDdaClSessionDataMsgWithSrvMsg(
    session_id: *const c_char,
    sender: *const ClEntity,
    data_type: c_ulong,
    data_sub_type: c_ulong,
    msg_len: c_ulong,
    msg: *const c_char,
    receiver: *const ClEntity,
    srv_messages: *mut *mut ClSrvMsg,
    srv_messages_len: *mut c_ulong,
) -> c_int {
    // SAFETY: the server's pointers, forwarded under the same contract.
    unsafe {
        boundary_outcome(
            "stDdaClSessionDataMsgWithSrvMsg",
            srv_messages,
            srv_messages_len,
            |_| {
                session_data_msg(
                    session_id,
                    sender,
                    data_type,
                    data_sub_type,
                    msg_len,
                    msg,
                    receiver,
                )
                .map(|()| EntryResult::allowed())
            },
        )
    }
}

/// Frees server messages this library handed over: exactly the `(pointer, count)` a call
/// returned, once (`ST_DDA_API_OK`); `(NULL, n)` is fine. A pointer we did not hand over
/// (or already freed), or ours with another count, is left alone and refused
/// (`ST_DDA_API_INVALID_PARAM`) rather than freed.
///
/// # Safety
/// None beyond the module's: the pointer is only compared with what we handed over.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn stDdaClCleanSrvMsgs(
    srv_messages: *mut ClSrvMsg,
    srv_messages_len: c_ulong,
) -> c_int {
    boundary("stDdaClCleanSrvMsgs", || {
        srv_msgs::clean(srv_messages, srv_messages_len)
    })
}
