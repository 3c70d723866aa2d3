//! The configuration model and rule evaluation: who is logged, what is blocked, which DNS view
//! a client is in. Pure: no I/O, no sockets, no clock reads. The caller reads the
//! configuration file and hands [`Config::load`] its text and name.
//!
//! Today: the configuration model ([`config`]) and [`HostPort`]. Rule evaluation comes with
//! steps 4 and 6 (issues 5 and 7).
#![forbid(unsafe_code)]

pub mod config;
pub mod dns;
pub mod host_port;
pub mod proxy;

pub use config::{
    ArchiveConfig, ArchiveMode, CaKey, Config, ConfigError, DnsConfig, DnsUpstream, DnsViewConfig,
    FailPolicy, LineCol, Origin, QueryLog, RelayConfig, RetentionConfig, TlsConfig, UpstreamConfig,
};
pub use host_port::{HostPort, HostPortError};
pub use proxy::{ProxyKind, ProxyUrl};
