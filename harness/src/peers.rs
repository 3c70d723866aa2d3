//! Finds the third-party peers installed by `tests/peers/install.sh`.

use std::path::{Path, PathBuf};

use crate::HarnessError;

/// Environment variable that overrides where `install.sh` put the AIM plugins.
pub const PEERS_DIR_ENV: &str = "IMT_PEERS_DIR";
/// Where `install.sh` puts the AIM plugins by default.
pub const DEFAULT_PEERS_DIR: &str = "/var/cache/imtegrity-peers";
/// Where Debian's bitlbee-libpurple installs the daemon.
pub const BITLBEE: &str = "/usr/sbin/bitlbee";

/// The installed peers: bitlbee-libpurple with the bullseye AIM/ICQ prpls, tshark and dumpcap.
#[derive(Debug, Clone)]
pub struct Peers {
    /// bitlbee's `PluginDir`; libpurple loads prpls from its `purple/` subfolder.
    pub plugin_dir: PathBuf,
    /// `<plugin_dir>/purple`: `libaim.so`, `libicq.so`, `liboscar.so.0`. Also `LD_LIBRARY_PATH`,
    /// because `liboscar.so.0` has `RUNPATH /usr/lib/purple-2`, where bookworm has none.
    pub purple_dir: PathBuf,
    /// The bitlbee-libpurple daemon.
    pub bitlbee: PathBuf,
    /// tshark, to decode captures.
    pub tshark: PathBuf,
    /// dumpcap, to capture on `lo`.
    pub dumpcap: PathBuf,
}

impl Peers {
    /// Looks for every peer; names each one that is missing.
    pub fn locate() -> Result<Self, HarnessError> {
        let root = std::env::var_os(PEERS_DIR_ENV)
            .map_or_else(|| PathBuf::from(DEFAULT_PEERS_DIR), PathBuf::from);
        let plugin_dir = root.join("plugins");
        let purple_dir = plugin_dir.join("purple");
        let mut missing = Vec::new();
        for lib in ["libaim.so", "libicq.so", "liboscar.so.0"] {
            let path = purple_dir.join(lib);
            if !path.is_file() {
                missing.push(format!("AIM plugin {}", path.display()));
            }
        }
        let bitlbee = PathBuf::from(BITLBEE);
        if !bitlbee.is_file() {
            missing.push(format!("bitlbee-libpurple {}", bitlbee.display()));
        }
        let tshark = find_program("tshark");
        let dumpcap = find_program("dumpcap");
        for (name, found) in [("tshark", &tshark), ("dumpcap", &dumpcap)] {
            if found.is_none() {
                missing.push(format!("{name} (not in PATH nor /usr/bin)"));
            }
        }
        match (tshark, dumpcap) {
            (Some(tshark), Some(dumpcap)) if missing.is_empty() => Ok(Self {
                plugin_dir,
                purple_dir,
                bitlbee,
                tshark,
                dumpcap,
            }),
            _ => Err(HarnessError::MissingPeers { missing }),
        }
    }
}

/// The peers for `test_name`, or `None` after skipping it ([`crate::skip_or_fail`]) when
/// they are not installed.
///
/// # Panics
/// When they are missing and the environment variable `CI` is `true`: CI must never skip
/// silently; its `.ci/run` has to run `tests/peers/install.sh` first.
pub fn require_peers(test_name: &str) -> Option<Peers> {
    match Peers::locate() {
        Ok(peers) => Some(peers),
        Err(err) => {
            crate::skip_or_fail(
                test_name,
                &format!("{err}. Run tests/peers/install.sh as root to install them"),
            );
            None
        }
    }
}

/// `name` in `PATH`, else in `/usr/bin` (root's PATH may lack it in minimal environments).
fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}
