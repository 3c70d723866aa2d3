//! Connecting to the real servers: name resolution with the system resolver (never the
//! gateway's own DNS responder, which would answer with the gateway), binding to an egress
//! address, an optional SOCKS5 or HTTP CONNECT proxy, and a connect timeout. A target that
//! is not a configured upstream came from an upstream's answer (a cookie route), and every
//! address it resolves to is checked against the redirect scope (`redirect_scope.rs`)
//! before any connection is opened.

use std::net::{IpAddr, SocketAddr};

use settings::HostPort;
use tokio::net::{TcpSocket, TcpStream};

use crate::error::{ConnectFailure, SessionError};
use crate::redirect_scope;
use crate::relay::{EgressLease, Relay};

/// Where a target came from, which decides whether its addresses are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The configuration named it (`upstream.login`, `login_tls`, `api`, or an API host
    /// the gateway intercepts): the operator chose it.
    Configured,
    /// An upstream's answer named it: it must stay within the redirect scope.
    Redirect,
}

/// Connects to `target`, through the proxy if one is configured; returns the stream and
/// the egress slot it uses. A target other than `upstream.login` and `upstream.login_tls`
/// came from a cookie route, and is checked as a redirect.
pub(crate) async fn connect_upstream<'r>(
    relay: &'r Relay,
    target: &HostPort,
) -> Result<(TcpStream, Option<EgressLease<'r>>), SessionError> {
    let configured = [
        Some(&relay.config.upstream_login),
        Some(&relay.config.upstream_login_tls),
        relay.config.upstream_api.as_ref(),
    ];
    let origin = if configured.contains(&Some(target)) {
        Origin::Configured
    } else {
        Origin::Redirect
    };
    connect_from(relay, target, origin).await
}

/// [`connect_upstream`] with the target's origin given by the caller.
pub(crate) async fn connect_from<'r>(
    relay: &'r Relay,
    target: &HostPort,
    origin: Origin,
) -> Result<(TcpStream, Option<EgressLease<'r>>), SessionError> {
    let Some(proxy) = &relay.config.proxy else {
        return connect_direct(relay, target, origin).await;
    };
    let fail = |source: ConnectFailure| SessionError::Connect {
        addr: target.clone(),
        source: Box::new(source),
    };
    // The proxy resolves names itself, so only an address literal can be checked here; a
    // name is the proxy's to resolve, and its own rules decide where it may connect.
    if origin == Origin::Redirect {
        check_literal_target(relay, target).await?;
    }
    let (stream, egress) = connect_direct(relay, &proxy.address, Origin::Configured)
        .await
        .map_err(|e| match e {
            SessionError::Connect { source, .. } => fail(ConnectFailure::Proxy {
                proxy: proxy.to_string(),
                source,
            }),
            other => other,
        })?;
    let tunnel = tokio::time::timeout(
        relay.config.connect_timeout,
        crate::proxy::open_tunnel(stream, proxy, target),
    )
    .await;
    // On an error the lease is dropped here, and the egress count with it.
    match tunnel {
        Ok(Ok(stream)) => Ok((stream, egress)),
        Ok(Err(failure)) => Err(fail(ConnectFailure::Tunnel(failure))),
        Err(_) => Err(fail(ConnectFailure::TunnelTimeout {
            proxy: proxy.to_string(),
        })),
    }
}

/// Refuses a redirect `target` whose host is an address outside the redirect scope, before
/// any connection is asked for; a name passes (its addresses are checked at connect time).
pub(crate) async fn check_literal_target(
    relay: &Relay,
    target: &HostPort,
) -> Result<(), SessionError> {
    match target.host().parse::<IpAddr>() {
        Ok(ip) => check_redirect(relay, target, ip).await,
        Err(_) => Ok(()),
    }
}

