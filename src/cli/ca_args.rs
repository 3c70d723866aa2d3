//! `imtegrity ca`: the gateway CA for TLS interception and the certificates it issues.

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// `imtegrity ca ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum CaCommand {
    /// Create the gateway CA in tls.ca_dir: a new key (tls.ca_key, or --key), name
    /// constraints from tls.permitted, valid ten years. The key is written 0600 and never
    /// shown.
    Init(CaInitArgs),
    /// Put an existing CA (an enterprise sub-CA) in tls.ca_dir, after checking it is a CA
    /// and the key is its key.
    Import(CaImportArgs),
    /// Write the CA certificate (never the key) for clients' trust stores: group policy,
    /// MDM, update-ca-certificates.
    Export(CaExportArgs),
    /// Show the CA: subject, key type, SHA-256 fingerprint, validity, name constraints.
    Show(CaShowArgs),
    /// Mint a leaf for NAME into files (NAME.pem, NAME.chain.pem, NAME.key), as the gateway
    /// would for a client asking for NAME: for testing with curl or openssl.
    Issue(CaIssueArgs),
    /// Issue a client certificate for NAME (a Sametime server) into two files, for mutual
    /// TLS to the ingest endpoint (ingest.auth = "client_cert" or "both"). The name is the
    /// certificate's subject, which the gateway logs as the sender's identity.
    IssueClient(CaIssueClientArgs),
}

/// The configuration the `ca` commands read (`[tls]`).
#[derive(Debug, Args)]
pub(crate) struct ConfigArgs {
    /// The TOML configuration (see imtegrity.example.toml). Default: embedded defaults.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Set any configuration key, e.g. --set tls.ca_dir=/srv/imtegrity/ca (repeatable;
    /// wins over the file).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub(crate) overrides: Vec<String>,
}

/// `imtegrity ca init`.
#[derive(Debug, Args)]
pub(crate) struct CaInitArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    /// The key type: ecdsa-p256 or rsa-2048. Default: tls.ca_key.
    #[arg(long, value_name = "TYPE")]
    pub(crate) key: Option<String>,
    /// The CA's common name. Default: "IMtegrity gateway CA (HOST)".
    #[arg(long, value_name = "NAME")]
    pub(crate) subject: Option<String>,
    /// Replace an existing CA (every client must then be given the new certificate).
    #[arg(long)]
    pub(crate) force: bool,
}

/// `imtegrity ca import`.
#[derive(Debug, Args)]
pub(crate) struct CaImportArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    /// The CA certificate (PEM, maybe followed by its chain; or one DER certificate).
    #[arg(long, value_name = "FILE")]
    pub(crate) cert: PathBuf,
    /// Its private key: unencrypted PKCS #8 PEM (-----BEGIN PRIVATE KEY-----).
    #[arg(long, value_name = "FILE")]
    pub(crate) key: PathBuf,
    /// The certificates between it and the root clients trust (PEM).
    #[arg(long, value_name = "FILE")]
    pub(crate) chain: Option<PathBuf>,
    /// Replace an existing CA.
    #[arg(long)]
    pub(crate) force: bool,
}

/// `imtegrity ca export`.
#[derive(Debug, Args)]
pub(crate) struct CaExportArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    /// pem or der. DER is binary: it goes to --out, or to stdout only when stdout is not a
    /// terminal.
    #[arg(long, default_value = "pem")]
    pub(crate) format: String,
    /// Write to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
}

/// `imtegrity ca show`.
#[derive(Debug, Args)]
pub(crate) struct CaShowArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
}

/// `imtegrity ca issue`.
#[derive(Debug, Args)]
pub(crate) struct CaIssueArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    /// The host name, e.g. login.oscar.aol.com; must be under tls.permitted.
    #[arg(value_name = "NAME")]
    pub(crate) name: String,
    /// Where to write the files. Default: the current directory.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub(crate) out_dir: PathBuf,
    /// Replace files of an earlier leaf for the same name.
    #[arg(long)]
    pub(crate) force: bool,
}

/// `imtegrity ca issue-client`.
#[derive(Debug, Args)]
pub(crate) struct CaIssueClientArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    /// Who the certificate is for, as a host name, e.g. st1.example.com (the Sametime
    /// server); need not be under tls.permitted.
    #[arg(value_name = "NAME")]
    pub(crate) name: String,
    /// Where to write the certificate (PEM). Default: NAME.client.pem.
    #[arg(long, value_name = "FILE")]
    pub(crate) out_cert: Option<PathBuf>,
    /// Where to write its private key (PEM, mode 600). Default: NAME.client.key.
    #[arg(long, value_name = "FILE")]
    pub(crate) out_key: Option<PathBuf>,
    /// Days it is valid (at most 825, and never past the CA's end).
    #[arg(long, value_name = "DAYS", default_value_t = 365)]
    pub(crate) days: u32,
    /// Replace existing files.
    #[arg(long)]
    pub(crate) force: bool,
}
