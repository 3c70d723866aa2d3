//! The library's own configuration: a small TOML file next to the library
//! (`imtegrity_stchatlog.toml`), or wherever `$IMTEGRITY_SPI_CONFIG` names.
//!
//! The Sametime server passes a chat-logging black box no configuration of its own (the
//! reference's sample reads a `chatlogging.ini` beside the server, §5.2), so the file is read
//! once per `stDdaClInit`. A missing default file means the defaults; a missing file the
//! variable names explicitly is an error, because an admin who points at a file expects it
//! used. The older environment variables (`IMTEGRITY_SPI_SPOOL`, `_GATEWAY`, `_TOKEN`,
//! `_TOKEN_FILE`) still work and win over the file, so a service unit can override one key.
//!
//! Relative paths in the file are relative to the file's directory.
//!
//! The spool defaults to a data directory the server's user can write, not the library's
//! (program) directory: `$XDG_STATE_HOME/imtegrity/stchatlog`, else
//! `$HOME/.local/state/imtegrity/stchatlog`, else `/var/lib/imtegrity/stchatlog`; on
//! Windows `%PROGRAMDATA%\IMtegrity\stchatlog` ([`crate::spool_path::default_spool_dir`]).
//! Init fails, in both modes, when the spool cannot be created there.
//!
//! A call that records waits for the spool at most `call_timeout_ms` (default 250 ms)
//! whatever the disk does ([`crate::spool_worker`]). `stDdaClInit` gives opening the spool
//! the larger of that and 2 s (it reads the newest segment back). `stDdaClTerminate` takes up
//! to `terminate_timeout_ms` (default 3 s) to write what relaxed mode holds and ship what the
//! gateway will take, plus at most a second to stop the shipper and `call_timeout_ms` for a
//! last gap record.

use std::ffi::c_int;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::codes::API_INVALID_PARAM;
use crate::error::SpiError;

/// The environment variable naming the configuration file.
pub const CONFIG_ENV: &str = "IMTEGRITY_SPI_CONFIG";
/// The configuration file's name when it sits next to the library.
pub const CONFIG_FILE_NAME: &str = "imtegrity_stchatlog.toml";
/// The environment variable naming the spool directory (wins over `spool`).
pub const SPOOL_ENV: &str = "IMTEGRITY_SPI_SPOOL";
/// `host:port` of the gateway's ingest endpoint (wins over `[gateway] address`).
pub const GATEWAY_ENV: &str = "IMTEGRITY_SPI_GATEWAY";
/// The bearer token (wins over `[gateway] token_file`).
pub const TOKEN_ENV: &str = "IMTEGRITY_SPI_TOKEN";
/// A file holding the bearer token (wins over `[gateway] token_file`).
pub const TOKEN_FILE_ENV: &str = "IMTEGRITY_SPI_TOKEN_FILE";

/// What the library does when a record cannot be made durable in the spool: the server's
/// chat-logging mode (Sametime's "Always" / "When available"), which must match it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Return an error, so the server ends the chat: nothing is said that is not recorded.
    #[default]
    Strict,
    /// Always return OK so the chat goes on; records that could not be written are held in
    /// memory, written when the spool works again, and any that had to be dropped are
    /// recorded as a gap.
    Relaxed,
}

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpiConfig {
    /// Strict or relaxed (default strict).
    pub mode: Mode,
    /// The spool directory (default: [`crate::spool_path::default_spool_dir`]).
    pub spool: Option<PathBuf>,
    /// The longest a message call waits for the spool before strict mode refuses the chat
    /// and relaxed mode holds the record in memory (milliseconds, default 250).
    pub call_timeout_ms: u64,
    /// The longest `stDdaClTerminate` spends writing held records and shipping the spool
    /// (milliseconds, default 3000); what is left stays in the spool for the next start.
    pub terminate_timeout_ms: u64,
    /// The node name written into records (default: the host name).
    pub node: Option<String>,
    /// Where the spool is shipped; absent: the spool only grows (a gateway reads it later).
    pub gateway: Option<GatewayConfig>,
    /// Relaxed mode's memory for records the spool refused.
    pub relaxed: RelaxedConfig,
    /// The policy the server-message entry points apply.
    pub policy: Option<PolicySource>,
    /// The numbers returned for the chat-log-specific outcomes.
    pub codes: Codes,
    /// The file this was read from, if any (relative paths resolve against its directory).
    #[serde(skip)]
    pub source: Option<PathBuf>,
    /// The default file looked for when none was read (for Init's warning).
    #[serde(skip)]
    pub looked_for: Option<PathBuf>,
}

impl Default for SpiConfig {
    fn default() -> Self {
        Self {
            mode: Mode::default(),
            spool: None,
            call_timeout_ms: 250,
            terminate_timeout_ms: 3000,
            node: None,
            gateway: None,
            relaxed: RelaxedConfig::default(),
            policy: None,
            codes: Codes::default(),
            source: None,
            looked_for: None,
        }
    }
}

