//! Health of the gateway addresses the views hand out: a TCP connect to the relay port of
//! each, every `dns.health_interval_secs`. A view whose gateways all fail follows its fail
//! policy (SERVFAIL or the real address).

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// The latest result per probed address; an address never probed counts as up.
#[derive(Debug, Default)]
pub(crate) struct Health {
    down: ArcSwap<HashMap<SocketAddr, bool>>,
}

impl Health {
    /// Whether `target` answered the last probe (or has not been probed yet).
    pub(crate) fn is_up(&self, target: SocketAddr) -> bool {
        !self.down.load().get(&target).copied().unwrap_or(false)
    }

    /// Probes every address in `targets()` each `interval` until cancelled. `targets` is
    /// asked afresh each round, so a reload's new gateways are probed at once.
    pub(crate) async fn run(
        self: Arc<Self>,
        interval: Duration,
        targets: impl Fn() -> BTreeSet<SocketAddr> + Send + 'static,
        cancel: CancellationToken,
    ) {
        let timeout = interval.min(Duration::from_secs(2));
        loop {
            let probes = targets().into_iter().map(|t| async move {
                let up = matches!(
                    tokio::time::timeout(timeout, TcpStream::connect(t)).await,
                    Ok(Ok(_))
                );
                (t, up)
            });
            let results = futures_util::future::join_all(probes).await;
            let mut down = HashMap::new();
            for (target, up) in results {
                let was_down = !self.is_up(target);
                if up == was_down {
                    if up {
                        tracing::info!(gateway = %target, "gateway is up again");
                    } else {
                        tracing::warn!(gateway = %target, "gateway does not accept connections");
                    }
                }
                down.insert(target, !up);
            }
            self.down.store(Arc::new(down));
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                () = cancel.cancelled() => return,
            }
        }
    }
}
