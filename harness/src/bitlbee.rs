//! A private bitlbee-libpurple daemon on an ephemeral loopback port, or on the client side of
//! a [`NetnsPair`].

use std::fmt::Write as _;
use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;
use tokio::time::Instant;

use crate::netns::CLIENT_SIDE_IP;
use crate::ports::{accepts_connections, free_loopback_port};
use crate::process::GroupChild;
use crate::{HarnessError, NetnsPair, Peers};

/// How many ports to try before giving up (a port can be taken between picking and binding).
const ATTEMPTS: u32 = 5;
/// How long one attempt may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A running bitlbee in `ForkDaemon` mode on 127.0.0.1 (or in a namespace), with a fresh
/// `ConfigDir`.
///
/// Each IRC connection gets a forked bitlbee of its own, so one daemon serves any number of
/// [`crate::AimClient`]s. Dropping this terminates the whole process group and deletes the
/// temporary directory.
#[derive(Debug)]
pub struct Bitlbee {
    // Field order is drop order: stop the processes before deleting their directory.
    process: GroupChild,
    addr: SocketAddr,
    log_path: PathBuf,
    dir: TempDir,
}

impl Bitlbee {
    /// Starts bitlbee and waits until its IRC port accepts connections.
    pub async fn start(peers: &Peers) -> Result<Self, HarnessError> {
        Self::start_at(peers, None, false).await
    }

    /// Like [`start`](Self::start), with bitlbee's and libpurple's debug output on
    /// (`BITLBEE_DEBUG=1`, see [`start_in_with_debug`](Self::start_in_with_debug)).
    pub async fn start_with_debug(peers: &Peers) -> Result<Self, HarnessError> {
        Self::start_at(peers, None, true).await
    }

    /// Starts bitlbee on the client side of `netns`, listening on the client side's address
    /// (reached from the gateway side over the veth link), and waits until it accepts
    /// connections. libpurple there resolves names through the client side's `resolv.conf`.
    /// Call this from a thread on the gateway side ([`NetnsPair::enter_gateway_side`]), which
    /// is where the readiness probe connects from.
    pub async fn start_in(peers: &Peers, netns: &NetnsPair) -> Result<Self, HarnessError> {
        Self::start_at(peers, Some(netns), false).await
    }

    /// Like [`start_in`](Self::start_in), with bitlbee's and libpurple's debug output on
    /// (`BITLBEE_DEBUG=1`): [`log`](Self::log) then also holds, per IRC connection, lines
    /// `DEBUG <category>: ...` saying what each connection, TLS handshake, certificate check
    /// and HTTP request did, which a TLS login's one-line error does not.
    pub async fn start_in_with_debug(
        peers: &Peers,
        netns: &NetnsPair,
    ) -> Result<Self, HarnessError> {
        Self::start_at(peers, Some(netns), true).await
    }

    async fn start_at(
        peers: &Peers,
        netns: Option<&NetnsPair>,
        debug: bool,
    ) -> Result<Self, HarnessError> {
        let ip = match netns {
            Some(_) => IpAddr::V4(CLIENT_SIDE_IP),
            None => IpAddr::V4(Ipv4Addr::LOCALHOST),
        };
        let mut last_log = String::new();
        for attempt in 1..=ATTEMPTS {
            let dir = tempfile::Builder::new()
                .prefix("imt-bitlbee-")
                .tempdir()
                .map_err(|source| HarnessError::io("create bitlbee's temp dir", source))?;
            // Free on loopback here; in a fresh namespace almost surely free too, and a clash
            // is retried like one on loopback.
            let port = free_loopback_port()?;
            let addr = SocketAddr::new(ip, port);
            let log_path = dir.path().join("bitlbee.log");
            let mut process = spawn(peers, netns, dir.path(), addr, &log_path, debug)?;
            if wait_ready(&mut process, addr).await? {
                tracing::debug!(%addr, attempt, "bitlbee ready");
                return Ok(Self {
                    process,
                    addr,
                    log_path,
                    dir,
                });
            }
            process.terminate();
            last_log = read_log(&log_path);
            tracing::debug!(attempt, port, log = %last_log, "bitlbee did not come up; retrying");
        }
        Err(HarnessError::BitlbeeNotReady {
            attempts: ATTEMPTS,
            log: last_log,
        })
    }

