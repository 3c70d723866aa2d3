//! Who may ship to the ingest endpoint, from `[ingest]`: `token_file` (the client named
//! `default`) and `[[ingest.clients]]`, their token files read here and checked for
//! strength (at least 128 bits). The tokens are kept as digests and never shown: errors
//! name the key and the file only.

use std::path::Path;

use archive_servers::{IngestAuth, IngestClient, IngestToken};
use settings::{Config, IngestConfig};

/// Why a token file is not usable.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TokenFileError {
    /// It could not be read (here: `check-config` may run on another machine).
    #[error("{key} {}: {source}", path.display())]
    Read {
        /// The configuration key naming the file.
        key: String,
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// It was read, and its token is not acceptable.
    #[error("{key} {}: {message}", path.display())]
    Weak {
        /// The configuration key naming the file.
        key: String,
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong (never the token).
        message: String,
    },
}

/// The endpoint's [`IngestAuth`] from `config`, every token file read and checked, and no
/// two clients with the same token.
pub(crate) fn ingest_auth(config: &Config) -> Result<IngestAuth, TokenFileError> {
    let ingest = &config.ingest;
    let mut clients = Vec::new();
    // Tokens as read, only to refuse one shared by two clients; dropped on return.
    let mut seen: Vec<(String, String)> = Vec::new();
    for (key, name, path, certificate) in client_files(ingest) {
        let token = match path.filter(|_| ingest.auth.needs_token()) {
            Some(path) => {
                let token = read_token(&key, path)?;
                if let Some((other, _)) = seen.iter().find(|(_, t)| *t == token) {
                    return Err(TokenFileError::Weak {
                        key,
                        path: path.to_path_buf(),
                        message: format!(
                            "the same token as client {other:?}: each client needs its own"
                        ),
                    });
                }
                seen.push((name.clone(), token.clone()));
                Some(IngestToken::new(&token))
            }
            None => None,
        };
        clients.push(IngestClient {
            name,
            token,
            certificate,
        });
    }
    Ok(IngestAuth {
        clients,
        token: ingest.auth.needs_token(),
        client_cert: ingest.auth.needs_client_cert(),
    })
}

/// Each client: the key its token file is set under, its name, the file, its certificate.
fn client_files(ingest: &IngestConfig) -> Vec<(String, String, Option<&Path>, Option<String>)> {
    let legacy = ingest.token_file.as_deref().map(|path| {
        (
            "ingest.token_file".to_owned(),
            settings::DEFAULT_CLIENT.to_owned(),
            Some(path),
            None,
        )
    });
    legacy
        .into_iter()
        .chain(ingest.clients.iter().enumerate().map(|(i, c)| {
            (
                format!("ingest.clients[{i}].token_file"),
                c.name.clone(),
                c.token_file.as_deref(),
                c.certificate.clone(),
            )
        }))
        .collect()
}

/// The token in `path` (its first line, trimmed), if it is strong enough.
fn read_token(key: &str, path: &Path) -> Result<String, TokenFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| TokenFileError::Read {
        key: key.to_owned(),
        path: path.to_path_buf(),
        source,
    })?;
    let token = settings::token_in(&text);
    settings::check_token(token).map_err(|message| TokenFileError::Weak {
        key: key.to_owned(),
        path: path.to_path_buf(),
        message,
    })?;
    if let Some(mode) = open_to_others(path) {
        // Warned, not refused: the file is the operator's, and a token can be replaced once
        // it is known to have been readable (unlike the archive's signing key).
        tracing::warn!(
            key,
            path = %path.display(),
            mode = format!("{mode:o}"),
            "token file is open to other users; chmod 600 it and consider replacing the token"
        );
    }
    Ok(token.to_owned())
}

/// The permission bits of `path` when its group or others may read or write it.
fn open_to_others(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o066 != 0).then_some(mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_file_open_to_others_is_noticed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "0123456789abcdef0123456789abcdef\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(open_to_others(&path), Some(0o644));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(open_to_others(&path), None);
        assert!(read_token("ingest.token_file", &path).is_ok());
    }

    fn config(dir: &Path, extra: &str) -> Config {
        let text = format!(
            "[ingest]\nlisten = [\"127.0.0.1:5192\"]\ntoken_file = {:?}\n{extra}",
            dir.join("default.token").display().to_string()
        );
        Config::load("imtegrity.toml", &text, &[]).unwrap()
    }

    #[test]
    fn every_client_is_read_and_identified() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (
            "0123456789abcdef0123456789abcdef",
            "fedcba9876543210fedcba9876543210",
        );
        std::fs::write(dir.path().join("default.token"), format!("{a}\n")).unwrap();
        std::fs::write(dir.path().join("east.token"), format!("  {b}  \n")).unwrap();
        let east = format!(
            "[[ingest.clients]]\nname = \"st-east\"\ntoken_file = {:?}\n",
            dir.path().join("east.token").display().to_string()
        );
        let auth = ingest_auth(&config(dir.path(), &east)).unwrap();
        assert_eq!(auth.identify(Some(a), None), Ok("default".into()));
        // The gateway's `default` is the archive's, which `serve_ingest` uses.
        assert_eq!(settings::DEFAULT_CLIENT, archive_servers::DEFAULT_CLIENT);
        assert_eq!(auth.identify(Some(b), None), Ok("st-east".into()));
        assert!(!format!("{auth:?}").contains(a));

        // The same token twice, a short one, an unreadable one.
        std::fs::write(dir.path().join("east.token"), a).unwrap();
        let err = ingest_auth(&config(dir.path(), &east))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("the same token as client \"default\""),
            "{err}"
        );
        assert!(!err.contains(a), "{err}");
        std::fs::write(dir.path().join("east.token"), "0123456789abcdef").unwrap();
        let err = ingest_auth(&config(dir.path(), &east)).unwrap_err();
        assert!(matches!(err, TokenFileError::Weak { .. }), "{err}");
        assert!(
            err.to_string().starts_with("ingest.clients[0].token_file "),
            "{err}"
        );
        assert!(!err.to_string().contains("0123456789abcdef\""), "{err}");
        std::fs::remove_file(dir.path().join("east.token")).unwrap();
        let err = ingest_auth(&config(dir.path(), &east)).unwrap_err();
        assert!(matches!(err, TokenFileError::Read { .. }), "{err}");
    }
}
