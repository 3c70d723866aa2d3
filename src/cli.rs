//! Command-line arguments.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// IMtegrity: an instant-messaging compliance gateway.
#[derive(Debug, Parser)]
#[command(name = "imtegrity", version, about)]
pub(crate) struct Cli {
    /// Machine-readable output: one JSON object per line on stdout.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// More logging on stderr (-v info, -vv debug, -vvv trace). IMTEGRITY_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the gateway: the OSCAR relay in front of the upstream servers, archiving every
    /// message. Without --config, embedded defaults (relay on 0.0.0.0:5190 and :443, upstream
    /// login.oscar.aol.com:5190, strict archive in the local data directory).
    Run(RunArgs),
    /// Show what the running gateway is doing (sessions, egress load, archive), or the
    /// archive's counters when no gateway runs.
    Status(StatusArgs),
    /// Run the sensor alone: capture on an interface (a mirror port, or the egress
    /// interface) and record AIM/ICQ traffic that goes around the gateway into the archive
    /// ([sensor] in the configuration; needs root or CAP_NET_RAW). A gateway started with
    /// [sensor] interface set runs the same sensor itself.
    Sensor(SensorArgs),
    /// Check a configuration file (with any --set overrides); exit code 64 if it is invalid.
    CheckConfig(CheckConfigArgs),
    /// Run the lab OSCAR server (authorizer, BOS, chat, echo bot) for tests and trying clients.
    Lab(LabArgs),
    /// Run the lab server with scripted users exchanging IMs and chat, and print the transcript.
    Demo(DemoArgs),
    /// Search the archive; prints a transcript per conversation (or JSON lines).
    Search(SearchArgs),
    /// Export matching records for e-discovery (jsonl, csv or eml) with a manifest.
    Export(ExportArgs),
    /// Verify the archive's hash chain and signatures. Exit code 0 intact; 2 tampered or
    /// damaged (unreadable pages named); 3 not signed by the --public-key given; 1 could
    /// not verify.
    Verify(VerifyArgs),
    /// Apply the retention policy (expire old records that no hold covers).
    #[command(subcommand)]
    Retention(RetentionCommand),
    /// Legal holds: records they cover are never expired.
    #[command(subcommand)]
    Hold(HoldCommand),
    /// Fill an archive with synthetic traffic (for trying search and export, and benchmarks).
    Generate(GenerateArgs),
    /// The gateway CA for TLS interception: create or import it, export its certificate for
    /// clients, show it, mint a leaf by hand.
    #[command(subcommand)]
    Ca(CaCommand),
    /// The compliance policy ([policy] in the configuration): ask which group, profile and
    /// rule apply to a message, and why.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// The archive store itself: recover what a damaged one can still read.
    #[command(subcommand)]
    Archive(ArchiveCommand),
    /// The Sametime chat-logging module, as its administrator checks it: its configuration
    /// file and its spool, read with the module's own code.
    #[command(subcommand)]
    Sametime(SametimeCommand),
}

/// `imtegrity sametime ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum SametimeCommand {
    /// Read the module's file (imtegrity_stchatlog.toml) as the module would at Init: the
    /// TOML (a mistake is named with its line and column), the gateway's token and TLS
    /// files, the policy it names. Prints what the module would do; exit 64 if it would
    /// refuse to start. The server's IMTEGRITY_SPI_* variables are not applied.
    CheckConfig(SametimeCheckConfigArgs),
    /// Look at a module's spool: records waiting for the gateway, their oldest and newest
    /// times, bytes on disk, damage; never their content. Works while the server runs.
    /// With --drain (the server stopped, or the module unloaded), ship what waits to the
    /// gateway the module's file names, until it is empty or --timeout passes; exit 1 if
    /// records are left.
    Spool(SametimeSpoolArgs),
}

/// `imtegrity sametime spool`.
#[derive(Debug, Args)]
pub(crate) struct SametimeSpoolArgs {
    /// The spool directory (the module's `spool`, or its default: see docs/sametime.md).
    pub(crate) dir: PathBuf,
    /// Ship the waiting records to the gateway, then say what is left.
    #[arg(long, requires = "config")]
    pub(crate) drain: bool,
    /// The module's configuration file, for the gateway's address, token and TLS files.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// How long --drain may take, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub(crate) timeout: u64,
}

