//! `[ingest]`: the endpoint the Sametime module's spool ships records to, edited by whoever
//! runs the gateway and the Sametime servers together.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

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
    /// A file holding the shared token senders present (first line, trimmed); required
    /// when `listen` is set and `auth` is `token` or `both`. Default: unset.
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
    pub auth: IngestAuth,
}

/// What authenticates a sender to the ingest endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IngestAuth {
    /// The shared token of `token_file`, as `Authorization: Bearer`.
    #[default]
    Token,
    /// A client certificate issued by the gateway CA (`imtegrity ca issue-client`),
    /// checked in the TLS handshake; needs `tls`. No token.
    ClientCert,
    /// Both: the client certificate in the handshake and the token in each request.
    Both,
}

impl IngestAuth {
    /// Whether a request must carry the shared token.
    pub fn needs_token(self) -> bool {
        matches!(self, Self::Token | Self::Both)
    }

    /// Whether the TLS handshake must carry a client certificate from the gateway CA.
    pub fn needs_client_cert(self) -> bool {
        matches!(self, Self::ClientCert | Self::Both)
    }
}
