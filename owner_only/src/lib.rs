//! Data at rest is private: the directories that hold archive data, keys or spools are 0700
//! and every file in them 0600, whatever the umask of the process that wrote them.
//!
//! Checked at open, before anything is read or written: a directory owned by another user is
//! refused (we cannot vouch for who else reads it); looser modes on what we own are fixed,
//! with a warning naming each path and its old mode. Key files are the exception: one that
//! others could read may already have been copied, so it is refused, not silently fixed
//! ([`check_key_file`]), as ssh refuses an unprotected private key.
//!
//! sled creates files later too (snapshots, blobs). This module does not touch the process
//! umask (a library must not: the Sametime module runs inside someone else's server); the
//! 0700 directory is what keeps those later files from other users, and the `imtegrity`
//! binary also sets umask 0077 at start.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

pub use error::OwnerOnlyError;

mod error;

/// A private directory's mode: the owner alone lists and enters it.
pub const DIR_MODE: u32 = 0o700;
/// The one looser mode a top directory may keep: group search (no listing), so that members
/// of an admin group can reach `admin.sock` (which checks their credentials itself).
pub const DIR_MODE_GROUP_SEARCH: u32 = 0o710;
/// A private file's mode: the owner alone reads and writes it.
pub const FILE_MODE: u32 = 0o600;

/// The permission bits of `mode` (no file type, no setuid/sticky).
fn perms(mode: u32) -> u32 {
    mode & 0o777
}

/// The mode to set instead of `mode` if it lets anyone but the owner in: the owner's bits
/// alone. Stricter modes are the owner's business (a read-only spool, say) and are kept;
/// `group_search_ok` keeps a directory's 0710 ([`DIR_MODE_GROUP_SEARCH`]).
fn tightened(mode: u32, group_search_ok: bool) -> Option<u32> {
    let others = mode & 0o077;
    (others != 0 && !(group_search_ok && others == 0o010)).then_some(mode & 0o700)
}

/// The effective uid of this process: who must own private data.
fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Creates `dir` (and missing parents) 0700, or checks an existing one: owned by this
/// process's user (else refused), no permission for others beyond 0710 (else the group
/// and other bits are cleared, with a warning).
pub fn prepare_dir(dir: &Path) -> Result<(), OwnerOnlyError> {
    let file_err = |source| OwnerOnlyError::File {
        path: dir.to_path_buf(),
        source,
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(file_err)?;
    let meta = fs::metadata(dir).map_err(file_err)?;
    let uid = euid();
    if meta.uid() != uid {
        return Err(OwnerOnlyError::NotOwner {
            path: dir.to_path_buf(),
            owner: meta.uid(),
            uid,
        });
    }
    let mode = perms(meta.mode());
    if let Some(new) = tightened(mode, true) {
        set_mode(dir, mode, new).map_err(file_err)?;
    }
    Ok(())
}

/// Makes everything under `dir` private: no permission for group or others on directories
/// (`dir` itself may keep 0710) and regular files; 0700 and 0600 as this crate creates
/// them. Sockets and symbolic links are left alone (a socket's mode is set
/// where it is bound; a link's own mode means nothing). Returns the paths it changed.
pub fn tighten_tree(dir: &Path) -> Result<Vec<PathBuf>, OwnerOnlyError> {
    let mut fixed = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let file_err = |source| OwnerOnlyError::File {
            path: path.clone(),
            source,
        };
        let meta = match fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            // sled removes files from its own threads (old snapshots): nothing to protect.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(file_err(e)),
        };
        let mode = perms(meta.mode());
        let want = if meta.is_dir() {
            tightened(mode, path == dir)
        } else if meta.is_file() {
            tightened(mode, false)
        } else {
            None
        };
        if let Some(want) = want {
            match set_mode(&path, mode, want) {
                Ok(()) => fixed.push(path.clone()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(file_err(e)),
            }
        }
        if meta.is_dir() {
            for entry in fs::read_dir(&path).map_err(file_err)? {
                stack.push(entry.map_err(file_err)?.path());
            }
        }
    }
    Ok(fixed)
}

