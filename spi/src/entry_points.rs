//! The 16 `stDdaCl*` functions the Sametime server looks up by name (reference §2.3).
//!
//! Each one copies its arguments into owned values ([`crate::ffi_strings`]), does its work
//! in safe Rust, and runs inside `boundary`: a panic becomes `ST_DDA_API_INTERNAL_ERROR`
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
use crate::config::Codes;
use crate::error::SpiError;
use crate::ffi_strings::{copy_bytes, copy_c_str, copy_entity, copy_opt_entity, write_c_str};
use crate::runtime::{self, InitFailure};
use crate::srv_msgs::{self, Outcome, Reply};

/// What `stDdaClInit` writes into `dirType`: the kind of logger this is.
const DIR_TYPE: &str = "imtegrity";

/// Runs one entry point's body: `Ok` is `ST_DDA_API_OK`; an error is reported through the
/// server's `appRetCode`/`appRetMsg` and returned as its code; a panic is caught and
/// returned as `ST_DDA_API_INTERNAL_ERROR`.
pub(crate) fn boundary(entry: &'static str, body: impl FnOnce() -> Result<(), SpiError>) -> c_int {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        runtime::begin_call();
        match body() {
            Ok(()) => API_OK,
            Err(e) => runtime::report(&e),
        }
    }));
    outcome.unwrap_or_else(|_| {
        // Reporting the panic must not panic out of here either.
        let _ = catch_unwind(|| runtime::report(&SpiError::Panicked { entry }));
        API_INTERNAL_ERROR
    })
}

/// Runs an entry point whose answer may be a policy outcome, with the server-message
/// out-pointers (NULL for the entry points without them). `Ok` is the outcome's code
/// (`ST_DDA_API_OK`, or `codes.msg_changed` / `codes.session_creation_declined` as
/// configured) with its server messages handed over ([`srv_msgs`]); an error is reported as
/// `boundary` reports it and hands over none; a panic is `ST_DDA_API_INTERNAL_ERROR`.
///
/// Policy outcomes are answers, not failures: they never go through `runtime::report`, so
/// relaxed mode, which turns failures into OK, cannot turn a block into a delivery.
/// `body` is told whether the server takes server messages (both out-pointers not NULL).
///
/// # Safety
/// `srv_messages` and `srv_messages_len` must each be NULL or valid for reading and writing.
pub(crate) unsafe fn boundary_outcome(
    entry: &'static str,
    srv_messages: *mut *mut ClSrvMsg,
    srv_messages_len: *mut c_ulong,
    body: impl FnOnce(bool) -> Result<Outcome, SpiError>,
) -> c_int {
    let replies = !srv_messages.is_null() && !srv_messages_len.is_null();
    let answer = catch_unwind(AssertUnwindSafe(|| {
        runtime::begin_call();
        let outcome = body(replies);
        match outcome {
            Ok(outcome) => {
                let code = reply_code(outcome.reply);
                // SAFETY: NULL or valid, per this function's contract.
                unsafe { srv_msgs::hand_over(srv_messages, srv_messages_len, outcome.messages) };
                code
            }
            Err(e) => {
                // SAFETY: as above.
                unsafe { srv_msgs::hand_over(srv_messages, srv_messages_len, Vec::new()) };
                runtime::report(&e)
            }
        }
    }));
    answer.unwrap_or_else(|_| {
        let _ = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: as above; leaves "no messages" for the server to find.
            unsafe { srv_msgs::hand_over(srv_messages, srv_messages_len, Vec::new()) };
            runtime::report(&SpiError::Panicked { entry })
        }));
        API_INTERNAL_ERROR
    })
}

