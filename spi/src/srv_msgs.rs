//! Server messages: what the library asks the Sametime server to deliver instead of, or
//! besides, the message it was shown (reference §2.2 `StDdaClSrvMsg`, §2.4, §4.2).
//!
//! The library allocates the array and each text; the server hands exactly `(pointer, count)`
//! back to `stDdaClCleanSrvMsgs`, which frees them. Every allocation handed over is kept in
//! a registry ([`Registry`]) until then, so a pointer we never allocated, a wrong count or a
//! second free is refused (`ST_DDA_API_INVALID_PARAM`) instead of corrupting the server's
//! heap, and `stDdaClTerminate` frees whatever the server never gave back.
//!
//! `*srvMessagesLen` is in/out (reference §3: IBM's sample appends to messages already
//! there). The server sets `NULL`/0 before each call; if it passes instead an array this
//! library handed over and the server has not cleaned yet, the new messages are
//! **appended** to it (one array, one clean, as in IBM's sample). Any other value is not
//! ours to free or extend and is overwritten.
//!
//! Texts are kept as boxed bytes with their NUL, and the registry remembers each one's
//! address and size: freeing never depends on what the server may have written into the
//! array or the texts meanwhile.

use std::collections::BTreeMap;
use std::ffi::{c_char, c_int, c_ulong};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::abi_types::ClSrvMsg;
use crate::error::SpiError;

/// `ST_DDA_CL_TEXT_MSG`: every message we send is text, as IBM's sample sends its warnings
/// and disclaimers.
const TEXT_MSG: c_int = 0;

/// Who a server message is shown to (`StClSrvMsgDestination`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// `ST_DDA_CL_SENDER` (0): the sender of the message, the initiator of a policy check,
    /// the joiner of a join.
    Sender,
    /// `ST_DDA_CL_RECEIVER` (1): the receiver of the message; for a declined join, the
    /// chat's initiator (IBM's sample: "the chat initializator is a RECEIVER").
    Receiver,
}

impl Destination {
    fn value(self) -> c_int {
        match self {
            Self::Sender => 0,
            Self::Receiver => 1,
        }
    }
}

/// One server message, not yet handed over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrvMsg {
    /// Who sees it.
    pub destination: Destination,
    text: Vec<u8>,
}

impl SrvMsg {
    /// A text message; `None` if `text` holds a NUL, which a C string cannot carry (the
    /// caller decides what to do instead: never a silently shortened message).
    pub fn new(destination: Destination, text: impl Into<Vec<u8>>) -> Option<Self> {
        let text = text.into();
        Self::carries(&text).then_some(Self { destination, text })
    }

    /// Whether `text` can go as a server message: it has no NUL (the server reads a C
    /// string).
    pub fn carries(text: &[u8]) -> bool {
        !text.contains(&0)
    }

    /// The text, without a NUL.
    pub fn text(&self) -> &[u8] {
        &self.text
    }
}

/// What an entry point answers: a return code and the messages that go with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryResult {
    /// Which code.
    pub reply: Reply,
    /// Delivered by the server, in order.
    pub messages: Vec<SrvMsg>,
}

/// The return code of an [`EntryResult`]; the two chat-log codes are numbered by the
/// configuration (`[codes]`), since IBM's values are unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// `ST_DDA_API_OK`: go on as usual.
    Allowed,
    /// `ST_DDA_MSG_CHANGED`: the message is not delivered as it was; the server delivers
    /// the server messages instead (a replacement, notices, disclaimers).
    MsgChanged,
    /// `ST_DDA_SESSION_CREATION_DECLINED`: the chat or the join is refused.
    Declined,
}

impl EntryResult {
    /// Go on, nothing to add: what every call answers without a policy.
    pub fn allowed() -> Self {
        Self {
            reply: Reply::Allowed,
            messages: Vec::new(),
        }
    }
}

/// One text handed over: where it is and how big (NUL included), and who it is for.
#[derive(Debug, Clone, Copy)]
struct LiveText {
    destination: c_int,
    ptr: usize,
    size: usize,
}

