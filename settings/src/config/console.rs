//! `[console]`: the reviewer console, edited by whoever runs the gateway.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[console]`: the reviewer console's accounts (`imtegrity console user ...`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleConfig {
    /// The accounts file: names, roles, scopes and argon2id password hashes, owner-only.
    /// Default: unset, `console/users.toml` in the gateway's data directory
    /// (`/var/lib/imtegrity/console/users.toml` for root).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub users: Option<PathBuf>,
}
