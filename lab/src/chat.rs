//! The lab chat service: one connection per member per room, reached through the
//! 0x0001/0x0004 → 0x0001/0x0005 redirect. Messages go to every other member, and back to
//! the sender when it asked for reflection.

use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use oscar::message::{ChatReceive, ChatSend, ChatUsersJoined, ChatUsersLeft, RoomInfo, UserList};
use oscar::{Channel, Family, Snac, SnacBody, Tlv, TlvList};

use crate::bos::{host_online, housekeeping, server_rid, sign_on, user_info};
use crate::conn::Conn;
use crate::error::LabError;
use crate::state::{Grant, LabState, Online};
use crate::stream::Accepted;

/// Room-info TLVs (oscar.md §4.8; libpurple `infoupdate`).
const ROOM_TLV_FULL_NAME: u16 = 0x006a;
const ROOM_TLV_FLAGS: u16 = 0x00c9;
const ROOM_TLV_CREATED: u16 = 0x00ca;
const ROOM_TLV_MAX_MESSAGE: u16 = 0x00d1;
const ROOM_TLV_MAX_OCCUPANTS: u16 = 0x00d2;
const ROOM_TLV_NAME: u16 = 0x00d3;
const ROOM_TLV_CREATE_PERMS: u16 = 0x00d5;
const ROOM_TLV_MAX_VISIBLE: u16 = 0x00da;

/// Serves one chat-room connection to its end.
pub(crate) async fn serve(accepted: Accepted, state: Arc<LabState>) -> Result<(), LabError> {
    let tls = accepted.tls;
    let mut conn = Conn::accept(accepted, 300).await?;
    let mut room = None;
    let Some(name) = sign_on(&mut conn, &state, |g| match g {
        Grant::Chat(name, r) => {
            room = Some(r);
            Some(name)
        }
        Grant::Bos(_) | Grant::ChatNav(_) => None,
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
        tls,
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

/// 0x000E/0x0002: the room's info block at detail level 2.
fn room_info_update(room: &RoomInfo) -> Result<bytes::Bytes, LabError> {
    room_detail(room)
}

/// Longest message the room accepts, in bytes.
const MAX_MESSAGE_LEN: u16 = 1024;

/// A room info block at detail level 2: room info, `0x02`, counted TLVs. The same block is
/// the chat service's 0x000E/0x0002 and chatnav's TLV 0x0004 (libpurple `infoupdate` and
/// `parseinfo_create`).
///
/// libpurple 2.14 needs TLV 0x006A: its `purple_conv_chat_info_update` reads the message
/// length limits from the wrong varargs, so the "maximum visible length" it stores is the
/// address of that name string, and without one it is 0 and every message it would send
/// is refused as too long. 0x006F (occupant count) is left out on purpose: libpurple then
/// expects the 0x0073 occupant list and would read past a missing one.
pub(crate) fn room_detail(room: &RoomInfo) -> Result<bytes::Bytes, LabError> {
    let mut b = BytesMut::new();
    room.encode(&mut b)?;
    b.put_u8(2);
    let name = room.name().into_bytes();
    let tlvs: TlvList = [
        Tlv::new(ROOM_TLV_FULL_NAME, name.clone()),
        Tlv::u16(ROOM_TLV_FLAGS, 0x0000),
        Tlv::u32(ROOM_TLV_CREATED, 0),
        Tlv::u16(ROOM_TLV_MAX_MESSAGE, MAX_MESSAGE_LEN),
        Tlv::u16(ROOM_TLV_MAX_OCCUPANTS, 100),
        Tlv::new(ROOM_TLV_NAME, name),
        Tlv::new(ROOM_TLV_CREATE_PERMS, vec![1u8]),
        Tlv::u16(ROOM_TLV_MAX_VISIBLE, MAX_MESSAGE_LEN),
    ]
    .into_iter()
    .collect();
    tlvs.encode_counted(&mut b)?;
    Ok(b.freeze())
}

/// The room a client asks for by name: exchange 4, OOS-style cookie `4-0-<name>`.
pub fn room_for(name: &str) -> RoomInfo {
    room_in(crate::chatnav::EXCHANGE, name)
}

/// The room `name` on `exchange`: cookie `<exchange>-0-<name>`, instance 0.
pub(crate) fn room_in(exchange: u16, name: &str) -> RoomInfo {
    RoomInfo {
        exchange,
        cookie: bytes::Bytes::from(format!("{exchange}-0-{name}")),
        instance: 0,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn room_detail_is_what_libpurple_parses() {
        let room = room_for("compliance");
        let block = room_detail(&room).unwrap();
        // exchange 4, cookie "4-0-compliance", instance 0, detail level 2, TLV count.
        assert_eq!(&block[..3], &[0, 4, 14]);
        assert_eq!(&block[3..17], b"4-0-compliance");
        assert_eq!(&block[17..20], &[0, 0, 2]);
        let tlvs = TlvList::decode_counted(block.slice(20..)).unwrap();
        assert_eq!(&tlvs.value(ROOM_TLV_FULL_NAME).unwrap()[..], b"compliance");
        assert_eq!(&tlvs.value(ROOM_TLV_NAME).unwrap()[..], b"compliance");
        assert_eq!(tlvs.get(ROOM_TLV_MAX_MESSAGE).unwrap().as_u16(), Some(1024));
        assert_eq!(tlvs.get(ROOM_TLV_MAX_VISIBLE).unwrap().as_u16(), Some(1024));
        // No occupant count without the occupant list (libpurple would read past it).
        assert!(!tlvs.contains(0x006f) && !tlvs.contains(0x0073));
    }
}
