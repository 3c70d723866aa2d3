//! A minted leaf written to files, for administrators and for testing with curl or openssl:
//! `NAME.pem` (the leaf), `NAME.chain.pem` (leaf, CA and the CA's chain: what a server
//! presents) and `NAME.key` (its key, 0600).

use std::fs::{self, DirBuilder};
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};

use crate::ca_files::{CERT_MODE, KEY_MODE, write_file};
use crate::{CertError, Leaf};

/// Where [`Leaf::save`] put a leaf's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafPaths {
    /// `NAME.pem`: the leaf certificate.
    pub cert: PathBuf,
    /// `NAME.chain.pem`: the leaf, then the CA and its chain.
    pub chain: PathBuf,
    /// `NAME.key`: the leaf's private key, mode 0600.
    pub key: PathBuf,
}

impl Leaf {
    /// Writes the leaf into `dir` (created if missing) as `NAME.pem`, `NAME.chain.pem` and
    /// `NAME.key` (0600). Refuses to replace any of them unless `force`.
    pub fn save(&self, dir: &Path, force: bool) -> Result<LeafPaths, CertError> {
        let paths = LeafPaths {
            cert: dir.join(format!("{}.pem", self.name)),
            chain: dir.join(format!("{}.chain.pem", self.name)),
            key: dir.join(format!("{}.key", self.name)),
        };
        DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .map_err(|e| CertError::io(dir, e))?;
        if !force {
            for path in [&paths.cert, &paths.chain, &paths.key] {
                if fs::symlink_metadata(path).is_ok() {
                    return Err(CertError::Exists { path: path.clone() });
                }
            }
        }
        write_file(&paths.key, self.key_pem().as_bytes(), KEY_MODE)?;
        write_file(&paths.cert, self.cert_pem().as_bytes(), CERT_MODE)?;
        write_file(&paths.chain, self.chain_pem().as_bytes(), CERT_MODE)?;
        Ok(paths)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;
    use std::sync::Arc;

    use time::{Duration, OffsetDateTime};

    use super::*;
    use crate::{Ca, Issuer, KeyKind, NameScope, SystemClock};

    #[test]
    fn a_leaf_saves_to_three_files_with_the_key_private() {
        let scope = NameScope::permitted(["oscar.aol.com"]).unwrap();
        let ca = Ca::create(KeyKind::EcdsaP256, &scope, "CA", OffsetDateTime::now_utc()).unwrap();
        let issuer = Issuer::new(
            Arc::new(ca),
            scope,
            Duration::hours(1),
            Arc::new(SystemClock),
        )
        .unwrap();
        let leaf = issuer.issue("login.oscar.aol.com").unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let paths = leaf.save(tmp.path(), false).unwrap();
        assert_eq!(paths.cert, tmp.path().join("login.oscar.aol.com.pem"));
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&paths.key), 0o600);
        assert_eq!(mode(&paths.cert), 0o644);
        assert_eq!(fs::read_to_string(&paths.cert).unwrap(), leaf.cert_pem());
        assert_eq!(fs::read_to_string(&paths.chain).unwrap(), leaf.chain_pem());
        assert_eq!(fs::read_to_string(&paths.key).unwrap(), leaf.key_pem());
        let err = leaf.save(tmp.path(), false).unwrap_err();
        assert!(matches!(err, CertError::Exists { .. }), "{err}");
        leaf.save(tmp.path(), true).unwrap();
    }
}
