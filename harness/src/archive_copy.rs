//! Copies of a closed archive, for tests that damage or roll back one copy and keep another.

// These helpers assert as the calling test would: a failure panics with what went wrong.
#![allow(clippy::unwrap_used)]

use std::path::Path;

/// `cp -a` for a closed archive: a directory of regular files and subdirectories.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