    /// The IRC address to connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The temporary directory holding `bitlbee.conf`, `conf/` (bitlbee's `ConfigDir`, with
    /// libpurple's user dir under `conf/purple/<nick>`) and `bitlbee.log`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What bitlbee has written to stdout and stderr so far, for failure messages.
    pub fn log(&self) -> String {
        read_log(&self.log_path)
    }

    /// The daemon's process id (also its process group id).
    pub fn pid(&self) -> u32 {
        self.process.id()
    }
}

fn spawn(
    peers: &Peers,
    netns: Option<&NetnsPair>,
    dir: &Path,
    listen: SocketAddr,
    log_path: &Path,
    debug: bool,
) -> Result<GroupChild, HarnessError> {
    let config_dir = dir.join("conf");
    std::fs::create_dir(&config_dir)
        .map_err(|source| HarnessError::io("create bitlbee's ConfigDir", source))?;
    let conf = dir.join("bitlbee.conf");
    std::fs::write(&conf, config_text(&config_dir, &peers.plugin_dir, listen))
        .map_err(|source| HarnessError::io(format!("write {}", conf.display()), source))?;
    let log = File::create(log_path)
        .map_err(|source| HarnessError::io(format!("create {}", log_path.display()), source))?;
    let log_err = log
        .try_clone()
        .map_err(|source| HarnessError::io("duplicate the log file handle", source))?;
    // `ip netns exec` execs bitlbee, so the group leader is still bitlbee itself.
    let mut command = match netns {
        Some(netns) => netns.client_command(&peers.bitlbee),
        None => Command::new(&peers.bitlbee),
    };
    // -n: stay in the foreground, so the process we spawn is the daemon we must kill.
    command
        .arg("-n")
        .arg("-c")
        .arg(&conf)
        .env("LD_LIBRARY_PATH", &peers.purple_dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err);
    if debug {
        command.env("BITLBEE_DEBUG", "1");
    }
    GroupChild::spawn(command)
}

/// The configuration of real-peers.md §0, with this run's address and directories.
fn config_text(config_dir: &Path, plugin_dir: &Path, listen: SocketAddr) -> String {
    let mut text = String::new();
    // libpurple is refused in plain Daemon mode; ForkDaemon forks a child per IRC client.
    let _ = writeln!(text, "[settings]");
    let _ = writeln!(text, "RunMode = ForkDaemon");
    let _ = writeln!(text, "DaemonInterface = {}", listen.ip());
    let _ = writeln!(text, "DaemonPort = {}", listen.port());
    let _ = writeln!(text, "ConfigDir = {}", config_dir.display());
    let _ = writeln!(text, "PluginDir = {}", plugin_dir.display());
    let _ = writeln!(text, "AuthMode = Open");
    let _ = writeln!(text, "[defaults]");
    text
}

/// `Ok(true)` once `addr` accepts connections, `Ok(false)` if bitlbee exited or never did.
async fn wait_ready(process: &mut GroupChild, addr: SocketAddr) -> Result<bool, HarnessError> {
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        if process.try_wait()?.is_some() {
            return Ok(false);
        }
        if accepts_connections(addr, Duration::from_millis(200)).await {
            // Another process could own the port we picked; bitlbee would then have exited.
            return Ok(process.try_wait()?.is_none());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(false)
}

fn read_log(path: &Path) -> String {
    std::fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_else(|err| format!("(cannot read {}: {err})", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_binds_loopback_and_points_at_the_plugins() {
        let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 40123));
        let text = config_text(Path::new("/t/conf"), Path::new("/p/plugins"), listen);
        assert!(text.contains("RunMode = ForkDaemon\n"));
        assert!(text.contains("DaemonInterface = 127.0.0.1\n"));
        assert!(text.contains("DaemonPort = 40123\n"));
        assert!(text.contains("ConfigDir = /t/conf\n"));
        assert!(text.contains("PluginDir = /p/plugins\n"));
        assert!(text.contains("AuthMode = Open\n"));
    }

    #[test]
    fn config_in_a_namespace_binds_the_client_side_address() {
        let listen = SocketAddr::from((CLIENT_SIDE_IP, 40124));
        let text = config_text(Path::new("/t/conf"), Path::new("/p/plugins"), listen);
        assert!(text.contains("DaemonInterface = 10.53.90.2\n"), "{text}");
        assert!(text.contains("DaemonPort = 40124\n"), "{text}");
    }
}
