//! The CA on disk: `ca.pem` (the certificate), `ca.key` (PKCS #8 PEM) and, for an
//! enterprise sub-CA, `chain.pem` (the certificates above it), in one directory, 0700 with
//! every file 0600 whatever the umask (the certificate is public, but is handed out with
//! `ca export`, not read from here).
//!
//! Checked at [`Ca::load`] too: a looser directory or certificate file is fixed, with a
//! warning; a key file others may read or write is refused, as ssh refuses an unprotected
//! private key (it may already have been copied; the operator decides).

use std::fs::{self, DirBuilder, OpenOptions, Permissions};
use std::io::{ErrorKind, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use rcgen::KeyPair;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::ca::cert_pem;
use crate::{Ca, CaInfo, CertError};

/// The certificate's file name in a CA directory.
pub const CERT_FILE: &str = "ca.pem";
/// The private key's file name in a CA directory.
pub const KEY_FILE: &str = "ca.key";
/// The file name of the certificates above an enterprise sub-CA.
pub const CHAIN_FILE: &str = "chain.pem";

/// The key file's mode: the owner alone reads it.
pub(crate) const KEY_MODE: u32 = 0o600;
/// The certificates' mode outside a CA directory (leaves, client certificates): anyone may
/// read them.
pub(crate) const CERT_MODE: u32 = 0o644;
/// The certificates' mode inside a CA directory: owner-only, like everything there.
const CA_CERT_MODE: u32 = 0o600;
/// A CA directory made by [`Ca::save`]: only the owner may list or enter it.
const DIR_MODE: u32 = 0o700;

/// Where the files of the CA in `dir` are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaPaths {
    /// The directory.
    pub dir: PathBuf,
    /// `ca.pem`.
    pub cert: PathBuf,
    /// `ca.key`.
    pub key: PathBuf,
    /// `chain.pem`.
    pub chain: PathBuf,
}

impl CaPaths {
    /// The file names in `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            cert: dir.join(CERT_FILE),
            key: dir.join(KEY_FILE),
            chain: dir.join(CHAIN_FILE),
        }
    }
}

impl Ca {
    /// Writes the CA into `dir` (created 0700 if missing, made 0700 if looser): the key and
    /// the certificates 0600, each through a temporary file renamed into place. Refuses to
    /// replace an existing `ca.pem` or `ca.key` unless `force`.
    pub fn save(&self, dir: &Path, force: bool) -> Result<CaPaths, CertError> {
        let paths = CaPaths::in_dir(dir);
        DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(dir)
            .map_err(|e| CertError::io(dir, e))?;
        fix_mode(dir, DIR_MODE)?;
        if !force {
            for path in [&paths.cert, &paths.key] {
                if fs::symlink_metadata(path).is_ok() {
                    return Err(CertError::Exists { path: path.clone() });
                }
            }
        }
        write_file(
            &paths.key,
            self.issuer.key().serialize_pem().as_bytes(),
            KEY_MODE,
        )?;
        write_file(&paths.cert, self.cert_pem().as_bytes(), CA_CERT_MODE)?;
        if self.chain.is_empty() {
            match fs::remove_file(&paths.chain) {
                Err(e) if e.kind() != ErrorKind::NotFound => {
                    return Err(CertError::io(&paths.chain, e));
                }
                _ => {}
            }
        } else {
            let chain: String = self.chain.iter().map(|c| cert_pem(c)).collect();
            write_file(&paths.chain, chain.as_bytes(), CA_CERT_MODE)?;
        }
        sync_dir(dir)?;
        Ok(paths)
    }

    /// Reads the CA in `dir`: `ca.pem` (the CA certificate first; any certificates after it
    /// are taken as its chain), `ca.key`, and `chain.pem` if present. Works the same for a
    /// CA made by [`Ca::create`] and an enterprise sub-CA an administrator put there.
    ///
    /// The directory and certificates are made owner-only if they are not; a key file open
    /// to other users is refused ([`CertError::KeyExposed`]).
    pub fn load(dir: &Path) -> Result<Self, CertError> {
        let paths = CaPaths::in_dir(dir);
        fix_mode(dir, DIR_MODE)?;
        for cert in [&paths.cert, &paths.chain] {
            if cert.exists() {
                fix_mode(cert, CA_CERT_MODE)?;
            }
        }
        refuse_exposed_key(&paths.key)?;
        let chain = paths.chain.exists().then_some(paths.chain.as_path());
        Self::read(&paths.cert, &paths.key, chain)
    }

