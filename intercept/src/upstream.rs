//! Connecting to the real servers: name resolution with the system resolver (never the
//! gateway's own DNS responder, which would answer with the gateway), binding to an egress
//! address, an optional SOCKS5 or HTTP CONNECT proxy, and a connect timeout.

use std::net::SocketAddr;

use tokio::net::{TcpSocket, TcpStream};

use crate::error::SessionError;
use crate::relay::Relay;

/// Connects to `target` (`host:port`), through the proxy if one is configured; returns the
/// stream and the egress slot it uses.
pub(crate) async fn connect_upstream(
    relay: &Relay,
    target: &str,
) -> Result<(TcpStream, Option<usize>), SessionError> {
    let Some(proxy) = &relay.config.proxy else {
        return connect_direct(relay, target).await;
    };
    let fail = |detail: String| SessionError::Connect {
        addr: target.to_owned(),
        detail,
    };
    let (host, port) =
        crate::resolver::split_host_port(target).ok_or_else(|| fail("not host:port".into()))?;
    let (mut stream, egress) = connect_direct(relay, &proxy.address.to_string())
        .await
        .map_err(|e| match e {
            SessionError::Connect { detail, .. } => fail(format!("proxy {proxy}: {detail}")),
            other => other,
        })?;
    let tunnel = tokio::time::timeout(
        relay.config.connect_timeout,
        crate::proxy::open_tunnel(&mut stream, proxy, host, port),
    )
    .await;
    let result = match tunnel {
        Ok(Ok(())) => return Ok((stream, egress)),
        Ok(Err(detail)) => fail(detail),
        Err(_) => fail(format!("proxy {proxy} did not open the tunnel in time")),
    };
    if let Some(i) = egress {
        relay.release_egress(i);
    }
    Err(result)
}

/// Connects straight to `target` (`host:port`), from an egress address if configured.
async fn connect_direct(
    relay: &Relay,
    target: &str,
) -> Result<(TcpStream, Option<usize>), SessionError> {
    let fail = |detail: String| SessionError::Connect {
        addr: target.to_owned(),
        detail,
    };
    let timeout = relay.config.connect_timeout;
    let addrs: Vec<SocketAddr> = tokio::time::timeout(timeout, relay.resolver.resolve(target))
        .await
        .map_err(|_| fail("name resolution timed out".into()))?
        .map_err(fail)?;
    let egress = relay.take_egress();
    let result = async {
        let mut last = String::from("no address");
        for addr in addrs {
            // With an egress address, only connect to peers of its family.
            if let Some((_, ip)) = egress
                && ip.is_ipv4() != addr.is_ipv4()
            {
                continue;
            }
            let socket = if addr.is_ipv4() {
                TcpSocket::new_v4()
            } else {
                TcpSocket::new_v6()
            }
            .map_err(|e| fail(e.to_string()))?;
            if let Some((_, ip)) = egress {
                socket
                    .bind(SocketAddr::new(ip, 0))
                    .map_err(|e| fail(format!("cannot bind egress {ip}: {e}")))?;
            }
            match tokio::time::timeout(timeout, socket.connect(addr)).await {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    return Ok(stream);
                }
                Ok(Err(e)) => last = format!("{addr}: {e}"),
                Err(_) => last = format!("{addr}: timed out after {} s", timeout.as_secs()),
            }
        }
        Err(fail(last))
    }
    .await;
    match result {
        Ok(stream) => Ok((stream, egress.map(|(i, _)| i))),
        Err(e) => {
            if let Some((i, _)) = egress {
                relay.release_egress(i);
            }
            Err(e)
        }
    }
}
