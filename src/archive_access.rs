//! Reaching the archive from the CLI: ask the owning process over its admin socket when one
//! answers, otherwise open the store directly. Both paths give the same answers, and both
//! record every access (`archive::Access`): the owner with the uid the socket's peer
//! credentials give, the direct path with this process's own.

use std::path::{Path, PathBuf};

use archive::{
    Accessor, Archive, ArchiveError, ArchiveOptions, Hold, HoldTarget, LockChange, Query, Record,
    RetentionMinimum, RetentionPolicy, RetentionReport, RetentionState, VerifyReport,
};
use archive_servers::admin::Client;

/// The archive, local or through its owner.
pub(crate) enum ArchiveAccess {
    /// This process opened the store; accesses are recorded as this user's.
    Local(Archive, Accessor),
    /// A running gateway owns it; requests go over `<dir>/admin.sock`.
    Remote(Client),
}

/// Where the archive lives unless `--archive` or `IMTEGRITY_ARCHIVE` says otherwise:
/// `/var/lib/imtegrity/archive` for root, `~/.local/share/imtegrity/archive` for others.
pub(crate) fn default_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("IMTEGRITY_ARCHIVE") {
        return PathBuf::from(dir);
    }
    data_dir("archive")
}

/// `/var/lib/imtegrity/<what>` for root, `~/.local/share/imtegrity/<what>` for others: where
/// the gateway keeps `what` (`archive`, `ca`) unless configured otherwise.
pub(crate) fn data_dir(what: &str) -> PathBuf {
    let root =
        std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0);
    match std::env::var_os("HOME") {
        Some(home) if !root => PathBuf::from(home)
            .join(".local/share/imtegrity")
            .join(what),
        _ => PathBuf::from("/var/lib/imtegrity").join(what),
    }
}

impl ArchiveAccess {
    /// Opens the archive in `dir`. `create` allows making a new one (only `generate` and the
    /// gateway create; reading commands refuse a directory that holds no archive).
    pub(crate) fn open(dir: &Path, create: bool) -> Result<Self, ArchiveError> {
        Self::open_with_key(dir, create, None)
    }

    /// [`ArchiveAccess::open`] with the signing key at `key` (else where the archive
    /// recorded it, else `<dir>/signing.key`). A key created now is announced on stderr.
    pub(crate) fn open_with_key(
        dir: &Path,
        create: bool,
        key: Option<PathBuf>,
    ) -> Result<Self, ArchiveError> {
        if !create && !dir.join("db").exists() && !archive_servers::admin::socket_path(dir).exists()
        {
            return Err(ArchiveError::Invalid {
                what: "archive directory",
                detail: format!("{} holds no archive (use --archive DIR)", dir.display()),
            });
        }
        // A running owner first: a user other than the archive's owner (an admin group
        // member) can reach the socket but not open the store.
        if archive_servers::admin::socket_path(dir).exists()
            && let Ok(client) = Client::connect(dir)
        {
            tracing::info!(dir = %dir.display(), "archive owned by a running process; using its admin socket");
            return Ok(Self::Remote(client));
        }
        match Archive::open(
            dir,
            ArchiveOptions {
                key,
                ..ArchiveOptions::default()
            },
        ) {
            Ok(a) => {
                crate::signing_key_notice::announce(&a);
                Ok(Self::Local(a, Accessor::this_process()))
            }
            Err(ArchiveError::Locked { dir }) => match Client::connect(&dir) {
                Ok(client) => {
                    tracing::info!(dir = %dir.display(), "archive owned by a running process; using its admin socket");
                    Ok(Self::Remote(client))
                }
                Err(e) => Err(ArchiveError::Remote(format!(
                    "the archive at {} is locked by another process, and its admin socket does not answer ({e}); \
                     is another imtegrity command still running?",
                    dir.display()
                ))),
            },
            Err(e) => Err(e),
        }
    }

    /// Records matching `query`, in time order, for `command` (`search`, `export`) with its
    /// other `args`; the access is recorded before the first record comes back.
    pub(crate) fn search<'a>(
        &'a self,
        query: &'a Query,
        command: &str,
        args: serde_json::Value,
    ) -> Result<Box<dyn Iterator<Item = Result<Record, ArchiveError>> + 'a>, ArchiveError> {
        Ok(match self {
            Self::Local(a, who) => a.audited_search(query, who, command, args)?,
            Self::Remote(c) => Box::new(c.search_for(query, command, args)?),
        })
    }

    pub(crate) fn verify(&self, public_key: Option<String>) -> Result<VerifyReport, ArchiveError> {
        match self {
            Self::Local(a, who) => a.audited_verify(public_key.as_deref(), who),
            Self::Remote(c) => c.verify(public_key),
        }
    }

    pub(crate) fn holds(&self, released: bool) -> Result<Vec<Hold>, ArchiveError> {
        match self {
            Self::Local(a, who) => a.audited_holds(released, who),
            Self::Remote(c) => c.holds(released),
        }
    }

    pub(crate) fn hold_add(&self, target: HoldTarget, reason: &str) -> Result<Hold, ArchiveError> {
        match self {
            Self::Local(a, who) => a.audited_hold_add(target, reason, who),
            Self::Remote(c) => c.hold_add(target, reason),
        }
    }

    pub(crate) fn hold_release(&self, id: u64, reason: &str) -> Result<Hold, ArchiveError> {
        match self {
            Self::Local(a, who) => a.audited_hold_release(id, Some(reason), who),
            Self::Remote(c) => c.hold_release(id, Some(reason)),
        }
    }

    /// The locked retention minimum and every purge.
    pub(crate) fn retention_state(&self) -> Result<RetentionState, ArchiveError> {
        match self {
            Self::Local(a, _) => a.retention_state(),
            Self::Remote(c) => c.retention_state(),
        }
    }

    /// Sets or raises the retention minimum (a lower one is refused), as this user.
    pub(crate) fn raise_retention_minimum(
        &self,
        minimum: &RetentionMinimum,
    ) -> Result<LockChange, ArchiveError> {
        match self {
            Self::Local(a, who) => a.raise_retention_minimum(minimum, who),
            Self::Remote(c) => c.raise_retention_minimum(minimum),
        }
    }

    pub(crate) fn retention(
        &self,
        policy: &RetentionPolicy,
        now_ns: i64,
        dry_run: bool,
    ) -> Result<RetentionReport, ArchiveError> {
        match self {
            Self::Local(a, who) => a.audited_retention(policy, now_ns, dry_run, who),
            Self::Remote(c) => c.retention(policy, now_ns, dry_run),
        }
    }
}
