//! The archive signing key's public half, shown when a key is created: the one moment to
//! copy it somewhere the gateway's administrators cannot rewrite, so `verify --public-key`
//! can later prove who signed the archive.

use archive::Archive;
use serde_json::{Value, json};

/// What to do with a new public key, said once, here.
const KEEP_ELSEWHERE: &str = "Keep a copy of this public key somewhere other than this machine \
     (the compliance team's records, a ticket, a password manager): \
     `imtegrity verify --public-key KEY` then proves the archive was signed by this key, \
     not by one put in its place.";

/// Tells a person on stderr that `archive` created its signing key (nothing when it did
/// not). Stdout stays the command's own output; see [`fields`] for `--json`.
pub(crate) fn announce(archive: &Archive) {
    if archive.created_signing_key() {
        announce_new(archive);
    }
}

/// [`announce`] for an archive known to have a new key (one opened again after it was
/// made, as `archive salvage` does).
pub(crate) fn announce_new(archive: &Archive) {
    let key = archive.public_key_hex();
    eprintln!(
        "created the archive signing key {}\n  public key  {key}\n  fingerprint {}\n{}",
        archive.signing_key_path().display(),
        archive.public_key_fingerprint(),
        KEEP_ELSEWHERE.replace("KEY", &key),
    );
}

/// The signing key as a JSON value for a command's `--json` line: its path, public key and
/// fingerprint, whether it was created now and, if so, the advice to keep it elsewhere.
pub(crate) fn fields(archive: &Archive) -> Value {
    fields_for(archive, archive.created_signing_key())
}

/// [`fields`], saying the key was `created` now (for an archive opened again since).
pub(crate) fn fields_for(archive: &Archive, created: bool) -> Value {
    let key = archive.public_key_hex();
    let mut value = json!({
        "path": archive.signing_key_path(),
        "public_key": key,
        "fingerprint": archive.public_key_fingerprint(),
        "created": created,
    });
    if created && let Some(map) = value.as_object_mut() {
        map.insert("advice".into(), json!(KEEP_ELSEWHERE.replace("KEY", &key)));
    }
    value
}
