//! `[console]`: the reviewer console, edited by whoever runs the gateway.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[console]`: the reviewer console: where it listens, its accounts
/// (`imtegrity console user ...`), sessions and time zone.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleConfig {
    /// Addresses the console is served on (by `run`, and by `imtegrity console` unless
    /// `--listen` says otherwise). Without `tls`, loopback addresses only. Default: empty
    /// (no console in `run`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub listen: Vec<SocketAddr>,
    /// Serve HTTPS, with a leaf for `name` issued by the gateway CA (`[tls]`) and renewed as
    /// the relay's are; the session cookie is then `Secure`. Needed for any address that is
    /// not loopback. Default: `false`.
    pub tls: bool,
    /// The DNS name on the console's certificate (what reviewers type in the browser; it
    /// must be inside the CA's `tls.permitted`). Used only with `tls`. Default: unset, this
    /// host's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Minutes without a request after which a console session ends. Default: 15.
    pub idle_timeout_mins: u64,
    /// The IANA time zone pages show times and day boundaries in, each time with its offset
    /// from UTC (records are stored in UTC). Default: `UTC`.
    pub time_zone: String,
    /// The accounts file: names, roles, scopes and argon2id password hashes, owner-only.
    /// Default: unset, `console/users.toml` in the gateway's data directory
    /// (`/var/lib/imtegrity/console/users.toml` for root).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub users: Option<PathBuf>,
    /// `[[console.sampling]]`: random samples of a group's messages put in the review queue
    /// beside the policy's hits. Default: none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sampling: Vec<SamplingConfig>,
}

/// `[[console.sampling]]`: which share of a directory group's messages the review queue
/// samples. Whether a record is sampled depends only on its id and the seed, so anyone can
/// recompute a sample from the parameters recorded with each review.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SamplingConfig {
    /// A `[[policy.groups]]` name, or `*` for every user (in a group or not).
    pub group: String,
    /// How many in a thousand messages are sampled: 1 to 1000 (25 is 2.5%).
    pub per_mille: u32,
    /// The seed of the sampling. Default: 0.
    #[serde(default)]
    pub seed: u64,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            listen: Vec::new(),
            tls: false,
            name: None,
            idle_timeout_mins: 15,
            time_zone: "UTC".to_owned(),
            users: None,
            sampling: Vec::new(),
        }
    }
}
