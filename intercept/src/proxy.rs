//! Reaching the upstream through a corporate proxy: SOCKS5 (RFC 1928, with RFC 1929
//! username/password) or HTTP CONNECT. The proxy resolves the target name, so the gateway's
//! own DNS never sees it.

use policy::{ProxyKind, ProxyUrl};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Asks the proxy on `stream` for a tunnel to `host:port`.
pub(crate) async fn open_tunnel(
    stream: &mut TcpStream,
    proxy: &ProxyUrl,
    host: &str,
    port: u16,
) -> Result<(), String> {
    match proxy.kind {
        ProxyKind::Socks5 => socks5(stream, proxy, host, port).await,
        ProxyKind::HttpConnect => http_connect(stream, proxy, host, port).await,
    }
}

async fn socks5(
    stream: &mut TcpStream,
    proxy: &ProxyUrl,
    host: &str,
    port: u16,
) -> Result<(), String> {
    let io = |e: std::io::Error| format!("SOCKS5 proxy {}: {e}", proxy.address);
    // Greeting: offer "no authentication", and username/password when we have credentials.
    let methods: &[u8] = if proxy.credentials.is_some() {
        &[0x00, 0x02]
    } else {
        &[0x00]
    };
    let mut hello = vec![0x05, methods.len() as u8];
    hello.extend_from_slice(methods);
    stream.write_all(&hello).await.map_err(io)?;
    let mut choice = [0u8; 2];
    stream.read_exact(&mut choice).await.map_err(io)?;
    match choice {
        [0x05, 0x00] => {}
        [0x05, 0x02] => {
            let Some((user, pass)) = &proxy.credentials else {
                return Err("SOCKS5 proxy wants a username and password".into());
            };
            let (user, pass) = (user.as_bytes(), pass.as_bytes());
            let too_long = |what| format!("SOCKS5 {what} longer than 255 bytes");
            let mut auth = vec![
                0x01,
                u8::try_from(user.len()).map_err(|_| too_long("username"))?,
            ];
            auth.extend_from_slice(user);
            auth.push(u8::try_from(pass.len()).map_err(|_| too_long("password"))?);
            auth.extend_from_slice(pass);
            stream.write_all(&auth).await.map_err(io)?;
            let mut status = [0u8; 2];
            stream.read_exact(&mut status).await.map_err(io)?;
            if status[1] != 0x00 {
                return Err("SOCKS5 proxy refused the username or password".into());
            }
        }
        [0x05, 0xff] => {
            return Err("SOCKS5 proxy accepts none of our authentication methods".into());
        }
        other => return Err(format!("not a SOCKS5 proxy (answered {other:02x?})")),
    }
    let mut request = vec![0x05, 0x01, 0x00];
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => {
            request.push(0x01);
            request.extend_from_slice(&ip.octets());
        }
        Ok(std::net::IpAddr::V6(ip)) => {
            request.push(0x04);
            request.extend_from_slice(&ip.octets());
        }
        Err(_) => {
            request.push(0x03);
            request.push(
                u8::try_from(host.len())
                    .map_err(|_| "target host name too long for SOCKS5".to_owned())?,
            );
            request.extend_from_slice(host.as_bytes());
        }
    }
    request.extend_from_slice(&port.to_be_bytes());
    stream.write_all(&request).await.map_err(io)?;
    let mut reply = [0u8; 4];
    stream.read_exact(&mut reply).await.map_err(io)?;
    if reply[1] != 0x00 {
        return Err(format!(
            "SOCKS5 proxy could not reach {host}:{port}: {}",
            socks5_reason(reply[1])
        ));
    }
    // Skip the bound address the proxy reports.
    let skip = match reply[3] {
        0x01 => 4,
        0x04 => 16,
        0x03 => usize::from(stream.read_u8().await.map_err(io)?),
        other => return Err(format!("SOCKS5 proxy sent address type {other:#04x}")),
    };
    let mut rest = vec![0u8; skip + 2];
    stream.read_exact(&mut rest).await.map_err(io)?;
    Ok(())
}

fn socks5_reason(code: u8) -> &'static str {
    match code {
        0x01 => "general failure",
        0x02 => "not allowed by the proxy's rules",
        0x03 => "network unreachable",
        0x04 => "host unreachable",
        0x05 => "connection refused",
        0x06 => "TTL expired",
        0x07 => "command not supported",
        0x08 => "address type not supported",
        _ => "unknown error",
    }
}

/// Longest proxy response header accepted.
const MAX_HTTP_HEADER: usize = 8 * 1024;

async fn http_connect(
    stream: &mut TcpStream,
    proxy: &ProxyUrl,
    host: &str,
    port: u16,
) -> Result<(), String> {
    let io = |e: std::io::Error| format!("HTTP proxy {}: {e}", proxy.address);
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some((user, pass)) = &proxy.credentials {
        request.push_str(&format!(
            "Proxy-Authorization: Basic {}\r\n",
            base64(format!("{user}:{pass}").as_bytes())
        ));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.map_err(io)?;
    // Read the response header byte by byte: nothing after it may be consumed, it is OSCAR.
    let mut header = Vec::with_capacity(256);
    while !header.ends_with(b"\r\n\r\n") {
        if header.len() >= MAX_HTTP_HEADER {
            return Err("HTTP proxy response header too long".into());
        }
        header.push(stream.read_u8().await.map_err(io)?);
    }
    let status = String::from_utf8_lossy(&header);
    let first = status.lines().next().unwrap_or_default().to_owned();
    let code = first.split_whitespace().nth(1).unwrap_or_default();
    if code != "200" {
        return Err(format!("HTTP proxy refused CONNECT {authority}: {first}"));
    }
    Ok(())
}

fn base64(input: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(TABLE[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_examples() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }
}