    /// Reads a CA from its files, wherever they are: `cert` (PEM, the CA first and maybe its
    /// chain after it, or a single DER certificate), `key` (unencrypted PKCS #8 PEM) and
    /// optionally `chain` (PEM, the certificates above the CA). Checks the certificate is a
    /// CA that may sign certificates, and that the key is its key.
    pub fn read(cert: &Path, key: &Path, chain: Option<&Path>) -> Result<Self, CertError> {
        let mut certs = read_certs(cert)?;
        let ca_cert = certs.remove(0);
        if let Some(chain) = chain {
            certs.extend(read_certs(chain)?);
        }
        let key_pair = read_key(key)?;
        Self::from_parts(ca_cert, key_pair, certs, cert, key)
    }

    /// Copies an existing CA (an enterprise sub-CA, say) into `dir` after the checks of
    /// [`Ca::read`], with the modes [`Ca::save`] gives. Refuses to replace a CA in `dir`
    /// unless `force`.
    pub fn import(
        cert: &Path,
        key: &Path,
        chain: Option<&Path>,
        dir: &Path,
        force: bool,
    ) -> Result<(Self, CaPaths), CertError> {
        let ca = Self::read(cert, key, chain)?;
        let paths = ca.save(dir, force)?;
        Ok((ca, paths))
    }
}

/// The CA certificate in `dir` alone, with its facts: for exporting and showing the CA
/// without reading (or being allowed to read) its key.
pub fn load_certificate(dir: &Path) -> Result<(CertificateDer<'static>, CaInfo), CertError> {
    let path = dir.join(CERT_FILE);
    let cert = read_certs(&path)?.remove(0);
    let info = CaInfo::parse(&cert).map_err(|why| CertError::NotCa {
        path: path.clone(),
        why,
    })?;
    Ok((cert, info))
}

/// Every certificate in `path`: PEM blocks, or one DER certificate (as Windows exports a
/// `.cer`). At least one.
fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, CertError> {
    let bytes = fs::read(path).map_err(|e| CertError::io(path, e))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CertError::bad_file(path, format!("unreadable PEM: {e}")))?;
    if !certs.is_empty() {
        return Ok(certs);
    }
    if bytes.first() == Some(&0x30) {
        return Ok(vec![CertificateDer::from(bytes)]);
    }
    Err(CertError::bad_file(
        path,
        "no certificate in it (expected -----BEGIN CERTIFICATE----- or a DER certificate)",
    ))
}

/// The private key in `path`, which must be an unencrypted PKCS #8 PEM key (what `ca init`
/// writes, and `openssl genpkey` makes). Warns when other users may read the file.
fn read_key(path: &Path) -> Result<KeyPair, CertError> {
    let meta = fs::metadata(path).map_err(|e| CertError::io(path, e))?;
    if meta.permissions().mode() & 0o077 != 0 {
        tracing::warn!(
            path = %path.display(),
            mode = format_args!("{:o}", meta.permissions().mode() & 0o777),
            "the CA key file is readable by other users; chmod 600 it"
        );
    }
    let bytes = fs::read(path).map_err(|e| CertError::io(path, e))?;
    let convert = format!(
        "convert it with: openssl pkcs8 -topk8 -nocrypt -in {} -out ca.key",
        path.display()
    );
    match PrivateKeyDer::from_pem_slice(&bytes) {
        Ok(PrivateKeyDer::Pkcs8(der)) => KeyPair::try_from(&der).map_err(|_| {
            CertError::bad_file(
                path,
                "unsupported private key: ECDSA P-256 or P-384, Ed25519, or RSA of 2048 to \
                 8192 bits are",
            )
        }),
        Ok(_) => Err(CertError::bad_file(
            path,
            format!("the key is in the old PKCS #1 or SEC 1 form; {convert}"),
        )),
        Err(_) => Err(CertError::bad_file(
            path,
            format!(
                "no unencrypted private key in it (-----BEGIN PRIVATE KEY-----); an encrypted \
                 or other key must be converted first: {convert}"
            ),
        )),
    }
}

/// Sets `path` to `mode` if it has any permission `mode` lacks, saying so.
fn fix_mode(path: &Path, mode: u32) -> Result<(), CertError> {
    let old = fs::metadata(path)
        .map_err(|e| CertError::io(path, e))?
        .permissions()
        .mode()
        & 0o777;
    if old & !mode != 0 {
        fs::set_permissions(path, Permissions::from_mode(mode))
            .map_err(|e| CertError::io(path, e))?;
        tracing::warn!(
            path = %path.display(),
            "{} was mode {old:04o}, open to other users; set to {mode:04o} (owner only)",
            path.display()
        );
    }
    Ok(())
}

