//! The export's manifest, and the plumbing every format shares: files that hash and count
//! what is written through them, the record-id ranges, and fsync of files and directories.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::seal::{ArchiveAnchor, Exporter, ManifestSigner, SIGNATURE_FILE, Tool};
use super::zone::Zone;
use crate::error::ArchiveError;
use crate::query::Query;
use record::hex;

/// The manifest's file name in the export directory. It is written last: an export
/// directory without it is incomplete.
pub const MANIFEST_FILE: &str = "manifest.json";

/// What an export contains, written to `manifest.json` next to the exported files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// What this document is: always [`MANIFEST_TAG`]. First, so the signed bytes say
    /// what they are.
    pub manifest: String,
    /// The format's name: `jsonl`, `csv` or `eml`.
    pub format: String,
    /// When the export started, RFC 3339 in [`Manifest::time_zone`].
    pub created: String,
    /// The same, UTC nanoseconds.
    pub created_ns: i64,
    /// The zone every rendered time in the export is in (`UTC`, or an IANA name with each
    /// time's offset written out).
    pub time_zone: String,
    /// The node that made the export.
    pub node: String,
    /// The program and version that made it.
    pub tool: Tool,
    /// Who made it.
    pub exporter: Exporter,
    /// The archive it was taken from, as it stood when it started.
    pub archive: ArchiveAnchor,
    /// The query whose results were exported.
    pub query: Query,
    /// The query's time bounds, RFC 3339 in [`Manifest::time_zone`] (the raw nanoseconds
    /// are in `query`).
    pub query_times: QueryTimes,
    /// How many records were exported.
    pub count: u64,
    /// The exported record ids as sorted, disjoint, inclusive ranges `(first, last)`.
    pub record_ids: Vec<(u64, u64)>,
    /// Every other file the export wrote, in the order written.
    pub files: Vec<ManifestFile>,
}

/// A query's time bounds for people.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryTimes {
    /// Inclusive lower bound, if any.
    pub since: Option<String>,
    /// Exclusive upper bound, if any.
    pub until: Option<String>,
}

impl QueryTimes {
    /// `query`'s bounds in `zone`.
    pub fn of(query: &Query, zone: &Zone) -> Self {
        Self {
            since: query.since_ns.map(|ns| zone.rfc3339(ns)),
            until: query.until_ns.map(|ns| zone.rfc3339(ns)),
        }
    }
}

/// One exported file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// Its path relative to the export directory, `/`-separated.
    pub name: String,
    /// Its size.
    pub bytes: u64,
    /// How many records it holds.
    pub records: u64,
    /// SHA-256 of its contents, lower-case hex.
    pub sha256: String,
}

/// The error for an I/O failure on `path`.
pub(crate) fn file_error(path: &Path, source: io::Error) -> ArchiveError {
    ArchiveError::File {
        path: path.to_path_buf(),
        source,
    }
}

/// A new file in the export directory that hashes and counts every byte written to it.
pub(crate) struct HashedFile {
    name: String,
    path: PathBuf,
    inner: BufWriter<File>,
    hasher: Sha256,
    bytes: u64,
}

impl HashedFile {
    /// Creates `name` (relative, `/`-separated) under `dir`. Never replaces a file: fails
    /// with `AlreadyExists` if it is there.
    pub(crate) fn create(dir: &Path, name: &str) -> io::Result<Self> {
        let path = dir.join(name);
        let file = private_new_file(&path)?;
        Ok(Self {
            name: name.to_owned(),
            path,
            inner: BufWriter::with_capacity(256 * 1024, file),
            hasher: Sha256::new(),
            bytes: 0,
        })
    }

    /// Creates `name` like [`HashedFile::create`], mapping errors to the archive's.
    pub(crate) fn create_in(dir: &Path, name: &str) -> Result<Self, ArchiveError> {
        Self::create(dir, name).map_err(|e| file_error(&dir.join(name), e))
    }

    /// The file's path on disk.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes, fsyncs and closes the file; returns its manifest entry.
    pub(crate) fn finish(self, records: u64) -> Result<ManifestFile, ArchiveError> {
        let Self {
            name,
            path,
            inner,
            hasher,
            bytes,
        } = self;
        let file = inner
            .into_inner()
            .map_err(|e| file_error(&path, e.into_error()))?;
        file.sync_all().map_err(|e| file_error(&path, e))?;
        Ok(ManifestFile {
            name,
            bytes,
            records,
            sha256: hex(&hasher.finalize()),
        })
    }
}

impl Write for HashedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        let written = buf.get(..n).unwrap_or(buf);
        self.hasher.update(written);
        self.bytes += written.len() as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Record ids collected as inclusive ranges. Ids usually arrive in runs (an export in time
/// order of a busy archive is mostly ascending), so this stays small; when it grows it is
/// sorted and merged, which keeps it within twice its merged size.
#[derive(Debug, Default)]
pub(crate) struct IdRanges {
    ranges: Vec<(u64, u64)>,
    merged_len: usize,
}

impl IdRanges {
    pub(crate) fn push(&mut self, id: u64) {
        match self.ranges.last_mut() {
            Some(last) if last.0 <= id && id <= last.1 => {}
            Some(last) if last.1.checked_add(1) == Some(id) => last.1 = id,
            Some(last) if id.checked_add(1) == Some(last.0) => last.0 = id,
            _ => {
                self.ranges.push((id, id));
                if self.ranges.len() >= 2 * self.merged_len + 1024 {
                    self.merge();
                }
            }
        }
    }

    fn merge(&mut self) {
        self.ranges.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(self.ranges.len());
        for &(first, last) in &self.ranges {
            match merged.last_mut() {
                Some(prev) if first <= prev.1.saturating_add(1) => prev.1 = prev.1.max(last),
                _ => merged.push((first, last)),
            }
        }
        self.ranges = merged;
        self.merged_len = self.ranges.len();
    }

    /// The sorted, disjoint, non-adjacent ranges.
    pub(crate) fn finish(mut self) -> Vec<(u64, u64)> {
        self.merge();
        self.ranges
    }
}

/// fsyncs a directory, so the entries of files created in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), ArchiveError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| file_error(dir, e))
}

