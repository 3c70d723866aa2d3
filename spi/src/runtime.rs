//! The library's state between `stDdaClInit` and `stDdaClTerminate`.
//!
//! The SPI passes no handle: every entry point is a free function, so the state has to be a
//! process global. It is an `Option` so `stDdaClTerminate` can drop it and a later
//! `stDdaClInit` (the server reloading us, or the loader keeping us mapped across a
//! `dlclose`) starts afresh.

use std::ffi::{c_char, c_int};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use crate::codes::RET_MSG_CAPACITY;
use crate::config::{Codes, SpiConfig};
use crate::error::SpiError;
use crate::ffi_strings::write_c_str;
use crate::sessions::SessionTable;
use crate::shipper::{Shipper, ShipperConfig, ShippingSink};
use crate::spool::SledSpool;
use crate::spool_path::library_dir;

static RUNTIME: RwLock<Option<Arc<Runtime>>> = RwLock::new(None);

/// The server's `appRetCode` / `appRetMsg` buffers: the one thing from the host the library
/// keeps past a call, because the SPI says so (reference §2.3 #1, §4.2).
#[derive(Debug)]
struct RetSlots {
    code: *mut c_int,
    msg: *mut c_char,
}

// SAFETY: the pointers are only dereferenced under the `Mutex` in `Runtime`, and the server
// guarantees they stay valid from Init to Terminate, whichever thread calls.
unsafe impl Send for RetSlots {}

impl RetSlots {
    /// Writes a severity and a message; a NULL slot is skipped.
    ///
    /// # Safety
    /// Each pointer must be NULL or valid for writing (`msg`: `RET_MSG_CAPACITY` bytes).
    unsafe fn write(&self, severity: c_int, message: &str) {
        if !self.code.is_null() {
            // SAFETY: not NULL, valid per this function's contract.
            unsafe { self.code.write(severity) };
        }
        // SAFETY: NULL or `RET_MSG_CAPACITY` writable bytes, per this function's contract.
        unsafe { write_c_str(self.msg, RET_MSG_CAPACITY, message) };
    }
}

/// What an initialised library holds.
#[derive(Debug)]
pub(crate) struct Runtime {
    /// The open sessions and their sink.
    pub(crate) sessions: SessionTable,
    ret: Mutex<RetSlots>,
    /// The thread shipping the spool, if a gateway is configured; taken at Terminate.
    shipper: Mutex<Option<Shipper>>,
    /// The configuration read at Init.
    pub(crate) config: SpiConfig,
    /// `[policy] file`, compiled at Init (`None`: none configured, everything allowed).
    pub(crate) policy: Option<crate::spi_policy::SpiPolicy>,
}

/// How long `stDdaClTerminate` waits for the shipper thread before detaching it.
const SHIPPER_STOP_BOUND: std::time::Duration = std::time::Duration::from_secs(2);

impl Runtime {
    fn report(&self, error: &SpiError) {
        let slots = self.ret.lock().unwrap_or_else(PoisonError::into_inner);
        // SAFETY: the slots were given by the server at Init, which keeps them valid until
        // Terminate; this runtime is dropped (or unreachable) by then.
        unsafe { slots.write(error.severity(), &error.to_string()) };
    }
}

/// Opens the spool and installs the runtime, keeping the server's `appRetCode`/`appRetMsg`.
/// A second Init while initialised keeps the open spool and sessions and takes the new
/// buffers.
///
/// # Safety
/// `ret_code` and `ret_msg` must be NULL or stay valid for writing until `terminate`
/// (`ret_msg` for at least `RET_MSG_CAPACITY` bytes).
pub(crate) unsafe fn init(ret_code: *mut c_int, ret_msg: *mut c_char) -> Result<(), SpiError> {
    let slots = RetSlots {
        code: ret_code,
        msg: ret_msg,
    };
    let mut runtime = RUNTIME.write().unwrap_or_else(PoisonError::into_inner);
    if let Some(current) = runtime.as_ref() {
        *current.ret.lock().unwrap_or_else(PoisonError::into_inner) = slots;
        return Ok(());
    }
    let library_dir = library_dir();
    let config = SpiConfig::load(library_dir.as_deref())?;
    let policy = crate::spi_policy::SpiPolicy::load(&config)?;
    let spool = Arc::new(open_spool_retrying(
        &config.spool_dir(library_dir.as_deref()),
    )?);
    let shipper = ShipperConfig::from_config(&config)?
        .map(|config| Shipper::start(Arc::clone(&spool), config))
        .transpose()?;
    let sink = ShippingSink::new(spool, shipper.as_ref().map(Shipper::notifier));
    let node = config.node.clone().unwrap_or_else(archive::host_name);
    let sessions = SessionTable::new(Box::new(sink), node);
    *runtime = Some(Arc::new(Runtime {
        sessions,
        ret: Mutex::new(slots),
        shipper: Mutex::new(shipper),
        config,
        policy,
    }));
    Ok(())
}

/// The runtime, or [`SpiError::NotInitialised`].
pub(crate) fn current() -> Result<Arc<Runtime>, SpiError> {
    RUNTIME
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
        .ok_or(SpiError::NotInitialised)
}

/// Tells the server about a failure through the buffers it gave at Init, if initialised,
/// and returns the code for it, numbered as configured.
pub(crate) fn report(error: &SpiError) -> c_int {
    match current() {
        Ok(runtime) => {
            runtime.report(error);
            error.code_with(&runtime.config.codes)
        }
        Err(_) => error.code_with(&Codes::default()),
    }
}

/// Ends every open session, stops and joins the shipper (records it did not ship stay in the
/// spool for the next Init), closes the spool and forgets the server's buffers. Idempotent.
pub(crate) fn terminate() {
    let taken = RUNTIME
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    let Some(runtime) = taken else { return };
    if let Err(e) = runtime.sessions.close_all() {
        runtime.report(&e);
    }
    let shipper = runtime
        .shipper
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    if let Some(shipper) = shipper {
        shipper.stop(SHIPPER_STOP_BOUND);
    }
    // The spool closes when the last reference goes: here, unless a call from another
    // thread still runs (the server promises it does not), which then closes it.
    drop(runtime);
}

/// Opens the spool, retrying for up to two seconds while it is still locked: after a
/// Terminate, sled's own threads let go of the previous handle (and its file lock) a moment
/// later, and a server that re-initialises at once must not fail for that.
fn open_spool_retrying(dir: &std::path::Path) -> Result<SledSpool, SpiError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        match SledSpool::open(dir) {
            // sled reports its file lock as an `Other` I/O error with this wording.
            Err(SpiError::Spool {
                source: sled::Error::Io(e),
                ..
            }) if e.to_string().contains("could not acquire lock")
                && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}
