//! The local spool: an append-only log of our own, in segments of checksummed frames
//! ([`log_frame`]), each record `fdatasync`ed before its append returns.
//!
//! Why not sled (what the spool was in earlier releases): on a disk that filled up, dropping a
//! sled handle blocked for good in its flush (`make_stable`), holding the Sametime server's
//! thread; sled latches its first I/O error until the database is opened again, which its
//! own file lock then refuses while the old handle's threads live; and those threads outlive
//! `dlclose`. The spool is a queue (append, read the oldest, forget what the gateway
//! acknowledged), which a log does in a few hundred lines whose every blocking call we
//! know: `write`, `fdatasync`, `ftruncate`, `rename`. A call that still blocks in the
//! kernel (a frozen file system) is bounded one level up, in [`crate::spool_worker`].
//!
//! Layout ([`crate::spool_files`]): segments named by their first sequence number, rolled
//! past [`SEGMENT_BYTES`]; `acked`, the highest sequence number the gateway acknowledged,
//! replaced atomically; `source`, the spool's random id that names it to the gateway (so a
//! restarted library's resent records are deduplicated); `lock`, held by the one writer.
//! A segment is deleted once every record in it is acknowledged and the writer has moved
//! on to a newer one.
//!
//! Crash safety: a torn last frame (the process or the machine died mid-append) is cut off
//! when the writer opens the spool; the record was never acknowledged to the server. After
//! a failed write or sync the segment's file is closed and opened afresh before the next
//! append (so a sync error is not swallowed by the page cache), at most once per
//! [`REOPEN_INTERVAL`], and cut back to its last whole record: a record the server was
//! told failed is not in the spool, and a record held for a retry is not written twice.
//!
//! Privacy: the directory is 0700 and its files 0600 whatever the umask, checked at every
//! open (the `owner_only` crate: a directory of another user is refused; looser modes are
//! fixed with a warning). The library runs inside the Sametime server and must not change
//! that process's umask, so it sets modes itself.

mod acknowledge;
mod opening;
mod reading;
#[cfg(test)]
mod tests;

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use record::Event;

use crate::error::SpiError;
use crate::sink::RecordSink;
use crate::spool_files::{
    ACKED_FILE, LOCK_FILE, private_options, read_acked, segment_path, segments, sync_dir,
};
use crate::spool_scan::whole_prefix;
use log_frame::{HEADER_LEN, Torn, encode};
use opening::{lock_exclusive, private_err, source_id};

/// A segment is rolled once a record would take it past this size (a larger record gets a
/// segment of its own). Small, so acknowledged records leave the disk soon.
pub const SEGMENT_BYTES: u64 = 1 << 20;

/// How often the writer opens its segment again after a failure, at most: a dead disk must
/// not cost every call an open.
pub const REOPEN_INTERVAL: Duration = Duration::from_millis(500);

/// The segment being appended to.
#[derive(Debug)]
struct Active {
    file: File,
    path: PathBuf,
    /// Bytes of whole records in it: where the next frame goes.
    len: u64,
}

/// The writer's state, behind one lock: appends are serialised, so sequence order is file
/// order.
#[derive(Debug)]
struct Writer {
    /// `None` until the first append, and after a failure until reopened.
    active: Option<Active>,
    /// Whether `active` is `None` because of a failure (then reopen before appending).
    broken: bool,
    next_seq: u64,
    /// Start a new segment before the next append (the open one is all acknowledged).
    roll: bool,
    last_error: Option<String>,
    next_try: Instant,
}

/// A spool directory opened for appending (and reading).
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    source: String,
    /// Held (locked) while this handle lives: one writer per spool.
    _lock: File,
    writer: Mutex<Writer>,
    /// The first sequence number of the segment the writer appends to: never deleted.
    active_first: AtomicU64,
    /// The newest record's sequence number (0: none yet).
    newest: AtomicU64,
    acked: Mutex<u64>,
}

/// An I/O error on a spool file, as the error the server is told.
fn file_err(path: &Path) -> impl Fn(std::io::Error) -> SpiError + '_ {
    move |source| SpiError::SpoolFile {
        path: path.to_owned(),
        source,
    }
}

