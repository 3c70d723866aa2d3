//! The 16 `stDdaCl*` functions the Sametime server looks up by name (reference §2.3).
//!
//! Each one copies its arguments into owned values ([`crate::ffi_strings`]), does its work
//! in safe Rust, and runs inside [`boundary`]: a panic becomes `ST_DDA_API_INTERNAL_ERROR`
//! and never unwinds into the server. `extern "system"` is `__stdcall` on 32-bit Windows
//! and the C convention everywhere else, exactly what IBM's `ST_DDA_API` macro is.
//!
//! # Safety (every entry point)
//! The server passes NULL or pointers valid for the duration of the call: strings
//! NUL-terminated, entities readable, `msg` readable for `msgLen` bytes, out-pointers
//! writable. Nothing is kept past the call except `appRetCode`/`appRetMsg` from
//! `stDdaClInit`, which the server keeps valid until `stDdaClTerminate`.

use std::ffi::{c_char, c_int, c_ulong};
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::abi_types::{ClEntity, ClSrvMsg};
use crate::codes::{
    API_INTERNAL_ERROR, API_OK, INIT_STRING_CAPACITY, LIB_VERSION, MAX_DATA_LEN, MAX_STR_LEN,
    MAX_TEXT_LEN, RET_MSG_CAPACITY, SEVERITY_OK, SEVERITY_WARNING,
};
use crate::error::SpiError;
use crate::ffi_strings::{copy_bytes, copy_c_str, copy_entity, copy_opt_entity, write_c_str};
use crate::runtime;

/// What `stDdaClInit` writes into `dirType`: the kind of logger this is.
const DIR_TYPE: &str = "imtegrity";

/// Runs one entry point's body: `Ok` is `ST_DDA_API_OK`; an error is reported through the
/// server's `appRetCode`/`appRetMsg` and returned as its code; a panic is caught and
/// returned as `ST_DDA_API_INTERNAL_ERROR`.
pub(crate) fn boundary(entry: &'static str, body: impl FnOnce() -> Result<(), SpiError>) -> c_int {
    let outcome = catch_unwind(AssertUnwindSafe(|| match body() {
        Ok(()) => API_OK,
        Err(e) => runtime::report(&e),
    }));
    outcome.unwrap_or_else(|_| {
        // Reporting the panic must not panic out of here either.
        let _ = catch_unwind(|| runtime::report(&SpiError::Panicked { entry }));
        API_INTERNAL_ERROR
    })
}

/// Sets the server-message out-parameters to "none": this slice asks the server to deliver
/// no messages (the reference's recommended default, §9).
///
/// # Safety
/// Each pointer must be NULL or writable.
unsafe fn no_srv_messages(srv_messages: *mut *mut ClSrvMsg, srv_messages_len: *mut c_ulong) {
    if !srv_messages.is_null() {
        // SAFETY: not NULL, writable per the contract.
        unsafe { srv_messages.write(std::ptr::null_mut()) };
    }
    if !srv_messages_len.is_null() {
        // SAFETY: not NULL, writable per the contract.
        unsafe { srv_messages_len.write(0) };
    }
}

