//! The configuration model and rule evaluation: who is logged, what is blocked, which DNS view
//! a client is in. Pure: no I/O, no sockets, no clock reads. The caller reads the
//! configuration file and hands [`Config::load`] its text and name.
//!
//! The configuration model ([`config`]), DNS views ([`dns`]) and the employee [`Directory`].
//! Message policy comes with step 6 (issue 7).
#![forbid(unsafe_code)]

pub mod config;
pub mod directory;
pub mod dns;
pub mod host_port;
pub mod proxy;

pub use config::{
    ArchiveConfig, ArchiveMode, CaKey, Config, ConfigError, DnsConfig, DnsUpstream, DnsViewConfig,
    FailPolicy, LineCol, Origin, QueryLog, RelayConfig, RetentionConfig, TlsConfig, UpstreamConfig,
};
pub use directory::{Directory, DirectoryError, Employee, normalize_screen_name};
pub use host_port::{HostPort, HostPortError};
pub use proxy::{ProxyKind, ProxyUrl};