impl Spool {
    /// Opens (creating if needed) the spool in `dir` for appending; one process at a time.
    pub fn open(dir: &Path) -> Result<Self, SpiError> {
        owner_only::prepare_dir(dir).map_err(|e| private_err(dir, e))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = private_options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(file_err(&lock_path))?;
        lock_exclusive(&lock, dir)?;
        crate::sled_migration::migrate(dir)?;
        let source = source_id(dir)?;
        let acked = read_acked(dir).map_err(file_err(&dir.join(ACKED_FILE)))?;
        let spool = Self {
            dir: dir.to_owned(),
            source,
            _lock: lock,
            writer: Mutex::new(Writer {
                active: None,
                broken: false,
                next_seq: acked + 1,
                roll: false,
                last_error: None,
                next_try: Instant::now(),
            }),
            active_first: AtomicU64::new(u64::MAX),
            newest: AtomicU64::new(0),
            acked: Mutex::new(acked),
        };
        {
            let mut writer = spool.lock_writer();
            spool.reopen(&mut writer, acked)?;
            spool
                .newest
                .store(writer.next_seq.saturating_sub(1), Ordering::SeqCst);
        }
        owner_only::tighten_tree(dir).map_err(|e| private_err(dir, e))?;
        Ok(spool)
    }

    fn lock_writer(&self) -> MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Opens the newest segment for appending, cutting a torn tail, and works out the next
    /// sequence number. No segment yet: the first append makes one.
    fn reopen(&self, writer: &mut Writer, acked: u64) -> Result<(), SpiError> {
        writer.active = None;
        let all = segments(&self.dir).map_err(file_err(&self.dir))?;
        let Some(last) = all.last() else {
            writer.next_seq = writer.next_seq.max(acked + 1);
            writer.broken = false;
            return Ok(());
        };
        let mut file = private_options()
            .read(true)
            .write(true)
            .open(&last.path)
            .map_err(file_err(&last.path))?;
        let bytes = std::fs::read(&last.path).map_err(file_err(&last.path))?;
        let (whole, last_seq, tail) = whole_prefix(&bytes);
        let mut after = last_seq.map_or(last.first_seq, |s| s + 1);
        if tail == Some(Torn::Damaged) {
            // Not an append cut short but bytes that do not check (a bad sector): kept aside
            // for the operator, and the sequence numbers records in them may have had are
            // never given again (each frame takes at least a header's bytes), so no new
            // record can pass for one of them at the gateway.
            let aside = last
                .path
                .with_extension(format!("damaged-{}", record::now_ns()));
            std::fs::write(&aside, &bytes[whole..]).map_err(file_err(&aside))?;
            after += ((bytes.len() - whole) / HEADER_LEN) as u64 + 1;
            eprintln!(
                "imtegrity_stchatlog: {}: {} damaged bytes after its last whole record; kept in \
                 {} and cut from the spool",
                last.path.display(),
                bytes.len() - whole,
                aside.display()
            );
        }
        if whole < bytes.len() {
            file.set_len(whole as u64).map_err(file_err(&last.path))?;
            file.sync_all().map_err(file_err(&last.path))?;
        }
        file.seek(SeekFrom::Start(whole as u64))
            .map_err(file_err(&last.path))?;
        writer.next_seq = writer.next_seq.max(after).max(acked + 1);
        // Everything in it acknowledged: start afresh, so the shipper can delete it. After
        // damage too: the next record's number no longer follows the segment's last.
        writer.roll =
            (whole > 0 && last_seq.is_some_and(|s| s <= acked)) || tail == Some(Torn::Damaged);
        self.active_first.store(last.first_seq, Ordering::SeqCst);
        writer.active = Some(Active {
            file,
            path: last.path.clone(),
            len: whole as u64,
        });
        writer.broken = false;
        Ok(())
    }

    /// Starts the segment for `writer.next_seq`.
    fn roll(&self, writer: &mut Writer) -> Result<(), SpiError> {
        let path = segment_path(&self.dir, writer.next_seq);
        // A new file, never an existing one: appending at offset 0 would overwrite records.
        let file = private_options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(file_err(&path))?;
        // The new name must survive a crash, or its records would vanish with it.
        sync_dir(&self.dir).map_err(file_err(&self.dir))?;
        self.active_first.store(writer.next_seq, Ordering::SeqCst);
        writer.active = Some(Active { file, path, len: 0 });
        writer.roll = false;
        Ok(())
    }

