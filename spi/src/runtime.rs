//! The library's state between `stDdaClInit` and `stDdaClTerminate`.
//!
//! The SPI passes no handle: every entry point is a free function, so the state has to be a
//! process global. It is an `Option` so `stDdaClTerminate` can drop it and a later
//! `stDdaClInit` (the server reloading us, or the loader keeping us mapped across a
//! `dlclose`) starts afresh.

use std::ffi::{c_char, c_int};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use crate::codes::{API_OK, RET_MSG_CAPACITY, SEVERITY_OK, SEVERITY_WARNING};
use crate::config::{Codes, Mode, SpiConfig};
use crate::error::SpiError;
use crate::ffi_strings::write_c_str;
use crate::sessions::SessionTable;
use crate::shipper::{Shipper, ShipperConfig};
use crate::shipping_reload::ShippingFiles;
use crate::sink::RecordSink;
use crate::spool::Spool;
use crate::spool_path::library_dir;
use crate::spool_sink::SpoolSink;
use crate::spool_worker::SpoolWorker;

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
    /// The sink the sessions write to (relaxed mode's holds records in the worker's queue).
    sink: Arc<dyn RecordSink>,
    /// The spool's writer thread, kept across an Init that re-reads an unchanged `spool`.
    worker: Arc<SpoolWorker>,
    /// The thread shipping the spool, if a gateway is configured; taken at Terminate.
    shipper: Mutex<Option<Shipper>>,
    /// The configuration read at Init.
    pub(crate) config: SpiConfig,
    /// The files the shipping settings were last read from (`shipping_reload`).
    shipping_files: Mutex<Option<ShippingFiles>>,
    /// `[policy] file`, compiled at Init (`None`: none configured, everything allowed).
    pub(crate) policy: Option<crate::spi_policy::SpiPolicy>,
}

/// How long stopping the shipper may take, at most, once its shipping time is over: a
/// request in flight is shut down, so this is only the thread's way out.
const SHIPPER_STOP_BOUND: Duration = Duration::from_secs(1);

impl Runtime {
    fn report(&self, error: &SpiError) {
        let severity = match self.config.mode {
            Mode::Strict => error.severity(),
            Mode::Relaxed => SEVERITY_WARNING,
        };
        write_slots(&self.ret, severity, &error.to_string());
    }

    /// One line for the server while shipping fails (`ship_status`).
    fn shipping_problem(&self) -> Option<String> {
        self.shipper
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .and_then(|s| s.status().problem())
    }

    /// The server's timer: shipping settings re-read if their files changed (the old
    /// shipper stops, within its bound, before the new one starts: one per spool), and a
    /// shipping problem reported as a warning.
    pub(crate) fn timer(&self) -> Result<(), SpiError> {
        self.reload_shipping()?;
        if let Some(problem) = self.shipping_problem() {
            write_slots(&self.ret, SEVERITY_WARNING, &problem);
        }
        Ok(())
    }

