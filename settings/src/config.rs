//! `imtegrity.toml`: the gateway's configuration, as edited by the network and compliance
//! teams, with `--set key=value` overrides from the command line.
//!
//! [`Config::load`] takes the file's *text* (the caller reads the file) and returns a checked
//! `Config` or a [`ConfigError`] naming the file and line, or the `--set` argument, and the
//! key. Nothing binds, connects or opens an archive before this has succeeded.

mod action;
mod console;
mod defaults;
mod dns;
mod error;
mod ingest;
mod message_kind;
mod overrides;
mod policy;
mod sensor;
mod spans;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_admin_group;
#[cfg(test)]
mod tests_client_nat;
#[cfg(test)]
mod tests_connlimits;
#[cfg(test)]
mod tests_dns_hardening;
#[cfg(test)]
mod tests_ingest;
#[cfg(test)]
mod tests_open_proxy;
#[cfg(test)]
mod tests_retention_lock;
#[cfg(test)]
mod tests_signing_key;
mod tls;
mod validate;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use toml::de::DeTable;

pub use self::action::Action;
pub use self::console::{ConsoleConfig, SamplingConfig};
pub use self::dns::{DnsConfig, DnsUpstream, DnsViewConfig, FailPolicy, QueryLog};
pub use self::error::{ConfigError, LineCol, Origin};
pub use self::ingest::{
    DEFAULT_CLIENT, IngestAuthMode, IngestClientConfig, IngestConfig, MIN_TOKEN_BITS, check_token,
    token_in,
};
pub use self::message_kind::MessageKind;
use self::overrides::Overrides;
pub use self::policy::{
    DEFAULT_PROFILE, GroupConfig, PolicyConfig, ProfileConfig, RuleConfig, UnknownScreenNames,
};
pub use self::sensor::SensorConfig;
use self::spans::SpanIndex;
pub use self::tls::{CaKey, TlsConfig};
use crate::host_port::HostPort;