/// Refuses the CA key in a CA directory when others may read or write it.
fn refuse_exposed_key(path: &Path) -> Result<(), CertError> {
    let mode = fs::metadata(path)
        .map_err(|e| CertError::io(path, e))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(CertError::KeyExposed {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

/// Writes `data` to `path` with `mode` whatever the umask, replacing it atomically.
pub(crate) fn write_file(path: &Path, data: &[u8], mode: u32) -> Result<(), CertError> {
    let mut tmp_name = path.file_name().unwrap_or_default().to_owned();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    match fs::remove_file(&tmp) {
        Err(e) if e.kind() != ErrorKind::NotFound => return Err(CertError::io(&tmp, e)),
        _ => {}
    }
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        // The umask may have taken bits off the mode (the certificate's 0644), never added.
        file.set_permissions(Permissions::from_mode(mode))?;
        file.write_all(data)?;
        file.sync_all()
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(CertError::io(&tmp, e));
    }
    fs::rename(&tmp, path).map_err(|e| CertError::io(path, e))
}

/// Makes the renames in `dir` durable.
fn sync_dir(dir: &Path) -> Result<(), CertError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| CertError::io(dir, e))
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use super::*;
    use crate::{KeyKind, NameScope};

    fn new_ca() -> Ca {
        let scope = NameScope::permitted(["oscar.aol.com"]).unwrap();
        Ca::create(
            KeyKind::EcdsaP256,
            &scope,
            "Test CA",
            OffsetDateTime::now_utc(),
        )
        .unwrap()
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn saved_files_have_their_modes_and_load_back() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("ca");
        let ca = new_ca();
        let paths = ca.save(&dir, false).unwrap();
        assert_eq!(mode(&paths.key), 0o600);
        assert_eq!(mode(&paths.cert), 0o600);
        assert_eq!(mode(&dir), 0o700);
        assert!(!paths.chain.exists());
        let key_text = fs::read_to_string(&paths.key).unwrap();
        assert!(
            key_text.starts_with("-----BEGIN PRIVATE KEY-----"),
            "not PKCS #8"
        );
        let back = Ca::load(&dir).unwrap();
        assert_eq!(back.cert_der(), ca.cert_der());
        assert_eq!(back.info(), ca.info());
        // No temporary file is left behind.
        let mut names: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["ca.key", "ca.pem"]);
    }

    #[test]
    fn a_stale_world_readable_key_file_is_replaced_by_a_0600_one() {
        // A stale, world-readable file where the key goes is replaced, not reused.
        let tmp = tempfile::tempdir().unwrap();
        let paths = CaPaths::in_dir(tmp.path());
        fs::write(&paths.key, "old").unwrap();
        fs::set_permissions(&paths.key, Permissions::from_mode(0o666)).unwrap();
        new_ca().save(tmp.path(), true).unwrap();
        assert_eq!(mode(&paths.key), 0o600);
    }

    #[test]
    fn an_existing_ca_is_not_replaced_without_force() {
        let tmp = tempfile::tempdir().unwrap();
        let first = new_ca();
        first.save(tmp.path(), false).unwrap();
        let err = new_ca().save(tmp.path(), false).unwrap_err();
        assert!(matches!(err, CertError::Exists { .. }), "{err}");
        assert!(err.to_string().contains("--force"), "{err}");
        assert_eq!(Ca::load(tmp.path()).unwrap().cert_der(), first.cert_der());
        let second = new_ca();
        second.save(tmp.path(), true).unwrap();
        assert_eq!(Ca::load(tmp.path()).unwrap().cert_der(), second.cert_der());
    }

    #[test]
    fn a_key_of_another_ca_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let a = tmp.path().join("a");
        let b = tmp.path().join("b");
        new_ca().save(&a, false).unwrap();
        new_ca().save(&b, false).unwrap();
        let err = Ca::read(&a.join(CERT_FILE), &b.join(KEY_FILE), None).unwrap_err();
        assert!(matches!(err, CertError::KeyMismatch { .. }), "{err}");
    }

    #[test]
    fn unusable_files_are_named_with_the_reason() {
        let tmp = tempfile::tempdir().unwrap();
        new_ca().save(tmp.path(), false).unwrap();
        let paths = CaPaths::in_dir(tmp.path());
        let junk = tmp.path().join("junk.pem");
        fs::write(&junk, "hello").unwrap();
        let err = Ca::read(&junk, &paths.key, None).unwrap_err();
        assert!(err.to_string().contains("no certificate"), "{err}");
        let err = Ca::read(&paths.cert, &junk, None).unwrap_err();
        assert!(
            err.to_string()
                .contains("junk.pem: no unencrypted private key"),
            "{err}"
        );
        let sec1 = tmp.path().join("sec1.key");
        fs::write(
            &sec1,
            "-----BEGIN EC PRIVATE KEY-----\nMAA=\n-----END EC PRIVATE KEY-----\n",
        )
        .unwrap();
        let err = Ca::read(&paths.cert, &sec1, None).unwrap_err();
        assert!(err.to_string().contains("openssl pkcs8 -topk8"), "{err}");
        let missing = Ca::load(&tmp.path().join("nowhere")).unwrap_err();
        assert!(matches!(missing, CertError::Io { .. }), "{missing}");
    }

    #[test]
    fn a_leaf_certificate_is_not_a_ca() {
        let key = KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["a.oscar.aol.com".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let cert = tmp.path().join("leaf.pem");
        let key_path = tmp.path().join("leaf.key");
        fs::write(&cert, leaf.pem()).unwrap();
        fs::write(&key_path, key.serialize_pem()).unwrap();
        let err = Ca::read(&cert, &key_path, None).unwrap_err();
        assert!(matches!(err, CertError::NotCa { .. }), "{err}");
        assert!(err.to_string().contains("end-entity"), "{err}");
    }

    #[test]
    fn certificates_after_the_ca_and_in_chain_pem_are_its_chain() {
        let tmp = tempfile::tempdir().unwrap();
        let ca = new_ca();
        let other = new_ca();
        let paths = ca.save(tmp.path(), false).unwrap();
        let mut bundle = fs::read_to_string(&paths.cert).unwrap();
        bundle.push_str(&other.cert_pem());
        let bundle_path = tmp.path().join("bundle.pem");
        fs::write(&bundle_path, &bundle).unwrap();
        let extra = tmp.path().join("extra.pem");
        fs::write(&extra, other.cert_pem()).unwrap();
        let read = Ca::read(&bundle_path, &paths.key, Some(&extra)).unwrap();
        assert_eq!(read.chain().len(), 2);
        // Imported into a directory, the chain goes to chain.pem and ca.pem is the CA alone.
        let dir = tmp.path().join("imported");
        let (_, imported) = Ca::import(&bundle_path, &paths.key, None, &dir, false).unwrap();
        assert_eq!(fs::read_to_string(&imported.cert).unwrap(), ca.cert_pem());
        assert_eq!(mode(&imported.key), 0o600);
        assert_eq!(mode(&imported.chain), 0o600);
        assert_eq!(Ca::load(&dir).unwrap().chain().len(), 1);
    }

    #[test]
    fn load_fixes_a_loose_directory_and_certificate_and_refuses_an_exposed_key() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("ca");
        let paths = new_ca().save(&dir, false).unwrap();
        fs::set_permissions(&dir, Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(&paths.cert, Permissions::from_mode(0o644)).unwrap();
        Ca::load(&dir).unwrap();
        assert_eq!((mode(&dir), mode(&paths.cert)), (0o700, 0o600));
        fs::set_permissions(&paths.key, Permissions::from_mode(0o640)).unwrap();
        let err = Ca::load(&dir).unwrap_err();
        assert!(
            matches!(err, CertError::KeyExposed { mode: 0o640, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("chmod 600"), "{err}");
        assert_eq!(mode(&paths.key), 0o640, "left for the operator to judge");
    }

    #[test]
    fn the_certificate_alone_is_read_without_the_key() {
        let tmp = tempfile::tempdir().unwrap();
        let ca = new_ca();
        let paths = ca.save(tmp.path(), false).unwrap();
        fs::remove_file(&paths.key).unwrap();
        let (cert, info) = load_certificate(tmp.path()).unwrap();
        assert_eq!(&cert, ca.cert_der());
        assert_eq!(&info, ca.info());
        assert!(Ca::load(tmp.path()).is_err());
    }

    #[test]
    fn a_der_certificate_is_read_too() {
        let tmp = tempfile::tempdir().unwrap();
        let ca = new_ca();
        let paths = ca.save(tmp.path(), false).unwrap();
        let der = tmp.path().join("ca.cer");
        fs::write(&der, ca.cert_der()).unwrap();
        let read = Ca::read(&der, &paths.key, None).unwrap();
        assert_eq!(read.cert_der(), ca.cert_der());
    }
}