    /// Re-reads the configuration if a file of the shipping settings changed, and restarts
    /// the shipper with them (`shipping_reload`).
    fn reload_shipping(&self) -> Result<(), SpiError> {
        let mut files = self
            .shipping_files
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !files.as_ref().is_some_and(ShippingFiles::changed) {
            return Ok(());
        }
        let reloaded = SpiConfig::load(library_dir().as_deref()).and_then(|config| {
            let shipper_config = ShipperConfig::from_config(&config)?;
            Ok((config, shipper_config))
        });
        let (config, shipper_config) = match reloaded {
            Ok(reloaded) => reloaded,
            Err(e) => {
                // Remember what was tried, so the same broken file is reported once.
                *files = files.take().and_then(|f| f.restamped());
                return Err(SpiError::ShippingReload(e.to_string()));
            }
        };
        *files = ShippingFiles::of(&config);
        self.stop_shipper();
        let shipper = shipper_config
            .map(|c| Shipper::start(Arc::clone(self.worker.spool()), c))
            .transpose()?;
        self.worker
            .set_notifier(shipper.as_ref().map(Shipper::notifier));
        eprintln!(
            "imtegrity_stchatlog: shipping settings reloaded from {}",
            config
                .source
                .as_deref()
                .map_or_else(|| "the environment".into(), |p| p.display().to_string())
        );
        *self.shipper.lock().unwrap_or_else(PoisonError::into_inner) = shipper;
        Ok(())
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
/// (as docs/sametime.md promises) and rebuilds the runtime from it, moving the open sessions
/// across and keeping the spool (and its writer) when its directory did not change; a file
/// that cannot be used leaves the running configuration in place. `Ok(Some(warning))`:
/// initialised, but the server should log the warning (a re-read deferred because records
/// are still held in memory for another spool directory; no configuration at all; an old
/// spool left at the default place of the older, sled-based release).
///
/// A spool that cannot be created or opened fails Init in both modes: relaxed mode covers a
/// disk that fails while the server runs, not a spool that was never set up.
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
    let spool_dir = config.spool_dir();
    let same_spool = previous
        .as_ref()
        .filter(|p| p.worker.spool().dir() == spool_dir);
    if let Some(previous) = &previous
        && same_spool.is_none()
    {
        // Records relaxed mode holds belong to the old spool's writer: they are written
        // there first, and the old runtime stays while they cannot be yet.
        let held = previous.sink.held();
        if held > 0
            && !previous
                .worker
                .drain(Instant::now() + config.call_timeout())
        {
            *previous.ret.lock().unwrap_or_else(PoisonError::into_inner) = slots;
            return Ok(Some(format!(
                "configuration not re-read: {held} records are still held in memory until \
                 the spool works; the next Init reads it"
            )));
        }
    }
    let policy = crate::spi_policy::SpiPolicy::load(&config).map_err(fail)?;
    let shipper_config = ShipperConfig::from_config(&config).map_err(fail)?;
    let node = config.node.clone().unwrap_or_else(record::host_name);
    let worker = match same_spool {
        // The same spool: its lock is ours already; opening it again would fail.
        Some(previous) => Arc::clone(&previous.worker),
        None => {
            let spool = open_bounded(&spool_dir, config.call_timeout().max(OPEN_BOUND_MIN))
                .map_err(fail)?;
            Arc::new(
                SpoolWorker::start(Arc::new(spool), config.relaxed, node.clone()).map_err(fail)?,
            )
        }
    };
    // One shipper per spool at a time: the old one stops before the new one starts.
    if let Some(previous) = &previous {
        previous.stop_shipper();
        if !Arc::ptr_eq(&previous.worker, &worker) {
            let bound = config.call_timeout();
            previous.worker.stop(Instant::now() + bound, bound);
        }
    }
    let shipper = shipper_config
        .map(|shipper_config| Shipper::start(Arc::clone(worker.spool()), shipper_config))
        .transpose()
        .map_err(fail)?;
    worker.set_notifier(shipper.as_ref().map(Shipper::notifier));
    let ret = Arc::new(Mutex::new(slots));
    let bound = config.call_timeout();
    let sink: Arc<dyn RecordSink> = match config.mode {
        Mode::Strict => Arc::new(SpoolSink::strict(Arc::clone(&worker), bound)),
        Mode::Relaxed => {
            let ret = Arc::clone(&ret);
            Arc::new(SpoolSink::relaxed(
                Arc::clone(&worker),
                bound,
                Box::new(move |warning: &str| write_slots(&ret, SEVERITY_WARNING, warning)),
            ))
        }
    };
    let open = previous
        .as_ref()
        .map(|p| p.sessions.take_open())
        .unwrap_or_default();
    let sessions = SessionTable::with_open(Box::new(Arc::clone(&sink)), node, open);
    let warnings: Vec<String> = [
        config.unconfigured_warning(),
        old_default_spool(library_dir.as_deref(), &config),
    ]
    .into_iter()
    .flatten()
    .collect();
    for warning in &warnings {
        eprintln!("imtegrity_stchatlog: {warning}");
    }
    *installed = Some(Arc::new(Runtime {
        sessions,
        ret,
        sink,
        worker,
        shipper: Mutex::new(shipper),
        shipping_files: Mutex::new(ShippingFiles::of(&config)),
        config,
        policy,
    }));
    Ok((!warnings.is_empty()).then(|| warnings.join("; ")))
}

/// Init's warning when the spool is the default one and the old default, `spool` next to
/// the library (an older, sled-based release), still holds a spool: its records would otherwise never
/// be shipped, and nothing would say so.
fn old_default_spool(library_dir: Option<&Path>, config: &SpiConfig) -> Option<String> {
    let old = library_dir?.join("spool");
    if config.spool.is_some() || old == config.spool_dir() {
        return None;
    }
    let holds_records = crate::sled_migration::is_sled_spool(&old)
        || crate::spool_files::segments(&old).is_ok_and(|s| !s.is_empty());
    holds_records.then(|| {
        format!(
            "an old spool next to the library ({}) may hold records not yet shipped: set \
             spool to it in the configuration to ship them",
            old.display()
        )
    })
}

/// The least time Init gives the spool to open: opening reads the newest segment back.
const OPEN_BOUND_MIN: Duration = Duration::from_secs(2);

/// Opens the spool in `dir` on a thread of its own, waiting at most `bound`: Init must
/// return even when the disk does not (a frozen file system). A spool opened after the
/// bound is closed again by that thread, releasing its lock.
fn open_bounded(dir: &Path, bound: Duration) -> Result<Spool, SpiError> {
    let (tx, rx) = std::sync::mpsc::channel();
    let owned = dir.to_owned();
    std::thread::Builder::new()
        .name("imtegrity-spi-open".into())
        .spawn(move || {
            let _ = tx.send(Spool::open(&owned));
        })
        .map_err(SpiError::Thread)?;
    match rx.recv_timeout(bound) {
        Ok(opened) => opened,
        Err(_) => {
            // The thread returns into this library whenever the disk lets it.
            crate::library_pin::pin_library();
            Err(SpiError::SpoolBusy {
                path: dir.to_owned(),
                waited_ms: u64::try_from(bound.as_millis()).unwrap_or(u64::MAX),
            })
        }
    }
}

/// The runtime, or [`SpiError::NotInitialised`].
pub(crate) fn current() -> Result<Arc<Runtime>, SpiError> {
    RUNTIME
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
        .ok_or(SpiError::NotInitialised)
}

/// Clears the server's `appRetCode`/`appRetMsg` at the start of a call (`ST_DDA_OK`, empty
/// message), so a warning from an earlier call is not read as this one's.
pub(crate) fn begin_call() {
    if let Ok(runtime) = current() {
        // The call's own outcome is what the severity says; while shipping fails the
        // message says so too, on every call, so the server's log cannot miss it.
        let note = runtime.shipping_problem().unwrap_or_default();
        write_slots(&runtime.ret, SEVERITY_OK, &note);
    }
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

/// Ends every open session, writes what relaxed mode holds and ships what the gateway takes,
/// within `terminate_timeout_ms`; stops the shipper and the spool's writer (what was not
/// shipped stays in the spool for the next Init; what relaxed mode could not write is
/// recorded as a gap, or said on stderr) and forgets the server's buffers. Idempotent.
pub(crate) fn terminate() {
    let taken = RUNTIME
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    let Some(runtime) = taken else { return };
    let deadline = Instant::now() + runtime.config.terminate_timeout();
    if let Err(e) = runtime.sessions.close_all() {
        runtime.report(&e);
    }
    runtime.worker.drain(deadline);
    if let Some(shipper) = runtime
        .shipper
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        && !shipper.ship_all(runtime.worker.spool(), deadline)
    {
        eprintln!(
            "imtegrity_stchatlog: Terminate: {} records not shipped yet stay in the spool {} \
             for the next start",
            runtime.worker.spool().len(),
            runtime.worker.spool().dir().display()
        );
    }
    runtime.stop_shipper();
    runtime.worker.stop(deadline, runtime.config.call_timeout());
    // The spool closes when the last reference goes: here, unless a call from another
    // thread still runs (the server promises it does not), which then closes it.
    drop(runtime);
}
