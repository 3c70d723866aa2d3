//! Tamper evidence: build a real archive, close it, change its sled store behind its back the
//! way an attacker with write access to the files would, reopen it and check that `verify`
//! names exactly what was done.
//!
//! The fixture has 53 records appended one at a time with `checkpoint_every = 10`, so the
//! permanent checkpoints are 1..=5 (periodic, at records 10, 20, 30, 40, 50) and 6 (close, at
//! record 53), and the signed head covers record 53. Every case builds a fresh archive.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use archive::{
    Archive, ArchiveError, Checkpoint, CheckpointReason, Event, Hash, RetentionPolicy, Tamper,
    VerifyReport, parse_public_key,
};
use ed25519_dalek::{Signer, SigningKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tempfile::TempDir;

use common::{close, event, open, options, with_db};

/// Records in the fixture.
const N: u64 = 53;
use common::{SEC, T0};
const DAY: i64 = 86_400 * SEC;

/// The value stored under a record key: a mirror of the crate-private `chain::Stored`, same
/// fields in the same order, so postcard encodes it to the same bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Stored {
    id: u64,
    prev: Hash,
    event: Event,
}

/// A fresh closed archive with records 1..=N.
fn build() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    let a = open(dir.path());
    for i in 1..=N {
        assert_eq!(a.append_blocking(event(i)).unwrap().id, i);
    }
    close(a);
    dir
}

/// Reopens the archive, verifies it with its stored key and closes it again.
fn verify(dir: &Path) -> VerifyReport {
    let a = open(dir);
    let report = a.verify().unwrap();
    close(a);
    report
}

fn tamper_of(dir: &Path) -> Tamper {
    let report = verify(dir);
    assert!(!report.is_intact(), "{report:?}");
    match report.tamper {
        Some(tamper) => tamper,
        None => panic!("not intact but no tamper named: {report:?}"),
    }
}

fn sha(bytes: &[u8]) -> Hash {
    Sha256::digest(bytes).into()
}

fn records(db: &sled::Db) -> sled::Tree {
    db.open_tree("records").unwrap()
}

fn raw(db: &sled::Db, id: u64) -> Vec<u8> {
    records(db)
        .get(id.to_be_bytes())
        .unwrap()
        .unwrap_or_else(|| panic!("no record {id}"))
        .to_vec()
}

fn get(db: &sled::Db, id: u64) -> Stored {
    postcard::from_bytes(&raw(db, id)).unwrap()
}

/// Stores `stored` under key `id`; returns its bytes.
fn put(db: &sled::Db, id: u64, stored: &Stored) -> Vec<u8> {
    let bytes = postcard::to_stdvec(stored).unwrap();
    records(db).insert(id.to_be_bytes(), bytes.clone()).unwrap();
    bytes
}

fn remove(db: &sled::Db, id: u64) {
    assert!(records(db).remove(id.to_be_bytes()).unwrap().is_some());
}

fn edit_text(db: &sled::Db, id: u64) {
    let mut s = get(db, id);
    s.event.text = "nothing to see here".into();
    put(db, id, &s);
}

/// The smart attacker: edits record `k` and recomputes every later `prev`, so the chain is
/// internally consistent again. Returns the new hash of every record from `k` on.
fn rewrite_from(db: &sled::Db, k: u64) -> Vec<(u64, Hash)> {
    let mut s = get(db, k);
    s.event.text = "rewritten history".into();
    let mut prev = sha(&put(db, k, &s));
    let mut hashes = vec![(k, prev)];
    for id in k + 1..=N {
        let mut s = get(db, id);
        s.prev = prev;
        prev = sha(&put(db, id, &s));
        hashes.push((id, prev));
    }
    hashes
}

fn checkpoints(db: &sled::Db) -> Vec<Checkpoint> {
    db.open_tree("checkpoints")
        .unwrap()
        .iter()
        .map(|item| postcard::from_bytes(&item.unwrap().1).unwrap())
        .collect()
}

