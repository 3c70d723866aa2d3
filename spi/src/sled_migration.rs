//! Spools written by earlier releases were sled databases: moved into the log once, on open.
//!
//! Records in an old spool are chats not yet at the gateway; leaving them behind would drop
//! them without a trace. So when [`crate::spool::Spool::open`] finds sled's files (`conf`
//! and `db`) in the spool directory, it copies every record into a segment, keeping each
//! record's sled key as its sequence number and sled's `source` id: the gateway, which
//! deduplicates by source and sequence number (and may keep only a high-water mark per
//! source), sees the same records under the same names. New records continue above every id
//! sled ever issued. sled's files are then moved into `sled-spool-old/`, for the
//! operator to delete once the gateway has the records.
//!
//! Crash safety: the segment is written under a temporary name, synced and renamed into
//! place after `acked` and `source`; sled's files are moved last. An open that finds both a
//! segment and sled's files (a crash between the two) only finishes the move.

use std::io::{BufWriter, Write};
use std::path::Path;

use crate::error::SpiError;
use crate::spool_files::{
    ACKED_FILE, SOURCE_FILE, private_options, replace_file, segment_path, segments, sync_dir,
};
use log_frame::encode;

/// Where sled's files go once their records are in the log.
pub const OLD_SPOOL_DIR: &str = "sled-spool-old";

/// A sled error as the spool file error the server is told, in plain words (sled's own
/// `Display` of an I/O error is Rust's `Debug` form).
fn sled_err(dir: &Path, e: sled::Error) -> SpiError {
    let source = match e {
        sled::Error::Io(io) => io,
        other => std::io::Error::other(other.to_string()),
    };
    SpiError::SpoolFile {
        path: dir.to_owned(),
        source,
    }
}

fn file_err(path: &Path) -> impl Fn(std::io::Error) -> SpiError + '_ {
    move |source| SpiError::SpoolFile {
        path: path.to_owned(),
        source,
    }
}

/// Whether `dir` holds a sled spool.
pub fn is_sled_spool(dir: &Path) -> bool {
    dir.join("conf").is_file() && dir.join("db").is_file()
}

/// Moves the records of a sled spool in `dir` into the log; how many (`None`: no sled
/// spool). The caller holds the spool's lock.
pub fn migrate(dir: &Path) -> Result<Option<u64>, SpiError> {
    if !is_sled_spool(dir) {
        return Ok(None);
    }
    let moved = if segments(dir).map_err(file_err(dir))?.is_empty() {
        copy_records(dir)?
    } else {
        0
    };
    move_sled_files(dir)?;
    eprintln!(
        "imtegrity_stchatlog: {moved} records of the old sled spool in {} are now in the new \
         log; sled's files are in {OLD_SPOOL_DIR}/ (delete them once the gateway has the records)",
        dir.display()
    );
    Ok(Some(moved))
}

/// Copies sled's records into one segment, with `acked` and `source` to match.
fn copy_records(dir: &Path) -> Result<u64, SpiError> {
    let db = sled::Config::new()
        .path(dir)
        .flush_every_ms(None)
        .open()
        .map_err(|e| sled_err(dir, e))?;
    let meta = db.open_tree("meta").map_err(|e| sled_err(dir, e))?;
    let source = meta.get(b"source").map_err(|e| sled_err(dir, e))?;
    let events = db.open_tree("events").map_err(|e| sled_err(dir, e))?;
    // Above every id sled issued: every key, and any record already shipped and deleted.
    let next_id = db.generate_id().map_err(|e| sled_err(dir, e))?;
    let temporary = dir.join("migrating.tmp");
    let file = private_options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&temporary)
        .map_err(file_err(&temporary))?;
    let mut out = BufWriter::new(file);
    let mut first = None;
    let mut count = 0u64;
    for entry in events.iter() {
        let (key, value) = entry.map_err(|e| sled_err(dir, e))?;
        let mut be = [0u8; 8];
        let n = key.len().min(8);
        be[8 - n..].copy_from_slice(&key[key.len() - n..]);
        let seq = u64::from_be_bytes(be);
        first.get_or_insert(seq);
        let frame = encode(seq, &value).ok_or(SpiError::RecordTooLarge { bytes: value.len() })?;
        out.write_all(&frame).map_err(file_err(&temporary))?;
        count += 1;
    }
    let file = out
        .into_inner()
        .map_err(|e| file_err(&temporary)(e.into_error()))?;
    file.sync_all().map_err(file_err(&temporary))?;
    drop(file);
    if let Some(source) = source
        && !dir.join(SOURCE_FILE).exists()
    {
        replace_file(dir, SOURCE_FILE, &String::from_utf8_lossy(&source))
            .map_err(file_err(&dir.join(SOURCE_FILE)))?;
    }
    // The remaining records are exactly the unacknowledged ones (sled's spool deleted
    // records once acknowledged).
    let acked = first.map_or(next_id, |f| f.saturating_sub(1));
    replace_file(dir, ACKED_FILE, &acked.to_string()).map_err(file_err(&dir.join(ACKED_FILE)))?;
    match first {
        Some(first) => {
            let segment = segment_path(dir, first);
            std::fs::rename(&temporary, &segment).map_err(file_err(&segment))?;
        }
        None => std::fs::remove_file(&temporary).map_err(file_err(&temporary))?,
    }
    sync_dir(dir).map_err(file_err(dir))?;
    Ok(count)
}