/// The gateway's ingest endpoint and how to authenticate to it.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// `host:port` of `[ingest] listen` on the gateway.
    pub address: String,
    /// A file holding the gateway's ingest token (`[ingest] token_file`).
    pub token_file: Option<PathBuf>,
    /// The token itself; prefer `token_file`, which keeps it out of a world-readable file.
    pub token: Option<String>,
    /// TLS to the gateway: the CA certificate (PEM) the gateway's ingest certificate must
    /// chain to. Absent: plain HTTP (loopback or a trusted segment only).
    pub ca: Option<PathBuf>,
    /// The name the gateway's certificate must carry (default: the host of `address`).
    pub server_name: Option<String>,
    /// Mutual TLS: this library's client certificate chain (PEM), issued by the gateway CA.
    pub client_cert: Option<PathBuf>,
    /// Mutual TLS: the client certificate's private key (PEM).
    pub client_key: Option<PathBuf>,
}

impl std::fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayConfig")
            .field("address", &self.address)
            .field("token_file", &self.token_file)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("ca", &self.ca)
            .field("server_name", &self.server_name)
            .field("client_cert", &self.client_cert)
            .field("client_key", &self.client_key)
            .finish()
    }
}

/// Bounds on what relaxed mode holds in memory while the spool fails.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelaxedConfig {
    /// Records held at most; later ones are dropped and counted in the gap record.
    pub max_held_records: usize,
    /// Bytes of text held at most, for the same reason.
    pub max_held_bytes: usize,
}

impl Default for RelaxedConfig {
    fn default() -> Self {
        Self {
            max_held_records: 10_000,
            max_held_bytes: 64 << 20,
        }
    }
}

/// Where the policy comes from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySource {
    /// A TOML file with a `[policy]` table: the gateway's own `imtegrity.toml` works, so
    /// AIM and Sametime are judged by the same rules. Re-read when it changes.
    pub file: PathBuf,
}

/// The return codes for outcomes whose numbers in IBM's `stDdaClCodes.h` are unknown
/// (reference §2.3, §9). The defaults for argument errors are the general codes, which
/// every server understands. `db_error` (the spool could not record) defaults to a number
/// of its own, 0x000C, so a server log tells "not recorded" from the library's own
/// internal error (3); like the two policy outcomes it is a guess, to be set to the
/// server's value where known (docs/sametime.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Codes {
    /// `ST_DDA_CL_DB_ERROR`: the record could not be made durable (strict mode).
    pub db_error: c_int,
    /// `ST_DDA_CL_SESSION_ALREADY_EXISTS`.
    pub session_already_exists: c_int,
    /// `ST_DDA_CL_SESSION_DOES_NOT_EXIST`.
    pub session_does_not_exist: c_int,
    /// `ST_DDA_MSG_TOO_LONG`.
    pub msg_too_long: c_int,
    /// `ST_DDA_MSG_CHANGED`: deliver the returned server messages instead of the message.
    pub msg_changed: c_int,
    /// `ST_DDA_SESSION_CREATION_DECLINED`: the chat or the join is refused.
    pub session_creation_declined: c_int,
}

impl Default for Codes {
    fn default() -> Self {
        Self {
            db_error: 0x000C,
            session_already_exists: API_INVALID_PARAM,
            session_does_not_exist: API_INVALID_PARAM,
            msg_too_long: API_INVALID_PARAM,
            // The first numbers after the published general codes 0x0001–0x0009.
            msg_changed: 0x000A,
            session_creation_declined: 0x000B,
        }
    }
}

impl SpiConfig {
    /// Reads the file `$IMTEGRITY_SPI_CONFIG` names, else `imtegrity_stchatlog.toml` next to
    /// `library_dir` if it exists, else the defaults; then applies the environment overrides.
    pub fn load(library_dir: Option<&Path>) -> Result<Self, SpiError> {
        let mut config = match std::env::var_os(CONFIG_ENV) {
            Some(path) if !path.is_empty() => Self::read(Path::new(&path))?,
            _ => {
                let default = library_dir
                    .unwrap_or_else(|| Path::new(""))
                    .join(CONFIG_FILE_NAME);
                if default.is_file() {
                    Self::read(&default)?
                } else {
                    Self {
                        looked_for: Some(default),
                        ..Self::default()
                    }
                }
            }
        };
        config.apply_env()?;
        config.check()?;
        Ok(config)
    }