/// Refuses `ip` (an address `target` resolved to) unless a redirect may lead there. The
/// configured upstreams' names are looked up only when `ip` is neither public, allowed, nor
/// a configured address literal.
async fn check_redirect(relay: &Relay, target: &HostPort, ip: IpAddr) -> Result<(), SessionError> {
    let allow = &relay.config.redirect_allow;
    let (literals, names) = configured_hosts(relay);
    if redirect_scope::permits(ip, allow, &literals) || resolves_to(relay, &names, ip).await {
        return Ok(());
    }
    tracing::warn!(
        redirect = %target, address = %ip,
        "an upstream redirected to {ip} ({target}), which is not a public address nor a \
         configured upstream's: refused, nothing connected; if the gateway should go there, \
         add its network to {}", redirect_scope::ALLOW_KEY
    );
    Err(SessionError::RedirectRefused {
        target: target.clone(),
        address: ip,
    })
}

/// `upstream.login`, `login_tls` and `api`: the address literals among them, and the
/// others (names).
fn configured_hosts(relay: &Relay) -> (Vec<IpAddr>, Vec<&HostPort>) {
    let config = &relay.config;
    let mut literals = Vec::new();
    let mut names = Vec::new();
    for target in [
        Some(&config.upstream_login),
        Some(&config.upstream_login_tls),
        config.upstream_api.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        match target.host().parse::<IpAddr>() {
            Ok(ip) => literals.push(ip),
            Err(_) => names.push(target),
        }
    }
    (literals, names)
}

/// Whether one of `names` resolves to `ip` now. Looked up together, within
/// the connect timeout: a name that does not resolve adds nothing.
async fn resolves_to(relay: &Relay, names: &[&HostPort], ip: IpAddr) -> bool {
    if names.is_empty() {
        return false;
    }
    let lookups = futures_util::future::join_all(names.iter().map(|n| relay.resolver.resolve(n)));
    let Ok(answers) = tokio::time::timeout(relay.config.connect_timeout, lookups).await else {
        return false;
    };
    let addresses: Vec<IpAddr> = answers
        .into_iter()
        .flatten()
        .flatten()
        .map(|a| a.ip())
        .collect();
    redirect_scope::permits(ip, &[], &addresses)
}

/// A redirect's addresses are all checked before any is tried: a name that resolves to one
/// forbidden address is refused whole.
async fn connect_direct<'r>(
    relay: &'r Relay,
    target: &HostPort,
    origin: Origin,
) -> Result<(TcpStream, Option<EgressLease<'r>>), SessionError> {
    let fail = |source: ConnectFailure| SessionError::Connect {
        addr: target.clone(),
        source: Box::new(source),
    };
    let timeout = relay.config.connect_timeout;
    let addrs: Vec<SocketAddr> = tokio::time::timeout(timeout, relay.resolver.resolve(target))
        .await
        .map_err(|_| fail(ConnectFailure::ResolveTimeout))?
        .map_err(fail)?;
    if origin == Origin::Redirect {
        for addr in &addrs {
            check_redirect(relay, target, addr.ip()).await?;
        }
    }
    let egress = relay.take_egress();
    let result = async {
        let mut last = ConnectFailure::NoAddress;
        for addr in addrs {
            // With an egress address, only connect to peers of its family.
            if let Some(ip) = egress.as_ref().map(EgressLease::ip)
                && ip.is_ipv4() != addr.is_ipv4()
            {
                continue;
            }
            let socket = if addr.is_ipv4() {
                TcpSocket::new_v4()
            } else {
                TcpSocket::new_v6()
            }
            .map_err(|e| fail(ConnectFailure::Socket(e)))?;
            if let Some(ip) = egress.as_ref().map(EgressLease::ip) {
                socket
                    .bind(SocketAddr::new(ip, 0))
                    .map_err(|source| fail(ConnectFailure::Egress { ip, source }))?;
            }
            match tokio::time::timeout(timeout, socket.connect(addr)).await {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    return Ok(stream);
                }
                Ok(Err(source)) => last = ConnectFailure::Refused { addr, source },
                Err(_) => {
                    last = ConnectFailure::TimedOut {
                        addr,
                        secs: timeout.as_secs(),
                    }
                }
            }
        }
        Err(fail(last))
    }
    .await;
    // On an error the lease is dropped here, and the egress count with it.
    result.map(|stream| (stream, egress))
}
