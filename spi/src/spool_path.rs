//! Where the spool lives: `$IMTEGRITY_SPI_SPOOL` if set, else a `spool` directory next to
//! this library file.
//!
//! The library runs inside the Sametime server, which passes it no configuration, so the
//! environment of the server process and the library's own location are all it has. Next to
//! the library is the reference's choice for the sample logger's own files too (§5.2, the
//! Domino program directory on Windows).

use std::path::PathBuf;

/// The environment variable naming the spool directory.
pub const SPOOL_ENV: &str = "IMTEGRITY_SPI_SPOOL";

/// The spool directory this process should use.
pub fn spool_dir() -> PathBuf {
    match std::env::var_os(SPOOL_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => library_dir().unwrap_or_default().join("spool"),
    }
}

/// The directory the host loaded this library from; `None` if the loader cannot say (then
/// the spool is relative to the server's working directory).
#[cfg(unix)]
fn library_dir() -> Option<PathBuf> {
    use std::ffi::CStr;
    use std::os::unix::ffi::OsStrExt;

    // SAFETY: `Dl_info` is plain data, and all-zero (NULL pointers) is a valid value.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    let address = spool_dir as fn() -> PathBuf as *const libc::c_void;
    // SAFETY: `address` is code in this library; `info` is a valid, writable `Dl_info`.
    if unsafe { libc::dladdr(address, &mut info) } == 0 || info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: on success `dli_fname` points to the loader's NUL-terminated path of the
    // object, valid while it stays loaded; we copy it at once.
    let path = unsafe { CStr::from_ptr(info.dli_fname) };
    let path = PathBuf::from(std::ffi::OsStr::from_bytes(path.to_bytes()));
    path.parent().map(PathBuf::from)
}

/// The directory the host loaded this library from. Windows support (the module's file
/// name) comes with the Windows build; until then, the working directory.
#[cfg(not(unix))]
fn library_dir() -> Option<PathBuf> {
    None
}