/// The whole configuration. Every section and every key may be left out.
///
/// # Defaults
///
/// | key | default |
/// |---|---|
/// | `relay.listen` | `["0.0.0.0:5190", "0.0.0.0:443"]` |
/// | `relay.advertise` | unset: the address the client reached the gateway on |
/// | `relay.max_frame` | `65535` |
/// | `relay.idle_timeout_secs` | `600` (at least 180) |
/// | `relay.connect_timeout_secs` | `10` |
/// | `relay.cookie_ttl_secs` | `300` |
/// | `relay.signon_timeout_secs` | `30` (at most `idle_timeout_secs`) |
/// | `relay.max_connections_per_address` | `32` (IPv6: per /64) |
/// | `relay.new_connections_per_second` | `10` per address |
/// | `relay.new_connections_burst` | `64` per address |
/// | `relay.descriptor_reserve` | `256` (at least 64) |
/// | `relay.max_cookie_routes` | `65536` (at least 1) |
/// | `relay.client_nat_networks` | `[]`: a cookie is taken only from its login's own address |
/// | `upstream.login` | `"login.oscar.aol.com:5190"` |
/// | `upstream.egress` | `[]`: the OS chooses the source address |
/// | `upstream.resolver` | `[]`: the system resolver |
/// | `upstream.login_tls` | `"slogin.oscar.aol.com:5190"` |
/// | `upstream.tls_roots` | `[]`: the system trust store only |
/// | `upstream.tls_insecure` | `false` |
/// | `upstream.api` | unset: the host name the client asked for, port 443 |
/// | `upstream.redirect_allow` | `[]`: redirects only to public addresses and the configured upstreams' own |
/// | `archive.path` | unset: the caller's data directory |
/// | `archive.mode` | `"strict"` |
/// | `archive.node` | unset: the host name |
/// | `archive.signing_key` | unset: where the archive recorded it, else `<archive.path>/signing.key` |
/// | `archive.admin_group` | unset: the archive's owner and root alone use the admin socket |
/// | `archive.retention.min_days` | unset: no minimum beyond what the archive has locked |
/// | `archive.retention.{aim,icq,sametime}_min_days` | `archive.retention.min_days` |
/// | `dns.listen` | `["0.0.0.0:53"]` |
/// | `dns.upstream` | `[]`: the `nameserver`s of /etc/resolv.conf |
/// | `dns.allow` | loopback, RFC 1918, `fc00::/7` |
/// | `dns.ttl` | `30` |
/// | `dns.fail` | `"closed"` |
/// | `dns.rate_limit` | `1000` per client per second |
/// | `dns.rate_limit_bytes` | `131072` answer bytes per client per second |
/// | `dns.query_log_rate` | `50` lines per second |
/// | `dns.client_table_size` | `65536` client addresses |
/// | `dns.upstream_idle_secs` | `2` |
/// | `tls.ca_dir` | unset: the caller's data directory |
/// | `tls.ca_key` | `"ecdsa-p256"` |
/// | `tls.permitted` | the domains of the built-in AIM/ICQ names |
/// | `tls.default_name` | `"slogin.oscar.aol.com"` |
/// | `tls.leaf_hours` | `168` (at most 9528) |
/// | `tls.renew_before_hours` | `24` (at most half of `leaf_hours`) |
/// | `tls.cache_size` | `1024` |
/// | `ingest.listen` | `[]`: no ingest endpoint |
/// | `ingest.token_file` | unset (required with `listen` unless `auth = "client_cert"` or `clients` are listed; a token of ≥ 128 bits; the client named `default`) |
/// | `ingest.tls` | `false` |
/// | `ingest.name` | unset: the host name |
/// | `ingest.auth` | `"token"` |
/// | `ingest.clients` | `[]`: only `ingest.token_file`'s client, named `default` |
/// | `ingest.clients[].name` | required, unique |
/// | `ingest.clients[].token_file` | required with `auth` `token`/`both` (a token of ≥ 128 bits) |
/// | `ingest.clients[].certificate` | unset; required with `auth = "client_cert"` |
/// | `sensor.interface` | unset: no sensor |
/// | `sensor.allow` | `[]`: `upstream.egress` and the relay's addresses only |
/// | `sensor.tls_names` | `[]`: the names the DNS responder redirects |
/// | `sensor.passive` | `true` |
/// | `sensor.max_flows` | `65536` |
/// | `sensor.flow_buffer` | `65542` (at least 1024) |
/// | `sensor.flow_idle_secs` | `300` |
/// | `sensor.socket_buffer` | `33554432` |
/// | `sensor.capture_threads` | `0`: one per core, at most 4 |
/// | `policy.directory` | unset: no directory |
/// | `policy.unknown_screen_names` | `"allow"` |
/// | `policy.default_profile` | `"default"`: the built-in profile, no rules (log everything) |
/// | `policy.groups` | `[]`: everyone gets `default_profile` |
/// | `policy.profiles` | none but the built-in `default` |
/// | `policy.profiles.*.disclaimer` | unset: no disclaimer |
/// | `policy.profiles.*.disclaimer_every_hours` | `24` (0: before every message) |
/// | `policy.profiles.*.disclaimer_mandatory` | `true` |
/// | `policy.profiles.*.notice` | `"[IMtegrity] Your message was not delivered: {reason}"` |
/// | `policy.profiles.*.notice_interval_secs` | `60` (at least 1) |
/// | `policy.profiles.*.mask_char` | `"*"` |
/// | `policy.profiles.*.alert_webhook` | unset: alerts go to the archive and the log |
/// | `policy.profiles.*.rules` | `[]`: log everything |
/// | `policy.profiles.*.rules[].local`, `.remote`, `.kinds`, `.direction` | unset: any |
/// | `policy.profiles.*.rules[].keywords`, `.patterns` | `[]`: the text is not looked at |
/// | `policy.profiles.*.rules[].reason` | a sentence naming what was blocked |
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[relay]`: the OSCAR relay's listeners and session limits.
    #[serde(default)]
    pub relay: RelayConfig,
    /// `[upstream]`: where the relay connects to.
    #[serde(default)]
    pub upstream: UpstreamConfig,
    /// `[archive]`: where and how messages are recorded.
    #[serde(default)]
    pub archive: ArchiveConfig,
    /// `[dns]`: the embedded DNS responder.
    #[serde(default)]
    pub dns: DnsConfig,
    /// `[tls]`: the gateway CA and the leaves it mints.
    #[serde(default)]
    pub tls: TlsConfig,
    /// `[ingest]`: where the Sametime module ships its spooled records.
    #[serde(default)]
    pub ingest: IngestConfig,
    /// `[sensor]`: the passive sensor for AIM/ICQ traffic around the gateway.
    #[serde(default)]
    pub sensor: SensorConfig,
    /// `[policy]`: the directory, groups, profiles and rules.
    #[serde(default)]
    pub policy: PolicyConfig,
    /// `[console]`: the reviewer console's accounts.
    #[serde(default)]
    pub console: ConsoleConfig,
}

/// `[relay]`: what the gateway listens on and how long it keeps sessions.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RelayConfig {
    /// Addresses the relay accepts OSCAR, SSL login and HTTPS login API connections on.
    /// Default: `0.0.0.0:5190` and `0.0.0.0:443`. Port 0
    /// asks the OS for a free port (tests).
    pub listen: Vec<SocketAddr>,
    /// Host, or `host:port`, written into the server addresses handed to clients
    /// (login redirect, BOS and chat redirects) so they come back through the gateway.
    /// Default: unset, meaning the local address the client connected to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advertise: Option<String>,
    /// Largest FLAP payload accepted from either side, in bytes; a larger frame ends the
    /// session. Default: 65535 (the FLAP length field's maximum).
    pub max_frame: usize,
    /// Seconds without a frame from the client before its session is closed. Default: 600;
    /// at least 180, because WinAIM sends a keepalive only every 60 s.
    pub idle_timeout_secs: u64,
    /// Seconds to wait for an upstream TCP connection. Default: 10.
    pub connect_timeout_secs: u64,
    /// Seconds a login cookie stays valid for routing the client's BOS connection to the
    /// right upstream host. Default: 300.
    pub cookie_ttl_secs: u64,
    /// Seconds a connection has to sign on (hello, TLS handshake, login API request, BUCP
    /// login or cookie) before it is closed; `idle_timeout_secs` applies only after.
    /// Default: 30.
    pub signon_timeout_secs: u64,
    /// Most connections open at once from one client address (an IPv6 /64 counts as one).
    /// AIM clients keep 2–4; NAT'd offices and terminal servers more. Default: 32.
    pub max_connections_per_address: u32,
    /// New connections per second one client address may open, on average. Default: 10.
    pub new_connections_per_second: u32,
    /// New connections one client address may open at once before the per-second rate
    /// applies (a NAT'd office reconnecting after a network blip). Default: 64.
    pub new_connections_burst: u32,
    /// File descriptors kept back from client connections for the admin socket, DNS,
    /// health checks and the archive; each client connection counts twice (its upstream
    /// leg). Default: 256.
    pub descriptor_reserve: u64,
    /// Most cookie routes held at once; past it the oldest live one is dropped (its client
    /// must log in again) and counted in `status`. Bounds what a flood of logins can make
    /// the gateway remember. Default: 65536.
    pub max_cookie_routes: usize,
    /// NAT pools whose clients' connections may leave from different addresses (CIDR). A
    /// BOS or service cookie is taken only from the address its login came from, or, when
    /// both are in one of these networks, from another address in it. Default: empty.
    pub client_nat_networks: Vec<ipnet::IpNet>,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            listen: defaults::listen(),
            advertise: None,
            max_frame: defaults::MAX_FRAME,
            idle_timeout_secs: defaults::IDLE_TIMEOUT_SECS,
            connect_timeout_secs: defaults::CONNECT_TIMEOUT_SECS,
            cookie_ttl_secs: defaults::COOKIE_TTL_SECS,
            signon_timeout_secs: defaults::SIGNON_TIMEOUT_SECS,
            max_connections_per_address: defaults::MAX_CONNECTIONS_PER_ADDRESS,
            new_connections_per_second: defaults::NEW_CONNECTIONS_PER_SECOND,
            new_connections_burst: defaults::NEW_CONNECTIONS_BURST,
            descriptor_reserve: defaults::DESCRIPTOR_RESERVE,
            max_cookie_routes: defaults::MAX_COOKIE_ROUTES,
            client_nat_networks: Vec::new(),
        }
    }
}

/// `[upstream]`: the real OSCAR service behind the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpstreamConfig {
    /// The authorizer clients are relayed to, `host:port` (IPv6 in brackets).
    /// Default: `login.oscar.aol.com:5190`.
    pub login: HostPort,
    /// Source addresses for connections to upstream servers. Default: empty, the OS
    /// chooses.
    pub egress: Vec<IpAddr>,
    /// DNS servers (`ip:port`) used to resolve upstream host names. Default: empty, the
    /// system resolver. Never list the gateway's own DNS responder here: it answers the AIM
    /// login names with the gateway itself, so the relay would connect to itself.
    pub resolver: Vec<SocketAddr>,
    /// A proxy the upstream connections go through: `socks5://[user:pass@]host:port` or
    /// `http://[user:pass@]host:port` (HTTP CONNECT). Default: unset, direct connections.
    /// Shown and printed without its credentials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy: Option<crate::SecretUrl>,
    /// The authorizer TLS logins (a ClientHello on the relay port) are relayed to, over TLS
    /// verified against its host name. Default: `slogin.oscar.aol.com:5190`.
    pub login_tls: HostPort,
    /// PEM files of extra CAs trusted for upstream TLS, besides the system store (a revival
    /// server's or a lab's own CA). Default: empty.
    pub tls_roots: Vec<PathBuf>,
    /// Accept any upstream certificate. Only for a lab upstream: the gateway then cannot
    /// tell the real server from an impostor. Default: false.
    pub tls_insecure: bool,
    /// Where HTTPS login API requests (clientLogin, startOSCARSession) are sent, `host:port`,
    /// verified against the host name the client asked for. Default: unset, that host name
    /// on port 443.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api: Option<HostPort>,
    /// Networks, besides public addresses and the addresses of `login`, `login_tls` and
    /// `api`, that an upstream's redirect (login reply, service redirect, migration,
    /// startOSCARSession) may send the gateway to. Any other address (loopback, private,
    /// link-local, shared, multicast, ...) ends that session, so a server's answer cannot
    /// aim the gateway at the inside network. Default: empty.
    pub redirect_allow: Vec<ipnet::IpNet>,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        Self {
            login: defaults::upstream_login(),
            egress: Vec::new(),
            resolver: Vec::new(),
            proxy: None,
            login_tls: defaults::upstream_login_tls(),
            tls_roots: Vec::new(),
            tls_insecure: false,
            api: None,
            redirect_allow: Vec::new(),
        }
    }
}

