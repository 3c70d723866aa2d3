//! A private network for tests that need real (non-loopback) addresses and well-known ports:
//! two network namespaces the test creates, joined by a veth link, and nothing else.
//!
//! * The **client side** ([`CLIENT_SIDE_IP`]) runs a program under test through
//!   [`NetnsPair::client_command`], i.e. `ip netns exec`, which bind-mounts each file of
//!   `/etc/netns/<name>/` over the one in `/etc/`. There, `resolv.conf` names the gateway side as
//!   the only nameserver, `hosts` knows only localhost, and `nsswitch.conf` (the host's, with its
//!   `hosts:` line replaced) says `hosts: files dns`. So every name the program looks up through
//!   the system resolver (getaddrinfo) is asked of port 53 on the gateway side, as on a machine
//!   whose DHCP-assigned resolver is the gateway. On request
//!   ([`NetnsPair::trust_ca_on_client_side`]) a directory `ssl/` is mounted over `/etc/ssl`
//!   too, whose `certs/` holds one CA: a machine whose administrator installed the gateway CA.
//! * The **gateway side** ([`GATEWAY_SIDE_IP`]) is where the calling thread moves itself with
//!   [`NetnsPair::enter_gateway_side`]: the sockets it creates from then on, and the processes it
//!   spawns, live there. A test doing this should run on a current-thread runtime, so that
//!   every socket of the test is created on that thread.
//!
//! The root network namespace is never touched: ports 53 and 5190 are free on the gateway side
//! whatever the host runs (a resolver on `0.0.0.0:53` is common), and parallel runs cannot
//! collide although they use the same addresses, because each has a pair of its own, named
//! after the process id and a counter.
//!
//! Everything is removed on drop, when a test panics too: the namespaces (`ip netns delete`)
//! and `/etc/netns/<client side>`. `/etc/netns` itself is left, because a parallel run may be
//! using it. A run killed with SIGKILL leaves its pair behind; the next run with the same pid
//! removes it before it creates its own. Every `ip` command is bounded in time.
//!
//! Needs root and iproute2's `ip`; see [`require_netns`].

use std::fmt::Write as _;
use std::fs::File;
use std::io::{Read as _, Write as _};
use std::marker::PhantomData;
use std::net::Ipv4Addr;
use std::os::fd::AsFd as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rustix::thread::{LinkNameSpaceType, move_into_link_name_space};

use crate::HarnessError;

/// The gateway side's address on the veth link.
pub const GATEWAY_SIDE_IP: Ipv4Addr = Ipv4Addr::new(10, 53, 90, 1);
/// The client side's address on the veth link.
pub const CLIENT_SIDE_IP: Ipv4Addr = Ipv4Addr::new(10, 53, 90, 2);
/// The link's prefix length: a /30 holds exactly the two ends.
const PREFIX_LEN: u8 = 30;
/// The veth end on the gateway side (names are per namespace, so fixed names cannot collide).
pub const GATEWAY_SIDE_INTERFACE: &str = "imt-gw";
/// The veth end on the client side.
pub const CLIENT_SIDE_INTERFACE: &str = "imt-client";
/// Where `ip netns add` keeps its namespaces.
const NETNS_RUN_DIR: &str = "/run/netns";
/// Where `ip netns exec` takes the files it mounts over `/etc`.
const NETNS_ETC_DIR: &str = "/etc/netns";
/// Bound on one `ip` command.
const IP_TIMEOUT: Duration = Duration::from_secs(10);

/// Distinguishes the pairs of one process.
static NEXT_PAIR: AtomicU32 = AtomicU32::new(0);