fn put_checkpoint(db: &sled::Db, cp: &Checkpoint) {
    db.open_tree("checkpoints")
        .unwrap()
        .insert(cp.seq.to_be_bytes(), postcard::to_stdvec(cp).unwrap())
        .unwrap();
}

fn remove_checkpoint(db: &sled::Db, seq: u64) {
    let tree = db.open_tree("checkpoints").unwrap();
    assert!(tree.remove(seq.to_be_bytes()).unwrap().is_some());
}

fn meta(db: &sled::Db) -> sled::Tree {
    db.open_tree("meta").unwrap()
}

fn signed_head(db: &sled::Db) -> Checkpoint {
    postcard::from_bytes(&meta(db).get("signed_head").unwrap().unwrap()).unwrap()
}

fn put_signed_head(db: &sled::Db, cp: &Checkpoint) {
    meta(db)
        .insert("signed_head", postcard::to_stdvec(cp).unwrap())
        .unwrap();
}

#[test]
fn an_untouched_archive_verifies_intact_after_reopen() {
    let dir = build();
    // The fixture is what the other tests assume, and the mirror struct encodes exactly
    // like the crate: every stored value round-trips to the same bytes and links to the last.
    with_db(dir.path(), |db| {
        let cps = checkpoints(db);
        let layout: Vec<_> = cps.iter().map(|c| (c.seq, c.upto_id)).collect();
        assert_eq!(
            layout,
            vec![(1, 10), (2, 20), (3, 30), (4, 40), (5, 50), (6, 53)]
        );
        assert!(
            cps[..5]
                .iter()
                .all(|c| c.reason == CheckpointReason::Periodic)
        );
        assert_eq!(cps[5].reason, CheckpointReason::Close);
        assert_eq!(signed_head(db).upto_id, N);
        let mut prev = archive::GENESIS;
        for id in 1..=N {
            let bytes = raw(db, id);
            let s: Stored = postcard::from_bytes(&bytes).unwrap();
            assert_eq!((s.id, s.prev), (id, prev));
            assert_eq!(postcard::to_stdvec(&s).unwrap(), bytes);
            prev = sha(&bytes);
        }
        assert_eq!(cps[5].head, prev);
    });
    let a = open(dir.path());
    let pinned = parse_public_key(&a.public_key_hex()).unwrap();
    let report = a.verify().unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report, a.verify_with(&pinned).unwrap());
    assert_eq!(
        (report.records, report.first_id, report.last_id),
        (N, Some(1), Some(N))
    );
    assert_eq!(
        (report.checkpoints, report.signed_head, report.unsigned_tail),
        (6, Some(N), 0)
    );
    assert_eq!(report.purged, 0);
    close(a);
    // A session that appended nothing adds no checkpoint; still intact.
    let report = verify(dir.path());
    assert!(report.is_intact(), "{report:?}");
    assert_eq!((report.records, report.checkpoints), (N, 6));
}

#[test]
fn an_edited_record_is_named() {
    // 1: the first record; 25: between checkpoints; 30: exactly at a checkpoint; 52: the
    // last but one (its successor is the last record).
    for k in [1, 25, 30, 52] {
        let dir = build();
        with_db(dir.path(), |db| edit_text(db, k));
        assert_eq!(tamper_of(dir.path()), Tamper::Edited { id: k }, "k = {k}");
    }
}

#[test]
fn an_edited_last_record_is_caught_by_the_close_checkpoint_or_the_signed_head() {
    // The close checkpoint covers record 53: an edit there cannot be told apart from a
    // rewrite of 51..=53 (nothing after it links to it), so verify names the whole range
    // that checkpoint vouches for beyond the previous one.
    let dir = build();
    with_db(dir.path(), |db| edit_text(db, N));
    assert_eq!(
        tamper_of(dir.path()),
        Tamper::Rewritten {
            checkpoint: 6,
            upto: N,
            after: 50
        }
    );
    // Without a permanent checkpoint at the head (as after a crash: no close checkpoint),
    // the signed head catches it and names the record.
    let dir = build();
    with_db(dir.path(), |db| {
        remove_checkpoint(db, 6);
        edit_text(db, N);
    });
    assert_eq!(tamper_of(dir.path()), Tamper::Edited { id: N });
}

