//! The UDP listener: several `SO_REUSEPORT` sockets per address (one per core), each read
//! by a loop of its own. Queries for redirected names are decided and answered in place;
//! the rest become hickory `Request`s for the [`Responder`], in a task of their own so a
//! slow upstream never stalls the socket.
//!
//! Two loops share that logic: a dedicated thread per socket doing blocking reads (the
//! default: no trip through the async scheduler, and every query waiting is read with one
//! `recvmmsg` and answered with one `sendmmsg`, see [`udp_batch`]), and a tokio task per
//! socket.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_server::net::NetError;
use hickory_server::net::runtime::TokioTime;
use hickory_server::net::xfer::Protocol;
use hickory_server::proto::rr::Record;
use hickory_server::proto::serialize::binary::BinEncoder;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponse;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use std::sync::atomic::Ordering::Relaxed;

use hickory_server::proto::op::Message;

use crate::decision::{Asked, CLASS_IN, Decision, OPCODE_QUERY, Shared};
use crate::fast_answer::{self, FastReply};
use crate::handler::Responder;
use crate::query::FastQuery;
use crate::rate_limit::RateVerdict;
use crate::udp_batch::{self, Received, Replies};

/// Queries waiting on upstream at once per socket; beyond this new ones are dropped (the
/// client retries) rather than queueing without bound.
const MAX_IN_FLIGHT: usize = 4096;

/// How often a blocked reader looks at the shutdown token.
const READ_TIMEOUT: Duration = Duration::from_millis(200);

/// What one datagram needs after the fast path has seen it.
enum Step {
    /// Nothing to send (dropped, or not ours to answer).
    Nothing,
    /// Send `out` back.
    Reply,
    /// Hickory's path, with the decision already taken if the fast path parsed it.
    Slow(Box<Request>, Option<Decision>),
}

/// State shared by one socket's loop.
struct Loop {
    responder: Arc<Responder>,
    local: Option<IpAddr>,
    in_flight: Arc<Semaphore>,
}

impl Loop {
    fn new(responder: Arc<Responder>, local: Option<SocketAddr>) -> Self {
        Self {
            responder,
            local: local.map(|a| a.ip()).filter(|ip| !ip.is_unspecified()),
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        }
    }

    /// Decides what to do with `msg` from `src`, writing any fast answer into `out`.
    fn step(&self, msg: &[u8], src: SocketAddr, out: &mut Vec<u8>) -> Step {
        if src.port() == 0 {
            return Step::Nothing;
        }
        let shared = &self.responder.shared;
        let decision = match FastQuery::parse(msg) {
            Some(q) => {
                let decision = shared.decide(&Asked {
                    client: src.ip(),
                    local: self.local,
                    opcode: OPCODE_QUERY,
                    qclass: CLASS_IN,
                    name: q.name(),
                    qtype: q.qtype,
                    udp: true,
                });
                let reply = match &decision {
                    Decision::Redirect(r) => Some(FastReply::Redirect(r)),
                    Decision::Rfc8482 { ttl } => Some(FastReply::Rfc8482(*ttl)),
                    Decision::Refuse => Some(FastReply::Refused),
                    Decision::NotImp => Some(FastReply::NotImp),
                    Decision::ServFail => Some(FastReply::ServFail),
                    Decision::Slip => Some(FastReply::Truncated),
                    Decision::Drop => return Step::Nothing,
                    Decision::Forward => None,
                };
                if let Some(reply) = reply {
                    if fast_answer::write(&q, msg, reply, out) {
                        shared.counters.global.truncated.fetch_add(1, Relaxed);
                    }
                    return match shared.spend(src.ip(), out.len()) {
                        RateVerdict::Answer => Step::Reply,
                        RateVerdict::Drop => Step::Nothing,
                        RateVerdict::Slip => {
                            fast_answer::write(&q, msg, FastReply::Truncated, out);
                            Step::Reply
                        }
                    };
                }
                Some(decision)
            }
            None => None,
        };
        let Ok(request) = Request::from_bytes(msg.to_vec(), src, Protocol::Udp) else {
            return match formerr(msg) {
                Some(formerr) if shared.may_formerr(src.ip(), true) => {
                    *out = formerr;
                    Step::Reply
                }
                _ => Step::Nothing,
            };
        };
        // Never answer a response (reflection loops).
        if request.metadata.message_type == hickory_server::proto::op::MessageType::Response {
            return Step::Nothing;
        }
        Step::Slow(Box::new(request), decision)
    }

