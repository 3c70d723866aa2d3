//! The numbers the SPI returns and reports: return codes, severities, limits and the version.
//!
//! The general `ST_DDA_API_*` codes and the severities have published values (reference
//! §2.1). The chat-log-specific codes of IBM's `stDdaClCodes.h` do not: their names are
//! known, their numbers are not (reference §2.3, §9), so the library answers with the nearest
//! general code by default, as the reference recommends, and lets the configuration renumber
//! them ([`crate::config::Codes`]).

use std::ffi::c_int;

/// The SPI version this library implements (reference §2.2: `ST_DDA_CL_LIB_VERSION`).
pub const LIB_VERSION: c_int = 16;

/// Success (`ST_DDA_API_OK`).
pub const API_OK: c_int = 0x0000;
/// The server's SPI version is older than ours (`ST_DDA_API_VERSION_MISMATCH`).
pub const API_VERSION_MISMATCH: c_int = 0x0001;
/// A NULL, over-long or malformed argument (`ST_DDA_API_INVALID_PARAM`).
pub const API_INVALID_PARAM: c_int = 0x0002;
/// Anything else went wrong, a panic included (`ST_DDA_API_INTERNAL_ERROR`).
pub const API_INTERNAL_ERROR: c_int = 0x0003;

/// `ST_DDA_OK` (`StDdaRetVal` 0, reference §2.1): the severity written through the retained
/// `appRetCode` pointer when a call succeeded. (`ST_DDA_INFO` is 1; nothing here is merely
/// informational, so the library never writes it.)
pub const SEVERITY_OK: c_int = 0;
/// `ST_DDA_WARNING`: something to look at, and the chat goes on: relaxed mode could not
/// record yet, or a changed policy file did not compile and the previous policy stays.
pub const SEVERITY_WARNING: c_int = 2;
/// `ST_DDA_ERROR`: the call failed, the library carries on.
pub const SEVERITY_ERROR: c_int = 3;
/// `ST_DDA_FATAL`: the spool failed (what IBM's sample reports for `ST_DDA_CL_DB_ERROR`).
pub const SEVERITY_FATAL: c_int = 4;

/// Longest session id or organisation name, NUL included (`ST_DDA_MAX_STR_LEN`).
pub const MAX_STR_LEN: usize = 1024;
/// Size of the inline id of an entity, NUL included (`ST_DDA_MAX_NAME_LENGTH`).
pub const MAX_NAME_LEN: usize = 256;
/// Longest text message accepted. IBM's `ST_DDA_MAX_MSG_LEN` is unknown; 1 MiB is far above
/// any chat line and bounds what one call can make us copy.
pub const MAX_TEXT_LEN: usize = 1024 * 1024;
/// Longest data message accepted (inline images travel as data messages).
pub const MAX_DATA_LEN: usize = 16 * 1024 * 1024;
/// Longest diagnostic written into the server's `appRetMsg`, NUL included: well inside the
/// 1024 bytes the reference assumes, since the real buffer size is undocumented (§4.2).
pub const RET_MSG_CAPACITY: usize = 256;
/// Longest string written into `dirType` and `libVersion`, NUL included (§4.2: ≤ 31 + NUL).
pub const INIT_STRING_CAPACITY: usize = 32;
