//! Which flows are bypasses, and the record that says so.
//!
//! A flow that speaks OSCAR (or TLS to an AIM/ICQ name) is the gateway's own when either
//! end is one of the gateway's addresses (its egress towards the IM servers, or its relay
//! towards the clients); any other is a client going around the gateway.

use std::net::{IpAddr, SocketAddr};

use archive::{Direction, Event, Kind, Protocol, Verdict};
use ipnet::IpNet;

/// The gateway's own addresses and subnets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList(Vec<IpNet>);

impl AllowList {
    /// From networks (single addresses as host networks).
    pub fn new(nets: impl IntoIterator<Item = IpNet>) -> Self {
        Self(nets.into_iter().collect())
    }

    /// Whether `ip` is one of the gateway's.
    pub fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4 peer seen as an IPv4-mapped IPv6 address is the same host.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.0.iter().any(|n| n.contains(&ip))
    }

    /// Whether a flow between `client` and `server` is the gateway's.
    pub fn is_gateway_flow(&self, client: SocketAddr, server: SocketAddr) -> bool {
        self.contains(client.ip()) || self.contains(server.ip())
    }

    /// The networks, for logs.
    pub fn nets(&self) -> &[IpNet] {
        &self.0
    }
}

/// How a bypass was recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// OSCAR framing in the clear.
    Oscar,
    /// TLS whose ClientHello named an AIM/ICQ server.
    Tls {
        /// The server name (SNI).
        sni: String,
    },
}

/// One bypass, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bypass {
    /// The client's address and port.
    pub client: SocketAddr,
    /// The server's address and port.
    pub server: SocketAddr,
    /// How it was recognised.
    pub transport: Transport,
    /// The screen name, if the client sent it in the clear (login, or a BOS cookie from a
    /// login the sensor saw).
    pub screen_name: Option<String>,
    /// When the flow was first seen (UTC ns).
    pub first_seen_ns: i64,
    /// The interface it was seen on.
    pub interface: String,
}

impl Bypass {
    /// The archive record: kind `bypass_alert`, verdict `passive` (nothing was blocked),
    /// the client's address, the screen name as sender and local user when known.
    pub fn to_event(&self, node: &str) -> Event {
        let who = self.screen_name.clone().unwrap_or_default();
        let protocol = if !who.is_empty() && who.bytes().all(|b| b.is_ascii_digit()) {
            Protocol::Icq
        } else {
            Protocol::Aim
        };
        let how = match &self.transport {
            Transport::Oscar => "OSCAR in the clear".to_owned(),
            Transport::Tls { sni } => format!("TLS to {sni}"),
        };
        Event {
            time_ns: self.first_seen_ns,
            protocol,
            kind: Kind::BypassAlert,
            conversation: format!("bypass:{}", self.client.ip()),
            sender: who.clone(),
            recipients: Vec::new(),
            direction: Direction::Outbound,
            local_user: who,
            room: None,
            client_addr: Some(self.client.to_string()),
            node: node.to_owned(),
            text: format!(
                "{} talked {how} to {} around the gateway{}",
                self.client,
                self.server,
                self.screen_name
                    .as_ref()
                    .map_or_else(String::new, |n| format!(" as {n}")),
            ),
            raw: String::new(),
            charset: None,
            verdict: Verdict::Passive,
            detail: Some(format!(
                "server={} port={} transport={} screen_name={} interface={}",
                self.server.ip(),
                self.server.port(),
                match &self.transport {
                    Transport::Oscar => "oscar".to_owned(),
                    Transport::Tls { sni } => format!("tls sni={sni}"),
                },
                self.screen_name.as_deref().unwrap_or("-"),
                self.interface,
            )),
            employee: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list_matches_addresses_subnets_and_mapped_v4() {
        let allow = AllowList::new([
            "192.0.2.10/32".parse().unwrap(),
            "198.51.100.0/28".parse().unwrap(),
        ]);
        assert!(allow.contains("192.0.2.10".parse().unwrap()));
        assert!(allow.contains("198.51.100.7".parse().unwrap()));
        assert!(allow.contains("::ffff:192.0.2.10".parse().unwrap()));
        assert!(!allow.contains("192.0.2.11".parse().unwrap()));
        let c = "10.0.0.2:40000".parse().unwrap();
        assert!(allow.is_gateway_flow(c, "192.0.2.10:5190".parse().unwrap()));
        assert!(!allow.is_gateway_flow(c, "203.0.113.5:80".parse().unwrap()));
    }

    #[test]
    fn the_record_names_client_server_port_and_screen_name() {
        let b = Bypass {
            client: "10.0.0.2:40000".parse().unwrap(),
            server: "203.0.113.5:80".parse().unwrap(),
            transport: Transport::Oscar,
            screen_name: Some("Trader Joe".into()),
            first_seen_ns: 7,
            interface: "eth1".into(),
        };
        let e = b.to_event("gw1");
        assert_eq!(e.kind, Kind::BypassAlert);
        assert_eq!(e.verdict, Verdict::Passive);
        assert_eq!(e.sender, "Trader Joe");
        assert_eq!(e.client_addr.as_deref(), Some("10.0.0.2:40000"));
        let detail = e.detail.unwrap();
        assert!(
            detail.contains("server=203.0.113.5 port=80 transport=oscar screen_name=Trader Joe")
        );
        assert!(e.text.contains("203.0.113.5:80"), "{}", e.text);
    }
}
