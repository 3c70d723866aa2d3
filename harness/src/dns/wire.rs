//! Wire-format DNS messages over UDP, for what dig cannot send or does not show.

// These helpers assert as the calling test would: a failure panics with what went wrong.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::proto::op::{Message, MessageType, OpCode, Query};
use hickory_resolver::proto::rr::{Name, RecordType};
use tokio::net::UdpSocket;

/// Bound on a UDP exchange with the responder.
pub const UDP_TIMEOUT: Duration = Duration::from_secs(2);

/// A recursive query for `name`/`rtype` with ID `id`, as bytes.
pub fn query_bytes(id: u16, name: &str, rtype: RecordType) -> Vec<u8> {
    let mut message = Message::new(id, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    message.to_vec().unwrap()
}

/// Sends `bytes` to `server` and waits up to `timeout` for the reply with the same ID.
pub async fn exchange_within(
    socket: &UdpSocket,
    server: SocketAddr,
    bytes: &[u8],
    timeout: Duration,
) -> Option<Message> {
    socket.send_to(bytes, server).await.unwrap();
    let id = u16::from_be_bytes([bytes[0], bytes[1]]);
    let deadline = tokio::time::Instant::now() + timeout;
    let mut buf = vec![0u8; 65_535];
    loop {
        let (len, from) = tokio::time::timeout_at(deadline, socket.recv_from(&mut buf))
            .await
            .ok()?
            .unwrap();
        if from != server {
            continue;
        }
        let reply = Message::from_vec(&buf[..len]).unwrap();
        if reply.metadata.id == id {
            return Some(reply);
        }
    }
}

/// The addresses in a reply's answer section.
pub fn reply_addrs(reply: &Message) -> Vec<IpAddr> {
    reply
        .answers
        .iter()
        .filter_map(|r| r.data.ip_addr())
        .collect()
}
