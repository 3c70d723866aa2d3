//! Shipping settings (gateway address, token, TLS files) re-read on the server's timer
//! when the configuration file or a file it names changes, so a rotated token or a moved
//! gateway does not need a restart of the Sametime server.
//!
//! Only the `[gateway]` settings take effect this way: the mode, the spool and the codes
//! change what the server was told at Init and wait for the next Init. A file that no
//! longer parses, or names a token or certificate that cannot be read, is reported once as
//! a warning and the running shipper goes on.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::config::SpiConfig;

/// What a file looked like: its modification time and length (`None`: absent).
type FileStamp = Option<(SystemTime, u64)>;

fn stamp_of(path: &Path) -> FileStamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// The files the shipping settings come from, and how they looked when last read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShippingFiles {
    stamps: Vec<(PathBuf, FileStamp)>,
}

impl ShippingFiles {
    /// The configuration file `config` was read from and the gateway files it names;
    /// `None` when it came from no file (nothing to watch).
    pub fn of(config: &SpiConfig) -> Option<Self> {
        let source = config.source.clone()?;
        let mut paths = vec![source];
        if let Some(gateway) = &config.gateway {
            let named = [
                &gateway.token_file,
                &gateway.ca,
                &gateway.client_cert,
                &gateway.client_key,
            ];
            paths.extend(named.into_iter().flatten().map(|p| config.resolve(p)));
        }
        Some(Self {
            stamps: paths
                .into_iter()
                .map(|p| {
                    let stamp = stamp_of(&p);
                    (p, stamp)
                })
                .collect(),
        })
    }

    /// The same files as they look now: a broken change is then reported once, not on
    /// every timer call.
    pub fn restamped(self) -> Option<Self> {
        Some(Self {
            stamps: self
                .stamps
                .into_iter()
                .map(|(path, _)| {
                    let stamp = stamp_of(&path);
                    (path, stamp)
                })
                .collect(),
        })
    }

    /// Whether any of the files changed since these stamps were taken.
    pub fn changed(&self) -> bool {
        self.stamps
            .iter()
            .any(|(path, stamp)| stamp_of(path) != *stamp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_to_the_file_or_the_token_file_is_seen() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = dir.path().join("imtegrity_stchatlog.toml");
        std::fs::write(dir.path().join("token"), "first-token").unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(
            &file,
            "[gateway]\naddress = \"gw:1\"\ntoken_file = \"token\"\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let config = SpiConfig::read(&file).unwrap_or_else(|e| panic!("{e}"));
        let files = ShippingFiles::of(&config).unwrap_or_else(|| panic!("a file"));
        assert!(!files.changed());
        std::fs::write(dir.path().join("token"), "second-token-longer")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(files.changed());
        assert!(ShippingFiles::of(&SpiConfig::default()).is_none());
    }
}
