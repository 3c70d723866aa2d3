//! The lab chat-navigation service (family 0x000D), served on the BOS listener behind a
//! 0x0001/0x0004 → 0x0001/0x0005 redirect. A real client (libpurple's `oscar_join_chat`)
//! does not ask BOS for a room directly: it opens chatnav, asks for its rights, creates the
//! room by name there, and only the room info that comes back leads to the chat service
//! request (oscar.md §4.8).
//!
//! Layouts follow libpurple 2.14's `family_chatnav.c` (`parseinfo_perms`,
//! `parseinfo_create`, `aim_chatnav_createroom`): every answer is 0x000D/0x0009 carrying the
//! request id of the request it answers, since libpurple tells them apart only by that id.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use oscar::message::RoomInfo;
use oscar::{Channel, Family, ScreenName, Snac, Tlv, TlvList};

use crate::bos::{host_online, housekeeping};
use crate::chat::{room_detail, room_in};
use crate::conn::Conn;
use crate::error::LabError;
use crate::state::LabState;

/// The only exchange the lab offers (AOL's public-rooms exchange, libpurple's default).
pub(crate) const EXCHANGE: u16 = 4;
/// Families the chatnav host announces.
const CHATNAV_FAMILIES: &[u16] = &[0x0001, 0x000d];

/// Chatnav subtypes (oscar.md §4.8).
const RIGHTS_REQUEST: u16 = 0x0002;
const EXCHANGE_REQUEST: u16 = 0x0003;
const ROOM_INFO_REQUEST: u16 = 0x0004;
const CREATE_ROOM: u16 = 0x0008;
const NAV_INFO: u16 = 0x0009;
const ERROR: u16 = 0x0001;

/// Nav-info TLVs: max concurrent rooms (u8), exchange info, room info block.
const TLV_MAX_ROOMS: u16 = 0x0002;
const TLV_EXCHANGE: u16 = 0x0003;
const TLV_ROOM: u16 = 0x0004;
/// Error-reply TLV with the chatnav error code; 0x0033 is "invalid room name" to libpurple.
const TLV_ERROR_SUBCODE: u16 = 0x0008;
const ERR_INVALID_ROOM_NAME: u16 = 0x0033;
/// SNAC error code 0x000D, "request denied"; the subcode above says why.
const ERR_REFUSED: u16 = 0x000d;

/// Longest room name the lab accepts (the room cookie is u8-length-prefixed).
const MAX_ROOM_NAME: usize = 64;

/// Serves a chatnav session for `name` on an accepted, signed-on connection.
pub(crate) async fn session(
    conn: &mut Conn,
    state: &Arc<LabState>,
    name: &ScreenName,
) -> Result<(), LabError> {
    let out = conn.outbox.clone();
    host_online(&out, state, CHATNAV_FAMILIES).await?;
    tracing::info!(peer = %conn.peer, sn = %name, "lab chatnav session started");
    while let Some(flap) = conn.recv().await? {
        match flap.channel {
            Channel::DATA => {
                let snac = Snac::from_flap(&flap)?;
                if housekeeping(&snac, &out, name).await? {
                    continue;
                }
                if snac.header.family != Family::CHAT_NAV {
                    continue;
                }
                let rid = snac.header.request_id;
                match answer(snac.header.subtype, &snac.body) {
                    Ok(body) => out.raw_snac(Family::CHAT_NAV, NAV_INFO, rid, body).await?,
                    Err(Refusal::Ignore) => {
                        tracing::trace!(subtype = snac.header.subtype, "lab chatnav: ignored");
                    }
                    Err(Refusal::BadName(why)) => {
                        tracing::info!(sn = %name, why, "lab chatnav: room refused");
                        out.raw_snac(Family::CHAT_NAV, ERROR, rid, refusal()?)
                            .await?;
                    }
                }
            }
            Channel::SIGNOFF => break,
            _ => {}
        }
    }
    tracing::info!(peer = %conn.peer, sn = %name, "lab chatnav session ended");
    Ok(())
}

/// Why a chatnav request gets no 0x0009.
#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    /// Not a request the lab answers (or not parseable): say nothing, as AOL did.
    Ignore,
    /// A create request for a room name the lab will not make.
    BadName(&'static str),
}

/// The 0x000D/0x0009 body answering chatnav request `subtype` with `body`.
fn answer(subtype: u16, body: &Bytes) -> Result<Bytes, Refusal> {
    let encode = |tlvs: TlvList| tlvs.to_bytes().map_err(|_| Refusal::Ignore);
    match subtype {
        RIGHTS_REQUEST => encode(rights()),
        EXCHANGE_REQUEST => {
            // Body: the exchange asked about (u16).
            let asked = body.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]));
            let mut tlvs = TlvList::new();
            if asked.is_none_or(|e| e == EXCHANGE) {
                tlvs.push(exchange_info());
            }
            encode(tlvs)
        }
        ROOM_INFO_REQUEST => {
            // Body: room info (exchange, cookie, instance) + detail level (u8).
            let room = leading_room(body).ok_or(Refusal::Ignore)?;
            encode(room_block(&room).map_err(|_| Refusal::Ignore)?)
        }
        CREATE_ROOM => {
            let room = create_request(body)?;
            encode(room_block(&room).map_err(|_| Refusal::Ignore)?)
        }
        _ => Err(Refusal::Ignore),
    }
}

/// Rights: one concurrent-room limit and the exchange list (libpurple `parseinfo_perms`
/// reads TLV 0x0002 as u8 and each TLV 0x0003 as `u16 exchange` + TLVs to the end).
fn rights() -> TlvList {
    [Tlv::new(TLV_MAX_ROOMS, vec![10u8]), exchange_info()]
        .into_iter()
        .collect()
}

