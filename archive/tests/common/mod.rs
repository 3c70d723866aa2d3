//! What the tamper, rollback and salvage tests share: the archive's options, opening it once
//! the previous owner (a closing writer thread) has let go, and the raw sled store. Each test
//! crate uses a part of it.
#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use archive::{
    Archive, ArchiveError, ArchiveOptions, Direction, Event, Kind, Protocol, Verdict,
    conversation_for_pair,
};

/// A checkpoint every 10 records, so small fixtures have several.
pub(crate) fn options() -> ArchiveOptions {
    ArchiveOptions {
        node: Some("gw1".into()),
        checkpoint_every: 10,
        ..ArchiveOptions::default()
    }
}

/// Opens the archive, waiting while the previous owner (a closing writer thread) holds it.
pub(crate) fn open(dir: &Path) -> Archive {
    let start = Instant::now();
    loop {
        match Archive::open(dir, options()) {
            Ok(a) => return a,
            Err(ArchiveError::Locked { .. }) if start.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("open {}: {e}", dir.display()),
        }
    }
}

/// Runs `f` on the raw sled database once every archive handle on `dir` has closed (the
/// writer thread signs a close checkpoint first), then flushes and closes it again.
pub(crate) fn with_db<T>(dir: &Path, f: impl FnOnce(&sled::Db) -> T) -> T {
    let start = Instant::now();
    let db = loop {
        match sled::open(dir.join("db")) {
            Ok(db) => break db,
            Err(sled::Error::Io(e))
                if e.to_string().contains("lock") && start.elapsed() < Duration::from_secs(10) =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("sled open {}: {e}", dir.display()),
        }
    };
    let out = f(&db);
    db.flush().unwrap();
    out
}

/// Drops the archive and waits until its writer has signed the close checkpoint and let go.
pub(crate) fn close(a: Archive) {
    let dir = a.dir().to_path_buf();
    drop(a);
    with_db(&dir, |_| ());
}

/// When the fixtures' record 0 would be: 2023-11-14T22:13:20Z.
pub(crate) const T0: i64 = 1_700_000_000_000_000_000;
/// One second in nanoseconds.
pub(crate) const SEC: i64 = 1_000_000_000;

/// IM `i` of the fixtures: `user{i % 4}` to `peer{i % 3}`, saying `message {i}`, `i` seconds
/// after [`T0`].
pub(crate) fn event(i: u64) -> Event {
    let (from, to) = (format!("user{}", i % 4), format!("peer{}", i % 3));
    Event {
        time_ns: T0 + i as i64 * SEC,
        protocol: Protocol::Aim,
        kind: Kind::Im,
        conversation: conversation_for_pair(Protocol::Aim, &from, &to),
        sender: from.clone(),
        recipients: vec![to],
        direction: Direction::Outbound,
        local_user: from,
        room: None,
        client_addr: Some("127.0.0.1:40000".into()),
        node: String::new(),
        text: format!("message {i}"),
        raw: format!("<HTML><BODY>message {i}</BODY></HTML>"),
        charset: Some("ascii".into()),
        verdict: Verdict::Allowed,
        detail: None,
        employee: None,
    }
}
