//! Reaching the upstream through a corporate proxy: SOCKS5 (RFC 1928, with RFC 1929
//! username/password) by tokio-socks, or HTTP CONNECT, whose answer `connect_reply.rs`
//! reads. The proxy resolves the target name, so the gateway's own DNS never sees it.
//! Errors name the proxy by address only: its credentials are never in a message.

use base64::Engine;
use settings::{HostPort, ProxyKind, ProxyUrl};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::connect_reply::{self, ConnectReply};
use crate::error::TunnelFailure;

/// Asks the proxy on `stream` for a tunnel to `target`; returns the stream, now the
/// tunnel, positioned at the upstream's first byte.
pub(crate) async fn open_tunnel(
    stream: TcpStream,
    proxy: &ProxyUrl,
    target: &HostPort,
) -> Result<TcpStream, TunnelFailure> {
    match proxy.kind {
        ProxyKind::Socks5 => socks5(stream, proxy, target).await,
        ProxyKind::HttpConnect => http_connect(stream, proxy, target).await,
    }
}

async fn socks5(
    stream: TcpStream,
    proxy: &ProxyUrl,
    target: &HostPort,
) -> Result<TcpStream, TunnelFailure> {
    use tokio_socks::tcp::Socks5Stream;
    // An address literal goes as an address, a name as a name for the proxy to resolve.
    let to = (target.host(), target.port());
    let tunnel = match &proxy.credentials {
        None => Socks5Stream::connect_with_socket(stream, to).await,
        Some((user, pass)) => {
            Socks5Stream::connect_with_password_and_socket(stream, to, user, pass).await
        }
    };
    // tokio-socks' errors carry no credentials (only codes and lengths).
    tunnel
        .map(Socks5Stream::into_inner)
        .map_err(|source| TunnelFailure::Socks5 {
            proxy: proxy.address.clone(),
            target: target.clone(),
            source,
        })
}

async fn http_connect(
    mut stream: TcpStream,
    proxy: &ProxyUrl,
    target: &HostPort,
) -> Result<TcpStream, TunnelFailure> {
    let io = |source: std::io::Error| TunnelFailure::HttpIo {
        proxy: proxy.address.clone(),
        source,
    };
    // HostPort's text form brackets an IPv6 address, as an authority must.
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
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
                return Err(TunnelFailure::HttpRefused {
                    proxy: proxy.address.clone(),
                    target: target.clone(),
                    code,
                    reason,
                });
            }
            Err(source) => {
                return Err(TunnelFailure::HttpAnswer {
                    proxy: proxy.address.clone(),
                    source,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Duration;

    use tokio::net::TcpListener;

    use super::*;

    /// Bound on every step of a scripted exchange.
    const STEP: Duration = Duration::from_secs(5);

    /// A one-connection proxy on loopback that, for each step, reads exactly what it
    /// expects and writes its answer, then the upstream's first bytes.
    async fn scripted(steps: Vec<(Vec<u8>, Vec<u8>)>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut peer, _) = listener.accept().await.unwrap();
            for (expect, answer) in steps {
                let mut got = vec![0u8; expect.len()];
                let read = tokio::time::timeout(STEP, peer.read_exact(&mut got)).await;
                if !matches!(read, Ok(Ok(_))) || got != expect {
                    return; // the gateway sees the connection close
                }
                peer.write_all(&answer).await.unwrap();
            }
            peer.write_all(b"\x2a\x01OSCAR").await.unwrap();
        });
        addr
    }

    async fn tunnel(proxy: &str, addr: SocketAddr) -> Result<TcpStream, String> {
        let url = ProxyUrl::parse(&proxy.replace("ADDR", &addr.to_string())).unwrap();
        let stream = TcpStream::connect(addr).await.unwrap();
        let target = HostPort::parse("login.oscar.aol.com:5190").unwrap();
        let open = open_tunnel(stream, &url, &target);
        tokio::time::timeout(STEP, open)
            .await
            .unwrap()
            .map_err(|e| e.to_string())
    }

    /// The upstream's first bytes must still be there: the handshake consumed no more.
    async fn upstream_bytes(mut stream: TcpStream) -> Vec<u8> {
        let mut first = [0u8; 7];
        tokio::time::timeout(STEP, stream.read_exact(&mut first))
            .await
            .unwrap()
            .unwrap();
        first.to_vec()
    }

    fn greeting() -> (Vec<u8>, Vec<u8>) {
        (vec![5, 2, 0, 2], vec![5, 2])
    }

    fn password(status: u8) -> (Vec<u8>, Vec<u8>) {
        (b"\x01\x04imgw\x06s3cret".to_vec(), vec![1, status])
    }

    #[tokio::test]
    async fn socks5_with_a_password_opens_a_tunnel_by_name() {
        let mut request = vec![5, 1, 0, 3, 19];
        request.extend_from_slice(b"login.oscar.aol.com");
        request.extend_from_slice(&5190u16.to_be_bytes());
        let bound = vec![5, 0, 0, 1, 10, 0, 0, 1, 0x14, 0x46];
        let addr = scripted(vec![greeting(), password(0), (request, bound)]).await;
        let stream = tunnel("socks5://imgw:s3cret@ADDR", addr).await.unwrap();
        assert_eq!(upstream_bytes(stream).await, b"\x2a\x01OSCAR");
    }

    #[tokio::test]
    async fn http_connect_sends_basic_credentials_and_stops_at_the_header() {
        let expect =
            b"CONNECT login.oscar.aol.com:5190 HTTP/1.1\r\nHost: login.oscar.aol.com:5190\r\n\
            Proxy-Authorization: Basic aW1ndzpzM2NyZXQ=\r\n\r\n"
                .to_vec();
        let answer = b"HTTP/1.1 200 Connection established\r\n\r\n".to_vec();
        let addr = scripted(vec![(expect, answer)]).await;
        let stream = tunnel("http://imgw:s3cret@ADDR", addr).await.unwrap();
        assert_eq!(upstream_bytes(stream).await, b"\x2a\x01OSCAR");
    }

    #[tokio::test]
    async fn hostile_proxy_answers_fail_without_the_password_in_the_error() {
        let refused = scripted(vec![greeting(), password(1)]).await;
        let not_socks = scripted(vec![(vec![5, 2, 0, 2], b"HT".to_vec())]).await;
        let bad_type = scripted(vec![
            greeting(),
            password(0),
            (vec![5, 1, 0, 3], vec![5, 0, 0, 7, 0, 0, 0, 0, 0, 0]),
        ])
        .await;
        for addr in [refused, not_socks, bad_type] {
            let err = tunnel("socks5://imgw:s3cret@ADDR", addr).await.unwrap_err();
            assert!(err.starts_with("SOCKS5 proxy 127.0.0.1:"), "{err}");
            assert!(!err.contains("s3cret"), "{err}");
        }
        let http = |answer: &'static [u8]| async move {
            let request_len = b"CONNECT login.oscar.aol.com:5190 HTTP/1.1\r\n".len();
            let mut expect = vec![0u8; request_len];
            expect.copy_from_slice(b"CONNECT login.oscar.aol.com:5190 HTTP/1.1\r\n");
            let addr = scripted(vec![(expect, answer.to_vec())]).await;
            tunnel("http://imgw:s3cret@ADDR", addr).await.unwrap_err()
        };
        let err = http(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n").await;
        assert!(err.ends_with("407 Proxy Authentication Required"), "{err}");
        let err = http(b"SSH-2.0-OpenSSH_9.6\r\n").await;
        assert!(err.contains("not an HTTP answer"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
    }
}