/// `imtegrity sametime check-config`.
#[derive(Debug, Args)]
pub(crate) struct SametimeCheckConfigArgs {
    /// The module's configuration file.
    pub(crate) file: PathBuf,
}

/// `imtegrity archive ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum ArchiveCommand {
    /// Copy every record a damaged archive can still read, byte for byte under its own id
    /// and with its chain proof (the source's signed checkpoints), into a new archive in
    /// --to, which says it is a salvaged copy, from where and what it lacks (`verify` shows
    /// it). The gateway must be stopped: salvage opens the store itself.
    Salvage(SalvageArgs),
}

/// `imtegrity archive salvage`.
#[derive(Debug, Args)]
pub(crate) struct SalvageArgs {
    /// The damaged archive.
    #[command(flatten)]
    pub(crate) archive: ArchiveArg,
    /// Where to create the salvaged archive (a directory holding no archive).
    #[arg(long, value_name = "DIR")]
    pub(crate) to: PathBuf,
    /// The new archive's signing key file (created 0600 if missing). Default:
    /// DIR/signing.key, a new key.
    #[arg(long, value_name = "FILE")]
    pub(crate) signing_key: Option<PathBuf>,
}

/// Which archive to use.
#[derive(Debug, Args)]
pub(crate) struct ArchiveArg {
    /// Archive directory. Default: $IMTEGRITY_ARCHIVE, else /var/lib/imtegrity/archive for
    /// root and ~/.local/share/imtegrity/archive for others.
    #[arg(long, value_name = "DIR")]
    pub(crate) archive: Option<PathBuf>,
}

impl ArchiveArg {
    pub(crate) fn dir(&self) -> PathBuf {
        self.archive
            .clone()
            .unwrap_or_else(crate::archive_access::default_dir)
    }
}

/// Filters shared by `search` and `export`.
#[derive(Debug, Args)]
pub(crate) struct FilterArgs {
    /// A participant, either side (screen names compare case- and space-insensitively).
    #[arg(long, value_name = "NAME")]
    pub(crate) user: Option<String>,
    /// Another participant that must also be in the record (with --user: their conversation).
    #[arg(long, value_name = "NAME")]
    pub(crate) peer: Option<String>,
    /// A chat room.
    #[arg(long)]
    pub(crate) room: Option<String>,
    /// An exact conversation key (as printed in transcripts).
    #[arg(long, value_name = "KEY")]
    pub(crate) conversation: Option<String>,
    /// From this time: RFC 3339, a date, or an age like 7d, 12h.
    #[arg(long, value_name = "TIME")]
    pub(crate) since: Option<String>,
    /// Before this time (same forms).
    #[arg(long, value_name = "TIME")]
    pub(crate) until: Option<String>,
    /// Text contains (case-insensitive).
    #[arg(long)]
    pub(crate) text: Option<String>,
    /// Only this kind (repeatable): im, chat_message, chat_join, chat_leave, file_offer,
    /// direct_im_offer, policy_action, session_start, session_end, capture_gap,
    /// bypass_alert.
    #[arg(long = "kind", value_name = "KIND")]
    pub(crate) kinds: Vec<archive::Kind>,
    /// Only this protocol: aim, icq, sametime.
    #[arg(long)]
    pub(crate) protocol: Option<archive::Protocol>,
    /// At most this many records.
    #[arg(long)]
    pub(crate) limit: Option<usize>,
    /// An employee by directory id: every screen name the directory lists for them, and
    /// records stamped with the id. Needs --config naming `policy.directory`.
    #[arg(long, value_name = "ID")]
    pub(crate) employee: Option<String>,
    /// The gateway's configuration file, for the directory --employee looks in.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
}

/// `imtegrity search`.
#[derive(Debug, Args)]
pub(crate) struct SearchArgs {
    #[command(flatten)]
    pub(crate) archive: ArchiveArg,
    #[command(flatten)]
    pub(crate) filters: FilterArgs,
    /// Show times in this IANA time zone (e.g. Europe/London), each with its UTC offset.
    /// Default: UTC.
    #[arg(long, value_name = "ZONE")]
    pub(crate) tz: Option<String>,
}