/// Whether network namespaces can be used here (root, and `ip` installed); otherwise prints a
/// `skipped:` line for `test_name` and returns false.
///
/// # Panics
/// When they cannot and the environment variable `CI` is `true`: CI runs as root with
/// iproute2 installed, and must never skip silently.
pub fn require_netns(test_name: &str) -> bool {
    let mut missing = Vec::new();
    if !rustix::process::geteuid().is_root() {
        missing.push("root (network namespaces and /etc/netns need it)".to_owned());
    }
    if find_ip().is_none() {
        missing.push("iproute2's `ip` (not in PATH, /usr/sbin nor /sbin)".to_owned());
    }
    if missing.is_empty() {
        return true;
    }
    let missing = missing.join("; ");
    crate::skip_or_fail(
        test_name,
        &format!("cannot create network namespaces: missing {missing}"),
    );
    false
}

/// Two network namespaces joined by a veth link; see the [module documentation](self).
#[derive(Debug)]
pub struct NetnsPair {
    ip: PathBuf,
    client: String,
    gateway: String,
    /// `/etc/netns/<client>`, once created.
    client_etc: Option<PathBuf>,
    /// The namespaces created so far, deleted on drop in reverse order.
    created: Vec<String>,
}

impl NetnsPair {
    /// Creates the pair, named `imt-<tag>-<pid>-<n>-client` and `...-gateway`, with the link up,
    /// both loopbacks up, and the client side's `/etc/netns` files written.
    pub fn create(tag: &str) -> Result<Self, HarnessError> {
        if tag.is_empty() || !tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(HarnessError::InvalidArgument {
                what: "network namespace tag",
                value: tag.to_owned(),
                why: "letters, digits and `-` only",
            });
        }
        let ip = find_ip().ok_or_else(|| HarnessError::MissingPeers {
            missing: vec!["iproute2's `ip`".to_owned()],
        })?;
        let base = format!(
            "imt-{tag}-{}-{}",
            std::process::id(),
            NEXT_PAIR.fetch_add(1, Ordering::Relaxed)
        );
        // Everything created below is recorded first, so an error half-way drops (and
        // removes) what exists.
        let mut pair = Self {
            ip,
            client: format!("{base}-client"),
            gateway: format!("{base}-gateway"),
            client_etc: None,
            created: Vec::new(),
        };
        for name in [pair.client.clone(), pair.gateway.clone()] {
            if Path::new(NETNS_RUN_DIR).join(&name).exists() {
                // Left by a run with our pid that was killed: its processes are gone.
                pair.run_ip(&["netns", "delete", &name])?;
            }
            pair.run_ip(&["netns", "add", &name])?;
            pair.created.push(name);
        }
        pair.write_client_etc()?;
        let (client, gateway) = (pair.client.clone(), pair.gateway.clone());
        // Both ends are created directly in their namespaces; the root namespace never sees
        // them, so their fixed names cannot clash with anything there.
        pair.run_ip(&[
            "link",
            "add",
            GATEWAY_SIDE_INTERFACE,
            "netns",
            &gateway,
            "type",
            "veth",
            "peer",
            "name",
            CLIENT_SIDE_INTERFACE,
            "netns",
            &client,
        ])?;
        for (ns, interface, addr) in [
            (&gateway, GATEWAY_SIDE_INTERFACE, GATEWAY_SIDE_IP),
            (&client, CLIENT_SIDE_INTERFACE, CLIENT_SIDE_IP),
        ] {
            let cidr = format!("{addr}/{PREFIX_LEN}");
            pair.run_ip(&["-n", ns, "addr", "add", &cidr, "dev", interface])?;
            pair.run_ip(&["-n", ns, "link", "set", "lo", "up"])?;
            pair.run_ip(&["-n", ns, "link", "set", interface, "up"])?;
        }
        Ok(pair)
    }

    /// The client side's namespace name.
    pub fn client_name(&self) -> &str {
        &self.client
    }

    /// The gateway side's namespace name.
    pub fn gateway_name(&self) -> &str {
        &self.gateway
    }

    /// `ip netns exec <client side> <program>`: the program runs on the client side, with the
    /// client side's `resolv.conf`, `hosts` and `nsswitch.conf`. `ip` execs the program, so the
    /// child's pid is the program's.
    pub fn client_command(&self, program: &Path) -> Command {
        let mut command = Command::new(&self.ip);
        command.args(["netns", "exec", &self.client]).arg(program);
        command
    }

    /// Moves the calling thread into the gateway side until the returned guard is dropped.
    ///
    /// Only this thread moves: sockets created on other threads (a multi-thread runtime's
    /// workers, a blocking pool) stay in the namespace those threads are in.
    pub fn enter_gateway_side(&self) -> Result<GatewaySide<'_>, HarnessError> {
        let original = File::open("/proc/thread-self/ns/net")
            .map_err(|source| HarnessError::io("open this thread's network namespace", source))?;
        let target_path = Path::new(NETNS_RUN_DIR).join(&self.gateway);
        let target = File::open(&target_path).map_err(|source| {
            HarnessError::io(format!("open {}", target_path.display()), source)
        })?;
        let inode = target
            .metadata()
            .map_err(|source| HarnessError::io(format!("stat {}", target_path.display()), source))?
            .ino();
        move_into_link_name_space(target.as_fd(), Some(LinkNameSpaceType::Network)).map_err(
            |errno| {
                HarnessError::io(
                    format!("setns into {}", self.gateway),
                    std::io::Error::from(errno),
                )
            },
        )?;
        let guard = GatewaySide {
            original,
            left: false,
            _pair: PhantomData,
        };
        // Check, rather than trust, that this thread now is where we meant it to be.
        let now = std::fs::read_link("/proc/thread-self/ns/net")
            .map_err(|source| HarnessError::io("read this thread's network namespace", source))?;
        let want = format!("net:[{inode}]");
        if now.as_os_str() != want.as_str() {
            return Err(HarnessError::io(
                format!("setns into {}", self.gateway),
                std::io::Error::other(format!("thread is in {}, not {want}", now.display())),
            ));
        }
        Ok(guard)
    }

    /// Makes the client side trust exactly one certificate authority, `ca_pem` (PEM text):
    /// writes it as [`CLIENT_SIDE_CA_FILE`] into `/etc/netns/<client>/ssl/certs/`, which
    /// `ip netns exec` then bind-mounts over `/etc/ssl` (it mounts every entry of
    /// `/etc/netns/<client>/`, directories too), and checks from inside the client side that
    /// `/etc/ssl/certs` holds that file and nothing else.
    ///
    /// libpurple (Debian's build, with the NSS plugin) loads every file of `/etc/ssl/certs` as a
    /// trusted root, so a program started with [`client_command`](Self::client_command) after
    /// this trusts the gateway CA and no public CA. No hash links are made: libpurple reads
    /// files by directory listing, not by subject hash, and a link would load the CA twice.
    /// Nothing else of the host's `/etc/ssl` (`openssl.cnf`, `private/`) is visible there.
    pub fn trust_ca_on_client_side(&self, ca_pem: &str) -> Result<(), HarnessError> {
        if !ca_pem.contains("-----BEGIN CERTIFICATE-----") {
            return Err(HarnessError::InvalidArgument {
                what: "CA certificate",
                value: ca_pem.chars().take(64).collect(),
                why: "not a PEM certificate",
            });
        }
        // Removed with the rest of `/etc/netns/<client>` on drop.
        let certs = Path::new(NETNS_ETC_DIR)
            .join(&self.client)
            .join("ssl")
            .join("certs");
        std::fs::create_dir_all(&certs)
            .map_err(|source| HarnessError::io(format!("create {}", certs.display()), source))?;
        let path = certs.join(CLIENT_SIDE_CA_FILE);
        std::fs::write(&path, ca_pem)
            .map_err(|source| HarnessError::io(format!("write {}", path.display()), source))?;
        // `ip netns exec` only warns when a bind mount fails (say, no /etc/ssl on the host),
        // and runs the program anyway; so look from inside.
        let check = format!(
            r#"[ "$(ls -A /etc/ssl/certs)" = "{CLIENT_SIDE_CA_FILE}" ] && cmp -s "$0" /etc/ssl/certs/{CLIENT_SIDE_CA_FILE}"#
        );
        let path_text = path.to_string_lossy();
        run_bounded(
            &self.ip,
            &[
                "netns",
                "exec",
                &self.client,
                "/bin/sh",
                "-c",
                &check,
                &path_text,
            ],
        )
        .map_err(|err| {
            HarnessError::io(
                format!("mount {} over /etc/ssl on the client side", certs.display()),
                std::io::Error::other(err.to_string()),
            )
        })
    }

    /// Writes `/etc/netns/<client>/{resolv.conf,hosts,nsswitch.conf}`.
    fn write_client_etc(&mut self) -> Result<(), HarnessError> {
        let dir = Path::new(NETNS_ETC_DIR).join(&self.client);
        if dir.exists() {
            // Left by a killed run with our pid, like its namespaces.
            remove_dir(&dir)?;
        }
        std::fs::create_dir_all(&dir)
            .map_err(|source| HarnessError::io(format!("create {}", dir.display()), source))?;
        self.client_etc = Some(dir.clone());
        let mut files = vec![
            ("resolv.conf", resolv_conf(GATEWAY_SIDE_IP)),
            ("hosts", HOSTS.to_owned()),
        ];
        // `ip netns exec` can only mount over a file that exists; without one glibc already
        // defaults to DNS.
        if let Ok(host) = std::fs::read_to_string("/etc/nsswitch.conf") {
            files.push(("nsswitch.conf", nsswitch_conf(&host)));
        }
        for (name, text) in files {
            let path = dir.join(name);
            std::fs::write(&path, text)
                .map_err(|source| HarnessError::io(format!("write {}", path.display()), source))?;
        }
        Ok(())
    }

    fn run_ip(&self, args: &[&str]) -> Result<(), HarnessError> {
        run_bounded(&self.ip, args)
    }
}

