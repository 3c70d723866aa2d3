//! `imtegrity.toml`, parsed and checked: the [`Config`] tree every part of the gateway is
//! configured from, its loading with `--set key=value` overrides ([`Config::load`]: TOML
//! text in, a checked value or a [`ConfigError`] naming the file, line and key out), and the
//! value types a configured string is parsed into once, when the file loads: [`HostPort`],
//! [`ProxyUrl`], [`SecretUrl`], the redirected DNS names and views ([`dns`]), and the words
//! of a policy rule ([`Action`], [`MessageKind`]).
//!
//! Pure: no I/O, no sockets, no clock reads. The caller reads the file and hands
//! [`Config::load`] its text and name. The `[policy]` section is typed here and compiled by
//! the `policy` crate's engine, which checks its rules; `policy::load_config` is the loader
//! that does both.
#![forbid(unsafe_code)]

mod config;
pub mod dns;
pub mod fuzzing;
mod host_port;
mod proxy;
mod secret_url;

pub use config::{
    Action, ArchiveConfig, ArchiveMode, CaKey, Config, ConfigError, ConsoleConfig, DEFAULT_CLIENT,
    DEFAULT_PROFILE, DnsConfig, DnsUpstream, DnsViewConfig, FailPolicy, GroupConfig, GroupRef,
    IngestAuthMode, IngestClientConfig, IngestConfig, LineCol, MIN_TOKEN_BITS, MessageKind, Origin,
    PolicyConfig, ProfileConfig, QueryLog, RelayConfig, RetentionConfig, RetentionSetting,
    RuleConfig, SamplingConfig, SensorConfig, TlsConfig, UnknownScreenNames, UpstreamConfig,
    check_token, token_in,
};
pub use host_port::{HostPort, HostPortError};
pub use proxy::{ProxyKind, ProxyUrl};
pub use secret_url::{SecretUrl, redact};
