//! The lab chat service: one connection per member per room, reached through the
//! 0x0001/0x0004 → 0x0001/0x0005 redirect. Messages go to every other member, and back to
//! the sender when it asked for reflection.

use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use oscar::message::{ChatReceive, ChatSend, ChatUsersJoined, ChatUsersLeft, RoomInfo, UserList};
use oscar::{Channel, Family, Snac, SnacBody, Tlv, TlvList};
use tokio::net::TcpStream;

use crate::bos::{host_online, housekeeping, server_rid, sign_on, user_info};
use crate::conn::Conn;
use crate::error::LabError;
use crate::state::{Grant, LabState, Online};

/// Room-info TLV: the room's name.
const ROOM_TLV_NAME: u16 = 0x00d3;

/// Serves one chat-room connection to its end.
pub(crate) async fn serve(stream: TcpStream, state: Arc<LabState>) -> Result<(), LabError> {
    let mut conn = Conn::accept(stream, 300).await?;
    let mut room = None;
    let Some(name) = sign_on(&mut conn, &state, |g| match g {
        Grant::Chat(name, r) => {
            room = Some(r);
            Some(name)
        }
        Grant::Bos(_) => None,
    })
    .await?
    else {
        return Ok(());
    };
    let Some(room) = room else {
        return Ok(());
    };
    let me = Online {
        name: name.clone(),
        outbox: conn.outbox.clone(),
        session: state.next_id(),
    };
    host_online(&me.outbox, &state, &[0x0001, 0x000e]).await?;
    let mut joined = false;
    let result = async {
        while let Some(flap) = conn.recv().await? {
            match flap.channel {
                Channel::DATA => {
                    let snac = Snac::from_flap(&flap)?;
                    if housekeeping(&snac, &me.outbox, &name).await? {
                        continue;
                    }
                    if snac.header.is(Family::OSERVICE, 0x0002) && !joined {
                        joined = true;
                        join(&state, &room, &me).await?;
                    } else if snac.header.is(ChatSend::FAMILY, ChatSend::SUBTYPE) {
                        relay(&state, &room, &me, ChatSend::from_snac(&snac)?).await?;
                    }
                }
                Channel::SIGNOFF => break,
                _ => {}
            }
        }
        Ok::<(), LabError>(())
    }
    .await;
    if joined {
        let rest = state.leave_room(&room, &name, me.session);
        let left = ChatUsersLeft(UserList {
            users: vec![user_info(&name)],
        });
        for member in rest {
            let _ = member.outbox.snac(&left, server_rid(&state)).await;
        }
        tracing::info!(sn = %name, room = %room.name(), "lab chat: left");
    }
    result
}

async fn join(state: &LabState, room: &RoomInfo, me: &Online) -> Result<(), LabError> {
    let members = state.join_room(room, me.clone());
    tracing::info!(sn = %me.name, room = %room.name(), members = members.len(), "lab chat: joined");
    me.outbox
        .raw_snac(
            Family::CHAT,
            0x0002,
            server_rid(state),
            room_info_update(room)?,
        )
        .await?;
    let everyone = ChatUsersJoined(UserList {
        users: members.iter().map(|m| user_info(&m.name)).collect(),
    });
    me.outbox.snac(&everyone, server_rid(state)).await?;
    let newcomer = ChatUsersJoined(UserList {
        users: vec![user_info(&me.name)],
    });
    for m in members.iter().filter(|m| m.name != me.name) {
        let _ = m.outbox.snac(&newcomer, server_rid(state)).await;
    }
    Ok(())
}

async fn relay(
    state: &LabState,
    room: &RoomInfo,
    me: &Online,
    sent: ChatSend,
) -> Result<(), LabError> {
    let delivered = ChatReceive(sent.0.delivery(&user_info(&me.name))?);
    for m in state.room_members(room) {
        if m.name != me.name || sent.0.wants_reflection() {
            let _ = m.outbox.snac(&delivered, server_rid(state)).await;
        }
    }
    Ok(())
}

/// 0x000E/0x0002: room info, detail level 2, with the room's name.
fn room_info_update(room: &RoomInfo) -> Result<bytes::Bytes, LabError> {
    let mut b = BytesMut::new();
    room.encode(&mut b)?;
    b.put_u8(2);
    let tlvs: TlvList = [Tlv::new(ROOM_TLV_NAME, room.name().into_bytes())]
        .into_iter()
        .collect();
    tlvs.encode_counted(&mut b)?;
    Ok(b.freeze())
}

/// The room a client asks for by name: exchange 4, OOS-style cookie `4-0-<name>`.
pub fn room_for(name: &str) -> RoomInfo {
    RoomInfo {
        exchange: 4,
        cookie: bytes::Bytes::from(format!("4-0-{name}")),
        instance: 0,
    }
}
