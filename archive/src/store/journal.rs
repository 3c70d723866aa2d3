//! The commit journal (`<archive>/journal`): the archive's durability point.
//!
//! Each commit appends one frame holding everything it wrote to sled (the records' stored
//! bytes, the ingest marks and source owners it set, the new signed head) and `fdatasync`s
//! the file; the appenders are answered only then. sled itself is flushed and synced only at
//! checkpoints (and whenever retention, salvage or recovery need it), after which the
//! journal is emptied: every frame in it is then in sled's durable state.
//!
//! Why: making sled durable costs its `flush` (which waits for its own writeback through
//! `sync_file_range`) and then an `fdatasync` of its data file, about 0.4 ms per commit on
//! the machine the benchmarks ran on; one append and `fdatasync` of a small sequential file
//! costs what a plain log costs. The journal is what makes a record survive a crash; sled is
//! brought up to it when the archive opens ([`Store::replay_journal`]).
//!
//! Frames use [`log_frame`]: a torn last frame (the process or the machine died in the middle
//! of an append) was never acknowledged and is cut off; a damaged frame with frames after it
//! is damage, and appends are refused. A frame's signed head is checked against the archive
//! key before it is applied, so a journal written by anyone without the key is refused too.
//!
//! [`Store::replay_journal`]: super::Store::replay_journal

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use log_frame::{Torn, decode, encode};
use serde::{Deserialize, Serialize};

use crate::error::ArchiveError;
use crate::signing::Checkpoint;

/// The journal's file name in the archive directory.
pub(crate) const FILE_NAME: &str = "journal";

/// Past this many bytes the writer makes sled durable and empties the journal, even before
/// the next checkpoint is due (records with large texts fill it faster than the checkpoint
/// count assumes).
pub(crate) const FLUSH_AT_BYTES: u64 = 32 << 20;

/// What one commit wrote, as the journal keeps it.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Frame {
    /// Record id → its stored bytes, in id order.
    pub(crate) records: Vec<(u64, Vec<u8>)>,
    /// Ingest source → the highest seq stored for it by this commit.
    pub(crate) marks: Vec<(String, u64)>,
    /// Ingest sources first written by this commit → the client they are bound to.
    pub(crate) owners: Vec<(String, String)>,
    /// The signed head after this commit, as the meta tree stores it.
    pub(crate) head: Vec<u8>,
}

/// What was read from the journal when the archive opened.
#[derive(Debug, Default)]
pub(crate) struct Contents {
    /// The whole frames, oldest first.
    pub(crate) frames: Vec<Frame>,
    /// Bytes at the end that were not a whole frame (cut off).
    pub(crate) torn_bytes: u64,
    /// A damaged frame with more bytes after it: not what a crash leaves.
    pub(crate) damage: Option<String>,
}

/// The open journal file.
#[derive(Debug)]
pub(crate) struct Journal {
    path: PathBuf,
    file: File,
    /// Bytes of whole frames: where the next frame goes.
    len: u64,
    /// A failed append could not be cut back off: nothing may be appended after it until the
    /// journal is emptied (a frame after torn bytes would be unreadable).
    spoiled: bool,
}

impl Journal {
    /// Opens (or creates, owner-only) the journal in `dir` and reads what it holds; a torn
    /// tail is cut off.
    pub(crate) fn open(dir: &Path) -> Result<(Self, Contents), ArchiveError> {
        let path = dir.join(FILE_NAME);
        let file_err = |source| ArchiveError::File {
            path: path.clone(),
            source,
        };
        let existed = path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&path)
            .map_err(file_err)?;
        if !existed {
            // The file must outlive a power cut once a commit has relied on it.
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(file_err)?;
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(file_err)?;
        let (contents, whole) = parse(&bytes);
        if contents.damage.is_some() {
            // Kept as evidence, under a name that says why; appends are refused (the store
            // reports the damage) and a fresh journal takes its place.
            let aside = path.with_extension(format!("damaged-{}", record::now_ns()));
            std::fs::rename(&path, &aside).map_err(file_err)?;
            let (journal, _) = Self::open(dir)?;
            let mut contents = contents;
            if let Some(damage) = &mut contents.damage {
                damage.push_str(&format!(" (kept as {})", aside.display()));
            }
            return Ok((journal, contents));
        }
        if contents.torn_bytes > 0 {
            file.set_len(whole).map_err(file_err)?;
        }
        Ok((
            Self {
                path,
                file,
                len: whole,
                spoiled: false,
            },
            contents,
        ))
    }

