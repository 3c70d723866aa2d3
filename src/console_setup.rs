//! The reviewer console's wiring: its accounts file, its listeners (loopback only for plain
//! HTTP), its TLS (a leaf from the gateway CA) and its state over an open archive. `run` serves it on
//! `console.listen`; `imtegrity console` serves it alone.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use archive::Archive;
use archive::export::Zone;
use console_web::{ConsoleState, Sessions, Throttle};
use settings::Config;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

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
/// configuration refuses others without `console.tls`; this covers `--listen`).
pub(crate) async fn bind(
    addrs: &[SocketAddr],
    tls: bool,
) -> Result<Vec<TcpListener>, Box<dyn std::error::Error + Send + Sync>> {
    let mut listeners = Vec::with_capacity(addrs.len());
    for addr in addrs {
        if !tls && !addr.ip().is_loopback() {
            return Err(UsageError(format!(
                "console: {addr}: without console.tls the console serves plain HTTP, so \
                 loopback addresses only; set console.tls = true to serve HTTPS there"
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

/// With `console.tls`: what terminates TLS, with a leaf for `console.name` (or this host's
/// name) from the gateway CA. Fails before anything listens when there is no CA or it may
/// not issue for the name.
pub(crate) fn tls_acceptor(
    config: &Config,
) -> Result<Option<TlsAcceptor>, Box<dyn std::error::Error + Send + Sync>> {
    if !config.console.tls {
        return Ok(None);
    }
    let name = config
        .console
        .name
        .clone()
        .unwrap_or_else(archive::host_name);
    let (_, leaf) = crate::server_tls::one_name_leaf(config, "console", &name, "")?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(leaf);
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(TlsAcceptor::from(Arc::new(server))))
}

/// Serves `state` on every listener (over TLS with `tls`) until `stop` is cancelled.
pub(crate) fn spawn_serving(
    tasks: &mut JoinSet<()>,
    listeners: Vec<TcpListener>,
    state: &Arc<ConsoleState>,
    tls: Option<&TlsAcceptor>,
    stop: &CancellationToken,
) {
    for listener in listeners {
        let (state, stop) = (state.clone(), stop.clone());
        let tls = tls.cloned();
        tasks.spawn(async move {
            let served = match tls {
                Some(acceptor) => {
                    console_web::serve(
                        console_web::TlsListener::new(listener, acceptor),
                        state,
                        stop.cancelled_owned(),
                    )
                    .await
                }
                None => console_web::serve(listener, state, stop.cancelled_owned()).await,
            };
            if let Err(e) = served {
                tracing::error!(error = %e, "the reviewer console stopped");
            }
        });
    }
}

/// "http://127.0.0.1:8443/" (or https) for each listener.
pub(crate) fn urls(listeners: &[TcpListener], tls: bool) -> Vec<String> {
    let scheme = if tls { "https" } else { "http" };
    listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .map(|a| format!("{scheme}://{a}/"))
        .collect()
}

/// The text index's follower, stopped before the archive closes (it holds a handle).
pub(crate) struct Indexing {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Indexing {
    /// Stops the follower and waits for it (it ends within one pass).
    pub(crate) fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the text index follower panicked");
        }
    }
}

/// How often the follower looks for new records once it has caught up.
const FOLLOW_EVERY: Duration = Duration::from_secs(1);

/// Opens the archive's text index and starts following the archive with it. A failure is
/// logged and leaves the console without search (the archive itself is unaffected).
fn start_indexing(archive: &Archive) -> (Option<Arc<text_index::TextIndex>>, Indexing) {
    let stop = Arc::new(AtomicBool::new(false));
    let dir = text_index::dir_of(archive.dir());
    let index = match text_index::TextIndex::open(&dir) {
        Ok(index) => Arc::new(index),
        Err(e) => {
            tracing::error!(error = %e, "the text index cannot be opened; the console has no search (`imtegrity index rebuild` makes it again)");
            return (None, Indexing { stop, thread: None });
        }
    };
    match text_index::follow(index.clone(), archive.clone(), FOLLOW_EVERY, stop.clone()) {
        Ok(thread) => (
            Some(index),
            Indexing {
                stop,
                thread: Some(thread),
            },
        ),
        Err(e) => {
            tracing::error!(error = %e, "the text index follower cannot start; the console has no search");
            (None, Indexing { stop, thread: None })
        }
    }
}

/// The console's state over `archive`, configured by `config`, and its text index follower.
pub(crate) fn state(
    config: &Config,
    archive: Archive,
) -> Result<(Arc<ConsoleState>, Indexing), Box<dyn std::error::Error + Send + Sync>> {
    let engine = crate::policy_setup::engine(config)?;
    let zone = Zone::named(&config.console.time_zone)?;
    let (text_index, indexing) = start_indexing(&archive);
    let state = Arc::new(ConsoleState {
        archive,
        accounts: users_file(config),
        engine: Arc::new(engine),
        sessions: Sessions::new(Duration::from_secs(
            config.console.idle_timeout_mins.saturating_mul(60),
        )),
        throttle: Mutex::new(Throttle::default()),
        zone,
        uid: rustix::process::geteuid().as_raw(),
        text_index,
        sampling: config
            .console
            .sampling
            .iter()
            .map(|s| console_web::SampleRule {
                group: s.group.clone(),
                per_mille: s.per_mille,
                seed: s.seed,
            })
            .collect(),
        secure_cookie: config.console.tls,
    });
    Ok((state, indexing))
}
