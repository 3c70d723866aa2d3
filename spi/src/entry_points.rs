//! The 16 `stDdaCl*` functions the Sametime server looks up by name (reference §2.3).
//!
//! Each one copies its arguments into owned values ([`crate::ffi_strings`]), does its work
//! in safe Rust, and runs inside `boundary`: a panic becomes `ST_DDA_API_INTERNAL_ERROR`
//! and never unwinds into the server. `extern "system"` is `__stdcall` on 32-bit Windows
//! and the C convention everywhere else, exactly what IBM's `ST_DDA_API` macro is.
//!
//! Here: the two boundaries. The entry points are in `lifecycle` (Init, TimerEvent,
//! Terminate), `session_calls` (a session's life, without server messages) and
//! `srv_msg_calls` (the calls that answer with server messages, and the one that frees them),
//! all exported from here.
//!
//! # Safety (every entry point)
//! The server passes NULL or pointers valid for the duration of the call: strings
//! NUL-terminated, entities readable, `msg` readable for `msgLen` bytes, out-pointers
//! writable. Nothing is kept past the call except `appRetCode`/`appRetMsg` from
//! `stDdaClInit`, which the server keeps valid until `stDdaClTerminate`.

mod lifecycle;
mod session_calls;
mod srv_msg_calls;
#[cfg(test)]
mod tests;

use std::ffi::{c_int, c_ulong};
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::abi_types::ClSrvMsg;
use crate::codes::{API_INTERNAL_ERROR, API_OK};
use crate::error::SpiError;
use crate::runtime;
use crate::srv_msgs::{self, EntryResult, Reply};
pub use lifecycle::{stDdaClInit, stDdaClTerminate, stDdaClTimerEvent};
pub use session_calls::{
    stDdaClJoiningSession, stDdaClLeavingSession, stDdaClSessionDataMsg, stDdaClSessionEnded,
    stDdaClSessionMsg, stDdaClSessionStarted, stDdaClSessionStartedByOrgName,
};
pub use srv_msg_calls::{
    stDdaClCleanSrvMsgs, stDdaClJoiningSessionWithSrvMsg, stDdaClLeavingSessionWithSrvMsg,
    stDdaClSessionDataMsgWithSrvMsg, stDdaClSessionMsgWithSrvMsg, stDdaClSessionPolicycheckFunc,
};

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
    body: impl FnOnce(bool) -> Result<EntryResult, SpiError>,
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