/// Moves sled's files (`conf`, `db`, `blobs/`, `snap.*`) into [`OLD_SPOOL_DIR`].
fn move_sled_files(dir: &Path) -> Result<(), SpiError> {
    let old = dir.join(OLD_SPOOL_DIR);
    owner_only::prepare_dir(&old).map_err(|e| SpiError::SpoolFile {
        path: old.clone(),
        source: std::io::Error::new(std::io::ErrorKind::PermissionDenied, e.to_string()),
    })?;
    for entry in std::fs::read_dir(dir).map_err(file_err(dir))? {
        let entry = entry.map_err(file_err(dir))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name == "conf" || name == "db" || name == "blobs" || name.starts_with("snap.") {
            std::fs::rename(entry.path(), old.join(&*name)).map_err(file_err(&entry.path()))?;
        }
    }
    sync_dir(dir).map_err(file_err(dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::{RecordSink as _, test_event};
    use crate::spool::Spool;

    fn must<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
        r.unwrap_or_else(|e| panic!("{e}"))
    }

    /// A spool as an earlier, sled-based release of the library wrote it, with `texts` waiting and one record
    /// already shipped (deleted); its source id and the keys of the waiting records.
    fn old_spool(dir: &Path, texts: &[&str]) -> (String, Vec<u64>) {
        let db = must(sled::Config::new().path(dir).open());
        let meta = must(db.open_tree("meta"));
        must(meta.insert(b"source", &b"0123456789abcdef0123456789abcdef"[..]));
        let events = must(db.open_tree("events"));
        let shipped = must(db.generate_id());
        must(events.insert(
            shipped.to_be_bytes(),
            must(postcard::to_stdvec(&test_event("shipped"))),
        ));
        must(events.remove(shipped.to_be_bytes()));
        let mut keys = Vec::new();
        for text in texts {
            let key = must(db.generate_id());
            must(events.insert(
                key.to_be_bytes(),
                must(postcard::to_stdvec(&test_event(text))),
            ));
            keys.push(key);
        }
        must(db.flush());
        ("0123456789abcdef0123456789abcdef".into(), keys)
    }

    #[test]
    fn an_old_sled_spool_keeps_its_records_source_and_sequence_numbers() {
        let dir = must(tempfile::tempdir());
        let (source, keys) = old_spool(dir.path(), &["one", "two"]);
        let spool = must(Spool::open(dir.path()));
        assert_eq!(spool.source(), source);
        let pending = must(spool.pending(10, usize::MAX));
        let got: Vec<(u64, String)> = pending.into_iter().map(|(s, e)| (s, e.text)).collect();
        assert_eq!(got, [(keys[0], "one".into()), (keys[1], "two".into())]);
        must(spool.append(&test_event("three")));
        let last = must(spool.pending(10, usize::MAX)).last().map(|(s, _)| *s);
        assert!(
            last > Some(keys[1]),
            "new records continue above sled's ids"
        );
        assert!(!is_sled_spool(dir.path()));
        assert!(dir.path().join(OLD_SPOOL_DIR).join("db").is_file());
        drop(spool);
        // Opened again: nothing migrated twice.
        let spool = must(Spool::open(dir.path()));
        assert_eq!(spool.len(), 3);
    }

    #[test]
    fn an_empty_old_spool_leaves_new_records_above_every_shipped_id() {
        let dir = must(tempfile::tempdir());
        let (source, _) = old_spool(dir.path(), &[]);
        let spool = must(Spool::open(dir.path()));
        assert_eq!(spool.source(), source);
        assert!(spool.is_empty());
        let shipped = spool.acked();
        assert!(shipped > 0);
        must(spool.append(&test_event("new")));
        assert!(must(spool.pending(1, usize::MAX))[0].0 > shipped);
    }
}
