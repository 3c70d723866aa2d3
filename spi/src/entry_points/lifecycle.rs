//! The entry points that start, tick and end the library: `stDdaClInit`,
//! `stDdaClTimerEvent`, `stDdaClTerminate`.
//!
//! # Safety (every entry point here)
//! As [`super`]'s documentation says: that is "the module documentation" each one below
//! refers to.

use std::ffi::{c_char, c_int};
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::boundary;
use crate::codes::{
    API_OK, INIT_STRING_CAPACITY, LIB_VERSION, RET_MSG_CAPACITY, SEVERITY_OK, SEVERITY_WARNING,
};
use crate::config::Codes;
use crate::error::SpiError;
use crate::ffi_strings::write_c_str;
use crate::runtime::{self, InitFailure};
use crate::srv_msgs;

/// What `stDdaClInit` writes into `dirType`: the kind of logger this is.
const DIR_TYPE: &str = "imtegrity";

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
