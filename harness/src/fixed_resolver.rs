//! A stand-in for the organisation's resolver on loopback: answers A queries for a fixed set
//! of names with 127.0.0.1 (where the lab listens), NXDOMAIN for anything else, and remembers
//! what it was asked. The relay resolves upstream names such as `slogin.oscar.aol.com`
//! through it (`upstream.resolver`), as it would through `dns.upstream` in production.

// These helpers assert as the calling test would: a failure panics with what went wrong.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use hickory_resolver::proto::op::{Message, MessageType, ResponseCode};
use hickory_resolver::proto::rr::rdata::A;
use hickory_resolver::proto::rr::{RData, Record, RecordType};
use tokio::net::UdpSocket;

/// The running resolver; stopped when dropped.
pub struct FixedResolver {
    /// Where it answers (UDP).
    pub addr: SocketAddr,
    asked: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FixedResolver {
    /// Answers `names` (lower case, no trailing dot) with 127.0.0.1.
    pub async fn start(names: &[&str]) -> Self {
        Self::answering(names, Ipv4Addr::LOCALHOST).await
    }

    /// Answers `names` with `address`.
    pub async fn answering(names: &[&str], address: Ipv4Addr) -> Self {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = socket.local_addr().unwrap();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let seen = asked.clone();
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while let Ok((len, peer)) = socket.recv_from(&mut buf).await {
                let Ok(query) = Message::from_vec(&buf[..len]) else {
                    continue;
                };
                let Some(q) = query.queries.first().cloned() else {
                    continue;
                };
                let name = q.name().to_string().trim_end_matches('.').to_lowercase();
                seen.lock().unwrap().push(name.clone());
                let known = names.contains(&name);
                let code = if known {
                    ResponseCode::NoError
                } else {
                    ResponseCode::NXDomain
                };
                let mut reply = Message::error_msg(query.metadata.id, query.metadata.op_code, code);
                reply.metadata.message_type = MessageType::Response;
                reply.metadata.recursion_desired = query.metadata.recursion_desired;
                reply.metadata.recursion_available = true;
                reply.add_query(q.clone());
                if known && q.query_type() == RecordType::A {
                    reply.add_answer(Record::from_rdata(
                        q.name().clone(),
                        30,
                        RData::A(A(address)),
                    ));
                }
                let _ = socket.send_to(&reply.to_vec().unwrap(), peer).await;
            }
        });
        Self { addr, asked, task }
    }

    /// The names asked so far, in order.
    pub fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

impl Drop for FixedResolver {
    fn drop(&mut self) {
        self.task.abort();
    }
}
