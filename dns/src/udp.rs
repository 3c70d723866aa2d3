//! The UDP listener: several `SO_REUSEPORT` sockets per address (one per core), each read
//! by its own task. Queries for redirected names are decided and answered in place; the
//! rest become hickory `Request`s for the [`Responder`], in a task of their own so a slow
//! upstream never stalls the socket.

use std::net::SocketAddr;
use std::sync::Arc;

use hickory_server::net::NetError;
use hickory_server::net::runtime::TokioTime;
use hickory_server::net::xfer::Protocol;
use hickory_server::proto::rr::Record;
use hickory_server::proto::serialize::binary::BinEncoder;
use hickory_server::server::{Request, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponse;
use tokio::net::UdpSocket;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::decision::Decision;
use crate::fast_answer::{self, FastReply};
use crate::handler::Responder;
use crate::query::FastQuery;

/// Queries waiting on upstream at once per socket; beyond this new ones are dropped (the
/// client retries) rather than queueing without bound.
const MAX_IN_FLIGHT: usize = 4096;

/// Serves one UDP socket until cancelled.
pub(crate) async fn serve(
    socket: Arc<UdpSocket>,
    responder: Arc<Responder>,
    cancel: CancellationToken,
) {
    let local = socket
        .local_addr()
        .ok()
        .map(|a| a.ip())
        .filter(|ip| !ip.is_unspecified());
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut buf = vec![0u8; 65_535];
    let mut out = Vec::with_capacity(512);
    loop {
        let (len, src) = tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok(r) => r,
                Err(error) => {
                    // ICMP errors from earlier sends surface here; they concern one
                    // client, not the socket.
                    tracing::debug!(%error, "udp receive");
                    continue;
                }
            },
            () = cancel.cancelled() => return,
        };
        if src.port() == 0 {
            continue;
        }
        let msg = &buf[..len];
        let decision = match FastQuery::parse(msg) {
            Some(q) => {
                let decision = responder
                    .shared
                    .decide(src.ip(), local, q.name(), q.qtype, true);
                let reply = match &decision {
                    Decision::Redirect(r) => Some(FastReply::Redirect(r)),
                    Decision::Refuse => Some(FastReply::Refused),
                    Decision::ServFail => Some(FastReply::ServFail),
                    Decision::Slip => Some(FastReply::Truncated),
                    Decision::Drop => continue,
                    Decision::Forward => None,
                };
                if let Some(reply) = reply {
                    fast_answer::write(&q, msg, reply, &mut out);
                    send(&socket, &out, src).await;
                    continue;
                }
                Some(decision)
            }
            None => None,
        };
        let Ok(request) = Request::from_bytes(msg.to_vec(), src, Protocol::Udp) else {
            if let Some(formerr) = formerr(msg)
                && responder.shared.may_formerr(src.ip(), true)
            {
                send(&socket, &formerr, src).await;
            }
            continue;
        };
        // Never answer a response (reflection loops).
        if request.metadata.message_type == hickory_server::proto::op::MessageType::Response {
            continue;
        }
        let Ok(permit) = in_flight.clone().try_acquire_owned() else {
            tracing::debug!(client = %src, "too many queries in flight; dropped");
            continue;
        };
        let max_size = request
            .edns
            .as_ref()
            .map_or(512, |e| e.max_payload().max(512));
        let reply = UdpReply {
            socket: socket.clone(),
            dst: src,
            max_size,
        };
        let responder = responder.clone();
        tokio::spawn(async move {
            match decision {
                Some(d) => responder.answer::<_, TokioTime>(&request, d, reply).await,
                None => {
                    use hickory_server::server::RequestHandler;
                    responder
                        .handle_request::<_, TokioTime>(&request, reply)
                        .await
                }
            };
            drop(permit);
        });
    }
}

async fn send(socket: &UdpSocket, bytes: &[u8], dst: SocketAddr) {
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

/// Sends hickory's answers on the UDP socket, truncated to the client's buffer size.
#[derive(Clone)]
struct UdpReply {
    socket: Arc<UdpSocket>,
    dst: SocketAddr,
    max_size: u16,
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
        let mut encoder = BinEncoder::new(&mut bytes);
        encoder.set_max_size(self.max_size);
        // Sets TC and drops records that do not fit.
        let info = response.destructive_emit(&mut encoder)?;
        self.socket.send_to(&bytes, self.dst).await?;
        Ok(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