#[test]
fn a_record_that_no_longer_decodes_is_edited() {
    for k in [25, N] {
        let dir = build();
        with_db(dir.path(), |db| {
            let mut bytes = raw(db, k);
            // The last byte is `employee: None` (0x00); 0xff is no valid Option tag.
            let last = bytes.last_mut().unwrap();
            assert_eq!(*last, 0);
            *last ^= 0xff;
            assert!(postcard::from_bytes::<Stored>(&bytes).is_err());
            records(db).insert(k.to_be_bytes(), bytes).unwrap();
        });
        assert_eq!(tamper_of(dir.path()), Tamper::Edited { id: k }, "k = {k}");
    }
}

#[test]
fn a_record_whose_link_was_changed_is_named_not_its_predecessor() {
    for k in [25, N] {
        let dir = build();
        with_db(dir.path(), |db| {
            let mut s = get(db, k);
            s.prev[0] ^= 1;
            put(db, k, &s);
        });
        assert_eq!(tamper_of(dir.path()), Tamper::Edited { id: k }, "k = {k}");
    }
}

#[test]
fn deleted_records_are_named() {
    let cases: [(&[u64], Tamper); 5] = [
        (&[25], Tamper::Deleted { from: 25, to: 25 }),
        (&[N], Tamper::Deleted { from: N, to: N }),
        (&[25, 26, 27], Tamper::Deleted { from: 25, to: 27 }),
        (&[1], Tamper::Deleted { from: 1, to: 1 }),
        (&[30], Tamper::Deleted { from: 30, to: 30 }),
    ];
    for (ids, want) in cases {
        let dir = build();
        with_db(dir.path(), |db| ids.iter().for_each(|id| remove(db, *id)));
        assert_eq!(tamper_of(dir.path()), want, "deleted {ids:?}");
    }
}

#[test]
fn an_inserted_record_is_named() {
    // Records k..=N move up one key and a fabricated record takes key k, linked correctly
    // to record k-1. (Reopening adopts the new last key 54 as an unsigned tail; the walk
    // still stops at the insertion.)
    for k in [1, 25, 30] {
        let dir = build();
        with_db(dir.path(), |db| {
            let prev = if k == 1 {
                archive::GENESIS
            } else {
                sha(&raw(db, k - 1))
            };
            for id in (k..=N).rev() {
                records(db)
                    .insert((id + 1).to_be_bytes(), raw(db, id))
                    .unwrap();
            }
            let mut forged = event(k);
            forged.text = "I never said that".into();
            forged.node = "gw1".into();
            put(
                db,
                k,
                &Stored {
                    id: k,
                    prev,
                    event: forged,
                },
            );
        });
        assert_eq!(tamper_of(dir.path()), Tamper::Inserted { id: k }, "k = {k}");
    }
}

#[test]
fn swapped_records_are_reordered() {
    for k in [25, 30, N - 1] {
        let dir = build();
        with_db(dir.path(), |db| {
            let (a, b) = (raw(db, k), raw(db, k + 1));
            records(db).insert(k.to_be_bytes(), b).unwrap();
            records(db).insert((k + 1).to_be_bytes(), a).unwrap();
        });
        assert_eq!(
            tamper_of(dir.path()),
            Tamper::Reordered {
                at: k,
                carries: k + 1
            },
            "k = {k}"
        );
    }
}

