//! Secondary indexes, each a sled tree of keys with empty values, so user+time,
//! conversation+time and time-range queries read only what they return.
//!
//! * `idx_user`: `normalised name ‖ 0x00 ‖ time ‖ id`
//! * `idx_conv`: `conversation ‖ 0x00 ‖ time ‖ id`
//! * `idx_time`: `time ‖ id`
//!
//! Times are stored as `i64 ^ i64::MIN` big-endian so byte order is time order.

use crate::error::ArchiveError;
use record::Event;

/// Byte-sortable form of a timestamp.
pub(crate) fn time_bytes(time_ns: i64) -> [u8; 8] {
    ((time_ns as u64) ^ (1 << 63)).to_be_bytes()
}

/// `prefix ‖ 0x00 ‖ time ‖ id`.
pub(crate) fn prefixed_key(prefix: &str, time_ns: i64, id: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + 17);
    key.extend_from_slice(prefix.as_bytes());
    key.push(0);
    key.extend_from_slice(&time_bytes(time_ns));
    key.extend_from_slice(&id.to_be_bytes());
    key
}

/// `time ‖ id`.
pub(crate) fn time_key(time_ns: i64, id: u64) -> [u8; 16] {
    let mut key = [0u8; 16];
    let (t, i) = key.split_at_mut(8);
    t.copy_from_slice(&time_bytes(time_ns));
    i.copy_from_slice(&id.to_be_bytes());
    key
}

/// The record id at the end of any index key.
pub(crate) fn id_of(key: &[u8]) -> Result<u64, ArchiveError> {
    key.len()
        .checked_sub(8)
        .and_then(|at| key.get(at..))
        .and_then(|tail| <[u8; 8]>::try_from(tail).ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| ArchiveError::corrupt("index key", "too short"))
}

/// The user-index prefix of records stamped with directory id `id`: the control character
/// keeps it apart from every screen name.
pub(crate) fn employee_key(id: &str) -> String {
    format!("\u{1}employee:{}", id.trim().to_lowercase())
}

/// The index keys of one record, by tree.
pub(crate) struct IndexKeys {
    pub(crate) users: Vec<Vec<u8>>,
    pub(crate) conversation: Vec<u8>,
    pub(crate) time: [u8; 16],
}

impl IndexKeys {
    pub(crate) fn of(id: u64, event: &Event) -> Self {
        Self {
            users: event
                .participants()
                .iter()
                .map(String::as_str)
                .chain(event.employee.as_deref().map(employee_key).as_deref())
                .map(|n| prefixed_key(n, event.time_ns, id))
                .collect(),
            conversation: prefixed_key(&event.conversation, event.time_ns, id),
            time: time_key(event.time_ns, id),
        }
    }
}

/// The trees the indexes live in.
#[derive(Clone)]
pub(crate) struct Indexes {
    pub(crate) user: sled::Tree,
    pub(crate) conv: sled::Tree,
    pub(crate) time: sled::Tree,
}

impl Indexes {
    pub(crate) fn open(db: &sled::Db) -> Result<Self, ArchiveError> {
        Ok(Self {
            user: db.open_tree("idx_user")?,
            conv: db.open_tree("idx_conv")?,
            time: db.open_tree("idx_time")?,
        })
    }

    /// Adds (or, with `remove`, deletes) a record's index entries.
    ///
    /// Additions are plain inserts, not a `sled::Batch`: an index entry needs no atomicity
    /// (open re-indexes every record past `indexed_upto`, and inserting an entry twice is
    /// harmless), and each `apply_batch` takes sled's global write lock and logs a batch
    /// manifest, which measured ~30 µs per tree per commit, more than the inserts of a small
    /// commit themselves. Removals (retention) stay batched per tree: they are rare and large.
    pub(crate) fn apply(&self, keys: &[IndexKeys], remove: bool) -> Result<(), ArchiveError> {
        if !remove {
            for k in keys {
                for u in &k.users {
                    self.user.insert(u.as_slice(), &[])?;
                }
                self.conv.insert(k.conversation.as_slice(), &[])?;
                self.time.insert(&k.time[..], &[])?;
            }
            return Ok(());
        }
        let (mut user, mut conv, mut time) = (
            sled::Batch::default(),
            sled::Batch::default(),
            sled::Batch::default(),
        );
        for k in keys {
            for u in &k.users {
                user.remove(u.as_slice());
            }
            conv.remove(k.conversation.as_slice());
            time.remove(&k.time[..]);
        }
        self.user.apply_batch(user)?;
        self.conv.apply_batch(conv)?;
        self.time.apply_batch(time)?;
        Ok(())
    }
}