/// `imtegrity export`.
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    #[command(flatten)]
    pub(crate) archive: ArchiveArg,
    #[command(flatten)]
    pub(crate) filters: FilterArgs,
    /// jsonl, csv or eml (one RFC 5322 message per conversation per day).
    #[arg(long)]
    pub(crate) format: String,
    /// Directory to write (must not exist or be empty); gets the files and manifest.json.
    #[arg(long, value_name = "DIR")]
    pub(crate) out: PathBuf,
    /// Render times in this IANA time zone (e.g. Europe/London), each with its UTC offset;
    /// EML messages are then per day in that zone. Default: UTC.
    #[arg(long, value_name = "ZONE")]
    pub(crate) tz: Option<String>,
    /// CSV: start the file with a UTF-8 byte-order mark, for spreadsheet programs.
    #[arg(long)]
    pub(crate) excel: bool,
}

/// `imtegrity verify`.
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    #[command(flatten)]
    pub(crate) archive: ArchiveArg,
    /// The archive public key you pinned (hex, as printed when it was created). Without it
    /// the key stored in the archive is used, which proves integrity but not authorship.
    /// When every signature is valid but by another key, exit code 3 and "this archive was
    /// not signed by that key", naming both keys' fingerprints: the wrong key was given, or
    /// the archive was re-signed with a key put in place of yours.
    #[arg(long, value_name = "HEX")]
    pub(crate) public_key: Option<String>,
}

/// `imtegrity retention ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum RetentionCommand {
    /// Expire records older than the policy allows, except held ones.
    Apply(RetentionArgs),
}

/// `imtegrity retention apply`.
#[derive(Debug, Args)]
pub(crate) struct RetentionArgs {
    #[command(flatten)]
    pub(crate) archive: ArchiveArg,
    /// Only report what would be expired.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Days to keep records of every protocol without its own setting.
    #[arg(long)]
    pub(crate) days: Option<u32>,
    /// Days to keep AIM records.
    #[arg(long)]
    pub(crate) aim_days: Option<u32>,
    /// Days to keep ICQ records.
    #[arg(long)]
    pub(crate) icq_days: Option<u32>,
    /// Days to keep Sametime records.
    #[arg(long)]
    pub(crate) sametime_days: Option<u32>,
    /// Read [archive.retention] (days, and min_days to lock into the archive) and
    /// archive.path from this configuration; the flags above win over its days.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Set any configuration key, e.g. --set archive.retention.min_days=2190 (repeatable;
    /// wins over the file).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub(crate) overrides: Vec<String>,
}

/// `imtegrity hold ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum HoldCommand {
    /// Place a hold on a user's or a conversation's records.
    Add(HoldAddArgs),
    /// List holds.
    List(HoldListArgs),
    /// Release a hold (its record is kept; expiry may then delete what it covered).
    Release(HoldReleaseArgs),
}

/// `imtegrity hold add`.
#[derive(Debug, Args)]
pub(crate) struct HoldAddArgs {
    #[command(flatten)]
    pub(crate) archive: ArchiveArg,
    /// Hold everything this user took part in.
    #[arg(
        long,
        value_name = "NAME",
        conflicts_with = "conversation",
        required_unless_present = "conversation"
    )]
    pub(crate) user: Option<String>,
    /// Hold one conversation (key as printed in transcripts).
    #[arg(long, value_name = "KEY")]
    pub(crate) conversation: Option<String>,
    /// Why: the matter or case reference.
    #[arg(long)]
    pub(crate) reason: String,
}

/// `imtegrity hold list`.
#[derive(Debug, Args)]
pub(crate) struct HoldListArgs {
    #[command(flatten)]
    pub(crate) archive: ArchiveArg,
    /// Include released holds.
    #[arg(long)]
    pub(crate) all: bool,
}

/// `imtegrity hold release`.
#[derive(Debug, Args)]
pub(crate) struct HoldReleaseArgs {
    #[command(flatten)]
    pub(crate) archive: ArchiveArg,
    /// The hold's number.
    pub(crate) id: u64,
    /// Why it is released (the matter closed, counsel's instruction), kept with the hold.
    #[arg(long)]
    pub(crate) reason: String,
}