/// Creates `path`, failing if it exists, owner-only (0600) whatever the umask: an export
/// holds the same messages as the archive, and whoever hands it on does so deliberately.
fn private_new_file(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(owner_only::FILE_MODE)
        .open(path)
}

/// Creates `dir` and its missing parents owner-only (0700) whatever the umask; an existing
/// directory the user chose keeps its mode.
pub(crate) fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(owner_only::DIR_MODE)
        .create(dir)
}

/// Writes `path` with `bytes` durably: to a temporary name, fsynced, renamed into place;
/// so a file that exists is complete.
fn write_durably(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), ArchiveError> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(name);
    let mut file = private_new_file(&tmp).map_err(|e| file_error(&tmp, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| file_error(&tmp, e))?;
    drop(file);
    fs::rename(&tmp, &path).map_err(|e| file_error(&path, e))
}

/// The exact bytes of `manifest.json`: pretty JSON and a final newline. These are the bytes
/// signed.
pub fn manifest_bytes(manifest: &Manifest) -> Result<Vec<u8>, ArchiveError> {
    let mut json = serde_json::to_vec_pretty(manifest)
        .map_err(|e| ArchiveError::corrupt("export manifest", e))?;
    json.push(b'\n');
    Ok(json)
}

/// Signs `manifest` with `signer` and writes [`SIGNATURE_FILE`] and then `manifest.json`,
/// each durably, and fsyncs the directory; so a `manifest.json` that exists is complete and
/// signed. Returns the signature.
pub(crate) fn write_signed_manifest(
    dir: &Path,
    manifest: &Manifest,
    signer: &dyn ManifestSigner,
) -> Result<[u8; 64], ArchiveError> {
    let bytes = manifest_bytes(manifest)?;
    let signature = signer.sign(&bytes)?;
    write_durably(dir, SIGNATURE_FILE, &signature)?;
    write_durably(dir, MANIFEST_FILE, &bytes)?;
    sync_dir(dir)?;
    Ok(signature)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::export::seal::MANIFEST_TAG;

    #[test]
    fn ranges_merge_runs_gaps_disorder_and_duplicates() {
        let mut r = IdRanges::default();
        for id in [1, 2, 3, 7, 8, 5, 4, 4, 20, 9, 19, 100] {
            r.push(id);
        }
        assert_eq!(r.finish(), vec![(1, 5), (7, 9), (19, 20), (100, 100)]);
        assert!(IdRanges::default().finish().is_empty());
        let mut r = IdRanges::default();
        r.push(u64::MAX);
        r.push(0);
        assert_eq!(r.finish(), vec![(0, 0), (u64::MAX, u64::MAX)]);
    }

    #[test]
    fn ranges_stay_compact_for_many_scattered_ids() {
        // Every even id, in reverse, then every odd one: worst case for run detection.
        let mut r = IdRanges::default();
        for id in (0..20_000u64).rev().filter(|i| i % 2 == 0) {
            r.push(id);
        }
        assert!(r.ranges.len() <= 10_000 + 1024);
        for id in (0..20_000u64).filter(|i| i % 2 == 1) {
            r.push(id);
        }
        assert_eq!(r.finish(), vec![(0, 19_999)]);
    }

    #[test]
    fn hashed_file_reports_size_and_sha256_and_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = HashedFile::create(dir.path(), "a.txt").unwrap();
        f.write_all(b"abc").unwrap();
        let entry = f.finish(1).unwrap();
        assert_eq!(entry.bytes, 3);
        assert_eq!(
            entry.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(fs::read(dir.path().join("a.txt")).unwrap(), b"abc");
        let again = HashedFile::create(dir.path(), "a.txt");
        assert_eq!(
            again.err().map(|e| e.kind()),
            Some(io::ErrorKind::AlreadyExists)
        );
    }

    #[test]
    fn manifest_is_written_in_place_without_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let signer = crate::export::tests::TestSigner::new();
        let m = Manifest {
            manifest: MANIFEST_TAG.into(),
            format: "jsonl".into(),
            created: "1970-01-01T00:00:00.000000000Z".into(),
            created_ns: 0,
            time_zone: "UTC".into(),
            node: "gw1".into(),
            tool: Tool {
                name: "imtegrity".into(),
                version: "1".into(),
            },
            exporter: Exporter {
                uid: 0,
                user: "root".into(),
                host: "h".into(),
            },
            archive: signer.state().unwrap().anchor(&Zone::utc()),
            query: Query::default(),
            query_times: QueryTimes::default(),
            count: 0,
            record_ids: vec![],
            files: vec![],
        };
        let signature = write_signed_manifest(dir.path(), &m, &signer).unwrap();
        let mut names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, vec![MANIFEST_FILE, SIGNATURE_FILE]);
        assert_eq!(
            fs::read(dir.path().join(SIGNATURE_FILE)).unwrap(),
            signature.to_vec()
        );
        let back: Manifest =
            serde_json::from_slice(&fs::read(dir.path().join(MANIFEST_FILE)).unwrap()).unwrap();
        assert_eq!(back, m);
    }
}