/// TLV 0x0003 for the lab's exchange: number, then (uncounted) TLVs: 0x00C9 flags (u16),
/// 0x00D3 description, 0x00D5 creation permission (u8, 1 = rooms may be created), 0x00D6
/// charset, 0x00D7 language.
fn exchange_info() -> Tlv {
    let mut v = BytesMut::new();
    v.put_u16(EXCHANGE);
    let inner: TlvList = [
        Tlv::u16(0x00c9, 0x000f),
        Tlv::new(0x00d3, &b"lab public rooms"[..]),
        Tlv::new(0x00d5, vec![1u8]),
        Tlv::new(0x00d6, &b"us-ascii"[..]),
        Tlv::new(0x00d7, &b"en"[..]),
    ]
    .into_iter()
    .collect();
    // Encoding a fixed, small list cannot fail.
    let _ = inner.encode_rest(&mut v);
    Tlv::new(TLV_EXCHANGE, v.freeze())
}

/// TLV 0x0004: the room info block at detail level 2 (libpurple `parseinfo_create`).
fn room_block(room: &RoomInfo) -> Result<TlvList, LabError> {
    Ok([Tlv::new(TLV_ROOM, room_detail(room)?)]
        .into_iter()
        .collect())
}

/// A room info (exchange, u8-prefixed cookie, instance) at the start of `body`.
fn leading_room(body: &Bytes) -> Option<RoomInfo> {
    let len = 5 + usize::from(*body.get(2)?);
    RoomInfo::decode(body.get(..len).map(Bytes::copy_from_slice)?).ok()
}

/// Parses 0x000D/0x0008 (`aim_chatnav_createroom`): exchange (u16), cookie "create"
/// (u8-prefixed), instance (u16, 0xFFFF), detail level (u8), counted TLVs with 0x00D3 the
/// room name (0x00D6 charset, 0x00D7 language). Returns the room the name maps to.
fn create_request(body: &Bytes) -> Result<RoomInfo, Refusal> {
    let asked = leading_room(body).ok_or(Refusal::Ignore)?;
    let tlvs_at = 5 + asked.cookie.len() + 1;
    let tlvs = body
        .get(tlvs_at..)
        .and_then(|rest| TlvList::decode_counted(Bytes::copy_from_slice(rest)).ok())
        .ok_or(Refusal::Ignore)?;
    let name = tlvs.value(0x00d3).ok_or(Refusal::BadName("no room name"))?;
    let name = std::str::from_utf8(name).map_err(|_| Refusal::BadName("not UTF-8"))?;
    let name = name.trim();
    if name.is_empty() || name.len() > MAX_ROOM_NAME {
        return Err(Refusal::BadName("empty or too long"));
    }
    if name.chars().any(|c| c.is_control() || c == '%') {
        return Err(Refusal::BadName("control character or %"));
    }
    if asked.exchange != EXCHANGE {
        return Err(Refusal::BadName("unknown exchange"));
    }
    Ok(room_in(asked.exchange, name))
}

/// 0x000D/0x0001 body for a refused create: error code, then TLV 0x0008 with libpurple's
/// "invalid room name" subcode.
fn refusal() -> Result<Bytes, LabError> {
    let mut b = BytesMut::new();
    b.put_u16(ERR_REFUSED);
    [Tlv::u16(TLV_ERROR_SUBCODE, ERR_INVALID_ROOM_NAME)]
        .into_iter()
        .collect::<TlvList>()
        .encode_rest(&mut b)?;
    Ok(b.freeze())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    /// A create request as libpurple 2.14 builds it (`aim_chatnav_createroom`).
    fn libpurple_create(name: &str, exchange: u16) -> Bytes {
        let mut b = BytesMut::new();
        b.put_u16(exchange);
        b.put_u8(6);
        b.put_slice(b"create");
        b.put_u16(0xffff);
        b.put_u8(1);
        let tlvs: TlvList = [
            Tlv::new(0x00d3, name.as_bytes().to_vec()),
            Tlv::new(0x00d6, &b"us-ascii"[..]),
            Tlv::new(0x00d7, &b"en"[..]),
        ]
        .into_iter()
        .collect();
        tlvs.encode_counted(&mut b).unwrap();
        b.freeze()
    }

    #[test]
    fn create_maps_the_name_to_the_lab_room() {
        let room = create_request(&libpurple_create("compliance", 4)).unwrap();
        assert_eq!(room, crate::room_for("compliance"));
        assert_eq!(
            create_request(&libpurple_create("", 4)),
            Err(Refusal::BadName("empty or too long"))
        );
        assert_eq!(
            create_request(&libpurple_create("x", 5)),
            Err(Refusal::BadName("unknown exchange"))
        );
        assert_eq!(
            create_request(&Bytes::from_static(&[0, 4, 9])),
            Err(Refusal::Ignore)
        );
    }

    #[test]
    fn rights_have_max_rooms_and_exchange_4_without_a_count() {
        let body = answer(RIGHTS_REQUEST, &Bytes::new()).unwrap();
        let tlvs = TlvList::decode_rest(body).unwrap();
        assert_eq!(tlvs.get(TLV_MAX_ROOMS).unwrap().as_u8(), Some(10));
        let ex = tlvs.value(TLV_EXCHANGE).unwrap();
        assert_eq!(&ex[..2], &[0, 4]);
        // libpurple reads the rest as TLVs to the end: no count in front.
        let inner = TlvList::decode_rest(ex.slice(2..)).unwrap();
        assert_eq!(inner.get(0x00d5).unwrap().as_u8(), Some(1));
        assert_eq!(answer(0x0042, &Bytes::new()), Err(Refusal::Ignore));
    }
}