/// Negotiates the SPI version, opens the spool and keeps `appRetCode`/`appRetMsg`.
///
/// `*prVersion` older than 16 gets `ST_DDA_API_VERSION_MISMATCH`; otherwise 16 is written
/// back. `*initializedInside` becomes `initializedOutside` (this library initialises no
/// Sybase, Notes, LDAP or DB2 client of its own). `dirType` gets `"imtegrity"`, `libVersion`
/// the crate version, each at most 31 bytes and a NUL.
///
/// # Safety
/// See the module documentation; `appRetCode`/`appRetMsg` (NULL or ≥ 256 bytes) must stay
/// valid until `stDdaClTerminate`.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn stDdaClInit(
    pr_version: *mut c_int,
    initialized_outside: c_int,
    initialized_inside: *mut c_int,
    dir_type: *mut c_char,
    lib_version: *mut c_char,
    app_ret_code: *mut c_int,
    app_ret_msg: *mut c_char,
) -> c_int {
    let body = || -> Result<Option<String>, SpiError> {
        if pr_version.is_null() {
            return Err(SpiError::Null { what: "prVersion" });
        }
        if initialized_inside.is_null() {
            return Err(SpiError::Null {
                what: "initializedInside",
            });
        }
        // SAFETY: not NULL; the server passes its version in a readable int.
        let offered = unsafe { pr_version.read() };
        if offered < LIB_VERSION {
            return Err(SpiError::VersionTooOld {
                offered,
                ours: LIB_VERSION,
            });
        }
        // SAFETY: the server keeps these valid until Terminate (SPI contract, §4.2).
        let warning = unsafe { runtime::init(app_ret_code, app_ret_msg) }?;
        // SAFETY: both checked non-NULL above and writable per the contract; the string
        // buffers are NULL or hold at least `INIT_STRING_CAPACITY` bytes (§4.2).
        unsafe {
            pr_version.write(LIB_VERSION);
            initialized_inside.write(initialized_outside);
            write_c_str(dir_type, INIT_STRING_CAPACITY, DIR_TYPE);
            write_c_str(lib_version, INIT_STRING_CAPACITY, env!("CARGO_PKG_VERSION"));
        }
        Ok(warning)
    };
    let outcome = catch_unwind(AssertUnwindSafe(body)).unwrap_or(Err(SpiError::Panicked {
        entry: "stDdaClInit",
    }));
    let (code, severity, message) = match outcome {
        Ok(None) => (API_OK, SEVERITY_OK, String::new()),
        Ok(Some(warning)) => (API_OK, SEVERITY_WARNING, warning),
        Err(e) => (e.code(), e.severity(), e.to_string()),
    };
    // Init reports through the buffers it was just given, initialised or not.
    if !app_ret_code.is_null() {
        // SAFETY: not NULL, writable per the contract.
        unsafe { app_ret_code.write(severity) };
    }
    // SAFETY: NULL or at least `RET_MSG_CAPACITY` writable bytes per the contract.
    unsafe { write_c_str(app_ret_msg, RET_MSG_CAPACITY, &message) };
    code
}

/// Ends every open session (each gets its end record), closes the spool and forgets the
/// server's buffers. Safe to call twice, or without Init.
#[unsafe(no_mangle)]
pub extern "system" fn stDdaClTerminate() {
    boundary("stDdaClTerminate", || {
        runtime::terminate();
        Ok(())
    });
}

/// Periodic call from the server. Every record is already durable when its call returns
/// (strict mode), so there is nothing to flush; relaxed mode writes what it held back while
/// the spool failed. Shipping runs on its own thread (`shipper`).
#[unsafe(no_mangle)]
pub extern "system" fn stDdaClTimerEvent() {
    boundary("stDdaClTimerEvent", || runtime::current()?.timer());
}

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

/// Shared body of the two joining entry points.
///
/// # Safety
/// See the module documentation.
unsafe fn joining(
    session_id: *const c_char,
    entity: *const ClEntity,
    scope: *const ClEntity,
) -> Result<(), SpiError> {
    // SAFETY: each pointer is NULL or valid for this call, per the contract.
    let (id, who, scope) = unsafe {
        (
            copy_c_str(session_id, "sessionId", MAX_STR_LEN)?,
            copy_entity(entity, "entity")?,
            copy_opt_entity(scope, "scope")?,
        )
    };
    runtime::current()?.sessions.join(&id, who, scope)
}

/// Someone joined. `scope == NULL`: a two-way chat (or an announcement); a scope (normally
/// `{"PLACE", ST_DDA_CL_SESSION}`): an n-way chat, whose joins are recorded.
///
/// # Safety
/// See the module documentation.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn stDdaClJoiningSession(
    session_id: *const c_char,
    entity: *const ClEntity,
    scope: *const ClEntity,
) -> c_int {
    // SAFETY: the server's pointers, forwarded under the same contract.
    boundary("stDdaClJoiningSession", || unsafe {
        joining(session_id, entity, scope)
    })
}

