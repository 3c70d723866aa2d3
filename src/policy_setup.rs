//! The employee directory named by `policy.directory`, read from its file, and the policy
//! engine compiled over it: shared by `run` (at start and on every reload), `check-config`
//! and `policy explain`. The `policy` crate does no I/O; this is where its file is read.

use std::path::{Path, PathBuf};

use policy::{Directory, DirectoryError, PolicyEngine};
use settings::{Config, ConfigError};

use crate::exit::UsageError;

/// Why the policy could not be set up. Each variant names the file, and the line when the
/// directory itself is wrong.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PolicySetupError {
    /// The directory file could not be read (missing, permissions).
    #[error("cannot read the employee directory {}: {source}", .path.display())]
    Read {
        /// The file, as configured.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The directory file is not a valid directory.
    #[error("{}{}: {}", .path.display(), line_suffix(.source.line), .source.message)]
    Directory {
        /// The file, as configured.
        path: PathBuf,
        /// What is wrong, and on which line.
        source: DirectoryError,
    },
    /// `[policy]` itself is wrong (only when the configuration was not loaded through
    /// `policy::load_config`, which checks it).
    #[error(transparent)]
    Config(#[from] ConfigError),
}

fn line_suffix(line: Option<usize>) -> String {
    line.map_or_else(String::new, |l| format!(":{l}"))
}

impl From<PolicySetupError> for UsageError {
    fn from(e: PolicySetupError) -> Self {
        Self(e.to_string())
    }
}

/// The file `policy.directory` names, if any (to watch it for changes). A relative path is
/// relative to the working directory.
pub(crate) fn directory_path(config: &Config) -> Option<&Path> {
    config.policy.directory.as_deref()
}

/// Reads and parses the directory at `path`: CSV or TOML by its extension
/// (`policy::load_config` has checked it is one of them).
pub(crate) fn read_directory(path: &Path) -> Result<Directory, PolicySetupError> {
    let text = std::fs::read_to_string(path).map_err(|source| PolicySetupError::Read {
        path: path.to_owned(),
        source,
    })?;
    Directory::parse_for_path(path, &text).map_err(|source| PolicySetupError::Directory {
        path: path.to_owned(),
        source,
    })
}

/// The engine for `config`: its directory read (none configured: an empty one) and its
/// `[policy]` compiled. Cheap enough to call on every reload; the result is shared in an
/// `Arc` and swapped whole.
pub(crate) fn engine(config: &Config) -> Result<PolicyEngine, PolicySetupError> {
    let directory = match directory_path(config) {
        Some(path) => read_directory(path)?,
        None => Directory::default(),
    };
    Ok(PolicyEngine::compile(&config.policy, directory)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        Config::load("imtegrity.toml", text, &[]).unwrap()
    }

    #[test]
    fn the_directory_is_read_by_extension() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("people.csv");
        std::fs::write(&csv, "id,screen_names\njsmith,JSmith Trader\n").unwrap();
        let toml = dir.path().join("people.TOML");
        std::fs::write(
            &toml,
            "[[employee]]\nid = \"akumar\"\nscreen_names = [\"ak\"]\n",
        )
        .unwrap();
        for (path, sn, id) in [(&csv, "jsmithtrader", "jsmith"), (&toml, "AK", "akumar")] {
            let c = config(&format!(
                "[policy]\ndirectory = {:?}\n",
                path.display().to_string()
            ));
            let engine = engine(&c).unwrap();
            assert_eq!(engine.identify(sn, None).employee.unwrap().id, id);
        }
        let none = engine(&config("")).unwrap();
        assert!(none.directory().is_empty());
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("people.csv");
        std::fs::write(&csv, "id,screen_names\na,x\nb,X\n").unwrap();
        let err = read_directory(&csv).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{}:3: screen name \"X\" of b is already a's", csv.display())
        );
        let missing = dir.path().join("absent.csv");
        let err = read_directory(&missing).unwrap_err();
        assert!(matches!(err, PolicySetupError::Read { .. }), "{err}");
        assert!(
            err.to_string().starts_with(&format!(
                "cannot read the employee directory {}: ",
                missing.display()
            )),
            "{err}"
        );
        assert!(UsageError::from(err).0.contains("absent.csv"));
    }
}
