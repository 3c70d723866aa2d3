//! The spool is private whatever the Sametime server's umask: the directory 0700 and every
//! file 0600, fixed at open if loosened since; and the library leaves the host's umask alone.
//! One test in its own binary: the umask is process-wide.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;

use imtegrity_stchatlog::{RecordSink as _, Spool};
use rustix::fs::Mode;

/// Every directory and file under `dir` with group or other permission bits.
fn open_to_others(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = fs::symlink_metadata(&path).unwrap();
        if meta.mode() & 0o077 != 0 {
            found.push(format!("{} {:04o}", path.display(), meta.mode() & 0o777));
        }
        if meta.is_dir() {
            stack.extend(fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        }
    }
    found
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().mode() & 0o777
}

#[test]
fn the_spool_is_owner_only_under_a_permissive_umask() {
    rustix::process::umask(Mode::empty());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("spool");
    let spool = Spool::open(&dir).unwrap();
    spool.append(&archive_event()).unwrap();
    drop(spool);
    assert_eq!(mode(&dir), 0o700);
    let segment = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "seg"))
        .expect("a segment file");
    assert!(dir.join("source").exists() && dir.join("lock").exists());
    assert_eq!(open_to_others(&dir), Vec::<String>::new());

    // Loosened while closed (a restore from backup, say): fixed at the next open.
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(&segment, fs::Permissions::from_mode(0o644)).unwrap();
    let spool = Spool::open(&dir).unwrap();
    assert_eq!(open_to_others(&dir), Vec::<String>::new());
    drop(spool);

    // The host's umask is as the host set it.
    assert_eq!(rustix::process::umask(Mode::empty()), Mode::empty());
}

/// One record, so the spool has a segment file to check.
fn archive_event() -> archive::Event {
    use archive::{Direction, Kind, Protocol, Verdict};
    archive::Event {
        time_ns: 1,
        protocol: Protocol::Sametime,
        kind: Kind::Im,
        conversation: "sametime:a|b".into(),
        sender: "a".into(),
        recipients: vec!["b".into()],
        direction: Direction::Internal,
        local_user: "a".into(),
        room: None,
        client_addr: None,
        node: "n".into(),
        text: "private".into(),
        raw: "private".into(),
        charset: None,
        verdict: Verdict::Allowed,
        detail: None,
        employee: None,
    }
}