/// Shared body of the two leaving entry points.
///
/// # Safety
/// See the module documentation.
unsafe fn leaving(session_id: *const c_char, entity: *const ClEntity) -> Result<(), SpiError> {
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

/// Shared body of the two text-message entry points.
///
/// # Safety
/// See the module documentation.
unsafe fn session_msg(
    session_id: *const c_char,
    sender: *const ClEntity,
    msg_len: c_ulong,
    msg: *const c_char,
    receiver: *const ClEntity,
) -> Result<(), SpiError> {
    // SAFETY: each pointer is NULL or valid for this call (`msg` for `msg_len` bytes).
    let (id, sender, bytes, receiver) = unsafe {
        (
            copy_c_str(session_id, "sessionId", MAX_STR_LEN)?,
            copy_entity(sender, "sender")?,
            copy_bytes(msg, msg_len, "msg", MAX_TEXT_LEN)?,
            copy_opt_entity(receiver, "receiver")?,
        )
    };
    runtime::current()?
        .sessions
        .text(&id, &sender, receiver.as_ref(), &bytes)
}

/// A text message (HTML from rich-text clients); `receiver == NULL` is "to all". Recorded,
/// durably, before this returns.
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
    // SAFETY: the server's pointers, forwarded under the same contract.
    boundary("stDdaClSessionMsg", || unsafe {
        session_msg(session_id, sender, msg_len, msg, receiver)
    })
}

/// Shared body of the two data-message entry points.
///
/// # Safety
/// See the module documentation.
#[allow(
    clippy::useless_conversion,
    reason = "c_ulong is u64 on LP64 but u32 on Windows"
)]
unsafe fn session_data_msg(
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

/// May `entity` start a one-to-one chat with `to_entity`? This slice has no policy yet: it
/// always allows, with no server messages (`ST_DDA_API_OK`, `*srvMessages = NULL`,
/// `*srvMessagesLen = 0`), which the reference gives as the valid default (§9).
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
    boundary("stDdaClSessionPolicycheckFunc", || {
        // SAFETY: each pointer is NULL or valid for this call, per the contract.
        unsafe {
            no_srv_messages(srv_messages, srv_messages_len);
            copy_entity(entity, "entity")?;
            copy_entity(to_entity, "toEntity")?;
        }
        runtime::current().map(drop)
    })
}

/// `stDdaClJoiningSession`, able to return server messages or decline; this slice records
/// the join and returns none.
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
    boundary("stDdaClJoiningSessionWithSrvMsg", || unsafe {
        no_srv_messages(srv_messages, srv_messages_len);
        joining(session_id, entity, scope)
    })
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
    boundary("stDdaClLeavingSessionWithSrvMsg", || unsafe {
        no_srv_messages(srv_messages, srv_messages_len);
        leaving(session_id, entity)
    })
}

/// `stDdaClSessionMsg`, able to replace or block the message; this slice records it as
/// sent and returns no server messages.
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
    boundary("stDdaClSessionMsgWithSrvMsg", || unsafe {
        no_srv_messages(srv_messages, srv_messages_len);
        session_msg(session_id, sender, msg_len, msg, receiver)
    })
}

/// `stDdaClSessionDataMsg`, able to return server messages (IBM's sample sends its two-way
/// disclaimer from here); this slice counts the message and returns none.
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
    boundary("stDdaClSessionDataMsgWithSrvMsg", || unsafe {
        no_srv_messages(srv_messages, srv_messages_len);
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

/// Frees server messages this library allocated. This slice never allocates any, so only
/// `(NULL, n)` is accepted (`ST_DDA_API_OK`); any other pointer is not ours and is left
/// alone (`ST_DDA_API_INVALID_PARAM`) rather than freed.
///
/// # Safety
/// See the module documentation.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn stDdaClCleanSrvMsgs(
    srv_messages: *mut ClSrvMsg,
    _srv_messages_len: c_ulong,
) -> c_int {
    boundary("stDdaClCleanSrvMsgs", || {
        if srv_messages.is_null() {
            Ok(())
        } else {
            Err(SpiError::NotOurs)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::API_INVALID_PARAM;

    #[test]
    fn a_panic_becomes_the_internal_error_code() {
        let code = boundary("test", || panic!("boom"));
        assert_eq!(code, API_INTERNAL_ERROR);
        assert_eq!(
            boundary("test", || Err(SpiError::Null { what: "x" })),
            API_INVALID_PARAM
        );
        assert_eq!(boundary("test", || Ok(())), API_OK);
    }
}