/// The number the server gets for a policy outcome, as `[codes]` configures it.
fn reply_code(reply: Reply) -> c_int {
    let codes = runtime::current()
        .map(|r| r.config.codes)
        .unwrap_or_default();
    match reply {
        Reply::Allowed => API_OK,
        Reply::MsgChanged => codes.msg_changed,
        Reply::Declined => codes.session_creation_declined,
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
    // Failures before the configuration is read are numbered by the defaults; `runtime::init`
    // numbers its own by the file's `[codes]`.
    let early = |error| InitFailure {
        error,
        codes: Codes::default(),
    };
    let body = || -> Result<Option<String>, InitFailure> {
        if pr_version.is_null() {
            return Err(early(SpiError::Null { what: "prVersion" }));
        }
        if initialized_inside.is_null() {
            return Err(early(SpiError::Null {
                what: "initializedInside",
            }));
        }
        // SAFETY: not NULL; the server passes its version in a readable int.
        let offered = unsafe { pr_version.read() };
        if offered < LIB_VERSION {
            return Err(early(SpiError::VersionTooOld {
                offered,
                ours: LIB_VERSION,
            }));
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
    let outcome = catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|_| {
        Err(early(SpiError::Panicked {
            entry: "stDdaClInit",
        }))
    });
    let (code, severity, message) = match outcome {
        Ok(None) => (API_OK, SEVERITY_OK, String::new()),
        Ok(Some(warning)) => (API_OK, SEVERITY_WARNING, warning),
        Err(InitFailure { error, codes }) => {
            (error.code_with(&codes), error.severity(), error.to_string())
        }
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

/// Ends every open session (each gets its end record), closes the spool, forgets the
/// server's buffers and frees the server messages the server never gave back to
/// `stDdaClCleanSrvMsgs` (it must not use them past Terminate). Safe to call twice, or
/// without Init.
#[unsafe(no_mangle)]
pub extern "system" fn stDdaClTerminate() {
    boundary("stDdaClTerminate", || {
        runtime::terminate();
        srv_msgs::free_all();
        Ok(())
    });
}

/// Periodic call from the server. Every record is already durable when its call returns
/// (strict mode), and the spool's writer thread retries what relaxed mode holds on its
/// own, so there is nothing to flush. Shipping runs on its own thread (`shipper`): its
/// settings are re-read when their files changed (`shipping_reload`), and while it fails
/// the call warns with why. Re-reads the policy file
/// if it changed: a new policy that does not compile is reported as a warning through
/// `appRetCode`/`appRetMsg` and the previous one stays.
#[unsafe(no_mangle)]
pub extern "system" fn stDdaClTimerEvent() {
    boundary("stDdaClTimerEvent", || {
        let runtime = runtime::current()?;
        let shipping = runtime.timer();
        let policy = match &runtime.policy {
            Some(policy) => policy.reload_if_changed().map(drop),
            None => Ok(()),
        };
        shipping.and(policy)
    });
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

/// Shared body of the two joining entry points; `replies`: the server takes server messages.
///
/// # Safety
/// See the module documentation.
unsafe fn joining(
    session_id: *const c_char,
    entity: *const ClEntity,
    scope: *const ClEntity,
    replies: bool,
) -> Result<Outcome, SpiError> {
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

/// Shared body of the two text-message entry points; `replies`: the server takes server
/// messages.
///
/// # Safety
/// See the module documentation.
unsafe fn session_msg(
    session_id: *const c_char,
    sender: *const ClEntity,
    msg_len: c_ulong,
    msg: *const c_char,
    receiver: *const ClEntity,
    replies: bool,
) -> Result<Outcome, SpiError> {
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
            |_| leaving(session_id, entity).map(|()| Outcome::allowed()),
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
                .map(|()| Outcome::allowed())
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

    #[test]
    fn outcomes_are_codes_with_messages_and_failures_hand_over_none() {
        use crate::config::Codes;
        use crate::srv_msgs::{Destination, SrvMsg};

        // Not initialised here: the default numbers.
        let codes = Codes::default();
        let mut garbage = [0u8; 32];
        let (mut sm, mut sn) = (garbage.as_mut_ptr().cast::<ClSrvMsg>(), 77);
        let declined = || {
            Ok(Outcome {
                reply: Reply::Declined,
                messages: SrvMsg::new(Destination::Sender, "no").into_iter().collect(),
            })
        };
        // SAFETY: both out-pointers point to live locals.
        let code = unsafe { boundary_outcome("t", &mut sm, &mut sn, |_| declined()) };
        assert_eq!((code, sn), (codes.session_creation_declined, 1));
        srv_msgs::clean(sm, sn).unwrap_or_else(|e| panic!("{e}"));

        let (mut sm, mut sn) = (garbage.as_mut_ptr().cast::<ClSrvMsg>(), 77);
        // SAFETY: as above.
        let code = unsafe {
            boundary_outcome("t", &mut sm, &mut sn, |_| Err(SpiError::Null { what: "x" }))
        };
        assert_eq!((code, sm.is_null(), sn), (API_INVALID_PARAM, true, 0));
        // SAFETY: as above.
        let code = unsafe { boundary_outcome("t", &mut sm, &mut sn, |_| panic!("boom")) };
        assert_eq!((code, sm.is_null(), sn), (API_INTERNAL_ERROR, true, 0));

        // NULL out-pointers: told so, nothing handed over, the code still says it.
        let none = std::ptr::null_mut();
        // SAFETY: NULL out-pointers.
        let code = unsafe {
            boundary_outcome("t", none, std::ptr::null_mut(), |replies| {
                assert!(!replies);
                Ok(Outcome {
                    reply: Reply::MsgChanged,
                    messages: Vec::new(),
                })
            })
        };
        assert_eq!(code, codes.msg_changed);
    }
}