/// The allocations handed to the server and not yet cleaned, by array address.
#[derive(Debug)]
pub struct Registry {
    live: Mutex<BTreeMap<usize, Vec<LiveText>>>,
}

/// The process's registry: the SPI has no handle, so, like the runtime, it is a global.
static LIVE: Registry = Registry::new();

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    /// An empty registry (tests keep their own, apart from the process's).
    pub const fn new() -> Self {
        Self {
            live: Mutex::new(BTreeMap::new()),
        }
    }
}

impl Registry {
    fn guard(&self) -> MutexGuard<'_, BTreeMap<usize, Vec<LiveText>>> {
        // Every update is a single insert or remove: a panic elsewhere left it consistent.
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many arrays are handed over and not cleaned.
    pub fn live_count(&self) -> usize {
        self.guard().len()
    }

    /// Writes `messages` to the out-pointers, appended to an array of ours already there.
    /// With no messages and nothing of ours there, writes `NULL`/0. A NULL out-pointer
    /// means the server accepts no messages: nothing is allocated.
    ///
    /// # Safety
    /// Each pointer must be NULL or valid for reading and writing.
    pub unsafe fn hand_over(
        &self,
        out: *mut *mut ClSrvMsg,
        out_len: *mut c_ulong,
        messages: Vec<SrvMsg>,
    ) {
        if out.is_null() || out_len.is_null() {
            // SAFETY: each is NULL (skipped) or writable, per the contract.
            unsafe { write_none(out, out_len) };
            return;
        }
        // SAFETY: both are valid for reading per the contract; the values read are only
        // compared with our registry, never dereferenced unless found there.
        let (previous, previous_len) = unsafe { (out.read(), out_len.read()) };
        let mut live = self.guard();
        let ours = live
            .get(&(previous as usize))
            .is_some_and(|texts| same_count(texts.len(), previous_len));
        if messages.is_empty() {
            if !ours {
                // SAFETY: both checked non-NULL and writable per the contract.
                unsafe { write_none(out, out_len) };
            }
            return;
        }
        let mut texts = if ours {
            let texts = live.remove(&(previous as usize)).unwrap_or_default();
            // SAFETY: the array at `previous` is ours, of `texts.len()` elements, made by
            // `Box<[ClSrvMsg]>::into_raw` in `publish`, and no longer registered, so it is
            // freed exactly once; its texts move to the new array and stay allocated.
            unsafe { free_array(previous, texts.len()) };
            texts
        } else {
            Vec::new()
        };
        texts.extend(messages.into_iter().map(leak_text));
        let (array, count) = publish(&texts);
        live.insert(array as usize, texts);
        // SAFETY: both checked non-NULL and writable per the contract.
        unsafe {
            out.write(array);
            out_len.write(count);
        }
    }

    /// `stDdaClCleanSrvMsgs`: frees an array we handed over, with its texts. NULL is fine
    /// (nothing to free); a pointer not (or no longer) ours, or ours with another count, is
    /// refused and left alone.
    pub fn clean(&self, array: *mut ClSrvMsg, count: c_ulong) -> Result<(), SpiError> {
        // Only an address to look up: the server's pointer is never dereferenced, what is
        // freed is what the registry says we allocated there.
        let address = array as usize;
        if address == 0 {
            return Ok(());
        }
        let mut live = self.guard();
        let texts = live.get(&address).ok_or(SpiError::NotOurs)?;
        if !same_count(texts.len(), count) {
            return Err(SpiError::SrvMsgsCount {
                given: wide(count),
                ours: texts.len(),
            });
        }
        let texts = live.remove(&address).unwrap_or_default();
        // SAFETY: registered by `hand_over`, so allocated by `publish` and `leak_text` with
        // these sizes; just unregistered, so freed exactly once.
        unsafe { free_all_of(address as *mut ClSrvMsg, &texts) };
        Ok(())
    }

    /// Frees every array the server never gave back; returns how many there were. For
    /// `stDdaClTerminate`: the server must not use server messages past it.
    pub fn free_all(&self) -> usize {
        let drained = std::mem::take(&mut *self.guard());
        for (array, texts) in &drained {
            // SAFETY: as in `clean`: registered, now unregistered, freed once.
            unsafe { free_all_of(*array as *mut ClSrvMsg, texts) };
        }
        drained.len()
    }
}

