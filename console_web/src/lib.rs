//! The reviewer console's web server: log in, browse a user's days and threads, read a
//! record with its integrity badge, read the access trail. Server-rendered pages (askama,
//! everything escaped) with the same data as JSON under `/api/`. Every read of archived
//! content checks the account's role and scope (`authz.rs`) and is recorded as an `access`
//! record before anything is shown; a refusal is recorded too.

mod authz;
mod error;
mod listener;
mod pages;
mod routes;
mod sampling;
mod sessions;
mod state;
mod throttle;
mod viewer;

use std::sync::Arc;

pub use authz::{Denied, Reader};
pub use error::ConsoleWebError;
pub use listener::{ClientAddr, TlsListener};
pub use routes::router;
pub use sampling::SampleRule;
pub use sessions::Sessions;
pub use state::ConsoleState;
pub use throttle::Throttle;

/// Serves the console on `listener` until `shutdown` resolves: a `TcpListener` for plain
/// HTTP, a [`TlsListener`] for HTTPS.
pub async fn serve<L>(
    listener: L,
    state: Arc<ConsoleState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ConsoleWebError>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
    ClientAddr: for<'a> axum::extract::connect_info::Connected<axum::serve::IncomingStream<'a, L>>,
{
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<ClientAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    Ok(())
}
