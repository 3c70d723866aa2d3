//! Where the library sits and where its spool goes by default.
//!
//! The library runs inside the Sametime server, which passes it no configuration, so the
//! environment of the server process and the library's own location are all it has. The
//! configuration file is looked for next to the library (the reference's choice for the
//! sample logger's own files, §5.2). The spool is not: the library's directory is the
//! server's program directory, owned by root (or an administrator) and not writable by the
//! user the server runs as. So the spool defaults to a data directory that user can write
//! ([`default_spool_dir`]).

use std::path::{Path, PathBuf};

/// The spool directory when the configuration names none:
///
/// * Linux and other Unixes: `$XDG_STATE_HOME/imtegrity/stchatlog` if `XDG_STATE_HOME` is
///   an absolute path, else `$HOME/.local/state/imtegrity/stchatlog` if `HOME` is, else
///   `/var/lib/imtegrity/stchatlog` (a service account without a home: the directory must
///   then be created for it, which Init's error says).
/// * Windows: `%PROGRAMDATA%\IMtegrity\stchatlog`, else `C:\ProgramData\IMtegrity\stchatlog`.
pub fn default_spool_dir() -> PathBuf {
    default_spool_dir_from(|name| std::env::var_os(name))
}

/// [`default_spool_dir`] with the environment given, for tests.
pub fn default_spool_dir_from(env: impl Fn(&str) -> Option<std::ffi::OsString>) -> PathBuf {
    // Relative values are ignored, as the XDG base directory specification says.
    let absolute = |name: &str| env(name).map(PathBuf::from).filter(|p| p.is_absolute());
    if cfg!(windows) {
        let base = absolute("PROGRAMDATA").unwrap_or_else(|| PathBuf::from(r"C:\ProgramData"));
        return base.join("IMtegrity").join("stchatlog");
    }
    if let Some(state) = absolute("XDG_STATE_HOME") {
        return state.join("imtegrity").join("stchatlog");
    }
    if let Some(home) = absolute("HOME").filter(|h| h != Path::new("/")) {
        return home.join(".local/state/imtegrity/stchatlog");
    }
    PathBuf::from("/var/lib/imtegrity/stchatlog")
}

/// The directory the host loaded this library from; `None` if the loader cannot say (then
/// the configuration is looked for in the server's working directory).
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

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn with(vars: &[(&str, &str)]) -> PathBuf {
        default_spool_dir_from(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| OsString::from(v))
        })
    }

    #[test]
    fn the_default_spool_is_a_state_directory_the_server_user_can_write() {
        assert_eq!(
            with(&[("XDG_STATE_HOME", "/s"), ("HOME", "/home/st")]),
            PathBuf::from("/s/imtegrity/stchatlog")
        );
        assert_eq!(
            with(&[("XDG_STATE_HOME", "relative"), ("HOME", "/home/st")]),
            PathBuf::from("/home/st/.local/state/imtegrity/stchatlog")
        );
        assert_eq!(
            with(&[("HOME", "/")]),
            PathBuf::from("/var/lib/imtegrity/stchatlog")
        );
        assert_eq!(with(&[]), PathBuf::from("/var/lib/imtegrity/stchatlog"));
    }
}
