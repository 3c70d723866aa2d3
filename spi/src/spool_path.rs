//! Where the library sits: the directory the Sametime server loaded it from, where its
//! configuration file and (by default) its spool live.
//!
//! The library runs inside the Sametime server, which passes it no configuration, so the
//! environment of the server process and the library's own location are all it has. Next to
//! the library is the reference's choice for the sample logger's own files too (§5.2, the
//! Domino program directory on Windows).

use std::path::PathBuf;

/// The directory the host loaded this library from; `None` if the loader cannot say (then
/// the configuration and spool are relative to the server's working directory).
#[cfg(unix)]
pub fn library_dir() -> Option<PathBuf> {
    use std::ffi::CStr;
    use std::os::unix::ffi::OsStrExt;

    // SAFETY: `Dl_info` is plain data, and all-zero (NULL pointers) is a valid value.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    let address = library_dir as fn() -> Option<PathBuf> as *const libc::c_void;
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
pub fn library_dir() -> Option<PathBuf> {
    None
}
