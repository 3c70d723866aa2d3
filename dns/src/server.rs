//! Starting, reloading and stopping the responder.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use arc_swap::ArcSwap;
use hickory_server::Server;
use settings::DnsConfig;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::decision::Shared;
use crate::handler::Responder;
use crate::health::Health;
use crate::live::Live;
use crate::log_budget::LogBudget;
use crate::log_queue::{self, LogQueue};
use crate::query_log::SeenAnswers;
use crate::rate_limit::RateLimiter;
use crate::route::RouteCache;
use crate::stats::{Counters, DnsStats};
use crate::{DnsError, forward};

/// What the responder needs besides `[dns]`.
#[derive(Debug, Clone)]
pub struct DnsSettings {
    /// The `[dns]` section.
    pub config: DnsConfig,
    /// Upstreams to use when `dns.upstream` is empty (the caller reads /etc/resolv.conf
    /// with [`crate::system_upstreams`]).
    pub fallback_upstreams: Vec<settings::DnsUpstream>,
    /// `upstream.egress`: the forwarder's sockets are bound to the first address of the
    /// upstream's family.
    pub egress: Vec<IpAddr>,
    /// The relay port gateway addresses are health-checked on.
    pub relay_port: u16,
    /// This host's relay, health-checked for views whose gateway is "this host".
    pub local_relay: Option<SocketAddr>,
    /// UDP sockets per listen address (`SO_REUSEPORT`); 0 picks one per core.
    pub udp_sockets: usize,
    /// How UDP is read; the benchmark compares the three.
    pub udp_path: UdpPath,
}

/// How UDP queries are read and answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UdpPath {
    /// A thread per socket with blocking reads, redirected names answered on the fast path.
    #[default]
    Threads,
    /// A tokio task per socket, redirected names answered on the fast path.
    Tasks,
    /// hickory-server's own UDP handling for every query (no fast path), for the benchmark
    /// only: it lacks the 1232-byte cap and the byte rate of the other two.
    Hickory,
}

/// A running responder.
pub struct DnsServer {
    shared: Arc<Shared>,
    addrs: Vec<SocketAddr>,
    cancel: CancellationToken,
    tasks: JoinSet<()>,
}