impl Drop for NetnsPair {
    fn drop(&mut self) {
        let mut problems = Vec::new();
        // The namespaces outlive `ip netns delete` while a process or socket still uses them;
        // the veth pair goes with the last of the two.
        for name in self.created.drain(..).rev() {
            if let Err(err) = run_bounded(&self.ip, &["netns", "delete", &name]) {
                problems.push(err.to_string());
            }
        }
        if let Some(Err(err)) = self.client_etc.take().map(|dir| remove_dir(&dir)) {
            problems.push(err.to_string());
        }
        if !problems.is_empty() {
            let _ = writeln!(
                std::io::stderr(),
                "netns cleanup incomplete: {}",
                problems.join("; ")
            );
        }
    }
}

/// The calling thread's stay on the gateway side of a [`NetnsPair`]; dropping it moves the
/// thread back where it was. Not `Send`: it belongs to the thread that entered.
#[derive(Debug)]
pub struct GatewaySide<'a> {
    original: File,
    /// Whether [`leave`](Self::leave) already moved the thread back.
    left: bool,
    _pair: PhantomData<(&'a NetnsPair, *const ())>,
}

impl GatewaySide<'_> {
    /// Moves the thread back now, reporting a failure (drop can only print it).
    pub fn leave(mut self) -> Result<(), HarnessError> {
        self.left = true;
        self.restore()
    }

    fn restore(&self) -> Result<(), HarnessError> {
        move_into_link_name_space(self.original.as_fd(), Some(LinkNameSpaceType::Network)).map_err(
            |errno| {
                HarnessError::io(
                    "setns back into the original network namespace",
                    std::io::Error::from(errno),
                )
            },
        )
    }
}

