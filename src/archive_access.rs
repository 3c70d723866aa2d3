//! Reaching the archive from the CLI: open it directly when no gateway owns it, otherwise
//! ask the owning process over its admin socket. Both paths give the same answers.

use std::path::{Path, PathBuf};

use archive::admin::Client;
use archive::{
    Archive, ArchiveError, ArchiveOptions, Hold, HoldTarget, Query, Record, RetentionPolicy,
    RetentionReport, VerifyReport,
};

/// The archive, local or through its owner.
pub(crate) enum ArchiveAccess {
    /// This process opened the store.
    Local(Archive),
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
        if !create && !dir.join("db").exists() && !archive::admin::socket_path(dir).exists() {
            return Err(ArchiveError::Invalid {
                what: "archive directory",
                detail: format!("{} holds no archive (use --archive DIR)", dir.display()),
            });
        }
        match Archive::open(dir, ArchiveOptions::default()) {
            Ok(a) => Ok(Self::Local(a)),
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

    /// Records matching `query`, in time order.
    pub(crate) fn search<'a>(
        &'a self,
        query: &'a Query,
    ) -> Result<Box<dyn Iterator<Item = Result<Record, ArchiveError>> + 'a>, ArchiveError> {
        Ok(match self {
            Self::Local(a) => a.search(query),
            Self::Remote(c) => Box::new(c.search(query)?),
        })
    }

    pub(crate) fn verify(&self, public_key: Option<String>) -> Result<VerifyReport, ArchiveError> {
        match self {
            Self::Local(a) => match public_key {
                Some(hex) => a.verify_with(&archive::parse_public_key(&hex)?),
                None => a.verify(),
            },
            Self::Remote(c) => c.verify(public_key),
        }
    }

    pub(crate) fn holds(&self, released: bool) -> Result<Vec<Hold>, ArchiveError> {
        match self {
            Self::Local(a) => a.holds(released),
            Self::Remote(c) => c.holds(released),
        }
    }

    pub(crate) fn hold_add(&self, target: HoldTarget, reason: &str) -> Result<Hold, ArchiveError> {
        match self {
            Self::Local(a) => a.hold_add(target, reason),
            Self::Remote(c) => c.hold_add(target, reason),
        }
    }

    pub(crate) fn hold_release(&self, id: u64) -> Result<Hold, ArchiveError> {
        match self {
            Self::Local(a) => a.hold_release(id),
            Self::Remote(c) => c.hold_release(id),
        }
    }

    pub(crate) fn retention(
        &self,
        policy: &RetentionPolicy,
        now_ns: i64,
        dry_run: bool,
    ) -> Result<RetentionReport, ArchiveError> {
        match self {
            Self::Local(a) => a.apply_retention(policy, now_ns, dry_run),
            Self::Remote(c) => c.retention(policy, now_ns, dry_run),
        }
    }
}
