//! `[ingest]`: the endpoint the Sametime module's spool ships records to, edited by whoever
//! runs the gateway and the Sametime servers together.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// `[ingest]`: the endpoint the Sametime module's spool ships records to
/// (`POST /ingest/v1`), stored once per record and acknowledged when durable; plain HTTP or
/// TLS under the gateway CA, senders authenticated by a shared token, a client certificate
/// from the gateway CA, or both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Addresses it listens on. Default: empty, no ingest endpoint.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub listen: Vec<SocketAddr>,
    /// A file holding the shared token senders present (first line, trimmed; at least 128
    /// bits, see [`check_token`]): the client named [`DEFAULT_CLIENT`]. Required when
    /// `listen` is set, `auth` is `token` or `both` and no `clients` are listed. Default:
    /// unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// Serve the endpoint over TLS, with a leaf for `name` issued by the gateway CA
    /// (`[tls]`) and renewed as the relay's are. Default: `false` (plain HTTP: loopback or
    /// a segment you trust).
    pub tls: bool,
    /// The DNS name on the endpoint's certificate: what the Sametime module verifies
    /// (`[gateway] server_name`, default the host of its `address`). It must be inside the
    /// gateway CA's name constraints (`tls.permitted` when the CA was made). Used only with
    /// `tls`. Default: unset, this host's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What a sender must present. Default: `token`.
    pub auth: IngestAuthMode,
    /// `[[ingest.clients]]`: the Sametime servers that ship, each by name, known by its own
    /// token file, its client certificate's subject, or both (as `auth` asks). The source
    /// ids a client writes are bound to it on first use; another client writing under them
    /// is refused. `token_file` above, if set, is one more client named `default`.
    /// Default: empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<IngestClientConfig>,
}

/// `[[ingest.clients]]`: one Sametime server allowed to ship.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestClientConfig {
    /// Its name, unique: what its sources are bound to and what logs and alerts say.
    pub name: String,
    /// A file holding its token (first line, trimmed; at least 128 bits, see
    /// [`check_token`]); required when `auth` is `token` or `both`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// The subject of its client certificate (`imtegrity ca issue-client NAME` makes NAME
    /// the subject); required when `auth` is `client_cert`, and with `both` the
    /// certificate its token must come with. Default: unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
}

/// The name of the client `ingest.token_file` stands for.
pub const DEFAULT_CLIENT: &str = "default";

/// The fewest bits of entropy a token may have.
pub const MIN_TOKEN_BITS: usize = 128;

/// The token in a token file's text: its first line, trimmed.
pub fn token_in(text: &str) -> &str {
    text.lines().next().unwrap_or("").trim()
}

/// Whether `token` is strong enough: visible ASCII, and at least [`MIN_TOKEN_BITS`] as
/// counted here, which assumes the token is random over the smallest alphabet its
/// characters fit: 4 bits a character when all are hex digits (so 32 or more), 6 otherwise,
/// as for base64 (so 22 or more; trailing `=` padding not counted). A passphrase is counted
/// the same and is weaker than that: generate tokens (`openssl rand -hex 32`). The error
/// never shows the token.
pub fn check_token(token: &str) -> Result<(), String> {
    if token.is_empty() {
        return Err("the file is empty; put a token of at least 32 hex digits \
                    (`openssl rand -hex 32`) on its first line"
            .to_owned());
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(
            "the token must be visible ASCII without spaces (it is sent in an \
                    HTTP header)"
                .to_owned(),
        );
    }
    let hex = token.bytes().all(|b| b.is_ascii_hexdigit());
    let chars = token.trim_end_matches('=').len();
    let bits = chars * if hex { 4 } else { 6 };
    if bits < MIN_TOKEN_BITS {
        return Err(format!(
            "the token is too short: {chars} characters count as {bits} bits, at least \
             {MIN_TOKEN_BITS} are required (32 hex digits or 22 base64 characters; \
             `openssl rand -hex 32` makes one)"
        ));
    }
    Ok(())
}

/// `[[ingest.clients]]` as `auth` needs them: named uniquely, each with what `auth` asks
/// for, no token file or certificate listed twice.
pub(super) fn check_clients(ingest: &IngestConfig) -> Result<(), ConfigError> {
    let mut names = vec![];
    let mut certificates = vec![];
    let mut token_files: Vec<&PathBuf> = ingest.token_file.iter().collect();
    if ingest.token_file.is_some() {
        names.push(DEFAULT_CLIENT);
    }
    for (i, client) in ingest.clients.iter().enumerate() {
        let key = |field: &str| format!("ingest.clients[{i}].{field}");
        if client.name.trim().is_empty() {
            return Err(ConfigError::invalid(
                key("name"),
                "empty; a client needs a name",
            ));
        }
        if names.contains(&client.name.as_str()) {
            return Err(ConfigError::invalid(
                key("name"),
                format!(
                    "{:?} is used twice (ingest.token_file is the client named                      {DEFAULT_CLIENT:?})",
                    client.name
                ),
            ));
        }
        names.push(&client.name);
        match &client.token_file {
            None if ingest.auth.needs_token() => {
                return Err(ConfigError::invalid(
                    key("token_file"),
                    "required: ingest.auth is \"token\" or \"both\"",
                ));
            }
            Some(_) if !ingest.auth.needs_token() => {
                return Err(ConfigError::invalid(
                    key("token_file"),
                    "set, but ingest.auth = \"client_cert\" uses no token",
                ));
            }
            Some(path) if token_files.contains(&path) => {
                return Err(ConfigError::invalid(
                    key("token_file"),
                    "another client has the same token file: each client needs its own token",
                ));
            }
            Some(path) => token_files.push(path),
            None => {}
        }
        match &client.certificate {
            None if ingest.auth == IngestAuthMode::ClientCert => {
                return Err(ConfigError::invalid(
                    key("certificate"),
                    "required: with ingest.auth = \"client_cert\" a client is known by its \
                     certificate's subject",
                ));
            }
            Some(_) if ingest.auth == IngestAuthMode::Token => {
                return Err(ConfigError::invalid(
                    key("certificate"),
                    "set, but ingest.auth = \"token\" checks no certificate: set \
                     ingest.auth = \"both\"",
                ));
            }
            Some(subject) if subject.is_empty() || certificates.contains(&subject) => {
                return Err(ConfigError::invalid(
                    key("certificate"),
                    "empty, or another client's certificate subject",
                ));
            }
            Some(subject) => certificates.push(subject),
            None => {}
        }
    }
    Ok(())
}

/// What authenticates a sender to the ingest endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IngestAuthMode {
    /// The shared token of `token_file`, as `Authorization: Bearer`.
    #[default]
    Token,
    /// A client certificate issued by the gateway CA (`imtegrity ca issue-client`),
    /// checked in the TLS handshake; needs `tls`. No token.
    ClientCert,
    /// Both: the client certificate in the handshake and the token in each request.
    Both,
}

impl IngestAuthMode {
    /// Whether a request must carry the shared token.
    pub fn needs_token(self) -> bool {
        matches!(self, Self::Token | Self::Both)
    }

    /// Whether the TLS handshake must carry a client certificate from the gateway CA.
    pub fn needs_client_cert(self) -> bool {
        matches!(self, Self::ClientCert | Self::Both)
    }
}
