//! `imtegrity lab` and `imtegrity demo`: the lab OSCAR server, alone or with scripted users.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

/// `imtegrity lab`.
#[derive(Debug, Args)]
pub(crate) struct LabArgs {
    /// Authorizer (login) address.
    #[arg(long, default_value = "127.0.0.1:5190")]
    pub(crate) listen: SocketAddr,
    /// BOS address; default: the login IP with a free port.
    #[arg(long)]
    pub(crate) bos: Option<SocketAddr>,
    /// Chat service address; default: the login IP with a free port.
    #[arg(long)]
    pub(crate) chat: Option<SocketAddr>,
    /// Host to write into redirects instead of the listeners' IP.
    #[arg(long)]
    pub(crate) advertise: Option<String>,
    /// An account as NAME:PASSWORD (repeatable). Without any, every name logs in with any
    /// password.
    #[arg(long = "account", value_name = "NAME:PASSWORD")]
    pub(crate) accounts: Vec<String>,
    /// The echo bot's screen name.
    #[arg(long, default_value = lab::DEFAULT_BOT)]
    pub(crate) bot: String,
    /// Also run what AOL ran over TLS, on the login IP with free ports: an SSL authorizer,
    /// a TLS BOS, a TLS chat listener and the HTTPS clientLogin API, under a lab CA made at
    /// start (leaves per SNI name, bos.oscar.aol.com without one).
    #[arg(long)]
    pub(crate) tls: bool,
    /// Write the lab CA certificate (PEM) to FILE: what a gateway's `upstream.tls_roots` or a
    /// client trusts. Needs --tls.
    #[arg(long, value_name = "FILE", requires = "tls")]
    pub(crate) ca_out: Option<PathBuf>,
}

/// `imtegrity demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Where to keep the demo's archive (default: a new directory under the temp dir).
    #[arg(long, value_name = "DIR")]
    pub(crate) archive: Option<PathBuf>,
    /// Seconds to wait for each step before calling the demo failed.
    #[arg(long, default_value_t = 10)]
    pub(crate) step_timeout: u64,
}
