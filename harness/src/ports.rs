//! Ephemeral loopback ports and waiting for a listener to come up.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::time::Duration;

use tokio::net::TcpStream;

use crate::HarnessError;

/// A port that was free on 127.0.0.1 a moment ago.
///
/// The port is released before this returns, so another process may take it first; callers
/// that hand it to a child process must retry with a new port when the child fails to bind.
pub fn free_loopback_port() -> Result<u16, HarnessError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|source| HarnessError::io("bind 127.0.0.1:0", source))?;
    let addr = listener
        .local_addr()
        .map_err(|source| HarnessError::io("read the bound address", source))?;
    Ok(addr.port())
}

/// Whether `addr` accepts a TCP connection within `timeout`. The probe connection is closed
/// at once.
pub async fn accepts_connections(addr: SocketAddr, timeout: Duration) -> bool {
    matches!(
        tokio::time::timeout(timeout, TcpStream::connect(addr)).await,
        Ok(Ok(_))
    )
}