#[test]
fn a_rewritten_chain_is_caught_by_the_first_checkpoint_after_the_edit() {
    for (k, checkpoint, upto, after) in [(25, 3, 30, 20), (45, 5, 50, 40), (51, 6, N, 50)] {
        let dir = build();
        with_db(dir.path(), |db| rewrite_from(db, k));
        let found = tamper_of(dir.path());
        assert_eq!(
            found,
            Tamper::Rewritten {
                checkpoint,
                upto,
                after
            },
            "k = {k}"
        );
        assert!(after < k && k <= upto);
    }
}

#[test]
fn a_rewritten_chain_without_its_checkpoints_is_caught_by_the_signed_head() {
    // The attacker also deletes every permanent checkpoint (nothing notices a missing
    // checkpoint by itself), but cannot re-sign the head: the head no longer matches.
    let dir = build();
    with_db(dir.path(), |db| {
        rewrite_from(db, 25);
        for seq in 1..=6 {
            remove_checkpoint(db, seq);
        }
    });
    let report = verify(dir.path());
    assert_eq!(report.tamper, Some(Tamper::Edited { id: N }), "{report:?}");
    assert_eq!(report.checkpoints, 0);
}

#[test]
fn a_bad_signature_is_named() {
    // A flipped signature bit on checkpoint 3.
    let dir = build();
    with_db(dir.path(), |db| {
        let mut cp = checkpoints(db).remove(2);
        assert_eq!(cp.seq, 3);
        cp.signature[0] ^= 1;
        put_checkpoint(db, &cp);
    });
    assert_eq!(
        tamper_of(dir.path()),
        Tamper::BadSignature { checkpoint: 3 }
    );
    // Checkpoint 3 moved to vouch for a rewritten chain, signature left as it was.
    let dir = build();
    with_db(dir.path(), |db| {
        let hashes = rewrite_from(db, 25);
        let mut cp = checkpoints(db).remove(2);
        cp.head = hashes.iter().find(|(id, _)| *id == cp.upto_id).unwrap().1;
        put_checkpoint(db, &cp);
    });
    assert_eq!(
        tamper_of(dir.path()),
        Tamper::BadSignature { checkpoint: 3 }
    );
    // The signed head (checkpoint 0).
    let dir = build();
    with_db(dir.path(), |db| {
        let mut head = signed_head(db);
        head.signature[63] ^= 0x40;
        put_signed_head(db, &head);
    });
    assert_eq!(
        tamper_of(dir.path()),
        Tamper::BadSignature { checkpoint: 0 }
    );
}

#[test]
fn a_replaced_key_cannot_fool_a_pinned_verification() {
    let dir = build();
    let original = {
        let a = open(dir.path());
        let key = parse_public_key(&a.public_key_hex()).unwrap();
        close(a);
        key
    };
    // The attacker rewrites history from record 25 and re-signs every checkpoint and the
    // head with a key of their own.
    let forged = SigningKey::from_bytes(&[7; 32]);
    let resign = |cp: &mut Checkpoint, hashes: &[(u64, Hash)]| {
        if let Some((_, h)) = hashes.iter().find(|(id, _)| *id == cp.upto_id) {
            cp.head = *h;
        }
        cp.signature = forged.sign(&cp.payload().unwrap()).to_bytes();
    };
    with_db(dir.path(), |db| {
        let hashes = rewrite_from(db, 25);
        for mut cp in checkpoints(db) {
            resign(&mut cp, &hashes);
            put_checkpoint(db, &cp);
        }
        let mut head = signed_head(db);
        resign(&mut head, &hashes);
        put_signed_head(db, &head);
    });
    // Swapping only the key file is refused: the archive remembers its public key.
    std::fs::write(dir.path().join("signing.key"), forged.to_bytes()).unwrap();
    match Archive::open(dir.path(), options()) {
        Err(ArchiveError::BadKey { .. }) => {}
        other => panic!("expected BadKey, got {other:?}"),
    }
    // Swapping the stored public key too makes the archive consistent with the forged key,
    // all but the high-water mark file, which the original key signed...
    with_db(dir.path(), |db| {
        meta(db)
            .insert("public_key", forged.verifying_key().as_bytes().as_slice())
            .unwrap();
    });
    let a = open(dir.path());
    assert!(
        matches!(
            a.verify().unwrap().tamper,
            Some(Tamper::MarkUnreadable { .. })
        ),
        "the mark was signed by the original key"
    );
    close(a);
    // ...and, with that file and the store's note of it removed too, wholly so...
    std::fs::remove_file(dir.path().join(archive::high_water_mark::FILE_NAME)).unwrap();
    with_db(dir.path(), |db| {
        meta(db).remove("high_water_mark_since").unwrap();
    });
    let a = open(dir.path());
    let unpinned = a.verify().unwrap();
    assert!(unpinned.is_intact(), "{unpinned:?}");
    // ...but not with the key pinned when the archive was created: every signature is by
    // another key, which is what verification with the pinned key says.
    let pinned = a.verify_with(&original).unwrap();
    let other = pinned
        .not_signed_by
        .as_ref()
        .expect("not signed by the pinned key");
    assert_eq!(other.given, archive::hex(original.as_bytes()));
    assert_eq!(
        other.signed_by,
        archive::hex(forged.verifying_key().as_bytes())
    );
    assert_eq!(other.signatures, 7, "six checkpoints and the signed head");
    assert!(!pinned.is_intact());
    close(a);
}

