//! How an archive is opened and how its writer batches.

use std::path::PathBuf;
use std::time::Duration;

/// Options for [`crate::Archive::open`].
///
/// # Defaults
/// * `key`: where the archive recorded it when it was opened with another path, else
///   `<dir>/signing.key`; created 0600 for a new archive (never for an existing one).
/// * `node`: the host name, else `"gateway"`.
/// * `max_batch`: 1024 records per group commit.
/// * `checkpoint_every`: a permanent signed checkpoint every 10 000 records...
/// * `checkpoint_interval`: ...or every 60 s with new records, whichever comes first.
/// * `queue_depth`: 16 384 records waiting for the writer before appenders wait
///   (relaxed mode's back-pressure).
/// * `admin_socket`: `<dir>/admin.sock`.
#[derive(Debug, Clone)]
pub struct ArchiveOptions {
    /// The signing key file (`archive.signing_key`); may be outside the archive directory.
    pub key: Option<PathBuf>,
    /// Name of the gateway node, stored in each record the caller did not name.
    pub node: Option<String>,
    /// Most records flushed in one group commit.
    pub max_batch: usize,
    /// Records between permanent checkpoints.
    pub checkpoint_every: u64,
    /// Time between permanent checkpoints while records arrive.
    pub checkpoint_interval: Duration,
    /// Bound of the writer's queue.
    pub queue_depth: usize,
}

impl Default for ArchiveOptions {
    fn default() -> Self {
        Self {
            key: None,
            node: None,
            max_batch: 1024,
            checkpoint_every: 10_000,
            checkpoint_interval: Duration::from_secs(60),
            queue_depth: 16 * 1024,
        }
    }
}
