//! Chat rooms for the scripted client: creating one through the chat-navigation service,
//! joining it through the chat service redirect, and talking in it.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use oscar::message::{ChatMessage, ChatSend, RoomInfo, ServiceRequest, SignOff};
use oscar::{Channel, Family, ScreenName, Snac, SnacBody, Tlv};

use super::session::Session;
use super::{ClientEvent, LabClient};
use crate::chat::room_for;
use crate::client_conn::{Conn, STEP_TIMEOUT, next_frame, send, step};
use crate::error::LabError;

/// A scripted client's membership of one chat room.
#[derive(Debug)]
pub struct ChatClient {
    /// The room's name.
    pub room: String,
    session: Session,
    tls_name: Option<String>,
}

impl LabClient {
    /// Creates (or finds) the room `name` the way libpurple does: asks BOS for the
    /// chat-navigation service (0x0001/0x0004 family 0x000D), follows the redirect, asks for
    /// the chatnav rights (0x000D/0x0002) and creates the room (0x000D/0x0008). Returns the
    /// room info from the 0x000D/0x0009 answer (TLV 0x0004), which [`join_room`] takes.
    ///
    /// [`join_room`]: Self::join_room
    pub async fn create_room(&mut self, name: &str) -> Result<RoomInfo, LabError> {
        let response = self
            .service(ServiceRequest {
                family: Family::CHAT_NAV,
                tlvs: oscar::TlvList::new(),
            })
            .await?;
        let ((mut conn, mut seq), _) = self.follow(&response).await?;
        step(async {
            let rights = Snac::new(
                oscar::SnacHeader::new(Family::CHAT_NAV, 0x0002, 11),
                Bytes::new(),
            );
            send(&mut conn, &mut seq, rights.to_flap()?).await?;
            nav_info(&mut conn, 11).await?;
            let mut body = BytesMut::new();
            RoomInfo {
                exchange: 4,
                cookie: Bytes::from_static(b"create"),
                instance: 0xffff,
            }
            .encode(&mut body)?;
            body.put_u8(1);
            [
                Tlv::new(0x00d3, name.as_bytes().to_vec()),
                Tlv::new(0x00d6, &b"us-ascii"[..]),
                Tlv::new(0x00d7, &b"en"[..]),
            ]
            .into_iter()
            .collect::<oscar::TlvList>()
            .encode_counted(&mut body)?;
            let create = Snac::new(
                oscar::SnacHeader::new(Family::CHAT_NAV, 0x0008, 12),
                body.freeze(),
            );
            send(&mut conn, &mut seq, create.to_flap()?).await?;
            let info = nav_info(&mut conn, 12).await?;
            let block = info.value(0x0004).ok_or_else(|| {
                LabError::Protocol("create-room answer without TLV 0x0004".into())
            })?;
            let len = 5 + usize::from(*block.get(2).unwrap_or(&0));
            let room = RoomInfo::decode(block.slice(..len.min(block.len())))?;
            let _ = send(&mut conn, &mut seq, SignOff::default().to_flap()?).await;
            Ok(room)
        })
        .await
    }

    /// Joins the room `room` (as [`create_room`](Self::create_room) returned it) through the
    /// chat service redirect.
    pub async fn join_room(&mut self, room: &RoomInfo) -> Result<ChatClient, LabError> {
        let response = self.service(ServiceRequest::chat(room)?).await?;
        let (conn, tls_name) = self.follow(&response).await?;
        let mut chat = ChatClient {
            room: room.name(),
            session: Session::spawn(conn, self.auth_port, self.tls.clone(), tls_name.clone()),
            tls_name,
        };
        chat.session
            .wait_for(STEP_TIMEOUT, "the room's member list", |e| {
                matches!(e, ClientEvent::ChatJoined(_)).then_some(())
            })
            .await?;
        Ok(chat)
    }

    /// Sends a service request on the BOS connection and waits for its 0x0001/0x0005. A
    /// Asks BOS for the chat service for `room` (0x0001/0x0004), follows the redirect and
    /// joins the room.
    pub async fn join_chat(&mut self, room: &str) -> Result<ChatClient, LabError> {
        self.join_room(&room_for(room)).await
    }
}

impl ChatClient {
    /// The certificate name the room's connection was made with, or `None` if it is plain.
    pub fn tls_name(&self) -> Option<&str> {
        self.tls_name.as_deref()
    }

    /// Says `text` in the room.
    pub async fn send(&mut self, text: &str) -> Result<(), LabError> {
        let msg = ChatSend(ChatMessage::public([7; 8], text)?);
        self.session.send(msg.to_snac(1)?.to_flap()?).await
    }

    /// Waits for a message in the room from `from`; returns its plain text.
    pub async fn expect_message(
        &mut self,
        from: &str,
        timeout: Duration,
    ) -> Result<String, LabError> {
        let from = ScreenName::parse(from.as_bytes())?;
        self.session
            .wait_for(timeout, "a chat message", |e| match e {
                ClientEvent::ChatMessage { from: f, plain } if *f == from => Some(plain.clone()),
                _ => None,
            })
            .await
    }

    /// The next event in the room.
    pub async fn next_event(&mut self, timeout: Duration) -> Result<ClientEvent, LabError> {
        self.session.next_event(timeout).await
    }

    /// Waits for a particular event in the room (others are skipped).
    pub async fn expect_event(
        &mut self,
        timeout: Duration,
        what: &'static str,
        want: impl Fn(&ClientEvent) -> bool,
    ) -> Result<ClientEvent, LabError> {
        self.session
            .wait_for(timeout, what, |e| want(e).then(|| e.clone()))
            .await
    }

    /// Leaves the room.
    pub async fn leave(self) -> Result<(), LabError> {
        self.session.send(SignOff::default().to_flap()?).await
    }
}

/// Reads chatnav frames until the 0x000D/0x0009 answering request `rid`; returns its TLVs.
/// A 0x000D/0x0001 error for that request is a refusal.
async fn nav_info(conn: &mut Conn, rid: u32) -> Result<oscar::TlvList, LabError> {
    loop {
        let flap = next_frame(conn).await?;
        if flap.channel == Channel::SIGNOFF {
            return Err(LabError::Closed(" (chatnav)"));
        }
        let snac = Snac::from_flap(&flap)?;
        if snac.header.request_id != rid || snac.header.family != Family::CHAT_NAV {
            continue;
        }
        match snac.header.subtype {
            0x0009 => return Ok(oscar::TlvList::decode_rest(snac.body)?),
            0x0001 => {
                let code = snac
                    .body
                    .get(..2)
                    .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
                return Err(LabError::Protocol(format!(
                    "chatnav refused the request: {code:#06x}"
                )));
            }
            _ => {}
        }
    }
}