/// A fresh archive whose records 1..=10 were purged by retention (purge checkpoint 7).
fn build_and_purge() -> TempDir {
    let dir = build();
    let a = open(dir.path());
    let policy = RetentionPolicy {
        default_days: Some(30),
        ..RetentionPolicy::default()
    };
    let now = T0 + 10 * SEC + 30 * DAY + 1;
    let done = a.apply_retention(&policy, now, false).unwrap();
    assert_eq!(
        (done.expired, done.purged, done.checkpoint),
        (10, 10, Some(7))
    );
    close(a);
    dir
}

#[test]
fn tampering_after_a_retention_purge_is_still_caught() {
    let dir = build_and_purge();
    let report = verify(dir.path());
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(
        (report.records, report.first_id, report.purged),
        (N - 10, Some(11), 10)
    );

    let edit = |k: u64| move |db: &sled::Db| edit_text(db, k);
    let delete = |k: u64| move |db: &sled::Db| remove(db, k);
    let rewrite = |k: u64| {
        move |db: &sled::Db| {
            rewrite_from(db, k);
        }
    };
    type Change = Box<dyn Fn(&sled::Db)>;
    let cases: Vec<(&str, Change, Tamper)> = vec![
        ("edit 11", Box::new(edit(11)), Tamper::Edited { id: 11 }),
        ("edit 25", Box::new(edit(25)), Tamper::Edited { id: 25 }),
        (
            "delete 11",
            Box::new(delete(11)),
            Tamper::Deleted { from: 11, to: 11 },
        ),
        (
            "delete 25",
            Box::new(delete(25)),
            Tamper::Deleted { from: 25, to: 25 },
        ),
        (
            "rewrite from 11",
            Box::new(rewrite(11)),
            Tamper::Rewritten {
                checkpoint: 2,
                upto: 20,
                after: 0,
            },
        ),
        (
            "rewrite from 25",
            Box::new(rewrite(25)),
            Tamper::Rewritten {
                checkpoint: 3,
                upto: 30,
                after: 20,
            },
        ),
    ];
    for (what, change, want) in cases {
        let dir = build_and_purge();
        with_db(dir.path(), |db| change(db));
        assert_eq!(tamper_of(dir.path()), want, "{what}");
    }
}