/// Refuses a key file that anyone but its owner may read or write, or that belongs to
/// another user. A missing file is fine (the caller creates it 0600).
pub fn check_key_file(path: &Path) -> Result<(), OwnerOnlyError> {
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(OwnerOnlyError::File {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let uid = euid();
    if meta.uid() != uid {
        return Err(OwnerOnlyError::NotOwner {
            path: path.to_path_buf(),
            owner: meta.uid(),
            uid,
        });
    }
    let mode = perms(meta.mode());
    if mode & 0o077 != 0 {
        return Err(OwnerOnlyError::KeyExposed {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

fn set_mode(path: &Path, old: u32, new: u32) -> io::Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(new))?;
    tracing::warn!(
        path = %path.display(),
        old = %format!("{old:04o}"),
        new = %format!("{new:04o}"),
        "{} was mode {old:04o}, open to other users; set to {new:04o} (owner only)",
        path.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        perms(fs::symlink_metadata(path).unwrap().mode())
    }

    #[test]
    fn a_new_directory_is_private_whatever_the_parent() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        prepare_dir(&dir).unwrap();
        assert_eq!(mode(&dir), DIR_MODE);
        assert_eq!(mode(&tmp.path().join("a")), DIR_MODE);
    }

    #[test]
    fn looser_directories_and_files_are_fixed_and_named() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("archive");
        fs::create_dir_all(dir.join("db/blobs")).unwrap();
        fs::write(dir.join("db/conf"), b"x").unwrap();
        fs::write(dir.join("db/blobs/1"), b"x").unwrap();
        for (p, m) in [
            ("", 0o755),
            ("db", 0o777),
            ("db/blobs", 0o750),
            ("db/conf", 0o644),
            ("db/blobs/1", 0o666),
        ] {
            fs::set_permissions(dir.join(p), fs::Permissions::from_mode(m)).unwrap();
        }
        prepare_dir(&dir).unwrap();
        assert_eq!(mode(&dir), DIR_MODE);
        let mut fixed = tighten_tree(&dir).unwrap();
        fixed.sort();
        assert_eq!(
            fixed,
            vec![
                dir.join("db"),
                dir.join("db/blobs"),
                dir.join("db/blobs/1"),
                dir.join("db/conf")
            ]
        );
        for p in ["db", "db/blobs"] {
            assert_eq!(mode(&dir.join(p)), DIR_MODE, "{p}");
        }
        for p in ["db/conf", "db/blobs/1"] {
            assert_eq!(mode(&dir.join(p)), FILE_MODE, "{p}");
        }
        assert!(
            tighten_tree(&dir).unwrap().is_empty(),
            "nothing left to fix"
        );
    }

    #[test]
    fn stricter_modes_are_the_owners_business() {
        assert_eq!(tightened(0o500, false), None);
        assert_eq!(tightened(0o400, false), None);
        assert_eq!(tightened(0o555, false), Some(0o500));
        assert_eq!(tightened(0o644, false), Some(0o600));
        assert_eq!(tightened(0o710, true), None);
        assert_eq!(tightened(0o710, false), Some(0o700));
        assert_eq!(tightened(0o750, true), Some(0o700));
        assert_eq!(tightened(0o711, true), Some(0o700));
    }

    #[test]
    fn group_search_on_the_top_directory_is_kept_but_nowhere_below() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("archive");
        fs::create_dir_all(dir.join("db")).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o710)).unwrap();
        fs::set_permissions(dir.join("db"), fs::Permissions::from_mode(0o710)).unwrap();
        prepare_dir(&dir).unwrap();
        assert_eq!(tighten_tree(&dir).unwrap(), vec![dir.join("db")]);
        assert_eq!(mode(&dir), DIR_MODE_GROUP_SEARCH);
        assert_eq!(mode(&dir.join("db")), DIR_MODE);
    }

    #[test]
    fn an_exposed_key_is_refused_not_fixed() {
        let tmp = tempfile::tempdir().unwrap();
        let key = tmp.path().join("signing.key");
        assert!(
            check_key_file(&key).is_ok(),
            "missing: the caller creates it"
        );
        fs::write(&key, [0u8; 32]).unwrap();
        fs::set_permissions(&key, fs::Permissions::from_mode(0o640)).unwrap();
        let err = check_key_file(&key).unwrap_err();
        assert!(
            matches!(err, OwnerOnlyError::KeyExposed { mode: 0o640, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("chmod 600"), "{err}");
        assert_eq!(mode(&key), 0o640, "left as found for the operator to judge");
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
        check_key_file(&key).unwrap();
    }

    #[test]
    fn a_directory_of_another_user_is_refused() {
        if euid() != 0 {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI runs tests as root; this one needs it"
            );
            use std::io::Write as _;
            let _ = writeln!(
                io::stderr(),
                "a_directory_of_another_user_is_refused: skipped: needs root"
            );
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("theirs");
        fs::create_dir(&dir).unwrap();
        std::os::unix::fs::chown(&dir, Some(65534), None).unwrap();
        let err = prepare_dir(&dir).unwrap_err();
        assert!(
            matches!(
                err,
                OwnerOnlyError::NotOwner {
                    owner: 65534,
                    uid: 0,
                    ..
                }
            ),
            "{err:?}"
        );
    }
}