    /// Appends `frame` (whose last record is `last_id`) and makes it durable. A failed
    /// append is cut back off, so the journal stays readable; if even that fails, every
    /// later append fails until [`Journal::clear`] succeeds.
    pub(crate) fn append(&mut self, last_id: u64, frame: &Frame) -> Result<(), ArchiveError> {
        if self.spoiled {
            return Err(ArchiveError::CommitFailed(format!(
                "{}: a failed append could not be cut off; waiting for a full flush",
                self.path.display()
            )));
        }
        let payload =
            postcard::to_stdvec(frame).map_err(|e| ArchiveError::corrupt("journal", e))?;
        let bytes = encode(last_id, &payload).ok_or_else(|| {
            ArchiveError::CommitFailed(format!(
                "one commit of {} bytes is more than a journal frame holds",
                payload.len()
            ))
        })?;
        let written = self
            .file
            .write_all(&bytes)
            .and_then(|()| self.file.sync_data());
        if let Err(source) = written {
            if self.file.set_len(self.len).is_err() {
                self.spoiled = true;
            }
            return Err(ArchiveError::File {
                path: self.path.clone(),
                source,
            });
        }
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Empties the journal: the caller has made sled durable, so no frame is needed any
    /// more. Not synced: frames left behind by a power cut are applied again on open, which
    /// changes nothing.
    pub(crate) fn clear(&mut self) -> Result<(), ArchiveError> {
        if self.len == 0 && !self.spoiled {
            return Ok(());
        }
        self.file.set_len(0).map_err(|source| ArchiveError::File {
            path: self.path.clone(),
            source,
        })?;
        self.len = 0;
        self.spoiled = false;
        Ok(())
    }

    /// Bytes of frames held.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }
}

/// The newest signed head in the commit journal of the archive in `dir`, read without
/// opening the archive or changing the file: with sled's own signed head, what a crash left
/// durable (tools and tests that look at a killed writer's store use it). Its signature is
/// not checked here; opening the archive does.
pub fn journaled_head(dir: &Path) -> Result<Option<Checkpoint>, ArchiveError> {
    let path = dir.join(FILE_NAME);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(ArchiveError::File { path, source }),
    };
    parse(&bytes)
        .0
        .frames
        .last()
        .map(|frame| Checkpoint::decode(&frame.head))
        .transpose()
}