#[test]
fn a_store_whose_signed_head_was_removed_is_not_laundered_on_open() {
    // Rewrite history, then remove what would expose it: the newest checkpoint and the
    // signed head. Opening must not sign the rewritten chain, and appends are refused.
    let dir = build();
    with_db(dir.path(), |db| {
        rewrite_from(db, 51);
        remove_checkpoint(db, 6);
        assert!(meta(db).remove("signed_head").unwrap().is_some());
    });
    let a = open(dir.path());
    let err = a.append_blocking(event(N + 1)).unwrap_err();
    assert!(matches!(err, ArchiveError::Integrity(_)), "{err}");
    let report = a.verify().unwrap();
    assert_eq!(report.tamper, Some(Tamper::SignedHeadMissing), "{report:?}");
    close(a);
    // Still refused, and still reported, on every later open: nothing was signed.
    let report = verify(dir.path());
    assert_eq!(report.tamper, Some(Tamper::SignedHeadMissing), "{report:?}");
}

#[test]
fn a_removed_checkpoint_is_named() {
    let dir = build();
    with_db(dir.path(), |db| remove_checkpoint(db, 3));
    assert_eq!(tamper_of(dir.path()), Tamper::CheckpointMissing { seq: 3 });
}

#[test]
fn a_record_appended_behind_the_gateways_back_is_listed_as_adopted() {
    // Indistinguishable from a batch written just before a crash, so it is adopted; but
    // verify lists every adopted range so an auditor sees it.
    let dir = build();
    with_db(dir.path(), |db| {
        let last = raw(db, N);
        let forged = Stored {
            id: N + 1,
            prev: sha(&last),
            event: event(N + 1),
        };
        put(db, N + 1, &forged);
    });
    let report = verify(dir.path());
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.recovered, vec![(N + 1, N + 1)]);
}

#[test]
fn more_unsigned_records_than_one_batch_are_refused_not_adopted() {
    let dir = build();
    with_db(dir.path(), |db| {
        let mut prev = sha(&raw(db, N));
        for id in N + 1..=N + 1100 {
            let forged = Stored {
                id,
                prev,
                event: event(id),
            };
            prev = sha(&put(db, id, &forged));
        }
    });
    let a = open(dir.path());
    assert!(matches!(
        a.append_blocking(event(1)).unwrap_err(),
        ArchiveError::Integrity(_)
    ));
    let report = a.verify().unwrap();
    assert!(!report.is_intact());
    assert_eq!(report.unsigned_tail, 1100, "{report:?}");
    close(a);
}

/// Verification with a valid key that never signed this archive says so; one signature
/// broken among the archive's own stays tampering, whatever key is given.
#[test]
fn another_key_is_not_signed_by_and_a_broken_signature_stays_tampering() {
    let dir = build();
    let a = open(dir.path());
    let stranger = SigningKey::from_bytes(&[9; 32]).verifying_key();
    let report = a.verify_with(&stranger).unwrap();
    let other = report
        .not_signed_by
        .clone()
        .expect("not signed by that key");
    assert_eq!(other.given, archive::hex(stranger.as_bytes()));
    assert_eq!(other.signed_by, a.public_key_hex());
    assert_eq!(other.signed_by_fingerprint, a.public_key_fingerprint());
    assert_eq!(report.tamper, None);
    assert!(!report.is_intact());
    assert!(
        other
            .to_string()
            .starts_with("this archive was not signed by that key (sha256:"),
        "{other}"
    );
    close(a);
    with_db(dir.path(), |db| {
        let mut cp = checkpoints(db).into_iter().nth(2).unwrap();
        cp.signature[0] ^= 1;
        put_checkpoint(db, &cp);
    });
    let a = open(dir.path());
    // The first signature the given key does not check: the stranger's, the first of all.
    let own = parse_public_key(&a.public_key_hex()).unwrap();
    for (key, first_bad) in [(stranger, 1), (own, 3)] {
        let report = a.verify_with(&key).unwrap();
        assert_eq!(report.not_signed_by, None);
        assert_eq!(
            report.tamper,
            Some(Tamper::BadSignature {
                checkpoint: first_bad
            })
        );
    }
    close(a);
}
