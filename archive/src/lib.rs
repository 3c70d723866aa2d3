//! The system of record: every captured IM event, in a sled store, hash-chained, signed,
//! searchable, exportable, with retention and legal hold.
//!
//! # Durability (the one place it is stated)
//!
//! * **A record is durable once [`Archive::append`] (or [`Archive::append_blocking`]) has
//!   returned `Ok`.** Appends are batched by one writer thread (group commit): it writes
//!   every queued record and its index entries to sled, extends the chain, signs the new
//!   head, appends all of that as one frame to the commit journal (`<dir>/journal`) and
//!   `fdatasync`s it, and only then answers the appenders. An error means the record is
//!   *not* archived; the relay then ends the session rather than forward an unrecorded
//!   message.
//! * sled itself is made durable (its `flush`, then `fdatasync` on its data file, since
//!   sled's own flush stops at `sync_file_range`, which does not survive a power cut) at
//!   every permanent checkpoint, on close, around retention and holds, and when the journal
//!   passes 32 MiB; the journal is emptied then. When the archive opens, every journal frame
//!   is checked (signed by the archive key, chained) and applied to sled, so a commit sled
//!   lost in a crash or a power cut is back before anything else reads the store.
//! * **Strict mode** (the default for the relay): the caller awaits `append` before it
//!   forwards the message, so nothing is delivered that is not on disk.
//! * **Relaxed mode**: the caller uses [`Archive::append_relaxed`], forwards at once, and the
//!   record is durable when the writer's current group commit ends: normally a few
//!   milliseconds, at most the time to commit the queue (`queue_depth` records) ahead of
//!   it. A crash inside that window can lose records that were forwarded.
//! * Records written but not yet acknowledged when the process died may still be on disk;
//!   on the next open they are adopted and a `Recovered` checkpoint names their ids.
//!
//! # One owning process
//!
//! sled locks its store: one process opens an archive at a time. The gateway owns it while
//! it runs and answers other processes (the CLI's `search`, `export`, `verify`, `hold`,
//! `retention`) on a Unix socket, `<dir>/admin.sock` (served by the `archive_servers` crate); when no
//! gateway runs, the
//! CLI opens the store itself. [`ArchiveError::Locked`] says which case applies.
//!
//! # Who may read it
//!
//! The store's directory is 0700 and its files 0600 whatever the umask, checked at open
//! (the `owner_only` crate); the admin socket admits the owner, root and an admin group by peer
//! credentials (`archive_servers::AdminPolicy`); and every search, export, hold, retention and verify is
//! recorded as an `access` record before its result is returned ([`Access`]).
//!
//! # Tamper evidence
//!
//! Each record stores the SHA-256 of its predecessor's stored bytes. After every commit the
//! head is signed (ed25519, the archive key), and a permanent signed checkpoint is written
//! every `checkpoint_every` records or `checkpoint_interval`, on close, and for every
//! retention purge. [`Archive::verify`] walks the chain and names the first record edited,
//! deleted, inserted or reordered.
//!
//! The signed head lives in sled and goes back in time with it (sled falling back to an
//! older state after damage, old files restored), so it is also kept outside sled as a
//! [`high_water_mark`]: a store that ends before the mark refuses appends and verifies as
//! [`Tamper::RolledBack`], naming the lost ids. One who restores or rewrites the mark file
//! along with the store is not caught by it.
//!
//! # sled's caveats, answered
//!
//! * beta, corruption reports: the chain and signatures detect any change, and the crash test
//!   kills a real writer process repeatedly;
//! * fsync only every 500 ms by default: a commit is made durable by the journal before it
//!   is acknowledged, and sled explicitly at checkpoints;
//! * single process: the admin socket above;
//! * space amplification: records are compact postcard, indexes hold keys only;
//! * optimistic transactions: none are used; one writer thread orders all writes.
#![forbid(unsafe_code)]

mod access;
mod archive;
mod audited;
mod chain;
mod damage;
mod error;
pub mod export;
pub mod fuzzing;
pub mod high_water_mark;
mod index;
mod ingest_batch;
mod options;
mod purge_history;
mod query;
mod readable_search;
mod record_proof;
mod retention;
mod retention_lock;
mod review;
mod salvage;
mod signing;
mod store;
#[cfg(any(test, feature = "synthetic"))]
pub mod synthetic;
mod verify;
mod writer;

pub use access::{Access, AccessVia, Accessor};
pub use archive::{Archive, ArchiveStatus};
pub use audited::unreadable_warning;
pub use chain::{GENESIS, Hash};
pub use damage::{Unreadable, describe_damage};
pub use error::ArchiveError;
pub use options::ArchiveOptions;
pub use purge_history::{Purge, RetentionState};
pub use query::{EmployeeQuery, Query, Records};
pub use record::{
    Direction, Event, Kind, Protocol, Record, Verdict, conversation_for_pair,
    conversation_for_room, conversation_for_sign_on, hex, host_name, normalize, now_ns,
};
pub use record_proof::{Integrity, RecordProof};
pub use retention::{
    Hold, HoldTarget, PurgeTrigger, RetentionPolicy, RetentionReport, spawn_retention,
};
pub use retention_lock::{LockChange, RetentionLock, RetentionMinimum};
pub use review::{ItemState, Review, ReviewAction, review_conversation};
pub use salvage::SalvageReport;
pub use signing::{
    ArchiveKey, Checkpoint, CheckpointReason, SalvageNote, fingerprint, parse_public_key,
};
pub use store::journal::journaled_head;
pub use verify::{OtherKey, SalvagedFrom, Tamper, VerifyReport};
pub use writer::{IngestKey, Receipt};
