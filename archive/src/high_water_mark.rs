//! The high-water mark: the newest signed head, kept in a small file beside the store
//! (`<archive>/head`), outside sled.
//!
//! sled keeps the signed head in its own meta tree, so a store that goes back in time takes
//! its signed head with it: damage that sled "recovers" by falling back to an older
//! consistent state, or old copies of sled's files put back, verify as intact. The mark is
//! the one thing that does not go back with them. A store whose highest id (or signed head)
//! is below the mark was rolled back; one whose signed head at the mark's id differs from the
//! mark was replaced.
//!
//! # The file
//!
//! Two 512-byte slots, written alternately, each holding one fixed-size record: a magic, the
//! head (id, hash, time, and the ed25519 signature the signed head already carries, so
//! nothing extra is signed per commit), and a SHA-256 of all that. A slot that does not
//! check out (torn, garbled, or not signed by the archive key) is ignored; the newest good
//! slot is the mark. A slot lies within one disk sector, and the two are never written by
//! the same commit, so a write torn by a power cut spoils at most the slot being written and
//! the other still holds the previous mark.
//!
//! # Why no fsync
//!
//! The mark is rewritten in place (`pwrite`) once each commit is durable (its journal frame
//! synced), never before and without an fsync of its own. Every mark handed to the kernel
//! therefore names a head the store has already made durable (in the journal, which open
//! applies to sled before the mark is checked): whatever a power cut keeps of the file, it
//! can only be *behind* the store (an older head, or the previous slot), never ahead, and
//! behind is accepted.
//! Only ahead means the store lost what it had committed. The file's creation is the one
//! step that is synced (written aside, fsynced, renamed, directory fsynced), because a
//! missing file is itself a finding once the archive has had one.
//!
//! This decides in pure functions ([`parse`], [`check`]); [`MarkWriter`] and [`read`] do
//! the file I/O.

use std::fs::File;
use std::io::{ErrorKind, Read as _, Write as _};
use std::os::unix::fs::{FileExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha256};

use crate::chain::Hash;
use crate::error::ArchiveError;
use crate::signing::{Checkpoint, CheckpointReason};
use crate::verify::Tamper;

/// The mark file's name in the archive directory.
pub const FILE_NAME: &str = "head";
/// What starts a slot: the format and its version.
const MAGIC: &[u8; 8] = b"IMTHWM01";
/// Bytes of one encoded mark: magic, id, hash, time, signature, checksum.
const RECORD_LEN: usize = 8 + 8 + 32 + 8 + 64 + 32;
/// Bytes per slot: one sector, so a torn write spoils at most one slot.
const SLOT_LEN: usize = 512;
/// Slots in the file, written alternately.
const SLOTS: usize = 2;
/// The whole file's length.
const FILE_LEN: usize = SLOT_LEN * SLOTS;

/// A signed head as the mark file holds it: the highest record id the archive ever
/// committed, that record's hash, and the signature of the signed head that said so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HighWaterMark {
    /// The highest record id ever committed (retention purges never lower it).
    pub upto_id: u64,
    /// That record's hash.
    pub head: Hash,
    /// When the head was signed (UTC ns).
    pub time_ns: i64,
    /// The signed head's ed25519 signature.
    signature: [u8; 64],
}

impl HighWaterMark {
    /// The mark of a signed head.
    pub(crate) fn of(signed_head: &Checkpoint) -> Self {
        Self {
            upto_id: signed_head.upto_id,
            head: signed_head.head,
            time_ns: signed_head.time_ns,
            signature: signed_head.signature,
        }
    }

    /// Whether the signature is the archive key's over this head (as the signed head was).
    fn signed_by(&self, public: &VerifyingKey) -> bool {
        Checkpoint {
            seq: 0,
            upto_id: self.upto_id,
            head: self.head,
            time_ns: self.time_ns,
            reason: CheckpointReason::Head,
            signature: self.signature,
        }
        .verify(public)
    }

    fn encode(&self) -> [u8; RECORD_LEN] {
        let mut out = [0u8; RECORD_LEN];
        out[..8].copy_from_slice(MAGIC);
        out[8..16].copy_from_slice(&self.upto_id.to_be_bytes());
        out[16..48].copy_from_slice(&self.head);
        out[48..56].copy_from_slice(&self.time_ns.to_be_bytes());
        out[56..120].copy_from_slice(&self.signature);
        let sum: [u8; 32] = Sha256::digest(&out[..120]).into();
        out[120..].copy_from_slice(&sum);
        out
    }

