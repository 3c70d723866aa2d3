//! The files of a spool directory and how each is read or written: the segments
//! (`<first seq, 20 digits>.seg`), the acknowledged sequence number (`acked`), the spool's
//! random `source` id, and the writer's `lock`.
//!
//! Small files (`acked`, `source`) are replaced atomically: written to a temporary name,
//! synced, renamed over the old one, and the directory synced, so a crash leaves the old
//! value or the new one, never half of one. Every file is created 0600 inside the 0700
//! spool directory: the spool holds the messages.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The suffix of a segment file.
const SEGMENT_SUFFIX: &str = ".seg";
/// The file holding the highest sequence number the gateway acknowledged.
pub const ACKED_FILE: &str = "acked";
/// The file holding the spool's `source` id.
pub const SOURCE_FILE: &str = "source";
/// The file the writer locks, so one process at a time appends.
pub const LOCK_FILE: &str = "lock";

/// A segment: the sequence number of its first record (also its name) and its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolSegment {
    /// The first record's sequence number (the segment may hold none yet).
    pub first_seq: u64,
    /// The file.
    pub path: PathBuf,
}

/// The segment file for records from `first_seq` on.
pub fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("{first_seq:020}{SEGMENT_SUFFIX}"))
}

/// The segments in `dir`, oldest first. Files that are not segments are left alone.
pub fn segments(dir: &Path) -> std::io::Result<Vec<SpoolSegment>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(first_seq) = name
            .to_str()
            .and_then(|n| n.strip_suffix(SEGMENT_SUFFIX))
            .filter(|n| n.len() == 20)
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        found.push(SpoolSegment {
            first_seq,
            path: entry.path(),
        });
    }
    found.sort_by_key(|s| s.first_seq);
    Ok(found)
}

/// Options that create a file readable by its owner only.
pub fn private_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options
}

/// Syncs the directory itself, so a file created, renamed or removed in it stays so.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    // Windows cannot open a directory as a file; NTFS journals the name change itself.
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Replaces `dir/name` with `text`, atomically and durably.
pub fn replace_file(dir: &Path, name: &str, text: &str) -> std::io::Result<()> {
    let temporary = dir.join(format!("{name}.tmp"));
    let mut file = private_options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&temporary)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary, dir.join(name))?;
    sync_dir(dir)
}

/// The acknowledged sequence number in `dir` (0 when none was ever acknowledged). A file
/// that does not parse counts as 0: every record is then shipped again, and the gateway,
/// which deduplicates by `source` and `seq`, keeps one copy; said on stderr.
pub fn read_acked(dir: &Path) -> std::io::Result<u64> {
    match std::fs::read_to_string(dir.join(ACKED_FILE)) {
        Ok(text) => Ok(text.trim().parse().unwrap_or_else(|_| {
            eprintln!(
                "imtegrity_stchatlog: {}: not a sequence number; shipping every record again",
                dir.join(ACKED_FILE).display()
            );
            0
        })),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_sort_by_their_first_sequence_number_and_strangers_are_ignored() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        for seq in [30, 2, 100] {
            std::fs::write(segment_path(dir.path(), seq), b"").unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::write(dir.path().join("notes.seg"), b"").unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join(ACKED_FILE), b"7\n").unwrap_or_else(|e| panic!("{e}"));
        let firsts: Vec<u64> = segments(dir.path())
            .unwrap_or_else(|e| panic!("{e}"))
            .iter()
            .map(|s| s.first_seq)
            .collect();
        assert_eq!(firsts, [2, 30, 100]);
        assert_eq!(read_acked(dir.path()).unwrap_or_default(), 7);
        replace_file(dir.path(), ACKED_FILE, "9").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read_acked(dir.path()).unwrap_or_default(), 9);
    }
}