/// The process's [`Registry::hand_over`].
///
/// # Safety
/// As [`Registry::hand_over`].
pub unsafe fn hand_over(out: *mut *mut ClSrvMsg, out_len: *mut c_ulong, messages: Vec<SrvMsg>) {
    // SAFETY: forwarded under the same contract.
    unsafe { LIVE.hand_over(out, out_len, messages) }
}

/// The process's [`Registry::clean`].
pub fn clean(array: *mut ClSrvMsg, count: c_ulong) -> Result<(), SpiError> {
    LIVE.clean(array, count)
}

/// The process's [`Registry::free_all`].
pub fn free_all() -> usize {
    LIVE.free_all()
}

/// `count` as `u64`, whatever width `unsigned long` has (64 bits on LP64, 32 on Windows).
#[allow(
    clippy::useless_conversion,
    reason = "c_ulong is u64 on LP64 but u32 on Windows"
)]
fn wide(count: c_ulong) -> u64 {
    u64::from(count)
}

/// Whether the server's `count` is our array's `len`.
fn same_count(len: usize, count: c_ulong) -> bool {
    u64::try_from(len).ok() == Some(wide(count))
}

/// Writes "no messages" to each out-pointer that is not NULL.
///
/// # Safety
/// Each pointer must be NULL or writable.
unsafe fn write_none(out: *mut *mut ClSrvMsg, out_len: *mut c_ulong) {
    if !out.is_null() {
        // SAFETY: not NULL, writable per the contract.
        unsafe { out.write(std::ptr::null_mut()) };
    }
    if !out_len.is_null() {
        // SAFETY: not NULL, writable per the contract.
        unsafe { out_len.write(0) };
    }
}

/// Moves a message's text, NUL-terminated, to the heap and forgets it (until freed).
fn leak_text(message: SrvMsg) -> LiveText {
    let mut bytes = message.text;
    bytes.push(0);
    let boxed = bytes.into_boxed_slice();
    let size = boxed.len();
    let ptr = Box::into_raw(boxed).cast::<u8>() as usize;
    LiveText {
        destination: message.destination.value(),
        ptr,
        size,
    }
}

/// Builds the array the server reads from the texts; returns it and its count.
fn publish(texts: &[LiveText]) -> (*mut ClSrvMsg, c_ulong) {
    let array: Box<[ClSrvMsg]> = texts
        .iter()
        .map(|t| ClSrvMsg {
            msg_type: TEXT_MSG,
            destination: t.destination,
            // Texts are at most a message (1 MiB) or a configured notice: they fit.
            msg_len: c_ulong::try_from(t.size - 1).unwrap_or(c_ulong::MAX),
            msg: t.ptr as *mut c_char,
        })
        .collect();
    let count = c_ulong::try_from(array.len()).unwrap_or(c_ulong::MAX);
    (Box::into_raw(array).cast::<ClSrvMsg>(), count)
}

/// Frees an array made by [`publish`], not its texts.
///
/// # Safety
/// `array` must come from [`publish`] with `count` elements and not be freed yet.
unsafe fn free_array(array: *mut ClSrvMsg, count: usize) {
    // SAFETY: per the contract, this is the `Box<[ClSrvMsg]>` `publish` leaked.
    drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(array, count)) });
}

/// Frees an array and every text registered with it.
///
/// # Safety
/// `array` and `texts` must be a registry entry just removed.
unsafe fn free_all_of(array: *mut ClSrvMsg, texts: &[LiveText]) {
    for text in texts {
        // SAFETY: `leak_text` leaked a `Box<[u8]>` of exactly `size` bytes at `ptr`.
        drop(unsafe {
            Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                text.ptr as *mut u8,
                text.size,
            ))
        });
    }
    // SAFETY: the array `publish` made for these texts.
    unsafe { free_array(array, texts.len()) };
}

#[cfg(test)]
mod tests;