    /// One slot's record, if its magic and checksum hold.
    fn decode(slot: &[u8]) -> Option<Self> {
        let record = slot.get(..RECORD_LEN)?;
        let (body, sum) = record.split_at(120);
        if !body.starts_with(MAGIC) || Sha256::digest(body).as_slice() != sum {
            return None;
        }
        Some(Self {
            upto_id: u64::from_be_bytes(body[8..16].try_into().ok()?),
            head: body[16..48].try_into().ok()?,
            time_ns: i64::from_be_bytes(body[48..56].try_into().ok()?),
            signature: body[56..120].try_into().ok()?,
        })
    }
}

/// Reads the mark file's bytes: `None` when there is none. Reads at most one byte more
/// than a mark file holds, so a huge file put in its place costs nothing.
pub fn read(dir: &Path) -> Result<Option<Vec<u8>>, ArchiveError> {
    let path = dir.join(FILE_NAME);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(ArchiveError::File { path, source }),
    };
    let mut bytes = Vec::with_capacity(FILE_LEN + 1);
    file.take(FILE_LEN as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| ArchiveError::File { path, source })?;
    Ok(Some(bytes))
}

/// The mark in a mark file's bytes: the newest slot whose checksum holds and, with
/// `public`, whose signature is the archive key's. `Err` says why no slot could be trusted.
pub fn parse(bytes: &[u8], public: Option<&VerifyingKey>) -> Result<HighWaterMark, String> {
    newest_slot(bytes, public).map(|(mark, _)| mark)
}

/// [`parse`], and which slot holds the mark: the next write goes to the other one, so a
/// write torn by a power cut never spoils the newest good mark.
pub(crate) fn newest_slot(
    bytes: &[u8],
    public: Option<&VerifyingKey>,
) -> Result<(HighWaterMark, usize), String> {
    if bytes.len() != FILE_LEN {
        return Err(format!("{} bytes, expected {FILE_LEN}", bytes.len()));
    }
    let (mut torn, mut unsigned) = (0, 0);
    let mut best: Option<(HighWaterMark, usize)> = None;
    for (n, slot) in bytes.chunks(SLOT_LEN).enumerate() {
        let Some(mark) = HighWaterMark::decode(slot) else {
            torn += 1;
            continue;
        };
        if public.is_some_and(|key| !mark.signed_by(key)) {
            unsigned += 1;
            continue;
        }
        if best.is_none_or(|(b, _)| (mark.upto_id, mark.time_ns) > (b.upto_id, b.time_ns)) {
            best = Some((mark, n));
        }
    }
    best.ok_or_else(|| {
        format!("no slot can be trusted ({torn} fail their checksum, {unsigned} their signature)")
    })
}

/// The verdict on a store against its mark file. `file` is the file's bytes (`None`: no
/// file); `signed_head` the store's signed head; `store_high` the highest id the store
/// holds or signed; `since` the id from which the store says it has kept a mark file.
///
/// A mark behind the store is normal (a power cut can lose the last rewrite); only a mark
/// ahead of it, or naming another head at the same id, is a finding.
pub(crate) fn check(
    file: Option<&[u8]>,
    public: &VerifyingKey,
    signed_head: Option<&Checkpoint>,
    store_high: u64,
    since: Option<u64>,
) -> Option<Tamper> {
    let Some(bytes) = file else {
        return since.map(|since| Tamper::MarkMissing { since });
    };
    let mark = match parse(bytes, Some(public)) {
        Ok(mark) => mark,
        Err(reason) => return Some(Tamper::MarkUnreadable { reason }),
    };
    if mark.upto_id > store_high {
        return Some(Tamper::RolledBack {
            store_head: store_high,
            mark: mark.upto_id,
        });
    }
    signed_head
        .filter(|signed| signed.upto_id == mark.upto_id && signed.head != mark.head)
        .map(|signed| Tamper::HeadReplaced { id: signed.upto_id })
}

/// Writes the mark file: creates it once (synced), then rewrites a slot in place per
/// commit, never going back to an older head.
pub(crate) struct MarkWriter {
    path: PathBuf,
    /// `None` until the file is created; then open for writing.
    file: Option<File>,
    /// Whether the file may be created: not when its absence is itself the finding.
    may_create: bool,
    /// The highest id written (or found), so a late writer never lowers the mark.
    written_upto: u64,
    next_slot: usize,
    /// The newest signed head not yet written: it waits until its commit is durable.
    pub(crate) pending: Option<HighWaterMark>,
}