/// `[archive]`: the system of record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArchiveConfig {
    /// The archive directory. Default: unset; the caller picks a local data directory
    /// (`/var/lib/imtegrity/archive` for root). A relative path is relative to the
    /// gateway's working directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// When a relayed message may be forwarded: `strict` or `relaxed`. Default: `strict`.
    pub mode: ArchiveMode,
    /// This gateway's name, stored in every record. Default: unset, the host name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The archive's signing key file, which may live outside the archive directory so
    /// the key is not kept beside the data it vouches for. Created 0600 (its directory
    /// 0700) with a new archive; an existing archive records where its key is, so commands
    /// given only the directory find it. Default: unset, `<path>/signing.key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<PathBuf>,
    /// A group (name or decimal gid) whose members may use the admin socket besides the
    /// archive's owner and root: `search`, `export`, `hold`, `retention`, `verify` as
    /// reviewers, each recorded. Default: unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_group: Option<GroupRef>,
    /// `[archive.retention]`: how long records are kept. Default: forever.
    pub retention: RetentionConfig,
}

/// A Unix group as configured: a decimal gid (`4242`, as TOML writes a number and as
/// `--set archive.admin_group=4242` gives it) or a name looked up where it is used.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum GroupRef {
    /// A gid.
    Gid(u32),
    /// A group name (or a gid written as a string).
    Name(String),
}

