//! The reviewer console's wiring: its accounts file, its listeners (loopback only while it
//! serves plain HTTP) and its state over an open archive. `run` serves it on
//! `console.listen`; `imtegrity console` serves it alone.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use archive::Archive;
use archive::export::Zone;
use console_web::{ConsoleState, Sessions, Throttle};
use settings::Config;
use tokio::net::TcpListener;

use crate::exit::UsageError;

/// `console.users`, or `console/users.toml` in the data directory.
pub(crate) fn users_file(config: &Config) -> PathBuf {
    config
        .console
        .users
        .clone()
        .unwrap_or_else(|| crate::archive_access::data_dir("console").join("users.toml"))
}

/// Binds every address (all or nothing). Plain HTTP is served on loopback only (the
/// configuration refuses others; this covers `--listen`).
pub(crate) async fn bind(
    addrs: &[SocketAddr],
) -> Result<Vec<TcpListener>, Box<dyn std::error::Error + Send + Sync>> {
    let mut listeners = Vec::with_capacity(addrs.len());
    for addr in addrs {
        if !addr.ip().is_loopback() {
            return Err(UsageError(format!(
                "console: {addr}: the console serves plain HTTP, so loopback addresses only; reach it \
                 from elsewhere through an SSH tunnel or a TLS proxy on this host"
            ))
            .into());
        }
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| format!("console: cannot listen on {addr}: {e}"))?;
        listeners.push(listener);
    }
    Ok(listeners)
}

/// The console's state over `archive`, configured by `config`.
pub(crate) fn state(
    config: &Config,
    archive: Archive,
) -> Result<Arc<ConsoleState>, Box<dyn std::error::Error + Send + Sync>> {
    let engine = crate::policy_setup::engine(config)?;
    let zone = Zone::named(&config.console.time_zone)?;
    Ok(Arc::new(ConsoleState {
        archive,
        accounts: users_file(config),
        engine: Arc::new(engine),
        sessions: Sessions::new(Duration::from_secs(
            config.console.idle_timeout_mins.saturating_mul(60),
        )),
        throttle: Mutex::new(Throttle::default()),
        zone,
        uid: rustix::process::geteuid().as_raw(),
        secure_cookie: false,
    }))
}

/// "http://127.0.0.1:8443/" for each listener.
pub(crate) fn urls(listeners: &[TcpListener]) -> Vec<String> {
    listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .map(|a| format!("http://{a}/"))
        .collect()
}
