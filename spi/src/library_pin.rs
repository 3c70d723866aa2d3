//! Keeping the library mapped when one of its threads cannot be joined.
//!
//! A thread stuck in the kernel (a write on a frozen file system) returns into this
//! library's code whenever the kernel lets it go. If the server had unloaded us by then,
//! that is a jump into unmapped memory: a crash of the Sametime server, long after the
//! cause. So before a thread is left behind, the library asks the loader never to unmap it
//! (`RTLD_NODELETE`); the cost is a few MiB staying mapped after `dlclose`.

/// Marks this library as never to be unloaded. Safe to call more than once.
#[cfg(unix)]
pub(crate) fn pin_library() {
    // SAFETY: `Dl_info` is plain data, and all-zero (NULL pointers) is a valid value.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    let address = pin_library as fn() as *const libc::c_void;
    // SAFETY: `address` is code in this library; `info` is a valid, writable `Dl_info`.
    if unsafe { libc::dladdr(address, &mut info) } == 0 || info.dli_fname.is_null() {
        eprintln!("imtegrity_stchatlog: cannot find this library to keep it loaded");
        return;
    }
    // SAFETY: `dli_fname` is the loader's NUL-terminated path of this (loaded) object.
    // RTLD_NOLOAD only finds the loaded object; the extra reference it takes is never
    // released, which together with RTLD_NODELETE is the point.
    let handle = unsafe {
        libc::dlopen(
            info.dli_fname,
            libc::RTLD_NOW | libc::RTLD_NOLOAD | libc::RTLD_NODELETE,
        )
    };
    if handle.is_null() {
        eprintln!("imtegrity_stchatlog: cannot keep this library loaded; do not unload it");
    }
}

/// Windows: pinning (`GetModuleHandleExW` with `GET_MODULE_HANDLE_EX_FLAG_PIN`) comes with
/// the Windows build.
#[cfg(not(unix))]
pub(crate) fn pin_library() {}
