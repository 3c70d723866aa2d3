//! Finding the archive's signing key at open: where it is, whether it is the archive's own,
//! and recording its path in the meta tree so later commands find it.

use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use super::META_PUBLIC_KEY;
use crate::error::ArchiveError;
use crate::options::ArchiveOptions;
use crate::signing::{ArchiveKey, default_key_path};

/// Meta key: where the signing key lives when it is not `<dir>/signing.key`
/// (`archive.signing_key`), so commands given only the archive directory find it.
const META_KEY_PATH: &[u8] = b"signing_key_path";

/// The archive's signing key: `options.key` if given, else where the archive recorded it,
/// else `<dir>/signing.key`. A new archive gets a new key if there is none at that path; an
/// existing one never does (a missing key is an error, not a reason to start a new one).
/// Returns the key, its path and whether it was created now.
pub(super) fn open_key(
    dir: &Path,
    options: &ArchiveOptions,
    meta: &sled::Tree,
) -> Result<(ArchiveKey, PathBuf, bool), ArchiveError> {
    let recorded = meta
        .get(META_KEY_PATH)?
        .map(|v| PathBuf::from(std::ffi::OsString::from_vec(v.to_vec())));
    let path = options
        .key
        .clone()
        .or(recorded.clone())
        .unwrap_or_else(|| default_key_path(dir));
    let stored_public = meta.get(META_PUBLIC_KEY)?;
    let (key, created) = match (ArchiveKey::read(&path)?, &stored_public) {
        (Some(key), _) => (key, false),
        (None, None) => (ArchiveKey::create(&path)?, true),
        (None, Some(_)) => {
            let inside = default_key_path(dir);
            let hint = if path != inside && inside.exists() {
                format!(
                    "; this archive's key is still in its directory: move it there \
                     (`mv {} {}`) and start again",
                    inside.display(),
                    path.display()
                )
            } else {
                String::new()
            };
            return Err(ArchiveError::KeyMissing { path, hint });
        }
    };
    match stored_public {
        Some(stored) if stored.as_ref() != key.public().as_bytes() => {
            return Err(ArchiveError::BadKey {
                path,
                detail: "it is not the key this archive was created with".into(),
            });
        }
        Some(_) => {}
        None => {
            meta.insert(META_PUBLIC_KEY, key.public().as_bytes().as_slice())?;
        }
    }
    // Recorded absolute, so a command run from another directory finds it.
    let absolute = std::path::absolute(&path).map_err(|source| ArchiveError::File {
        path: path.clone(),
        source,
    })?;
    if absolute == std::path::absolute(default_key_path(dir)).unwrap_or_default() {
        if recorded.is_some() {
            meta.remove(META_KEY_PATH)?;
        }
    } else if recorded.as_ref() != Some(&absolute) {
        meta.insert(META_KEY_PATH, absolute.as_os_str().as_bytes())?;
    }
    Ok((key, absolute, created))
}
