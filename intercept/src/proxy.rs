//! Reaching the upstream through a corporate proxy: SOCKS5 (RFC 1928, with RFC 1929
//! username/password) by tokio-socks, or HTTP CONNECT, whose answer `connect_reply.rs`
//! reads. The proxy resolves the target name, so the gateway's own DNS never sees it.
//! Errors name the proxy by address only: its credentials are never in a message.

use base64::Engine;
use policy::{ProxyKind, ProxyUrl};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::connect_reply::{self, ConnectReply};

/// Asks the proxy on `stream` for a tunnel to `host:port`; returns the stream, now the
/// tunnel, positioned at the upstream's first byte.
pub(crate) async fn open_tunnel(
    stream: TcpStream,
    proxy: &ProxyUrl,
    host: &str,
    port: u16,
) -> Result<TcpStream, String> {
    match proxy.kind {
        ProxyKind::Socks5 => socks5(stream, proxy, host, port).await,
        ProxyKind::HttpConnect => http_connect(stream, proxy, host, port).await,
    }
}

async fn socks5(
    stream: TcpStream,
    proxy: &ProxyUrl,
    host: &str,
    port: u16,
) -> Result<TcpStream, String> {
    use tokio_socks::tcp::Socks5Stream;
    // An address literal goes as an address, a name as a name for the proxy to resolve.
    let target = (host, port);
    let tunnel = match &proxy.credentials {
        None => Socks5Stream::connect_with_socket(stream, target).await,
        Some((user, pass)) => {
            Socks5Stream::connect_with_password_and_socket(stream, target, user, pass).await
        }
    };
    // tokio-socks' messages carry no credentials (only codes and lengths).
    tunnel
        .map(Socks5Stream::into_inner)
        .map_err(|e| format!("SOCKS5 proxy {} to {host}:{port}: {e}", proxy.address))
}

async fn http_connect(
    mut stream: TcpStream,
    proxy: &ProxyUrl,
    host: &str,
    port: u16,
) -> Result<TcpStream, String> {
    let io = |e: std::io::Error| format!("HTTP proxy {}: {e}", proxy.address);
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some((user, pass)) = &proxy.credentials {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        request.push_str(&format!("Proxy-Authorization: Basic {basic}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.map_err(io)?;
    // Byte by byte: nothing after the header may be consumed, it is the upstream's OSCAR.
    let mut head = Vec::with_capacity(256);
    loop {
        head.push(stream.read_u8().await.map_err(io)?);
        if head.last() != Some(&b'\n') && head.len() < connect_reply::MAX_HEAD {
            continue;
        }
        match connect_reply::parse(&head) {
            Ok(ConnectReply::Partial) => {}
            Ok(ConnectReply::Open) => return Ok(stream),
            Ok(ConnectReply::Refused(code, reason)) => {
                return Err(format!(
                    "HTTP proxy {} refused CONNECT {authority}: {code} {reason}",
                    proxy.address
                ));
            }
            Err(bad) => return Err(format!("HTTP proxy {}: {bad}", proxy.address)),
        }
    }
}