    /// Parses one file.
    pub fn read(path: &Path) -> Result<Self, SpiError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SpiError::Config(format!("{}: {e}", path.display())))?;
        let mut config =
            Self::parse(&text).map_err(|e| SpiError::Config(format!("{}: {e}", path.display())))?;
        // (`parse` already says the line and column, on one line.)
        config.source = Some(path.to_path_buf());
        Ok(config)
    }

    /// Parses the text of a file; the error, on one line, names the line, column and key.
    pub fn parse(text: &str) -> Result<Self, String> {
        let config: Self = toml::from_str(text).map_err(|e| one_line_toml_error(text, &e))?;
        config.check().map_err(|e| e.to_string())?;
        Ok(config)
    }

    /// A path from the file, resolved against the file's directory.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        match self.source.as_deref().and_then(Path::parent) {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path.to_path_buf(),
        }
    }

    /// The spool directory: `$IMTEGRITY_SPI_SPOOL`, else `spool` from the file, else
    /// [`crate::spool_path::default_spool_dir`].
    pub fn spool_dir(&self) -> PathBuf {
        match &self.spool {
            Some(dir) => self.resolve(dir),
            None => crate::spool_path::default_spool_dir(),
        }
    }

    /// `call_timeout_ms` as a duration.
    pub fn call_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.call_timeout_ms)
    }

    /// `terminate_timeout_ms` as a duration.
    pub fn terminate_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.terminate_timeout_ms)
    }

    /// The gateway token: `$IMTEGRITY_SPI_TOKEN`, `$IMTEGRITY_SPI_TOKEN_FILE`, `token_file`
    /// or `token`, trimmed; `None` without a gateway, or when none is given and a client
    /// certificate authenticates instead.
    pub fn gateway_token(&self) -> Result<Option<String>, SpiError> {
        let Some(gateway) = &self.gateway else {
            return Ok(None);
        };
        let token = if let Some(token) = &gateway.token {
            token.clone()
        } else if let Some(file) = &gateway.token_file {
            let path = self.resolve(file);
            std::fs::read_to_string(&path).map_err(|e| {
                SpiError::Config(format!("gateway.token_file {}: {e}", path.display()))
            })?
        } else if gateway.client_cert.is_some() {
            // Mutual TLS alone authenticates (the gateway's ingest.auth = "client_cert").
            return Ok(None);
        } else {
            return Err(SpiError::Config(format!(
                "a gateway is set ({}) but no token: set gateway.token_file, {TOKEN_ENV} or \
                 {TOKEN_FILE_ENV}, or a client certificate (gateway.ca, gateway.client_cert, \
                 gateway.client_key)",
                gateway.address
            )));
        };
        let token = token.trim().to_owned();
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(SpiError::Config(
                "the gateway token is empty or not printable ASCII".into(),
            ));
        }
        Ok(Some(token))
    }

    /// Init's warning when no file was read and no variable set either: the library runs
    /// on its defaults, which an operator who meant to configure it needs to hear.
    pub fn unconfigured_warning(&self) -> Option<String> {
        let looked_for = self.looked_for.as_ref()?;
        let any_env = [
            CONFIG_ENV,
            SPOOL_ENV,
            GATEWAY_ENV,
            TOKEN_ENV,
            TOKEN_FILE_ENV,
        ]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()));
        if any_env {
            return None;
        }
        Some(format!(
            "no configuration file ({} not found, {CONFIG_ENV} not set): strict mode, no \
             gateway, spool {}",
            looked_for.display(),
            self.spool_dir().display()
        ))
    }

    /// Environment variables win over the file.
    fn apply_env(&mut self) -> Result<(), SpiError> {
        if let Some(dir) = std::env::var_os(SPOOL_ENV).filter(|d| !d.is_empty()) {
            // Absolute or relative to the working directory, as a shell user expects.
            self.spool = Some(std::path::absolute(PathBuf::from(&dir)).unwrap_or(dir.into()));
        }
        if let Ok(address) = std::env::var(GATEWAY_ENV) {
            let address = address.trim();
            if !address.is_empty() {
                self.gateway
                    .get_or_insert_with(GatewayConfig::default)
                    .address = address.to_owned();
            }
        }
        if let Some(gateway) = &mut self.gateway {
            if let Ok(token) = std::env::var(TOKEN_ENV) {
                gateway.token = Some(token);
                gateway.token_file = None;
            } else if let Some(file) = std::env::var_os(TOKEN_FILE_ENV).filter(|f| !f.is_empty()) {
                gateway.token = None;
                gateway.token_file =
                    Some(std::path::absolute(PathBuf::from(&file)).unwrap_or(file.into()));
            }
        }
        Ok(())
    }

    /// What serde cannot check: values that parse but make no sense.
    fn check(&self) -> Result<(), SpiError> {
        if let Some(gateway) = &self.gateway {
            if gateway.address.trim().is_empty() {
                return Err(SpiError::Config("gateway.address is empty".into()));
            }
            if gateway.client_cert.is_some() != gateway.client_key.is_some() {
                return Err(SpiError::Config(
                    "gateway.client_cert and gateway.client_key go together".into(),
                ));
            }
            if gateway.client_cert.is_some() && gateway.ca.is_none() {
                return Err(SpiError::Config(
                    "gateway.client_cert needs gateway.ca: mutual TLS is TLS".into(),
                ));
            }
            if gateway.server_name.is_some() && gateway.ca.is_none() {
                return Err(SpiError::Config(
                    "gateway.server_name needs gateway.ca: the name is checked in the TLS handshake"
                        .into(),
                ));
            }
        }
        if !(1..=60_000).contains(&self.call_timeout_ms) {
            return Err(SpiError::Config(
                "call_timeout_ms must be between 1 and 60000".into(),
            ));
        }
        if self.terminate_timeout_ms > 600_000 {
            return Err(SpiError::Config(
                "terminate_timeout_ms must be at most 600000".into(),
            ));
        }
        if self.relaxed.max_held_records == 0 {
            return Err(SpiError::Config(
                "relaxed.max_held_records must be at least 1".into(),
            ));
        }
        let codes = self.codes;
        for (key, value) in [
            ("codes.msg_changed", codes.msg_changed),
            (
                "codes.session_creation_declined",
                codes.session_creation_declined,
            ),
            ("codes.db_error", codes.db_error),
        ] {
            if value == 0 {
                return Err(SpiError::Config(format!(
                    "{key} = 0 is ST_DDA_API_OK: the server would not see the outcome"
                )));
            }
        }
        Ok(())
    }
}