impl DnsServer {
    /// Binds every listen address, UDP and TCP (all or nothing), and starts serving until
    /// `cancel` fires or [`stop`](Self::stop) is called.
    pub async fn start(settings: DnsSettings, cancel: CancellationToken) -> Result<Self, DnsError> {
        let config = &settings.config;
        let upstreams = if config.upstream.is_empty() {
            &settings.fallback_upstreams
        } else {
            &config.upstream
        };
        let catalog = forward::catalog(
            upstreams,
            &settings.egress,
            Duration::from_secs(config.upstream_idle_secs.max(1)),
        )?;
        let counters = Counters::default();
        let clients = usize::try_from(config.client_table_size).unwrap_or(usize::MAX);
        let live = Live::from_config(config, &counters, 1)?;
        let (query_log, query_log_lines) = LogQueue::new();
        let shared = Arc::new(Shared {
            live: ArcSwap::from_pointee(live),
            counters,
            limiter: RateLimiter::new(clients),
            seen: SeenAnswers::new(clients),
            log_budget: LogBudget::new(),
            query_log,
            health: Arc::new(Health::default()),
            routes: RouteCache::default(),
            relay_port: settings.relay_port,
            local_probe: settings.local_relay.map(|a| {
                // A wildcard listener is reached on loopback.
                if a.ip().is_unspecified() {
                    let ip: IpAddr = if a.is_ipv4() {
                        std::net::Ipv4Addr::LOCALHOST.into()
                    } else {
                        std::net::Ipv6Addr::LOCALHOST.into()
                    };
                    SocketAddr::new(ip, a.port())
                } else {
                    a
                }
            }),
        });
        let responder = Arc::new(Responder {
            shared: shared.clone(),
            catalog,
        });
        let per_addr = match settings.udp_sockets {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        let mut udp = Vec::new();
        let mut tcp = Vec::new();
        let mut addrs = Vec::new();
        for listen in &config.listen {
            let (sockets, listener) = bind_pair(*listen, per_addr)?;
            addrs.push(listener.local_addr().unwrap_or(*listen));
            udp.push(sockets);
            tcp.push(listener);
        }
        let cancel = cancel.child_token();
        let mut tasks = JoinSet::new();
        let mut server = Server::new(ResponderRef(responder.clone()));
        for listener in tcp {
            // 64 KiB: the largest DNS message fits one response buffer.
            server.register_listener(listener, Duration::from_secs(10), 65_535);
        }
        let runtime = tokio::runtime::Handle::current();
        for socket in udp.into_iter().flatten() {
            let addr = socket.local_addr().ok().and_then(|a| a.as_socket());
            let fail = |source: std::io::Error| DnsError::Bind {
                addr: addr.unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0))),
                proto: "udp",
                hint: "",
                source,
            };
            if settings.udp_path == UdpPath::Threads {
                socket.set_nonblocking(false).map_err(fail)?;
                let (responder, runtime, cancel) =
                    (responder.clone(), runtime.clone(), cancel.clone());
                tasks.spawn_blocking(move || {
                    crate::udp::serve_blocking(socket.into(), responder, runtime, cancel);
                });
                continue;
            }
            let socket = UdpSocket::from_std(socket.into()).map_err(fail)?;
            if settings.udp_path == UdpPath::Tasks {
                tasks.spawn(crate::udp::serve(
                    Arc::new(socket),
                    responder.clone(),
                    cancel.clone(),
                ));
            } else {
                server.register_socket(socket);
            }
        }
        let stop = cancel.clone();
        tasks.spawn(async move {
            tokio::select! {
                r = server.block_until_done() => {
                    if let Err(error) = r {
                        tracing::error!(%error, "DNS listener failed");
                    }
                }
                () = stop.cancelled() => {
                    let _ = server.shutdown_gracefully().await;
                }
            }
        });
        tasks.spawn(housekeeping(shared.clone(), cancel.clone()));
        tasks.spawn(log_queue::write_lines(query_log_lines, cancel.clone()));
        if config.health_interval_secs > 0 {
            let probe = shared.clone();
            tasks.spawn(shared.health.clone().run(
                Duration::from_secs(config.health_interval_secs),
                move || probe.health_targets(),
                cancel.clone(),
            ));
        }
        tracing::info!(
            listen = ?addrs,
            upstream = ?upstreams.iter().map(ToString::to_string).collect::<Vec<_>>(),
            names = shared.live.load().names.len(),
            views = shared.live.load().views.views().len(),
            "DNS responder started"
        );
        Ok(Self {
            shared,
            addrs,
            cancel,
            tasks,
        })
    }

    /// The bound addresses (UDP and TCP share each), with the ports the OS chose for 0.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Swaps in the names, views, allow list, TTL and rate limit of `config`. Listen
    /// addresses and upstreams are not changed (they need a restart); queries in flight
    /// finish under the policy they started with.
    pub fn reload(&self, config: &DnsConfig) -> Result<(), DnsError> {
        let serial = self.shared.live.load().serial.wrapping_add(1);
        let live = Live::from_config(config, &self.shared.counters, serial)?;
        let (names, views) = (live.names.len(), live.views.views().len());
        self.shared.live.store(Arc::new(live));
        self.shared.routes.clear();
        self.shared.counters.global.reloads.fetch_add(1, Relaxed);
        tracing::info!(names, views, serial, "DNS policy reloaded");
        Ok(())
    }

    /// The counters, for `imtegrity status`.
    pub fn stats(&self) -> DnsStats {
        let shared = &self.shared;
        let mut stats = shared.counters.snapshot();
        stats.query_log_suppressed = shared.log_budget.suppressed();
        let tracked = shared.limiter.clients() + shared.seen.clients();
        stats.clients_tracked = u64::try_from(tracked).unwrap_or(u64::MAX);
        stats.client_table_size = u64::try_from(shared.limiter.capacity()).unwrap_or(u64::MAX);
        stats
    }

    /// Stops every listener and waits for the tasks to end.
    pub async fn stop(mut self) {
        self.cancel.cancel();
        while self.tasks.join_next().await.is_some() {}
    }
}

/// How often the per-client tables are swept and suppressed query log lines reported.
const HOUSEKEEPING: Duration = Duration::from_secs(10);