/// `[archive.retention]`: days to keep records, applied by the gateway every
/// `interval_secs`; records under legal hold are never expired. Unset days keep forever.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Days for every protocol without its own setting. Default: unset (forever).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
    /// Days for AIM records. Default: `days`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aim_days: Option<u32>,
    /// Days for ICQ records. Default: `days`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icq_days: Option<u32>,
    /// Days for Sametime records. Default: `days`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sametime_days: Option<u32>,
    /// Seconds between retention runs while the gateway runs. Default: 3600.
    pub interval_secs: u64,
    /// The minimum days every protocol without its own minimum must be kept. Once set, it
    /// is locked into the archive (a signed record) and can only be raised: a lower value
    /// refuses to start the gateway, and no retention run purges younger records whatever
    /// its days. Default: unset (no minimum beyond the archive's locked one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_days: Option<u32>,
    /// The minimum for AIM records. Default: `min_days`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aim_min_days: Option<u32>,
    /// The minimum for ICQ records. Default: `min_days`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icq_min_days: Option<u32>,
    /// The minimum for Sametime records. Default: `min_days`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sametime_min_days: Option<u32>,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            days: None,
            aim_days: None,
            icq_days: None,
            sametime_days: None,
            interval_secs: 3600,
            min_days: None,
            aim_min_days: None,
            icq_min_days: None,
            sametime_min_days: None,
        }
    }
}

