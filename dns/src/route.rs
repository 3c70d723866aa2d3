//! The default gateway address for a client: the address this host uses to reach it, as
//! the kernel's routing table says (a connected UDP socket's local address; nothing is
//! sent). That is the address the client can reach the relay on when the responder
//! listens on a wildcard address.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::Mutex;

/// Cached route answers; cleared when full, and on reload.
const CAPACITY: usize = 4096;

/// The kernel's choice of local address per client, cached.
#[derive(Debug, Default)]
pub(crate) struct RouteCache {
    map: Mutex<HashMap<IpAddr, IpAddr>>,
}

impl RouteCache {
    /// Our address towards `client`, or `None` if there is no route.
    pub(crate) fn local_towards(&self, client: IpAddr) -> Option<IpAddr> {
        // An IPv4 client on a dual-stack socket (`::ffff:10.1.2.3`) counts as IPv4.
        let client = client.to_canonical();
        if let Some(ip) = self.lock().get(&client) {
            return Some(*ip);
        }
        let unspecified: IpAddr = match client {
            IpAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
            IpAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
        };
        let socket = UdpSocket::bind(SocketAddr::new(unspecified, 0)).ok()?;
        socket.connect(SocketAddr::new(client, 53)).ok()?;
        let local = socket.local_addr().ok()?.ip();
        let mut map = self.lock();
        if map.len() >= CAPACITY {
            map.clear();
        }
        map.insert(client, local);
        Some(local)
    }

    /// Forgets every cached route (interfaces may have changed).
    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, IpAddr>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_reached_from_loopback() {
        let cache = RouteCache::default();
        let local = cache.local_towards("127.0.0.9".parse().unwrap()).unwrap();
        assert!(local.is_loopback() && local.is_ipv4(), "{local}");
        // Mapped IPv4 clients are treated as IPv4.
        assert_eq!(
            cache.local_towards("::ffff:127.0.0.9".parse().unwrap()),
            Some(local)
        );
    }
}