/// `imtegrity generate`.
#[derive(Debug, Args)]
pub(crate) struct GenerateArgs {
    #[command(flatten)]
    pub(crate) archive: ArchiveArg,
    /// How many events.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) count: u64,
    /// How many local users.
    #[arg(long, default_value_t = 200)]
    pub(crate) users: u32,
    /// Spread over this many days, ending now.
    #[arg(long, default_value_t = 30)]
    pub(crate) days: u32,
    /// Random seed (the same seed gives the same traffic).
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// The archive's signing key file, as archive.signing_key: created (0600) with a new
    /// archive, which records where it is. Default: where the archive recorded it, else
    /// DIR/signing.key.
    #[arg(long, value_name = "FILE")]
    pub(crate) signing_key: Option<PathBuf>,
}

/// `imtegrity run`.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The TOML configuration (see imtegrity.example.toml). Default: embedded defaults.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Set any configuration key, e.g. --set relay.listen='["127.0.0.1:5190"]'
    /// --set upstream.login=127.0.0.1:15190 (repeatable; wins over the file).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub(crate) overrides: Vec<String>,
}

/// `imtegrity sensor`.
#[derive(Debug, Args)]
pub(crate) struct SensorArgs {
    /// The TOML configuration (its [sensor] and [archive] sections). Default: embedded
    /// defaults.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// The interface to capture on (wins over sensor.interface).
    #[arg(long, value_name = "IF")]
    pub(crate) interface: Option<String>,
    /// Set any configuration key, e.g. --set 'sensor.allow=["192.0.2.10"]' (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub(crate) overrides: Vec<String>,
}

/// `imtegrity status`.
#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    pub(crate) archive: ArchiveArg,
}

/// `imtegrity check-config`.
#[derive(Debug, Args)]
pub(crate) struct CheckConfigArgs {
    /// The TOML configuration file to check (see imtegrity.example.toml).
    #[arg(value_name = "FILE")]
    pub(crate) file: PathBuf,
    /// Set any configuration key on top of the file, as `run --set` does (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub(crate) overrides: Vec<String>,
    /// Print the effective configuration (file, overrides and defaults) as TOML.
    #[arg(long)]
    pub(crate) print: bool,
}

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

/// `imtegrity policy ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCommand {
    /// Show who the local user is (employee, group, profile), every rule of their profile
    /// considered and why it matched or not, and the decision, as the gateway would make it.
    Explain(PolicyExplainArgs),
}

/// `imtegrity policy explain`.
#[derive(Debug, Args)]
pub(crate) struct PolicyExplainArgs {
    /// The TOML configuration (see imtegrity.example.toml); its policy.directory is read.
    /// Default: embedded defaults (no rules: everything is logged).
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Set any configuration key, e.g. --set policy.directory=/tmp/people.csv (repeatable;
    /// wins over the file).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub(crate) overrides: Vec<String>,
    /// The sender's screen name.
    #[arg(long, value_name = "SN")]
    pub(crate) from: String,
    /// The recipient's screen name.
    #[arg(long, value_name = "SN")]
    pub(crate) to: String,
    /// The message text (keyword and pattern rules search it; a file name for --kind file).
    #[arg(long, default_value = "")]
    pub(crate) text: String,
    /// im, chat, file (a file-transfer offer) or direct_im (a direct-connection offer).
    #[arg(long, default_value = "im", value_name = "KIND")]
    pub(crate) kind: policy::MessageKind,
    /// inbound (--to is the local user), outbound or internal (--from is). Default: guessed
    /// from the directory (both in it: internal; only --to: inbound; else outbound).
    #[arg(long, value_name = "DIRECTION")]
    pub(crate) direction: Option<policy::Direction>,
    /// The local user's client address, for directory and group lookups by address.
    #[arg(long, value_name = "IP")]
    pub(crate) client_addr: Option<std::net::IpAddr>,
}

/// An error in what the user asked for (exit code 64), as opposed to a failure doing it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct UsageError(pub(crate) String);

/// `verify --public-key`: the archive's signatures are all valid, but by another key than
/// the one given (exit code 3): the wrong key was given, or the archive was re-signed.
#[derive(Debug, thiserror::Error)]
#[error("archive verification FAILED: {0}")]
pub(crate) struct NotSignedBy(pub(crate) String);

/// Verification found the archive tampered with (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("archive verification FAILED: {0}")]
pub(crate) struct VerifyFailed(pub(crate) String);
