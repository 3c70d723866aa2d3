//! The configuration model and rule evaluation: who is logged, what is blocked, which DNS view
//! a client is in. Pure: no I/O, no sockets, no clock reads. The caller reads the
//! configuration file and hands [`Config::load`] its text and name.
//!
//! The configuration model ([`config`]), DNS views ([`dns`]), the employee [`Directory`],
//! and message policy ([`PolicyEngine`]: identity, groups, profiles, first-match rules, with
//! the per-session [`NoticeLimiter`] and [`DisclaimerClock`]).
#![forbid(unsafe_code)]

pub mod config;
pub mod directory;
pub mod dns;
mod engine;
pub mod fuzzing;
pub mod host_port;
pub mod proxy;
pub mod secret_url;

pub use config::{
    ArchiveConfig, ArchiveMode, CaKey, Config, ConfigError, DnsConfig, DnsUpstream, DnsViewConfig,
    FailPolicy, GroupConfig, IngestAuthMode, IngestClientConfig, IngestConfig, LineCol, Origin,
    PolicyConfig, ProfileConfig, QueryLog, RelayConfig, RetentionConfig, RetentionSetting,
    RuleConfig, SensorConfig, TlsConfig, UnknownScreenNames, UpstreamConfig,
};
pub use directory::{Directory, DirectoryError, Employee};
pub use engine::{
    Action, Admission, CanCarry, DEFAULT_BLOCK_NOTICE, Decision, Delivery, DisclaimerClock,
    EmployeeRef, Enforcement, Explanation, GroupCheck, IdentifiedBy, Identity, Keep,
    MessageContext, MessageKind, NoDisclaimer, NoticeLimiter, Outcome, PolicyEngine, Profile,
    RuleCheck, ToEnforce, conversation_key, direction_of, enforce,
};
pub use host_port::{HostPort, HostPortError};
pub use proxy::{ProxyKind, ProxyUrl};
pub use secret_url::SecretUrl;