    /// The spool directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The spool's stable id, sent to the gateway as `source`.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Appends an encoded record and makes it durable; its sequence number. On failure the
    /// record is not in the spool (see the module documentation).
    pub fn append_encoded(&self, payload: &[u8]) -> Result<u64, SpiError> {
        match self.append_batch(&[payload]) {
            (1, None) => Ok(self.newest.load(Ordering::SeqCst)),
            (_, Some(e)) => Err(e),
            (_, None) => Err(SpiError::SpoolUnavailable {
                path: self.dir.clone(),
                reason: "the record was not written".into(),
            }),
        }
    }

    /// Appends encoded records in order with one `fdatasync` per segment they touch (group
    /// commit: the writer thread hands over everything that queued up while the last sync
    /// ran). Returns how many were appended, a prefix, each durable, and the error that
    /// stopped the rest, which are not in the spool.
    pub fn append_batch(&self, payloads: &[&[u8]]) -> (usize, Option<SpiError>) {
        let mut writer = self.lock_writer();
        if writer.broken {
            if Instant::now() < writer.next_try {
                let error = SpiError::SpoolUnavailable {
                    path: self.dir.clone(),
                    reason: writer.last_error.clone().unwrap_or_default(),
                };
                return (0, Some(error));
            }
            let acked = *self.acked.lock().unwrap_or_else(PoisonError::into_inner);
            if let Err(e) = self.reopen(&mut writer, acked) {
                return (0, Some(self.failed(&mut writer, e)));
            }
        }
        let mut done = 0;
        while done < payloads.len() {
            match self.write_frames(&mut writer, &payloads[done..]) {
                Ok(n) => done += n,
                Err(e) => return (done, Some(self.failed(&mut writer, e))),
            }
        }
        (done, None)
    }

    /// Writes as many of `payloads` as fit in the open segment (at least one, rolling first
    /// if it is full) and syncs them; how many.
    fn write_frames(&self, writer: &mut Writer, payloads: &[&[u8]]) -> Result<usize, SpiError> {
        let first_seq = writer.next_seq;
        let mut frames = Vec::new();
        let mut count = 0u64;
        for payload in payloads {
            let frame = encode(first_seq + count, payload).ok_or(SpiError::RecordTooLarge {
                bytes: payload.len(),
            })?;
            if count == 0 {
                let full = writer
                    .active
                    .as_ref()
                    .is_none_or(|a| a.len > 0 && a.len + frame.len() as u64 > SEGMENT_BYTES);
                if full || writer.roll {
                    self.roll(writer)?;
                }
            } else if writer
                .active
                .as_ref()
                .is_some_and(|a| a.len + (frames.len() + frame.len()) as u64 > SEGMENT_BYTES)
            {
                break;
            }
            frames.extend_from_slice(&frame);
            count += 1;
        }
        let Some(active) = writer.active.as_mut() else {
            return Err(SpiError::SpoolUnavailable {
                path: self.dir.clone(),
                reason: "no segment open".into(),
            });
        };
        let written = active
            .file
            .seek(SeekFrom::Start(active.len))
            .and_then(|_| active.file.write_all(&frames))
            .and_then(|()| active.file.sync_data());
        if let Err(e) = written {
            // Cut the partial frames now if the disk lets us; reopening cuts them otherwise.
            let _ = active.file.set_len(active.len);
            return Err(file_err(&active.path)(e));
        }
        active.len += frames.len() as u64;
        writer.next_seq = first_seq + count;
        self.newest.store(first_seq + count - 1, Ordering::SeqCst);
        // `count` is at least 1 and at most `payloads.len()`.
        Ok(usize::try_from(count).unwrap_or(payloads.len()))
    }

    /// Closes the segment after `error`, so the next append (after [`REOPEN_INTERVAL`])
    /// opens it afresh; returns the error.
    fn failed(&self, writer: &mut Writer, error: SpiError) -> SpiError {
        writer.active = None;
        writer.broken = true;
        writer.last_error = Some(error.to_string());
        writer.next_try = Instant::now() + REOPEN_INTERVAL;
        error
    }
}

impl RecordSink for Spool {
    fn append(&self, event: &Event) -> Result<(), SpiError> {
        let payload = postcard::to_stdvec(event)?;
        self.append_encoded(&payload).map(drop)
    }
}