/// Reads the frames in `bytes`: the contents, and the length of the whole frames.
pub(crate) fn parse(bytes: &[u8]) -> (Contents, u64) {
    let mut contents = Contents::default();
    let mut at = 0usize;
    while at < bytes.len() {
        let rest = bytes.get(at..).unwrap_or_default();
        match decode(rest) {
            Ok((frame, used)) => match postcard::from_bytes::<Frame>(frame.payload) {
                Ok(decoded) => {
                    contents.frames.push(decoded);
                    at += used;
                }
                // The checksum matched bytes that are not a commit: written by something else.
                Err(e) => {
                    contents.damage = Some(format!(
                        "the commit journal holds a frame at byte {at} that is not a commit: {e}"
                    ));
                    contents.torn_bytes = rest.len() as u64;
                    break;
                }
            },
            Err(Torn::Short) => {
                contents.torn_bytes = rest.len() as u64;
                break;
            }
            Err(Torn::Damaged) => {
                // A torn append can leave garbage only at the very end: if a whole frame
                // follows the damaged bytes, they were changed after being written.
                if (at + 1..bytes.len())
                    .any(|next| decode(bytes.get(next..).unwrap_or_default()).is_ok())
                {
                    contents.damage = Some(format!(
                        "the commit journal is damaged at byte {at}, with whole frames after it"
                    ));
                }
                contents.torn_bytes = rest.len() as u64;
                break;
            }
        }
    }
    (contents, at as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(id: u64) -> Frame {
        Frame {
            records: vec![(id, vec![id as u8; 40])],
            marks: vec![("spool".into(), id)],
            owners: vec![],
            head: vec![7; 10],
        }
    }

    fn bytes_of(frames: &[Frame]) -> Vec<u8> {
        frames
            .iter()
            .enumerate()
            .flat_map(|(n, f)| {
                encode(n as u64, &postcard::to_stdvec(f).unwrap_or_default()).unwrap_or_default()
            })
            .collect()
    }

    #[test]
    fn frames_read_back_and_a_cut_anywhere_in_the_last_one_is_a_torn_tail() {
        let frames = [frame(1), frame(2)];
        let bytes = bytes_of(&frames);
        let first = bytes_of(&frames[..1]).len();
        let (all, whole) = parse(&bytes);
        assert_eq!(
            (all.frames.as_slice(), whole),
            (&frames[..], bytes.len() as u64)
        );
        for cut in first..bytes.len() {
            let (read, whole) = parse(&bytes[..cut]);
            assert_eq!(read.frames, frames[..1], "cut at {cut}");
            assert_eq!(whole, first as u64);
            assert_eq!(read.torn_bytes, (cut - first) as u64);
            assert!(read.damage.is_none());
        }
    }

    #[test]
    fn a_damaged_frame_before_a_whole_one_is_damage_not_a_torn_tail() {
        let frames = [frame(1), frame(2)];
        let mut bytes = bytes_of(&frames);
        bytes[20] ^= 1;
        let (read, whole) = parse(&bytes);
        assert!(read.frames.is_empty());
        assert_eq!(whole, 0);
        assert!(read.damage.is_some(), "{read:?}");
        // The same flip in the last frame is what a torn append looks like.
        let mut bytes = bytes_of(&frames);
        let last = bytes.len() - 3;
        bytes[last] ^= 1;
        let (read, _) = parse(&bytes);
        assert_eq!(read.frames, frames[..1]);
        assert!(read.damage.is_none());
    }

    #[test]
    fn an_append_is_durable_and_a_clear_empties_the_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (mut journal, read) = Journal::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert!(read.frames.is_empty());
        for id in 1..=3 {
            journal
                .append(id, &frame(id))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        drop(journal);
        let (mut journal, read) = Journal::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read.frames, vec![frame(1), frame(2), frame(3)]);
        journal.clear().unwrap_or_else(|e| panic!("{e}"));
        let (_, read) = Journal::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert!(read.frames.is_empty());
        let mode = std::fs::metadata(dir.path().join(FILE_NAME))
            .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777)
            .unwrap_or_default();
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn a_torn_tail_is_cut_off_at_open_so_the_next_frame_is_readable() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (mut journal, _) = Journal::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        journal
            .append(1, &frame(1))
            .unwrap_or_else(|e| panic!("{e}"));
        drop(journal);
        let path = dir.path().join(FILE_NAME);
        let mut file = OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("{e}"));
        file.write_all(&[1, 2, 3, 4, 5])
            .unwrap_or_else(|e| panic!("{e}"));
        let (mut journal, read) = Journal::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((read.frames.len(), read.torn_bytes), (1, 5));
        journal
            .append(2, &frame(2))
            .unwrap_or_else(|e| panic!("{e}"));
        drop(journal);
        let (_, read) = Journal::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read.frames, vec![frame(1), frame(2)]);
    }
}
