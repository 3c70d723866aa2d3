//! Starting and stopping the lab server: three listeners (authorizer, BOS, chat) sharing
//! one state; the BOS listener also serves chat navigation (family 0x000D) to chatnav
//! cookies. Like the old one-port-per-service AOL layout, so a relay must follow the
//! redirects between them.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use oscar::ScreenName;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::accounts::Accounts;
use crate::error::LabError;
use crate::state::{Advertised, LabState, host_port};

/// The bot screen name that echoes every IM back.
pub const DEFAULT_BOT: &str = "labbot";

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
    state: Arc<LabState>,
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
}

impl LabServer {
    /// Binds the three listeners and starts serving.
    pub async fn start(config: LabConfig) -> Result<Self, LabError> {
        let bind = |addr: SocketAddr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| LabError::Bind { addr, source })
        };
        let auth = bind(config.auth).await?;
        let bos = bind(config.bos).await?;
        let chat = bind(config.chat).await?;
        let local = |l: &TcpListener, asked: SocketAddr| l.local_addr().unwrap_or(asked);
        let (auth_addr, bos_addr, chat_addr) = (
            local(&auth, config.auth),
            local(&bos, config.bos),
            local(&chat, config.chat),
        );
        let advertise = |addr: SocketAddr| match &config.advertise_host {
            Some(host) => format!("{host}:{}", addr.port()),
            None => host_port(addr),
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
            },
            bot,
            seed,
        ));
        let shutdown = CancellationToken::new();
        let mut tasks = JoinSet::new();
        tasks.spawn(accept_loop(
            auth,
            state.clone(),
            shutdown.clone(),
            "auth",
            crate::auth::serve,
        ));
        tasks.spawn(accept_loop(
            bos,
            state.clone(),
            shutdown.clone(),
            "bos",
            crate::bos::serve,
        ));
        tasks.spawn(accept_loop(
            chat,
            state.clone(),
            shutdown.clone(),
            "chat",
            crate::chat::serve,
        ));
        tracing::info!(%auth_addr, %bos_addr, %chat_addr, "lab OSCAR server listening");
        Ok(Self {
            auth_addr,
            bos_addr,
            chat_addr,
            state,
            shutdown,
            tasks,
        })
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

async fn accept_loop<F, Fut>(
    listener: TcpListener,
    state: Arc<LabState>,
    shutdown: CancellationToken,
    role: &'static str,
    serve: F,
) where
    F: Fn(tokio::net::TcpStream, Arc<LabState>) -> Fut,
    Fut: Future<Output = Result<(), LabError>> + Send + 'static,
{
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let fut = serve(stream, state.clone());
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
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
    sessions.shutdown().await;
}
