//! Prints how many records a spool holds and its lowest and highest keys (debugging aid).
#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]
fn main() {
    let dir = std::env::args().nth(1).unwrap();
    let db = sled::open(&dir).unwrap();
    let events = db.open_tree("events").unwrap();
    let key = |k: sled::IVec| u64::from_be_bytes(k.as_ref().try_into().unwrap());
    let first = events.first().unwrap().map(|(k, _)| key(k));
    let last = events.last().unwrap().map(|(k, _)| key(k));
    println!("{} records, keys {first:?}..{last:?}", events.len());
}
