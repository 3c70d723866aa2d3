//! The local spool: an append-only log of our own, in segments of checksummed frames
//! ([`crate::spool_frame`]), each record `fdatasync`ed before its append returns.
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

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use record::Event;

use crate::error::SpiError;
use crate::sink::RecordSink;
use crate::spool_files::{
    ACKED_FILE, LOCK_FILE, SOURCE_FILE, private_options, read_acked, replace_file, segment_path,
    segments, sync_dir,
};
use crate::spool_frame::{HEADER_LEN, Torn, encode};
use crate::spool_scan::{ScanStats, scan, whole_prefix};

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

/// Takes the writer's lock on `file`, without waiting: another process appending to the
/// same spool would interleave sequence numbers.
#[cfg(unix)]
fn lock_exclusive(file: &File, dir: &Path) -> Result<(), SpiError> {
    use std::os::fd::AsRawFd as _;
    // SAFETY: `file` is open for this whole call, so its descriptor is valid; flock takes
    // no pointers.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    if e.kind() == std::io::ErrorKind::WouldBlock {
        return Err(SpiError::SpoolInUse {
            path: dir.to_owned(),
        });
    }
    Err(file_err(&dir.join(LOCK_FILE))(e))
}

/// Windows: the lock comes with the Windows build; one Sametime server per spool until then.
#[cfg(not(unix))]
fn lock_exclusive(_file: &File, _dir: &Path) -> Result<(), SpiError> {
    Ok(())
}

/// The spool's source id, made on first open.
fn source_id(dir: &Path) -> Result<String, SpiError> {
    let path = dir.join(SOURCE_FILE);
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => return Ok(id.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(file_err(&path)(e)),
    }
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| SpiError::Random(e.to_string()))?;
    let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    // Durable before any record is shipped under it.
    replace_file(dir, SOURCE_FILE, &id).map_err(file_err(&path))?;
    Ok(id)
}