    /// Answers `request` on hickory's path in a task of its own.
    fn spawn_slow(
        &self,
        runtime: &tokio::runtime::Handle,
        request: Box<Request>,
        decision: Option<Decision>,
        socket: ReplySocket,
    ) {
        let Ok(permit) = self.in_flight.clone().try_acquire_owned() else {
            tracing::debug!(client = %request.src(), "too many queries in flight; dropped");
            return;
        };
        let reply = UdpReply {
            socket,
            dst: request.src(),
            max_size: fast_answer::udp_limit(request.edns.as_ref().map(|e| e.max_payload())),
            shared: self.responder.shared.clone(),
        };
        runtime.spawn(answer_slow(
            self.responder.clone(),
            request,
            decision,
            reply,
            permit,
        ));
    }
}

async fn answer_slow(
    responder: Arc<Responder>,
    request: Box<Request>,
    decision: Option<Decision>,
    reply: UdpReply,
    permit: OwnedSemaphorePermit,
) {
    match decision {
        Some(d) => responder.answer::<_, TokioTime>(&request, d, reply).await,
        None => {
            responder
                .handle_request::<_, TokioTime>(&request, reply)
                .await
        }
    };
    drop(permit);
}

/// Serves one blocking UDP socket on the calling thread until cancelled; hickory's path
/// runs on `runtime`.
pub(crate) fn serve_blocking(
    socket: std::net::UdpSocket,
    responder: Arc<Responder>,
    runtime: tokio::runtime::Handle,
    cancel: CancellationToken,
) {
    if let Err(error) = socket
        .set_read_timeout(Some(READ_TIMEOUT))
        .and_then(|()| socket.set_write_timeout(Some(READ_TIMEOUT)))
    {
        tracing::error!(%error, "cannot set the DNS socket's timeouts; UDP not served");
        return;
    }
    let socket = Arc::new(socket);
    let this = Loop::new(responder, socket.local_addr().ok());
    let mut queries = Received::new();
    let mut replies = Replies::new();
    while !cancel.is_cancelled() {
        if let Err(error) = queries.recv(&socket) {
            // A timeout only means: look at the token again. Other errors (ICMP errors from
            // earlier sends) concern one client.
            if !udp_batch::is_timeout(&error) {
                tracing::debug!(%error, "udp receive");
            }
            continue;
        }
        for (msg, src) in queries.iter() {
            let Some(out) = replies.next_buf() else {
                break;
            };
            match this.step(msg, src, out) {
                Step::Nothing => {}
                Step::Reply => replies.commit(src),
                Step::Slow(request, decision) => {
                    this.spawn_slow(
                        &runtime,
                        request,
                        decision,
                        ReplySocket::Std(socket.clone()),
                    );
                }
            }
        }
        replies.flush(&socket);
    }
}

/// Serves one UDP socket from a tokio task until cancelled.
pub(crate) async fn serve(
    socket: Arc<tokio::net::UdpSocket>,
    responder: Arc<Responder>,
    cancel: CancellationToken,
) {
    let this = Loop::new(responder, socket.local_addr().ok());
    let runtime = tokio::runtime::Handle::current();
    let mut buf = vec![0u8; 65_535];
    let mut out = Vec::with_capacity(512);
    loop {
        let (len, src) = tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok(r) => r,
                Err(error) => {
                    tracing::debug!(%error, "udp receive");
                    continue;
                }
            },
            () = cancel.cancelled() => return,
        };
        match this.step(&buf[..len], src, &mut out) {
            Step::Nothing => {}
            Step::Reply => send_async(&socket, &out, src).await,
            Step::Slow(request, decision) => {
                this.spawn_slow(
                    &runtime,
                    request,
                    decision,
                    ReplySocket::Tokio(socket.clone()),
                );
            }
        }
    }
}

async fn send_async(socket: &tokio::net::UdpSocket, bytes: &[u8], dst: SocketAddr) {
    // try_send_to first: the socket is almost always writable, and this skips a poll.
    let sent = match socket.try_send_to(bytes, dst) {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => socket.send_to(bytes, dst).await,
        other => other,
    };
    if let Err(error) = sent {
        tracing::debug!(%error, client = %dst, "udp send");
    }
}

/// FORMERR for a message hickory could not decode: its header with QR and RCODE 1, no
/// sections. `None` for a message too short to have a header, or one that is a response.
fn formerr(msg: &[u8]) -> Option<Vec<u8>> {
    let h = msg.get(..12)?;
    if h[2] & 0x80 != 0 {
        return None;
    }
    let mut out = vec![0u8; 12];
    out[..2].copy_from_slice(&h[..2]);
    // Keep OPCODE and RD; set QR.
    out[2] = 0x80 | (h[2] & 0x79);
    out[3] = 0x80 | 1;
    Some(out)
}

