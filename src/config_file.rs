//! The one configuration file: read, `--set` overrides applied, validated. Every command
//! that takes `--config` and the gateway load it here, so all of them accept and refuse
//! the same files.

use std::path::Path;

use settings::Config;

use crate::exit::UsageError;

/// Reads and checks the configuration: the file if one is given (as `check-config` does),
/// else the embedded defaults, then every `--set`. Any problem is a usage error.
pub(crate) fn load(file: Option<&Path>, overrides: &[String]) -> Result<Config, UsageError> {
    match file {
        Some(path) => read(path, overrides),
        None => policy::load_config("(embedded defaults)", "", overrides)
            .map_err(|e| UsageError(e.to_string())),
    }
}

/// Reads `path`, applies `overrides` and validates. Every failure, an unreadable file
/// included, is a [`UsageError`] (exit code 64) naming the file or the `--set` argument.
pub(crate) fn read(path: &Path, overrides: &[String]) -> Result<Config, UsageError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        UsageError(format!(
            "cannot read configuration file {}: {e}",
            path.display()
        ))
    })?;
    policy::load_config(&path.display().to_string(), &text, overrides)
        .map_err(|e| UsageError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &tempfile::TempDir, text: &str) -> std::path::PathBuf {
        let path = dir.path().join("imtegrity.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn a_valid_file_with_overrides_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "[archive]\nmode = \"relaxed\"\n");
        let config = read(&path, &["upstream.login=127.0.0.1:15190".to_owned()]).unwrap();
        assert_eq!(config.upstream.login.to_string(), "127.0.0.1:15190");
        assert_eq!(config.archive.mode, settings::ArchiveMode::Relaxed);
    }

    #[test]
    fn errors_are_usage_errors_naming_the_file_or_argument() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("absent.toml");
        let err = read(&missing, &[]).unwrap_err();
        assert!(
            err.0.starts_with("cannot read configuration file "),
            "{}",
            err.0
        );
        assert!(err.0.contains("absent.toml"), "{}", err.0);

        let path = write(&dir, "[relay]\nlissten = 1\n");
        let err = read(&path, &[]).unwrap_err();
        assert!(
            err.0
                .starts_with(&format!("{}:2:1: unknown field `lissten`", path.display())),
            "{}",
            err.0
        );

        let path = write(&dir, "");
        let err = read(&path, &["relay.idle_timeout_secs=60".to_owned()]).unwrap_err();
        assert!(
            err.0.starts_with("--set relay.idle_timeout_secs: invalid"),
            "{}",
            err.0
        );
    }
}