/// Every [`HOUSEKEEPING`] period until cancelled: drops the per-client entries that no
/// longer matter (so the tables shrink back after a flood) and says how many query log
/// lines `dns.query_log_rate` left out since the last time; once more on the way out.
async fn housekeeping(shared: Arc<Shared>, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(HOUSEKEEPING);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let stopping = tokio::select! {
            _ = tick.tick() => false,
            () = cancel.cancelled() => true,
        };
        shared.limiter.sweep();
        shared.seen.sweep(shared.live.load().ttl);
        let suppressed = shared.log_budget.take_unreported();
        if suppressed > 0 {
            tracing::warn!(
                target: "imtegrity::dns::query",
                suppressed,
                rate = shared.live.load().query_log_rate,
                "{suppressed} query log lines suppressed (dns.query_log_rate)"
            );
        }
        if stopping {
            return;
        }
    }
}

/// `Server` wants to own its handler; the UDP tasks share the same one.
struct ResponderRef(Arc<Responder>);

#[async_trait::async_trait]
impl hickory_server::server::RequestHandler for ResponderRef {
    async fn handle_request<
        R: hickory_server::server::ResponseHandler,
        T: hickory_server::net::runtime::Time,
    >(
        &self,
        request: &hickory_server::server::Request,
        response: R,
    ) -> hickory_server::server::ResponseInfo {
        self.0.handle_request::<R, T>(request, response).await
    }
}

/// Binds `per_addr` UDP sockets and one TCP listener on the same address and port. For
/// port 0 the UDP port the OS picks is reused for TCP (retrying if TCP has it taken).
fn bind_pair(addr: SocketAddr, per_addr: usize) -> Result<(Vec<Socket>, TcpListener), DnsError> {
    let attempts = if addr.port() == 0 { 8 } else { 1 };
    let mut last = None;
    for _ in 0..attempts {
        let first = udp_socket(addr)?;
        let port = first
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .map_or(addr.port(), |a| a.port());
        let bound = SocketAddr::new(addr.ip(), port);
        match tcp_listener(bound) {
            Ok(listener) => {
                let mut sockets = vec![first];
                for _ in 1..per_addr {
                    sockets.push(udp_socket(bound)?);
                }
                return Ok((sockets, listener));
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or(DnsError::Config(format!("cannot bind {addr}"))))
}

fn udp_socket(addr: SocketAddr) -> Result<Socket, DnsError> {
    let fail = |source: std::io::Error| DnsError::Bind {
        addr,
        proto: "udp",
        hint: hint(&source, addr),
        source,
    };
    let socket =
        Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP)).map_err(fail)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true).map_err(fail)?;
    }
    // Several sockets on one port, the kernel spreading queries across them by flow.
    socket.set_reuse_port(true).map_err(fail)?;
    socket.set_nonblocking(true).map_err(fail)?;
    // Absorbs bursts while a worker is busy; the kernel caps it at rmem_max.
    let _ = socket.set_recv_buffer_size(4 << 20);
    socket.bind(&SockAddr::from(addr)).map_err(fail)?;
    Ok(socket)
}

fn tcp_listener(addr: SocketAddr) -> Result<TcpListener, DnsError> {
    let fail = |source: std::io::Error| DnsError::Bind {
        addr,
        proto: "tcp",
        hint: hint(&source, addr),
        source,
    };
    let socket =
        Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).map_err(fail)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true).map_err(fail)?;
    }
    socket.set_reuse_address(true).map_err(fail)?;
    socket.set_nonblocking(true).map_err(fail)?;
    socket.bind(&SockAddr::from(addr)).map_err(fail)?;
    socket.listen(1024).map_err(fail)?;
    TcpListener::from_std(socket.into()).map_err(fail)
}

fn hint(error: &std::io::Error, addr: SocketAddr) -> &'static str {
    match error.kind() {
        std::io::ErrorKind::PermissionDenied if addr.port() < 1024 => {
            " (ports below 1024 need root or CAP_NET_BIND_SERVICE; or set dns.listen to another port, or [] for no responder)"
        }
        std::io::ErrorKind::AddrInUse => {
            " (another DNS server, such as systemd-resolved or dnsmasq, holds the port; set dns.listen to a specific address or another port)"
        }
        _ => "",
    }
}