impl Drop for GatewaySide<'_> {
    fn drop(&mut self) {
        if self.left {
            return;
        }
        if let Err(err) = self.restore() {
            let _ = writeln!(std::io::stderr(), "{err}");
        }
    }
}

/// The file name of the CA [`NetnsPair::trust_ca_on_client_side`] puts in the client side's
/// `/etc/ssl/certs`.
pub const CLIENT_SIDE_CA_FILE: &str = "imtegrity-test-ca.pem";

/// `/etc/hosts` on the client side: nothing but localhost, so no other name resolves from it.
const HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";

fn resolv_conf(nameserver: Ipv4Addr) -> String {
    let mut text = String::from("# imtegrity-harness: the client side's only resolver\n");
    let _ = writeln!(text, "nameserver {nameserver}");
    text
}

/// The host's nsswitch.conf with its `hosts:` line (if any) replaced by `hosts: files dns`,
/// so no NSS module (mdns, resolve, myhostname) answers a name before DNS does.
fn nsswitch_conf(host: &str) -> String {
    let mut text = String::new();
    let mut replaced = false;
    for line in host.lines() {
        if line.trim_start().starts_with("hosts:") {
            if !replaced {
                text.push_str("hosts: files dns\n");
                replaced = true;
            }
        } else {
            text.push_str(line);
            text.push('\n');
        }
    }
    if !replaced {
        text.push_str("hosts: files dns\n");
    }
    text
}