/// A TOML error as one line: "line L column C: message" (`toml`'s own `Display` is several
/// lines with a snippet of the file, which the server's 256-byte `appRetMsg` cuts).
fn one_line_toml_error(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().split_whitespace().collect::<Vec<_>>().join(" ");
    let Some(span) = e.span() else {
        return message;
    };
    let before = text.get(..span.start).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("line {line} column {column}: {message}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_is_the_defaults() {
        let config = SpiConfig::parse("").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.mode, Mode::Strict);
        assert_eq!(config.codes, Codes::default());
        assert!(config.gateway.is_none());
        assert!(config.policy.is_none());
    }

    #[test]
    fn every_key_parses() {
        let text = r#"
            mode = "relaxed"
            spool = "spool-dir"
            node = "st1"
            [gateway]
            address = "gw.example:7443"
            token_file = "ingest.token"
            ca = "gateway-ca.pem"
            server_name = "gw.example"
            client_cert = "spi.pem"
            client_key = "spi.key"
            [relaxed]
            max_held_records = 5
            max_held_bytes = 1000
            [policy]
            file = "imtegrity.toml"
            [codes]
            db_error = 100
            session_already_exists = 101
            session_does_not_exist = 102
            msg_too_long = 103
            msg_changed = 104
            session_creation_declined = 105
        "#;
        let config = SpiConfig::parse(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.mode, Mode::Relaxed);
        assert_eq!(config.relaxed.max_held_records, 5);
        assert_eq!(config.codes.session_creation_declined, 105);
        let gateway = config.gateway.unwrap_or_default();
        assert_eq!(gateway.server_name.as_deref(), Some("gw.example"));
    }

    #[test]
    fn mistakes_name_the_key_and_line() {
        let e = SpiConfig::parse("mode = \"lenient\"\n")
            .err()
            .unwrap_or_default();
        assert!(
            e.starts_with("line 1 column 8: ") && e.contains("lenient"),
            "{e}"
        );
        assert!(!e.contains('\n'), "one line: {e:?}");
        let e = SpiConfig::parse("\n[codes]\nmsg_chnged = 3\n")
            .err()
            .unwrap_or_default();
        assert!(
            e.contains("msg_chnged") && e.starts_with("line 3 column 1: "),
            "{e}"
        );
        assert!(!e.contains('\n'), "one line: {e:?}");
        let e = SpiConfig::parse("[codes]\nmsg_changed = 0\n")
            .err()
            .unwrap_or_default();
        assert!(e.contains("codes.msg_changed"), "{e}");
        let e = SpiConfig::parse("[gateway]\naddress = \"a:1\"\nclient_cert = \"c\"\n")
            .err()
            .unwrap_or_default();
        assert!(e.contains("client_key"), "{e}");
    }

    #[test]
    fn relative_paths_follow_the_file() {
        let mut config = SpiConfig::parse("spool = \"s\"").unwrap_or_else(|e| panic!("{e}"));
        config.source = Some(PathBuf::from("/opt/st/imtegrity_stchatlog.toml"));
        assert_eq!(config.spool_dir(), PathBuf::from("/opt/st/s"));
        assert_eq!(config.resolve(Path::new("/abs/x")), PathBuf::from("/abs/x"));
    }
}
