//! The commit journal, read back at open: a commit the journal holds and sled lost is applied;
//! a frame not signed by the archive key, one whose records do not chain, or damage with
//! whole frames after it is refused (appends fail, nothing is applied), and a damaged journal
//! is kept aside as evidence.
//!
//! Each case builds a closed archive (whose journal is then empty), writes a journal by hand
//! the way a crash or an attacker with write access would leave it, and reopens the archive.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use archive::{Archive, ArchiveError, Checkpoint, CheckpointReason, Event, Hash, Query};
use ed25519_dalek::{Signer, SigningKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tempfile::TempDir;

use common::{T0, close, event, open, with_db};

/// Records in the fixture.
const N: u64 = 12;

/// Mirror of the crate-private `chain::Stored` (same fields, same order: same postcard bytes).
#[derive(Serialize, Deserialize)]
struct Stored {
    id: u64,
    prev: Hash,
    event: Event,
}

/// Mirror of the crate-private journal frame.
#[derive(Serialize, Deserialize)]
struct Frame {
    records: Vec<(u64, Vec<u8>)>,
    marks: Vec<(String, u64)>,
    owners: Vec<(String, String)>,
    head: Vec<u8>,
}

fn sha(bytes: &[u8]) -> Hash {
    Sha256::digest(bytes).into()
}

/// A closed archive with records 1..=N, and the hash of record N's stored bytes.
fn build() -> (TempDir, Hash) {
    let dir = tempfile::tempdir().unwrap();
    let a = open(dir.path());
    for i in 1..=N {
        assert_eq!(a.append_blocking(event(i)).unwrap().id, i);
    }
    close(a);
    let last = with_db(dir.path(), |db| {
        db.open_tree("records")
            .unwrap()
            .get(N.to_be_bytes())
            .unwrap()
            .unwrap()
            .to_vec()
    });
    assert_eq!(
        std::fs::metadata(dir.path().join("journal")).unwrap().len(),
        0,
        "a clean close leaves the journal empty"
    );
    (dir, sha(&last))
}

fn signing_key(dir: &Path) -> SigningKey {
    let seed = std::fs::read(dir.join("signing.key")).unwrap();
    SigningKey::from_bytes(&<[u8; 32]>::try_from(seed.as_slice()).unwrap())
}

/// A frame appending records `ids` after `prev`, its head signed by `key`.
fn frame(ids: std::ops::RangeInclusive<u64>, mut prev: Hash, key: &SigningKey) -> (u64, Vec<u8>) {
    let mut records = Vec::new();
    for id in ids {
        let bytes = postcard::to_stdvec(&Stored {
            id,
            prev,
            event: event(id),
        })
        .unwrap();
        prev = sha(&bytes);
        records.push((id, bytes));
    }
    let last = records.last().unwrap().0;
    let mut head = Checkpoint {
        seq: 0,
        upto_id: last,
        head: prev,
        time_ns: T0,
        reason: CheckpointReason::Head,
        signature: [0; 64],
    };
    head.signature = key.sign(&head.payload().unwrap()).to_bytes();
    let frame = Frame {
        records,
        marks: vec![],
        owners: vec![],
        head: postcard::to_stdvec(&head).unwrap(),
    };
    (
        last,
        log_frame::encode(last, &postcard::to_stdvec(&frame).unwrap()).unwrap(),
    )
}

fn write_journal(dir: &Path, frames: &[&[u8]]) {
    std::fs::write(dir.join("journal"), frames.concat()).unwrap();
}

fn texts(a: &Archive) -> Vec<String> {
    a.all_records()
        .map(|r| r.unwrap().event.text)
        .collect::<Vec<_>>()
}

fn refusal(a: &Archive) -> String {
    match a.append_blocking(event(99)) {
        Err(ArchiveError::Integrity(problem)) => problem,
        other => panic!("expected appends refused, got {other:?}"),
    }
}

#[test]
fn a_commit_sled_lost_is_applied_from_the_journal_and_then_the_journal_is_empty() {
    let (dir, last) = build();
    let key = signing_key(dir.path());
    let (_, first) = frame(N + 1..=N + 2, last, &key);
    let prev = {
        let bytes = postcard::to_stdvec(&Stored {
            id: N + 2,
            prev: sha(&postcard::to_stdvec(&Stored {
                id: N + 1,
                prev: last,
                event: event(N + 1),
            })
            .unwrap()),
            event: event(N + 2),
        })
        .unwrap();
        sha(&bytes)
    };
    let (_, second) = frame(N + 3..=N + 3, prev, &key);
    // A torn third append: never acknowledged, cut off.
    write_journal(dir.path(), &[&first, &second, &second[..7]]);
    let a = open(dir.path());
    assert_eq!(texts(&a).len() as u64, N + 3);
    assert_eq!(texts(&a).last().unwrap(), &format!("message {}", N + 3));
    // Indexed as well as stored: a user query finds the replayed record.
    let user = format!("user{}", (N + 3) % 4);
    let query = Query {
        user: Some(user),
        ..Query::default()
    };
    let found = a.search(&query).map(|r| r.unwrap().id).collect::<Vec<_>>();
    assert!(found.contains(&(N + 3)), "{found:?}");
    let report = a.verify().unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(a.append_blocking(event(N + 4)).unwrap().id, N + 4);
    close(a);
    assert_eq!(
        std::fs::metadata(dir.path().join("journal")).unwrap().len(),
        0
    );
}

#[test]
fn a_frame_signed_by_another_key_is_refused_and_not_applied() {
    let (dir, last) = build();
    let other = SigningKey::from_bytes(&[7; 32]);
    let (_, forged) = frame(N + 1..=N + 1, last, &other);
    write_journal(dir.path(), &[&forged]);
    let a = open(dir.path());
    assert_eq!(texts(&a).len() as u64, N);
    let problem = refusal(&a);
    assert!(
        problem.contains("not signed by the archive key"),
        "{problem}"
    );
}

#[test]
fn a_frame_that_does_not_chain_is_refused() {
    let (dir, _) = build();
    let key = signing_key(dir.path());
    let (_, unchained) = frame(N + 1..=N + 1, [9; 32], &key);
    write_journal(dir.path(), &[&unchained]);
    let a = open(dir.path());
    assert_eq!(texts(&a).len() as u64, N);
    let problem = refusal(&a);
    assert!(problem.contains("does not chain"), "{problem}");
}

#[test]
fn damage_before_a_whole_frame_is_refused_and_the_journal_kept_aside() {
    let (dir, last) = build();
    let key = signing_key(dir.path());
    let (_, mut first) = frame(N + 1..=N + 1, last, &key);
    let (_, second) = frame(N + 2..=N + 2, [0; 32], &key);
    let at = first.len() - 5;
    first[at] ^= 0x20;
    write_journal(dir.path(), &[&first, &second]);
    let a = open(dir.path());
    assert_eq!(texts(&a).len() as u64, N);
    let problem = refusal(&a);
    assert!(problem.contains("damaged at byte 0"), "{problem}");
    let kept = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("journal.damaged-"))
        .collect::<Vec<_>>();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(problem.contains(&kept[0]), "{problem}");
}
