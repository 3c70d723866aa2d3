//! The one configuration file: read, `--set` overrides applied, validated. Every command
//! that takes `--config` and the gateway load it here, so all of them accept and refuse
//! the same files.

use std::path::Path;

use policy::Config;

use crate::exit::UsageError;

/// Reads and checks the configuration: the file if one is given (as `check-config` does),
/// else the embedded defaults, then every `--set`. Any problem is a usage error.
pub(crate) fn load(file: Option<&Path>, overrides: &[String]) -> Result<Config, UsageError> {
    match file {
        Some(path) => read(path, overrides),
        None => Config::load("(embedded defaults)", "", overrides)
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
    Config::load(&path.display().to_string(), &text, overrides)
        .map_err(|e| UsageError(e.to_string()))
}