/// The socket a slow-path answer goes out on: the one the query came in on.
#[derive(Clone)]
enum ReplySocket {
    Tokio(Arc<tokio::net::UdpSocket>),
    /// A blocking socket with a short write timeout: a UDP send only waits when the send
    /// buffer is full, and then at most that long.
    Std(Arc<std::net::UdpSocket>),
}

/// Sends hickory's answers on the UDP socket: whole if they fit the client's buffer and
/// 1232 bytes, else empty with TC (never a partial record set: a client could cache it).
#[derive(Clone)]
struct UdpReply {
    socket: ReplySocket,
    dst: SocketAddr,
    max_size: usize,
    /// Where the bytes sent are counted against the client's rate, and truncations counted.
    shared: Arc<Shared>,
}

#[async_trait::async_trait]
impl ResponseHandler for UdpReply {
    async fn send_response<'a>(
        &mut self,
        response: MessageResponse<
            '_,
            'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
        >,
    ) -> Result<ResponseInfo, NetError> {
        let mut bytes = Vec::with_capacity(512);
        let info = response.destructive_emit(&mut BinEncoder::new(&mut bytes))?;
        if bytes.len() > self.max_size {
            bytes = truncated(&bytes)?;
            self.shared.counters.global.truncated.fetch_add(1, Relaxed);
        }
        match self.shared.spend(self.dst.ip(), bytes.len()) {
            RateVerdict::Answer => {}
            RateVerdict::Drop => return Ok(info),
            RateVerdict::Slip => bytes = truncated(&bytes)?,
        }
        match &self.socket {
            ReplySocket::Tokio(s) => {
                s.send_to(&bytes, self.dst).await?;
            }
            ReplySocket::Std(s) => {
                s.send_to(&bytes, self.dst)?;
            }
        }
        Ok(info)
    }
}

/// `answer` with TC set and its answer, authority and additional sections emptied (OPT
/// kept): what RFC 2181 §9 asks of an answer that does not fit, so the client retries over
/// TCP rather than use part of a record set.
fn truncated(answer: &[u8]) -> Result<Vec<u8>, NetError> {
    let mut message = Message::from_vec(answer)?;
    message.metadata.truncation = true;
    message.answers.clear();
    message.authorities.clear();
    message.additionals.clear();
    message.signature = None;
    Ok(message.to_vec()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A forwarded answer too big for UDP goes out as header, question and OPT with TC:
    /// no record of any section survives.
    #[test]
    fn a_truncated_answer_keeps_no_record() {
        use hickory_server::proto::op::{Edns, MessageType, OpCode, Query};
        use hickory_server::proto::rr::rdata::TXT;
        use hickory_server::proto::rr::{Name, RData, RecordType};
        let name = Name::from_ascii("big.example.test.").unwrap();
        let mut m = Message::new(7, MessageType::Response, OpCode::Query);
        m.add_query(Query::query(name.clone(), RecordType::TXT));
        for c in ["a", "b", "c", "d", "e", "f", "g"] {
            let txt = RData::TXT(TXT::new(vec![c.repeat(200)]));
            m.add_answer(Record::from_rdata(name.clone(), 60, txt.clone()));
            m.add_additional(Record::from_rdata(name.clone(), 60, txt));
        }
        m.set_edns(Edns::new());
        let whole = m.to_vec().unwrap();
        assert!(whole.len() > usize::from(fast_answer::UDP_MAX));
        let cut = Message::from_vec(&truncated(&whole).unwrap()).unwrap();
        assert!(cut.metadata.truncation);
        assert_eq!(cut.metadata.id, 7);
        assert_eq!(cut.queries, m.queries);
        assert!(cut.answers.is_empty() && cut.authorities.is_empty());
        assert!(cut.additionals.is_empty());
        assert!(cut.edns.is_some());
    }

    #[test]
    fn formerr_echoes_id_and_opcode() {
        let q = [0xAB, 0xCD, 0x01, 0x00, 0, 9, 0, 0, 0, 0, 0, 0, 0xFF];
        let r = formerr(&q).unwrap();
        assert_eq!(r, [0xAB, 0xCD, 0x81, 0x81, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert!(formerr(&q[..11]).is_none());
        let mut response = q;
        response[2] |= 0x80;
        assert!(formerr(&response).is_none());
    }
}