impl RetentionConfig {
    /// Per protocol (`aim`, `icq`, `sametime`): the days records are kept and the minimum,
    /// each with the key that set it, after the all-protocol keys are applied.
    pub fn per_protocol(&self) -> [RetentionSetting; 3] {
        let one = |protocol, days: Option<u32>, min: Option<u32>| {
            let (days_key, min_key) = match protocol {
                "aim" => ("aim_days", "aim_min_days"),
                "icq" => ("icq_days", "icq_min_days"),
                _ => ("sametime_days", "sametime_min_days"),
            };
            RetentionSetting {
                protocol,
                days: days
                    .map(|d| (days_key, d))
                    .or(self.days.map(|d| ("days", d))),
                min_days: min
                    .map(|d| (min_key, d))
                    .or(self.min_days.map(|d| ("min_days", d))),
            }
        };
        [
            one("aim", self.aim_days, self.aim_min_days),
            one("icq", self.icq_days, self.icq_min_days),
            one("sametime", self.sametime_days, self.sametime_min_days),
        ]
    }

    /// Whether any retention is configured.
    pub fn is_set(&self) -> bool {
        self.days.is_some()
            || self.aim_days.is_some()
            || self.icq_days.is_some()
            || self.sametime_days.is_some()
    }
}

/// One protocol's retention as configured: each value with the key (under
/// `archive.retention`) it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionSetting {
    /// `aim`, `icq` or `sametime`.
    pub protocol: &'static str,
    /// Days records are kept (`None`: forever).
    pub days: Option<(&'static str, u32)>,
    /// The minimum (`None`: none configured).
    pub min_days: Option<(&'static str, u32)>,
}

/// When the relay forwards a message relative to archiving it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ArchiveMode {
    /// Forward only once the record is durable: nothing is delivered unrecorded.
    #[default]
    Strict,
    /// Forward at once; the record is durable when the current group commit ends
    /// (milliseconds). A crash in that window can lose forwarded messages.
    Relaxed,
}

impl Config {
    /// Parses `toml_text` (from `source_name`, used in errors), applies each `overrides`
    /// entry (`key=value`, as given to `--set`) on top, and deserializes. Does not
    /// [`validate`](Self::validate); [`Config::load`] does both.
    ///
    /// An override's value is read as a TOML value (`["a", "b"]`, `600`, `"text"`), or
    /// else taken as a string, so `upstream.login=127.0.0.1:5190` needs no quotes. Later
    /// overrides win over earlier ones, and all of them over the file.
    pub fn parse(
        source_name: &str,
        toml_text: &str,
        overrides: &[String],
    ) -> Result<Self, ConfigError> {
        Ok(Parsed::new(source_name, toml_text, overrides)?.config)
    }