/// A spool directory that is not (and cannot be made) private, as a spool file error.
fn private_err(dir: &Path, e: owner_only::OwnerOnlyError) -> SpiError {
    SpiError::SpoolFile {
        path: dir.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::PermissionDenied, e.to_string()),
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

    /// The highest sequence number the gateway acknowledged.
    pub fn acked(&self) -> u64 {
        *self.acked.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records waiting to be shipped, from sequence numbers alone (no reading): exact for
    /// the log's own records, an upper bound after a sled migration (sled's keys had gaps).
    pub fn backlog(&self) -> u64 {
        self.newest
            .load(Ordering::SeqCst)
            .saturating_sub(self.acked())
    }

    /// Records the gateway's acknowledgement of every record up to `seq`, durably, and
    /// deletes the segments it covers entirely (never the one being appended to).
    ///
    /// The segments go first and the `acked` file last, and the acknowledgement counts in
    /// memory even if that file cannot be written: a spool that filled its disk while the
    /// gateway was away must be able to empty itself, and writing a new `acked` file needs
    /// the very space the deletions free. Deleting first is safe: the gateway has every
    /// record in those segments, and a crash before `acked` is written only makes the
    /// shipper resend a few that it recognises.
    pub fn ack_upto(&self, seq: u64) -> Result<(), SpiError> {
        let mut acked = self.acked.lock().unwrap_or_else(PoisonError::into_inner);
        if seq <= *acked {
            return Ok(());
        }
        *acked = seq;
        let active_first = self.active_first.load(Ordering::SeqCst);
        let all = segments(&self.dir).map_err(file_err(&self.dir))?;
        for pair in all.windows(2) {
            let [segment, next] = pair else { continue };
            if segment.first_seq < active_first && next.first_seq.saturating_sub(1) <= seq {
                retire(&segment.path)?;
            }
        }
        replace_file(&self.dir, ACKED_FILE, &seq.to_string())
            .map_err(file_err(&self.dir.join(ACKED_FILE)))
    }

    /// The oldest unacknowledged records with their sequence numbers, at most
    /// `max_records`, and no more than `max_bytes` of encoded records once one is taken.
    pub fn pending(
        &self,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Vec<(u64, Event)>, SpiError> {
        pending_in(&self.dir, self.acked(), max_records, max_bytes)
    }

    /// How many records wait to be shipped.
    pub fn len(&self) -> usize {
        count_in(&self.dir, self.acked()).unwrap_or(0)
    }

    /// Whether no record waits to be shipped.
    pub fn is_empty(&self) -> bool {
        self.pending(1, 0).map(|p| p.is_empty()).unwrap_or(true)
    }

    /// Every record waiting to be shipped, in append order.
    pub fn events(&self) -> Result<Vec<Event>, SpiError> {
        Ok(pending_in(&self.dir, self.acked(), usize::MAX, usize::MAX)?
            .into_iter()
            .map(|(_, e)| e)
            .collect())
    }

    /// Every record waiting to be shipped in the spool in `dir`, without opening it for
    /// appending: how a test or an operator's tool reads what the library wrote, even while
    /// the library runs.
    pub fn read_all(dir: &Path) -> Result<Vec<Event>, SpiError> {
        let acked = read_acked(dir).map_err(file_err(&dir.join(ACKED_FILE)))?;
        Ok(pending_in(dir, acked, usize::MAX, usize::MAX)?
            .into_iter()
            .map(|(_, e)| e)
            .collect())
    }
}

/// The records after `acked` in `dir`, bounded as [`Spool::pending`] says.
pub(crate) fn pending_in(
    dir: &Path,
    acked: u64,
    max_records: usize,
    max_bytes: usize,
) -> Result<Vec<(u64, Event)>, SpiError> {
    let mut out = Vec::new();
    let mut bytes = 0usize;
    let mut decode_error = None;
    scan(dir, acked, |seq, payload| {
        if out.len() >= max_records || (!out.is_empty() && bytes + payload.len() > max_bytes) {
            return ControlFlow::Break(());
        }
        match postcard::from_bytes(payload) {
            Ok(event) => {
                bytes += payload.len();
                out.push((seq, event));
                ControlFlow::Continue(())
            }
            Err(e) => {
                decode_error = Some(e);
                ControlFlow::Break(())
            }
        }
    })
    .map_err(file_err(dir))?;
    match decode_error {
        Some(e) => Err(SpiError::Encoding(e)),
        None => Ok(out),
    }
}

/// How many records after `acked` are in `dir`, and the scan's findings.
pub(crate) fn count_in(dir: &Path, acked: u64) -> std::io::Result<usize> {
    let mut n = 0;
    let _: ScanStats = scan(dir, acked, |_, _| {
        n += 1;
        ControlFlow::Continue(())
    })?;
    Ok(n)
}

/// Deletes a segment every record of which the gateway acknowledged, unless bytes in it do
/// not check (a bad sector): readers passed over the damage and whatever frames followed
/// it, so deleting it would lose them without a trace. Such a segment is kept aside under
/// a `.damaged-<time>` name (no longer a segment: nothing reads or ships it again), said on
/// stderr, and listed by `imtegrity sametime spool` until someone examines and removes it.
fn retire(path: &Path) -> Result<(), SpiError> {
    let damaged = match std::fs::read(path) {
        Ok(bytes) => crate::spool_scan::whole_prefix(&bytes).2.is_some(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(file_err(path)(e)),
    };
    if damaged {
        let aside = path.with_extension(format!("damaged-{}", record::now_ns()));
        std::fs::rename(path, &aside).map_err(file_err(path))?;
        eprintln!(
            "imtegrity_stchatlog: {}: damaged bytes in an acknowledged segment; the records \
             after them could not be read or shipped; kept as {}",
            path.display(),
            aside.display()
        );
        return Ok(());
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(file_err(path)(e)),
    }
}

impl RecordSink for Spool {
    fn append(&self, event: &Event) -> Result<(), SpiError> {
        let payload = postcard::to_stdvec(event)?;
        self.append_encoded(&payload).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::test_event as event;

    fn must<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
        r.unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn records_come_back_in_order_after_reopening_across_segments() {
        let dir = must(tempfile::tempdir());
        {
            let spool = must(Spool::open(dir.path()));
            must(spool.append(&event("one")));
            // Two records larger than a segment: each gets its own.
            must(spool.append(&event(&"x".repeat(700 * 1024))));
            must(spool.append(&event(&"y".repeat(700 * 1024))));
        }
        {
            let spool = must(Spool::open(dir.path()));
            must(spool.append(&event("four")));
        }
        let sizes: Vec<usize> = must(Spool::read_all(dir.path()))
            .iter()
            .map(|e| e.text.len())
            .collect();
        assert_eq!(sizes, [3, 700 * 1024, 700 * 1024, 4]);
        assert!(must(segments(dir.path())).len() >= 3);
    }

    #[test]
    fn a_batch_is_appended_in_order_across_segments_with_its_sequence_numbers() {
        let dir = must(tempfile::tempdir());
        let spool = must(Spool::open(dir.path()));
        must(spool.append(&event("first")));
        let big: Vec<Vec<u8>> = ["a", "b", "c"]
            .iter()
            .map(|t| must(postcard::to_stdvec(&event(&t.repeat(600 * 1024)))))
            .collect();
        let small = must(postcard::to_stdvec(&event("small")));
        let mut batch: Vec<&[u8]> = big.iter().map(Vec::as_slice).collect();
        batch.push(&small);
        let (written, error) = spool.append_batch(&batch);
        assert_eq!(written, 4);
        assert!(error.is_none(), "{error:?}");
        let pending = must(spool.pending(9, usize::MAX));
        let seqs: Vec<u64> = pending.iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, [1, 2, 3, 4, 5]);
        let firsts: Vec<char> = pending
            .iter()
            .map(|(_, e)| e.text.chars().next().unwrap_or(' '))
            .collect();
        assert_eq!(firsts, ['f', 'a', 'b', 'c', 's']);
        assert_eq!(spool.backlog(), 5);
        assert!(
            must(segments(dir.path())).len() >= 3,
            "rolled within the batch"
        );
    }

    #[test]
    fn the_source_id_survives_reopening_and_acked_records_are_gone() {
        let dir = must(tempfile::tempdir());
        let source = {
            let spool = must(Spool::open(dir.path()));
            for t in ["a", "b", "c"] {
                must(spool.append(&event(t)));
            }
            let pending = must(spool.pending(2, usize::MAX));
            assert_eq!(pending.len(), 2);
            assert!(pending[0].0 < pending[1].0);
            must(spool.ack_upto(pending[0].0));
            assert_eq!(must(spool.pending(1, 0))[0].1.text, "b");
            spool.source().to_owned()
        };
        assert_eq!(source.len(), 32);
        assert!(source.bytes().all(|b| b.is_ascii_hexdigit()));
        let spool = must(Spool::open(dir.path()));
        assert_eq!(spool.source(), source);
        assert_eq!(spool.len(), 2);
        let other = must(tempfile::tempdir());
        assert_ne!(must(Spool::open(other.path())).source(), source);
    }

    #[test]
    fn a_second_writer_is_refused_while_the_first_holds_the_lock() {
        let dir = must(tempfile::tempdir());
        let first = must(Spool::open(dir.path()));
        assert!(matches!(
            Spool::open(dir.path()),
            Err(SpiError::SpoolInUse { .. })
        ));
        drop(first);
        must(Spool::open(dir.path()));
    }

    #[test]
    fn a_torn_tail_is_cut_and_the_sequence_goes_on_after_the_last_whole_record() {
        let dir = must(tempfile::tempdir());
        let last_seq = {
            let spool = must(Spool::open(dir.path()));
            must(spool.append(&event("kept")));
            must(spool.pending(9, usize::MAX))[0].0
        };
        let segment = must(segments(dir.path())).remove(0).path;
        let whole = must(std::fs::metadata(&segment)).len();
        // Half of a frame, as a crash mid-append leaves it.
        let half = encode(last_seq + 1, b"never acknowledged").unwrap_or_default();
        let mut file = must(std::fs::OpenOptions::new().append(true).open(&segment));
        must(file.write_all(&half[..half.len() / 2]));
        drop(file);
        let spool = must(Spool::open(dir.path()));
        assert_eq!(must(std::fs::metadata(&segment)).len(), whole);
        must(spool.append(&event("next")));
        let seqs: Vec<u64> = must(spool.pending(9, usize::MAX))
            .iter()
            .map(|(s, _)| *s)
            .collect();
        assert_eq!(seqs, [last_seq, last_seq + 1]);
    }

    #[test]
    fn a_damaged_tail_is_kept_aside_and_its_sequence_numbers_are_never_reused() {
        let dir = must(tempfile::tempdir());
        {
            let spool = must(Spool::open(dir.path()));
            for t in ["one", "two", "three"] {
                must(spool.append(&event(t)));
            }
        }
        let segment = must(segments(dir.path())).remove(0).path;
        let mut bytes = must(std::fs::read(&segment));
        let last = bytes.len() - 1;
        bytes[last] ^= 0x55;
        must(std::fs::write(&segment, &bytes));
        let spool = must(Spool::open(dir.path()));
        let kept: Vec<(u64, String)> = must(spool.pending(9, usize::MAX))
            .into_iter()
            .map(|(s, e)| (s, e.text))
            .collect();
        assert_eq!(
            kept.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>(),
            ["one", "two"]
        );
        let aside = must(std::fs::read_dir(dir.path()))
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains(".damaged-"))
            .count();
        assert_eq!(aside, 1, "the damaged bytes are kept");
        must(spool.append(&event("four")));
        let seqs: Vec<u64> = must(spool.pending(9, usize::MAX))
            .iter()
            .map(|(s, _)| *s)
            .collect();
        assert!(
            seqs[2] > kept[1].0 + 1,
            "the damaged record's number is not reused: {seqs:?}"
        );
    }

    #[test]
    fn an_acknowledged_segment_with_damage_inside_is_kept_aside_not_deleted() {
        let dir = must(tempfile::tempdir());
        let pending = {
            let spool = must(Spool::open(dir.path()));
            for _ in 0..3 {
                must(spool.append(&event(&"z".repeat(600 * 1024))));
            }
            must(spool.pending(9, usize::MAX))
        };
        // A bad sector in the first segment's record: readers pass over it.
        let first = must(segments(dir.path())).remove(0).path;
        let mut bytes = must(std::fs::read(&first));
        bytes[100] ^= 0x55;
        must(std::fs::write(&first, &bytes));
        let spool = must(Spool::open(dir.path()));
        must(spool.ack_upto(pending[2].0));
        let names: Vec<String> = must(std::fs::read_dir(dir.path()))
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        let first_name = first.file_stem().map(|s| s.to_string_lossy().into_owned());
        assert!(
            names.iter().any(|n| n.contains(".damaged-")
                && Some(n.split('.').next().unwrap_or("").to_owned()) == first_name),
            "{names:?}"
        );
        // The second segment was whole: deleted as usual; the open one stays.
        assert_eq!(must(segments(dir.path())).len(), 1, "{names:?}");
        let summary = must(crate::spool_inspect::summary(dir.path()));
        assert_eq!(summary.kept_aside.len(), 1, "{summary:?}");
    }

    #[test]
    fn fully_acknowledged_segments_are_deleted_but_never_the_open_one() {
        let dir = must(tempfile::tempdir());
        let spool = must(Spool::open(dir.path()));
        for _ in 0..4 {
            must(spool.append(&event(&"z".repeat(600 * 1024))));
        }
        assert_eq!(must(segments(dir.path())).len(), 4);
        let pending = must(spool.pending(9, usize::MAX));
        must(spool.ack_upto(pending[3].0));
        assert!(spool.is_empty());
        assert_eq!(
            must(segments(dir.path())).len(),
            1,
            "the open segment stays"
        );
        // Reopened, the writer leaves the acknowledged segment behind at its next append.
        drop(spool);
        let spool = must(Spool::open(dir.path()));
        must(spool.append(&event("fresh")));
        must(spool.ack_upto(pending[3].0 + 1));
        assert_eq!(must(segments(dir.path())).len(), 1);
        assert_eq!(spool.len(), 0);
        assert_eq!(must(Spool::read_all(dir.path())).len(), 0);
    }
}