fn remove_dir(dir: &Path) -> Result<(), HarnessError> {
    std::fs::remove_dir_all(dir)
        .map_err(|source| HarnessError::io(format!("remove {}", dir.display()), source))
}

/// iproute2's `ip`: in `PATH`, else in the sbin directories a non-root PATH lacks.
fn find_ip() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join("ip"))
        .find(|candidate| candidate.is_file())
}

/// Runs `program args...` to completion within [`IP_TIMEOUT`]; a non-zero exit is an error
/// carrying its stderr.
fn run_bounded(program: &Path, args: &[&str]) -> Result<(), HarnessError> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| HarnessError::Spawn {
            program: program.to_owned(),
            source,
        })?;
    let deadline = Instant::now() + IP_TIMEOUT;
    let status = loop {
        let waited = child.try_wait().map_err(|source| {
            HarnessError::io(format!("wait for {}", program.display()), source)
        })?;
        if let Some(status) = waited {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(HarnessError::Timeout {
                waiting_for: format!("`{} {}`", program.display(), args.join(" ")),
                timeout: IP_TIMEOUT,
                transcript: String::new(),
            });
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    if status.success() {
        Ok(())
    } else {
        Err(HarnessError::ToolFailed {
            program: program.to_owned(),
            status,
            stderr: format!("`ip {}`: {}", args.join(" "), stderr.trim()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_side_resolves_through_the_gateway_side_only() {
        assert_eq!(
            resolv_conf(GATEWAY_SIDE_IP)
                .lines()
                .filter(|l| !l.starts_with('#'))
                .collect::<Vec<_>>(),
            ["nameserver 10.53.90.1"]
        );
        for line in HOSTS.lines() {
            let name_part = line.split_whitespace().skip(1).collect::<Vec<_>>();
            assert!(
                name_part.iter().all(|n| n.contains("localhost")
                    || n.starts_with("ip6-localhost")
                    || n.starts_with("ip6-loopback")),
                "{line}"
            );
        }
    }

    #[test]
    fn nsswitch_keeps_everything_but_the_hosts_line() {
        let host = concat!(
            "passwd: files systemd\n",
            "hosts:  files mdns4_minimal [NOTFOUND=return] dns myhostname\n",
            "# hosts: old\n",
            "networks: files\n",
        );
        assert_eq!(
            nsswitch_conf(host),
            "passwd: files systemd\nhosts: files dns\n# hosts: old\nnetworks: files\n"
        );
        assert_eq!(
            nsswitch_conf("passwd: files\n"),
            "passwd: files\nhosts: files dns\n"
        );
    }

    #[test]
    fn addresses_share_one_link() {
        let mask = u32::MAX << (32 - u32::from(PREFIX_LEN));
        assert_eq!(
            u32::from(GATEWAY_SIDE_IP) & mask,
            u32::from(CLIENT_SIDE_IP) & mask
        );
        assert_ne!(GATEWAY_SIDE_IP, CLIENT_SIDE_IP);
        for name in [GATEWAY_SIDE_INTERFACE, CLIENT_SIDE_INTERFACE] {
            assert!(
                name.len() < 16,
                "{name}: Linux interface names are at most 15 bytes"
            );
        }
    }
}