    /// [`parse`](Self::parse), then [`validate`](Self::validate), with validation errors
    /// pointing at the line or `--set` argument that set the offending value.
    ///
    /// The `[policy]` rules are checked by the engine that compiles them, above this crate:
    /// the gateway loads through `policy::load_config`, which passes that check to
    /// [`load_with`](Self::load_with).
    pub fn load(
        source_name: &str,
        toml_text: &str,
        overrides: &[String],
    ) -> Result<Self, ConfigError> {
        Self::load_with(source_name, toml_text, overrides, |_| Ok(()))
    }

    /// [`load`](Self::load), then `also` (a check a crate above this one makes, such as the
    /// policy engine's), its [`ConfigError::Invalid`] pointed at its line or `--set`
    /// argument like any of [`validate`](Self::validate)'s.
    pub fn load_with(
        source_name: &str,
        toml_text: &str,
        overrides: &[String],
        also: impl FnOnce(&Self) -> Result<(), ConfigError>,
    ) -> Result<Self, ConfigError> {
        let parsed = Parsed::new(source_name, toml_text, overrides)?;
        match parsed.config.validate().and_then(|()| also(&parsed.config)) {
            Ok(()) => Ok(parsed.config),
            Err(ConfigError::Invalid { key, message, .. }) => Err(ConfigError::Invalid {
                origin: parsed.spans.origin_of_key(&key),
                key,
                message,
            }),
            Err(other) => Err(other),
        }
    }

    /// Checks what the types cannot: timeouts, listener list, ports, names. The error's
    /// `origin` is `None`; [`Config::load`] fills it in. The `[policy]` rules are the
    /// policy engine's to check (see [`load`](Self::load)).
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate::check(self)
    }

    /// `[dns]` as the responder applies it: each view's subnets together with those of the
    /// policy group it names (`dns.views[].group`). A group that does not exist adds
    /// nothing; [`Config::validate`] reports it.
    pub fn effective_dns(&self) -> DnsConfig {
        let mut dns = self.dns.clone();
        for view in &mut dns.views {
            let Some(group) = view
                .group
                .as_deref()
                .and_then(|g| self.policy.groups.iter().find(|x| x.name == g))
            else {
                continue;
            };
            for net in group.subnets.iter().filter_map(|s| validate::subnet(s)) {
                if !view.subnets.iter().any(|n| n.trunc() == net.trunc()) {
                    view.subnets.push(net);
                }
            }
        }
        dns
    }

    /// The effective configuration as TOML (for `check-config --print`). Unset optional keys
    /// are left out; parsing the result gives back `self`, except that secrets
    /// ([`SecretUrl`](crate::SecretUrl): the proxy's credentials, webhook paths) are printed
    /// redacted.
    pub fn to_toml(&self) -> String {
        // Every field is a string, number, array or table and every path in it is UTF-8
        // (it came from TOML text), so serializing cannot fail; say so rather than panic.
        toml::to_string(self)
            .unwrap_or_else(|e| format!("# the configuration could not be serialized: {e}\n"))
    }
}

/// A deserialized config with the span index needed to point validation errors at their
/// source.
struct Parsed {
    config: Config,
    spans: SpanIndex,
}

impl Parsed {
    fn new(source_name: &str, toml_text: &str, overrides: &[String]) -> Result<Self, ConfigError> {
        let mut root = DeTable::parse(toml_text)
            .map_err(|e| ConfigError::syntax(source_name, toml_text, &e))?;
        let regions =
            Overrides::parse(toml_text.len(), overrides)?.apply(root.get_mut(), source_name)?;
        let spans = SpanIndex::new(source_name, toml_text, regions, root.get_ref());
        let config = Config::deserialize(toml::de::Deserializer::from(root))
            .map_err(|e| spans.field_error(&e))?;
        Ok(Self { config, spans })
    }
}
