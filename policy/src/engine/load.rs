//! The configuration as the gateway loads it: the `settings` crate's own checks, then the
//! `[policy]` section compiled as the engine will compile it. `settings` sits below the
//! engine and cannot compile rules itself, so this is where the two meet.

use settings::{Config, ConfigError};

use super::PolicyEngine;
use crate::Directory;

/// [`Config::load`], with the `[policy]` rules compiled too (without a directory: the
/// binary reads that file later), so a bad pattern or an unknown profile is reported with
/// its line or `--set` argument like any other mistake. What this accepts,
/// [`PolicyEngine::compile`] accepts.
pub fn load_config(
    source_name: &str,
    toml_text: &str,
    overrides: &[String],
) -> Result<Config, ConfigError> {
    Config::load_with(source_name, toml_text, overrides, |config| {
        PolicyEngine::compile(&config.policy, Directory::default()).map(drop)
    })
}

#[cfg(test)]
mod tests;
