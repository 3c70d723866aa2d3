//! The library's state between `stDdaClInit` and `stDdaClTerminate`.
//!
//! The SPI passes no handle: every entry point is a free function, so the state has to be a
//! process global. It is an `Option` so `stDdaClTerminate` can drop it and a later
//! `stDdaClInit` (the server reloading us, or the loader keeping us mapped across a
//! `dlclose`) starts afresh.

use std::ffi::{c_char, c_int};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use crate::codes::{API_OK, RET_MSG_CAPACITY, SEVERITY_WARNING};
use crate::config::{Codes, Mode, SpiConfig};
use crate::error::SpiError;
use crate::ffi_strings::write_c_str;
use crate::relaxed::RelaxedSink;
use crate::sessions::SessionTable;
use crate::shipper::{Shipper, ShipperConfig, ShippingSink};
use crate::sink::RecordSink;
use crate::spool_path::library_dir;
use crate::spool_slot::SpoolSlot;

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
    ret: Arc<Mutex<RetSlots>>,
    /// The sink the sessions write to (relaxed mode's, to retry on the timer).
    sink: Arc<dyn RecordSink>,
    /// The spool, kept across an Init that re-reads an unchanged `spool`.
    slot: Arc<SpoolSlot>,
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
        let severity = match self.config.mode {
            Mode::Strict => error.severity(),
            Mode::Relaxed => SEVERITY_WARNING,
        };
        write_slots(&self.ret, severity, &error.to_string());
    }

    /// The server's timer: relaxed mode writes what it held back, if the spool works again.
    pub(crate) fn timer(&self) -> Result<(), SpiError> {
        self.sink.retry()
    }

    /// Stops and joins the shipper (records it did not ship stay in the spool).
    fn stop_shipper(&self) {
        let shipper = self
            .shipper
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(shipper) = shipper {
            shipper.stop(SHIPPER_STOP_BOUND);
        }
    }
}

/// Writes a severity and message through the server's retained buffers.
fn write_slots(slots: &Mutex<RetSlots>, severity: c_int, message: &str) {
    let slots = slots.lock().unwrap_or_else(PoisonError::into_inner);
    // SAFETY: the slots were given by the server at Init, which keeps them valid until
    // Terminate; the runtime holding them is dropped (or unreachable) by then.
    unsafe { slots.write(severity, message) };
}

/// Why `stDdaClInit` failed, with the `[codes]` to number it by: the file's own when it
/// could be read, so a failed Init answers with the numbers the operator configured.
#[derive(Debug)]
pub(crate) struct InitFailure {
    /// What went wrong.
    pub(crate) error: SpiError,
    /// The numbering in force for this Init.
    pub(crate) codes: Codes,
}