impl MarkWriter {
    /// A writer for `dir`'s mark, whose file holds `found` in the given slot (`None`: no
    /// file yet; it is created on the first write if `may_create`).
    pub(crate) fn open(
        dir: &Path,
        found: Option<(HighWaterMark, usize)>,
        may_create: bool,
    ) -> Result<Self, ArchiveError> {
        let path = dir.join(FILE_NAME);
        let file = match found {
            Some(_) => Some(
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(|source| ArchiveError::File {
                        path: path.clone(),
                        source,
                    })?,
            ),
            None => None,
        };
        Ok(Self {
            path,
            file,
            may_create: may_create && found.is_none(),
            written_upto: found.map_or(0, |(m, _)| m.upto_id),
            next_slot: found.map_or(0, |(_, slot)| (slot + 1) % SLOTS),
            pending: None,
        })
    }

    /// A writer that never writes: the file is missing or not to be touched, and appends are
    /// refused, so there is nothing to mark.
    pub(crate) fn disabled(dir: &Path) -> Self {
        Self {
            path: dir.join(FILE_NAME),
            file: None,
            may_create: false,
            written_upto: u64::MAX,
            next_slot: 0,
            pending: None,
        }
    }

    /// Writes `mark`, which the caller has just made durable in sled. Returns whether the
    /// file was created by this call (the store then records that it keeps one).
    pub(crate) fn write(&mut self, mark: HighWaterMark) -> Result<bool, ArchiveError> {
        if mark.upto_id < self.written_upto {
            return Ok(false);
        }
        let file_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ArchiveError::File { path, source }
        };
        let Some(file) = &self.file else {
            if !self.may_create {
                return Ok(false);
            }
            self.file = Some(create(&self.path, &mark).map_err(file_err(&self.path))?);
            self.may_create = false;
            self.written_upto = mark.upto_id;
            self.next_slot = 1;
            return Ok(true);
        };
        file.write_all_at(&mark.encode(), (self.next_slot * SLOT_LEN) as u64)
            .map_err(file_err(&self.path))?;
        self.next_slot = (self.next_slot + 1) % SLOTS;
        self.written_upto = mark.upto_id;
        Ok(false)
    }
}

