//! Starting and stopping the lab server: three listeners (authorizer, BOS, chat) sharing
//! one state; the BOS listener also serves chat navigation (family 0x000D) to chatnav
//! cookies. Like the old one-port-per-service AOL layout, so a relay must follow the
//! redirects between them. With [`LabConfig::tls`], four more: an SSL authorizer, a TLS BOS,
//! a TLS chat listener and the HTTPS clientLogin API, under a lab CA of their own.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use oscar::ScreenName;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::accounts::Accounts;
use crate::error::LabError;
use crate::state::{Advertised, AdvertisedTls, LabState, host_port};
use crate::stream::{Accepted, BoxStream};
use crate::tls::{LabTls, LabTlsConfig, TlsListeners};

/// The bot screen name that echoes every IM back.
pub const DEFAULT_BOT: &str = "labbot";

/// How long a client may take over its TLS handshake before the lab hangs up.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How to run the lab server.
#[derive(Debug, Clone)]
pub struct LabConfig {
    /// Authorizer listener (login). Loopback by default.
    pub auth: SocketAddr,
    /// BOS listener; port 0 picks a free one.
    pub bos: SocketAddr,
    /// Chat listener; port 0 picks a free one.
    pub chat: SocketAddr,
    /// Host written into redirects instead of the BOS/chat listener's IP (for a lab reached
    /// through NAT or a namespace). The ports are always the real ones.
    pub advertise_host: Option<String>,
    /// Who may log in.
    pub accounts: Accounts,
    /// The echo bot's screen name.
    pub bot: String,
    /// The TLS listeners and the HTTPS API, under a lab CA minted at start; `None` (the
    /// default) runs plain OSCAR only.
    pub tls: Option<LabTlsConfig>,
}

impl Default for LabConfig {
    fn default() -> Self {
        let lo = SocketAddr::from(([127, 0, 0, 1], 0));
        Self {
            auth: SocketAddr::from(([127, 0, 0, 1], 5190)),
            bos: lo,
            chat: lo,
            advertise_host: None,
            accounts: Accounts::AnyPassword,
            bot: DEFAULT_BOT.to_owned(),
            tls: None,
        }
    }
}

impl LabConfig {
    /// Loopback, every port ephemeral: what tests use.
    pub fn ephemeral() -> Self {
        Self {
            auth: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..Self::default()
        }
    }

    /// [`ephemeral`](Self::ephemeral) plus every TLS listener and the HTTPS API, also on
    /// loopback ports of their own.
    pub fn ephemeral_tls() -> Self {
        Self {
            tls: Some(LabTlsConfig::ephemeral()),
            ..Self::ephemeral()
        }
    }
}

/// A running lab server.
#[derive(Debug)]
pub struct LabServer {
    /// Where clients log in.
    pub auth_addr: SocketAddr,
    /// The BOS listener.
    pub bos_addr: SocketAddr,
    /// The chat listener.
    pub chat_addr: SocketAddr,
    /// The TLS listeners, when [`LabConfig::tls`] asked for them.
    pub tls: Option<TlsListeners>,
    ca_pem: Option<String>,
    state: Arc<LabState>,
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
}

impl LabServer {
    /// Binds the listeners (three, or seven with TLS) and starts serving.
    pub async fn start(config: LabConfig) -> Result<Self, LabError> {
        let auth = Bound::new(config.auth).await?;
        let bos = Bound::new(config.bos).await?;
        let chat = Bound::new(config.chat).await?;
        let (auth_addr, bos_addr, chat_addr) = (auth.addr, bos.addr, chat.addr);
        let advertise = |addr: SocketAddr| match &config.advertise_host {
            Some(host) => format!("{host}:{}", addr.port()),
            None => host_port(addr),
        };
        let secure = match &config.tls {
            Some(tls_config) => Some(SecureListeners {
                tls: LabTls::new(tls_config)?,
                auth: Bound::new(tls_config.auth).await?,
                bos: Bound::new(tls_config.bos).await?,
                chat: Bound::new(tls_config.chat).await?,
                api: Bound::new(tls_config.api).await?,
            }),
            None => None,
        };
        let bot = ScreenName::parse(config.bot.as_bytes())?;
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let state = Arc::new(LabState::new(
            config.accounts,
            Advertised {
                bos: advertise(bos_addr),
                chat: advertise(chat_addr),
                tls: secure.as_ref().map(|s| AdvertisedTls {
                    bos: advertise(s.bos.addr),
                    chat: advertise(s.chat.addr),
                }),
            },
            bot,
            seed,
        ));
        let shutdown = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let mut spawn = |bound: Bound, tls: Option<TlsAcceptor>, role, serve| {
            tasks.spawn(accept_loop(
                bound.listener,
                tls,
                state.clone(),
                shutdown.clone(),
                role,
                serve,
            ));
        };
        spawn(auth, None, "auth", Service::Auth);
        spawn(bos, None, "bos", Service::Bos);
        spawn(chat, None, "chat", Service::Chat);
        let (tls, ca_pem) = match secure {
            Some(secure) => {
                let listeners = TlsListeners {
                    auth: secure.auth.addr,
                    bos: secure.bos.addr,
                    chat: secure.chat.addr,
                    api: secure.api.addr,
                };
                let oscar = TlsAcceptor::from(secure.tls.oscar.clone());
                let api = TlsAcceptor::from(secure.tls.api.clone());
                spawn(secure.auth, Some(oscar.clone()), "ssl-auth", Service::Auth);
                spawn(secure.bos, Some(oscar.clone()), "tls-bos", Service::Bos);
                spawn(secure.chat, Some(oscar), "tls-chat", Service::Chat);
                spawn(secure.api, Some(api), "api", Service::Api);
                tracing::info!(
                    ssl_auth = %listeners.auth,
                    tls_bos = %listeners.bos,
                    tls_chat = %listeners.chat,
                    api = %listeners.api,
                    "lab TLS listeners and HTTPS API up"
                );
                (Some(listeners), Some(secure.tls.ca_pem))
            }
            None => (None, None),
        };
        tracing::info!(%auth_addr, %bos_addr, %chat_addr, "lab OSCAR server listening");
        Ok(Self {
            auth_addr,
            bos_addr,
            chat_addr,
            tls,
            ca_pem,
            state,
            shutdown,
            tasks,
        })
    }