/// Reads the configuration, opens the spool and installs the runtime, keeping the server's
/// `appRetCode`/`appRetMsg`. A second Init while initialised reads the configuration again
/// (as the README promises) and rebuilds the runtime from it, moving the open sessions
/// across and keeping the spool when its directory did not change; a file that cannot be
/// used leaves the running configuration in place. `Ok(Some(warning))`: initialised, but the
/// server should log the warning (relaxed mode with a spool that cannot be opened yet, or a
/// re-read deferred because records are still held in memory).
///
/// # Safety
/// `ret_code` and `ret_msg` must be NULL or stay valid for writing until `terminate`
/// (`ret_msg` for at least `RET_MSG_CAPACITY` bytes).
pub(crate) unsafe fn init(
    ret_code: *mut c_int,
    ret_msg: *mut c_char,
) -> Result<Option<String>, InitFailure> {
    let slots = RetSlots {
        code: ret_code,
        msg: ret_msg,
    };
    let mut installed = RUNTIME.write().unwrap_or_else(PoisonError::into_inner);
    let previous = installed.clone();
    let library_dir = library_dir();
    let config = SpiConfig::load(library_dir.as_deref()).map_err(|error| InitFailure {
        error,
        codes: previous
            .as_ref()
            .map(|r| r.config.codes)
            .unwrap_or_default(),
    })?;
    let codes = config.codes;
    let fail = |error| InitFailure { error, codes };
    if let Some(previous) = &previous {
        // Records relaxed mode holds in memory live in the old sink: write them first, and
        // keep the old runtime if they cannot be written yet.
        previous.sink.retry().map_err(fail)?;
        let held = previous.sink.held();
        if held > 0 {
            *previous.ret.lock().unwrap_or_else(PoisonError::into_inner) = slots;
            return Ok(Some(format!(
                "configuration not re-read: {held} records are still held in memory until \
                 the spool works; the next Init reads it"
            )));
        }
    }
    let policy = crate::spi_policy::SpiPolicy::load(&config).map_err(fail)?;
    let spool_dir = config.spool_dir(library_dir.as_deref());
    let mut warning = None;
    let slot = match previous.as_ref().filter(|p| p.slot.dir() == spool_dir) {
        // The same spool: sled's lock is ours already; opening it again would fail.
        Some(previous) => Arc::clone(&previous.slot),
        None => match SpoolSlot::open(&spool_dir) {
            Ok(slot) => Arc::new(slot),
            // Relaxed mode lets chats go on even when the spool's disk is unusable at
            // start: records are held and the spool is opened again later.
            Err(e) if config.mode == Mode::Relaxed && e.is_storage() => {
                let message = format!("relaxed mode, holding records in memory: {e}");
                eprintln!("imtegrity_stchatlog: {message}");
                warning = Some(message);
                Arc::new(SpoolSlot::failed(&spool_dir, &e))
            }
            Err(e) => return Err(fail(e)),
        },
    };
    let shipper_config = ShipperConfig::from_config(&config).map_err(fail)?;
    // One shipper per spool at a time: the old one stops before the new one starts.
    if let Some(previous) = &previous {
        previous.stop_shipper();
    }
    let shipper = shipper_config
        .map(|shipper_config| Shipper::start(Arc::clone(&slot), shipper_config))
        .transpose()
        .map_err(fail)?;
    let ret = Arc::new(Mutex::new(slots));
    let node = config.node.clone().unwrap_or_else(archive::host_name);
    let spool_sink = ShippingSink::new(Arc::clone(&slot), shipper.as_ref().map(Shipper::notifier));
    let sink: Arc<dyn RecordSink> = match config.mode {
        Mode::Strict => Arc::new(spool_sink),
        Mode::Relaxed => {
            let ret = Arc::clone(&ret);
            Arc::new(RelaxedSink::new(
                Box::new(spool_sink),
                config.relaxed,
                node.clone(),
                Box::new(move |e: &SpiError| {
                    write_slots(&ret, SEVERITY_WARNING, &format!("not yet recorded: {e}"));
                }),
            ))
        }
    };
    let open = previous
        .as_ref()
        .map(|p| p.sessions.take_open())
        .unwrap_or_default();
    let sessions = SessionTable::with_open(Box::new(Arc::clone(&sink)), node, open);
    *installed = Some(Arc::new(Runtime {
        sessions,
        ret,
        sink,
        slot,
        shipper: Mutex::new(shipper),
        config,
        policy,
    }));
    Ok(warning)
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
/// and returns the code for it, numbered as configured. In relaxed mode every failure is a
/// warning and the code is `ST_DDA_API_OK`: the chat goes on (reference §2.4).
pub(crate) fn report(error: &SpiError) -> c_int {
    match current() {
        Ok(runtime) => {
            runtime.report(error);
            match runtime.config.mode {
                Mode::Strict => error.code_with(&runtime.config.codes),
                Mode::Relaxed => API_OK,
            }
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
    runtime.stop_shipper();
    // The spool closes when the last reference goes: here, unless a call from another
    // thread still runs (the server promises it does not), which then closes it.
    drop(runtime);
}