/// Creates the mark file holding `mark` in both slots, whole or not at all: written aside
/// (0600), synced, renamed into place, and the directory synced.
fn create(path: &Path, mark: &HighWaterMark) -> std::io::Result<File> {
    let aside = path.with_extension("new");
    let mut bytes = [0u8; FILE_LEN];
    for slot in bytes.chunks_mut(SLOT_LEN) {
        slot[..RECORD_LEN].copy_from_slice(&mark.encode());
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(owner_only::FILE_MODE)
        .open(&aside)?;
    file.write_all(&bytes)?;
    file.sync_all()?;
    std::fs::rename(&aside, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::signing::ArchiveKey;

    fn key(dir: &Path) -> ArchiveKey {
        ArchiveKey::load_or_create(&dir.join("signing.key")).unwrap()
    }

    fn signed(key: &ArchiveKey, id: u64, hash_byte: u8) -> Checkpoint {
        Checkpoint::signed(
            key,
            0,
            id,
            [hash_byte; 32],
            1_000 + id as i64,
            CheckpointReason::Head,
        )
        .unwrap()
    }

    /// A mark file written through the writer: created at `first`, then each of `then`.
    fn written(dir: &Path, key: &ArchiveKey, first: u64, then: &[u64]) -> Vec<u8> {
        let mut writer = MarkWriter::open(dir, None, true).unwrap();
        assert!(
            writer
                .write(HighWaterMark::of(&signed(key, first, 1)))
                .unwrap()
        );
        for id in then {
            assert!(
                !writer
                    .write(HighWaterMark::of(&signed(key, *id, 1)))
                    .unwrap()
            );
        }
        read(dir).unwrap().unwrap()
    }

    #[test]
    fn the_newest_good_slot_is_the_mark() {
        let dir = tempfile::tempdir().unwrap();
        let key = key(dir.path());
        let bytes = written(dir.path(), &key, 10, &[20, 30]);
        assert_eq!(bytes.len(), FILE_LEN);
        let mark = parse(&bytes, Some(&key.public())).unwrap();
        assert_eq!((mark.upto_id, mark.head), (30, [1; 32]));
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join(FILE_NAME))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn an_older_head_never_overwrites_a_newer_one() {
        let dir = tempfile::tempdir().unwrap();
        let key = key(dir.path());
        let bytes = written(dir.path(), &key, 10, &[30, 20, 25]);
        assert_eq!(parse(&bytes, Some(&key.public())).unwrap().upto_id, 30);
    }

    #[test]
    fn a_torn_slot_falls_back_to_the_other_and_two_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let key = key(dir.path());
        // 10 in both slots, then 20 in slot 1: tear slot 1, as a power cut mid-write would.
        let mut bytes = written(dir.path(), &key, 10, &[20]);
        bytes[SLOT_LEN + 40..SLOT_LEN + 60].fill(0);
        assert_eq!(parse(&bytes, Some(&key.public())).unwrap().upto_id, 10);
        bytes[40..60].fill(0xff);
        assert_eq!(
            parse(&bytes, Some(&key.public())),
            Err("no slot can be trusted (2 fail their checksum, 0 their signature)".into())
        );
        let verdict = check(Some(&bytes), &key.public(), None, 10, Some(1));
        assert!(
            matches!(verdict, Some(Tamper::MarkUnreadable { ref reason }) if reason.contains("2 fail their checksum")),
            "{verdict:?}"
        );
    }

    #[test]
    fn a_reopened_writer_spares_the_slot_with_the_newest_mark() {
        let dir = tempfile::tempdir().unwrap();
        let key = key(dir.path());
        // 10 in both slots, 20 in slot 1, 30 in slot 0.
        let bytes = written(dir.path(), &key, 10, &[20, 30]);
        let found = newest_slot(&bytes, Some(&key.public())).unwrap();
        assert_eq!((found.0.upto_id, found.1), (30, 0));
        let mut writer = MarkWriter::open(dir.path(), Some(found), true).unwrap();
        assert!(
            !writer
                .write(HighWaterMark::of(&signed(&key, 40, 1)))
                .unwrap()
        );
        // A power cut tears that write: the mark before it is still there.
        let mut bytes = read(dir.path()).unwrap().unwrap();
        assert_eq!(parse(&bytes, Some(&key.public())).unwrap().upto_id, 40);
        bytes[SLOT_LEN + 8..SLOT_LEN + 16].fill(0);
        assert_eq!(parse(&bytes, Some(&key.public())).unwrap().upto_id, 30);
    }

    #[test]
    fn a_mark_of_another_key_or_length_is_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let key = key(dir.path());
        let bytes = written(dir.path(), &key, 10, &[]);
        let other = tempfile::tempdir().unwrap();
        let other = self::key(other.path());
        assert_eq!(
            parse(&bytes, Some(&other.public())),
            Err("no slot can be trusted (0 fail their checksum, 2 their signature)".into())
        );
        assert_eq!(
            parse(&bytes[..FILE_LEN - 1], None),
            Err(format!("{} bytes, expected {FILE_LEN}", FILE_LEN - 1))
        );
        assert_eq!(
            parse(&[0; FILE_LEN + 1], None),
            Err(format!("{} bytes, expected {FILE_LEN}", FILE_LEN + 1))
        );
    }

    #[test]
    fn a_mark_ahead_of_the_store_is_a_rollback_behind_it_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        let key = key(dir.path());
        let bytes = written(dir.path(), &key, 1500, &[]);
        let public = key.public();
        let older = signed(&key, 600, 1);
        assert_eq!(
            check(Some(&bytes), &public, Some(&older), 600, Some(1)),
            Some(Tamper::RolledBack {
                store_head: 600,
                mark: 1500
            })
        );
        let newer = signed(&key, 1600, 1);
        assert_eq!(
            check(Some(&bytes), &public, Some(&newer), 1600, Some(1)),
            None
        );
        let same = signed(&key, 1500, 1);
        assert_eq!(check(Some(&bytes), &public, Some(&same), 1500, None), None);
        let replaced = signed(&key, 1500, 2);
        assert_eq!(
            check(Some(&bytes), &public, Some(&replaced), 1500, Some(1)),
            Some(Tamper::HeadReplaced { id: 1500 })
        );
    }

    #[test]
    fn a_missing_file_matters_only_once_the_store_has_kept_one() {
        let dir = tempfile::tempdir().unwrap();
        let public = key(dir.path()).public();
        assert_eq!(check(None, &public, None, 40, None), None);
        assert_eq!(
            check(None, &public, None, 40, Some(7)),
            Some(Tamper::MarkMissing { since: 7 })
        );
    }

    #[test]
    fn hostile_bytes_never_panic_and_never_pass() {
        let dir = tempfile::tempdir().unwrap();
        let public = key(dir.path()).public();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for len in [0, 1, RECORD_LEN, SLOT_LEN, FILE_LEN, FILE_LEN + 1] {
            for _ in 0..50 {
                let bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        state as u8
                    })
                    .collect();
                assert!(parse(&bytes, Some(&public)).is_err());
                assert!(parse(&bytes, None).is_err());
            }
        }
        // The right magic with a wrong checksum is still refused.
        let mut bytes = [0u8; FILE_LEN];
        bytes[..8].copy_from_slice(MAGIC);
        bytes[SLOT_LEN..SLOT_LEN + 8].copy_from_slice(MAGIC);
        assert!(parse(&bytes, None).is_err());
    }
}