    /// The lab CA's certificate (PEM), which every TLS listener's leaf chains to: what a
    /// client or a gateway's `upstream.tls_roots` trusts. `None` without TLS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// Sends `screen_name` a migration (0x0001/0x0012) to a fresh BOS cookie. Returns false
    /// when that user is not online.
    pub async fn migrate(&self, screen_name: &str) -> Result<bool, LabError> {
        let who = ScreenName::parse(screen_name.as_bytes())?;
        crate::bos::migrate(&self.state, &who).await
    }

    /// Where every BOS connection so far came from (to check a relay's egress binding).
    pub fn bos_peers(&self) -> Vec<SocketAddr> {
        self.state.bos_peers()
    }

    /// Whether `screen_name` has a BOS session.
    pub fn is_online(&self, screen_name: &str) -> bool {
        ScreenName::parse(screen_name.as_bytes()).is_ok_and(|n| self.state.find(&n).is_some())
    }

    /// A token that stops the server when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops accepting and waits for the listeners to close. Open sessions end when their
    /// clients disconnect or the runtime stops.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        while self.tasks.join_next().await.is_some() {}
    }

    /// Serves until the shutdown token is cancelled.
    pub async fn wait(mut self) {
        while self.tasks.join_next().await.is_some() {}
    }
}

/// A bound listener and its actual address (port 0 resolved).
struct Bound {
    listener: TcpListener,
    addr: SocketAddr,
}

impl Bound {
    async fn new(addr: SocketAddr) -> Result<Self, LabError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| LabError::Bind { addr, source })?;
        let addr = listener.local_addr().unwrap_or(addr);
        Ok(Self { listener, addr })
    }
}

/// The TLS half of a lab, bound but not yet serving.
struct SecureListeners {
    tls: LabTls,
    auth: Bound,
    bos: Bound,
    chat: Bound,
    api: Bound,
}

/// What a listener serves once a connection is accepted (and its TLS handshake done).
#[derive(Debug, Clone, Copy)]
enum Service {
    Auth,
    Bos,
    Chat,
    Api,
}

impl Service {
    async fn serve(self, accepted: Accepted, state: Arc<LabState>) -> Result<(), LabError> {
        match self {
            Self::Auth => crate::auth::serve(accepted, state).await,
            Self::Bos => crate::bos::serve(accepted, state).await,
            Self::Chat => crate::chat::serve(accepted, state).await,
            Self::Api => crate::api::serve(accepted, state).await,
        }
    }
}

/// The handshake of one accepted TCP connection: none for a plain listener, TLS (bounded in
/// time, so a silent client cannot hold a task forever) for a TLS one.
async fn handshake(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
) -> Result<Accepted, LabError> {
    let _ = stream.set_nodelay(true);
    let (stream, tls): (BoxStream, bool) = match tls {
        None => (Box::new(stream), false),
        Some(acceptor) => {
            let tls_stream = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream))
                .await
                .map_err(|_| LabError::Timeout("the client's TLS handshake"))?
                .map_err(LabError::AcceptTls)?;
            (Box::new(tls_stream), true)
        }
    };
    Ok(Accepted { stream, peer, tls })
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    state: Arc<LabState>,
    shutdown: CancellationToken,
    role: &'static str,
    service: Service,
) {
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let state = state.clone();
                    let tls = tls.clone();
                    let fut = async move {
                        service.serve(handshake(stream, peer, tls).await?, state).await
                    };
                    let stop = shutdown.clone();
                    sessions.spawn(async move {
                        tokio::select! {
                            () = stop.cancelled() => {}
                            result = fut => if let Err(e) = result {
                                // A session's error ends that session only.
                                tracing::warn!(%peer, role, error = %e, "lab session ended with error");
                            }
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(role, error = %e, "lab accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
    sessions.shutdown().await;
}
