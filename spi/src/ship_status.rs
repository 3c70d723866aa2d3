//! What the shipper last did, where an operator looks: `status.json` beside the spool, and
//! the server's `appRetMsg` while shipping fails.
//!
//! A shipper that cannot reach the gateway (refused, 401, a TLS handshake that fails) keeps
//! every record, so nothing is lost, but nothing reaches the archive either, and before this
//! only one line on the server's stderr said so. The file is replaced atomically, at most
//! once a second while records flow, and at once when shipping starts or stops failing.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::spool_files::replace_file;

/// The file's name in the spool directory.
pub const STATUS_FILE: &str = "status.json";

/// The shipper's state, as written to [`STATUS_FILE`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipStatus {
    /// `host:port` shipped to.
    pub gateway: String,
    /// When the gateway last acknowledged a batch (UTC ns).
    pub last_shipped_ns: Option<i64>,
    /// Since when shipping fails (UTC ns); `None` while it works.
    pub failing_since_ns: Option<i64>,
    /// Why shipping last failed (cleared once it works again).
    pub last_error: Option<String>,
    /// Records waiting to be shipped (by sequence numbers: about, after a sled migration).
    pub backlog: u64,
    /// When this was written (UTC ns).
    pub updated_ns: i64,
}

impl ShipStatus {
    /// One line for the server while shipping fails: since when, why, and what waits.
    pub fn problem(&self) -> Option<String> {
        let since = self.failing_since_ns?;
        let seconds = (record::now_ns() - since).max(0) / 1_000_000_000;
        Some(format!(
            "recorded, but shipping to {} fails for {seconds} s ({} records waiting): {}",
            self.gateway,
            self.backlog,
            self.last_error.as_deref().unwrap_or("unknown")
        ))
    }

    /// Replaces `dir/status.json` with this status.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        replace_file(dir, STATUS_FILE, &text)
    }

    /// The status in `dir`, if a shipper ever wrote one.
    pub fn read(dir: &Path) -> std::io::Result<Option<Self>> {
        match std::fs::read_to_string(dir.join(STATUS_FILE)) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_reads_back_and_says_what_fails() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ShipStatus::read(dir.path()).ok().flatten(), None);
        let mut status = ShipStatus {
            gateway: "gw:7443".into(),
            backlog: 5,
            ..ShipStatus::default()
        };
        assert_eq!(status.problem(), None);
        status.failing_since_ns = Some(record::now_ns());
        status.last_error = Some("gateway answered 401: bad token".into());
        let problem = status.problem().unwrap_or_default();
        assert!(
            problem.starts_with("recorded, but shipping to gw:7443 fails for 0 s (5 records"),
            "{problem}"
        );
        status.write(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ShipStatus::read(dir.path()).ok().flatten(), Some(status));
    }
}
