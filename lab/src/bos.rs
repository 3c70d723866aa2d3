//! The lab BOS server: accepts the login cookie, answers what a real client needs to reach
//! the connected state (libpurple waits for the BOS rights 0x0009/0x0003 *and* the feedbag
//! 0x0013/0x0006), routes IMs and typing between users, announces arrivals and departures,
//! redirects chat-room requests to the chat listener and chat-navigation requests to
//! itself (a chatnav cookie on this listener gets a chatnav session), and runs the echo bot.
//! A service request carrying TLV 0x008C is sent to the TLS listeners when the lab has them
//! (oscar.md §3.2).

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use oscar::message::icbm::{IcbmContent, TLV_REQUEST_ACK};
use oscar::message::icbm_reading::IcbmFrame;
use oscar::message::oservice::{TLV_ROOM_INFO, TLV_SERVICE_FAMILY, TLV_WANT_TLS};
use oscar::message::signon::{
    TLV_ADDRESS, TLV_CERT_NAME, TLV_COOKIE, TLV_DISCONNECT_REASON, TLV_SSL_STATE,
};
use oscar::message::{
    BuddyArrived, BuddyDeparted, IcbmReceive, IcbmSend, Migration, RoomInfo, SelfInfo,
    ServiceRequest, ServiceResponse, SignOff, SignonHello, SignonKind, Typing, UserInfo, UserList,
};
use oscar::{Channel, Family, SERVER_REQUEST_ID_BIT, ScreenName, Snac, SnacBody, Tlv, TlvList};

use crate::conn::{Conn, Outbox};
use crate::error::LabError;
use crate::state::{Grant, LabState, Online};
use crate::stream::Accepted;
use crate::tls::{BOS_CERT_NAME, CHAT_CERT_NAME};

/// Families the BOS host serves, announced in 0x0001/0x0003.
const BOS_FAMILIES: &[u16] = &[0x0001, 0x0002, 0x0003, 0x0004, 0x0009, 0x0013];

/// ICBM error code: recipient not logged on.
const ICBM_ERR_NOT_LOGGED_ON: u16 = 0x0004;

/// Serves one BOS connection to its end.
pub(crate) async fn serve(accepted: Accepted, state: Arc<LabState>) -> Result<(), LabError> {
    let tls = accepted.tls;
    let mut conn = Conn::accept(accepted, 200).await?;
    let mut chatnav = false;
    let Some(name) = sign_on(&mut conn, &state, |g| match g {
        Grant::Bos(name) => Some(name),
        Grant::ChatNav(name) => {
            chatnav = true;
            Some(name)
        }
        Grant::Chat(..) => None,
    })
    .await?
    else {
        return Ok(());
    };
    if chatnav {
        return crate::chatnav::session(&mut conn, &state, &name).await;
    }
    // HOST_ONLINE goes out before the session is visible to others: from then on another
    // user's sign-on may queue an arrival on this outbox, and it must not come first (a
    // client waiting for HOST_ONLINE would take it for a protocol violation; seen under load
    // in the relay benchmark).
    host_online(&conn.outbox, &state, BOS_FAMILIES).await?;
    let session = state.next_id();
    let me = Online {
        name: name.clone(),
        outbox: conn.outbox.clone(),
        session,
        tls,
    };
    if let Some(previous) = state.sign_on(me.clone()) {
        // Same screen name signed on elsewhere: close the older session as AOL did.
        let mut off = SignOff::default();
        off.tlvs.push(Tlv::u16(TLV_DISCONNECT_REASON, 0x0001));
        let _ = previous.outbox.send(off.to_flap()?).await;
    }
    tracing::info!(peer = %conn.peer, sn = %name, tls, "lab BOS session started");
    state.saw_bos_peer(conn.peer);
    let result = session_loop(&mut conn, &state, &me).await;
    if state.sign_off(&name, session) {
        let gone = BuddyDeparted(UserList {
            users: vec![UserInfo::new(&name)],
        });
        for other in state.others(&name) {
            let _ = other.outbox.snac(&gone, server_rid(&state)).await;
        }
    }
    tracing::info!(peer = %conn.peer, sn = %name, "lab BOS session ended");
    result
}

/// Reads the client's cookie hello and announces the host's families. Returns `None`
/// (after telling the client) when the cookie is unknown or for another service.
pub(crate) async fn sign_on(
    conn: &mut Conn,
    state: &LabState,
    accept: impl FnOnce(Grant) -> Option<ScreenName>,
) -> Result<Option<ScreenName>, LabError> {
    let hello = loop {
        let Some(flap) = conn.recv().await? else {
            return Ok(None);
        };
        if flap.channel == Channel::SIGNON {
            break SignonHello::from_flap(&flap)?;
        }
    };
    let SignonKind::Cookie(cookie) = hello.kind() else {
        return Err(LabError::Protocol(
            "service connection without a cookie".into(),
        ));
    };
    let Some(name) = state.redeem(&cookie).and_then(accept) else {
        tracing::warn!(peer = %conn.peer, "lab: unknown cookie");
        let mut off = SignOff::default();
        off.tlvs
            .push(Tlv::u16(oscar::message::signon::TLV_ERROR_CODE, 0x0001));
        conn.outbox.send(off.to_flap()?).await?;
        return Ok(None);
    };
    Ok(Some(name))
}

pub(crate) fn server_rid(state: &LabState) -> u32 {
    // Server-initiated SNACs carry the high bit (oscar.md §1.2).
    SERVER_REQUEST_ID_BIT | (state.next_id() as u32 & 0x7fff_ffff)
}

/// Announces `families` in 0x0001/0x0003 HOST_ONLINE.
pub(crate) async fn host_online(
    out: &Outbox,
    state: &LabState,
    families: &[u16],
) -> Result<(), LabError> {
    let mut body = BytesMut::new();
    for f in families {
        body.put_u16(*f);
    }
    out.raw_snac(Family::OSERVICE, 0x0003, server_rid(state), body.freeze())
        .await
}

/// Answers the OSERVICE housekeeping every connection goes through (versions, rates, self
/// info). Returns whether `snac` was one of those.
pub(crate) async fn housekeeping(
    snac: &Snac,
    out: &Outbox,
    me: &ScreenName,
) -> Result<bool, LabError> {
    let rid = snac.header.request_id;
    let h = snac.header;
    if h.is(Family::OSERVICE, 0x0017) {
        // Agree to whatever versions the client asked for.
        out.raw_snac(Family::OSERVICE, 0x0018, rid, snac.body.clone())
            .await?;
    } else if h.is(Family::OSERVICE, 0x0006) {
        out.raw_snac(Family::OSERVICE, 0x0007, rid, rate_classes())
            .await?;
    } else if h.is(Family::OSERVICE, 0x000e) {
        let info = SelfInfo {
            user: user_info(me),
            trailing: Bytes::new(),
        };
        out.snac(&info, rid).await?;
    } else {
        return Ok(h.is(Family::OSERVICE, 0x0008)
            || h.is(Family::OSERVICE, 0x0011)
            || h.is(Family::OSERVICE, 0x001e));
    }
    Ok(true)
}

/// A user-info block with the user class flags a real server sends (AIM user, free).
pub(crate) fn user_info(name: &ScreenName) -> UserInfo {
    let mut info = UserInfo::new(name);
    info.tlvs.push(Tlv::u16(UserInfo::TLV_USER_CLASS, 0x0010));
    info
}

/// One rate class with generous limits, in the version-3 layout libpurple parses.
fn rate_classes() -> Bytes {
    let mut b = BytesMut::new();
    b.put_u16(1); // classes
    b.put_u16(1); // class id
    for v in [80u32, 2500, 2000, 1500, 800, 6000, 6000, 0] {
        b.put_u32(v); // window, clear, alert, limit, disconnect, current, max, last time
    }
    b.put_u8(0); // dropping
    b.put_u16(1); // class id of the group
    b.put_u16(0); // no (family, subtype) pairs: the class applies by default
    b.freeze()
}

async fn session_loop(conn: &mut Conn, state: &LabState, me: &Online) -> Result<(), LabError> {
    while let Some(flap) = conn.recv().await? {
        match flap.channel {
            Channel::DATA => handle_snac(Snac::from_flap(&flap)?, state, me).await?,
            Channel::SIGNOFF => return Ok(()),
            _ => {}
        }
    }
    Ok(())
}

async fn handle_snac(snac: Snac, state: &LabState, me: &Online) -> Result<(), LabError> {
    let out = &me.outbox;
    let rid = snac.header.request_id;
    let h = snac.header;
    if housekeeping(&snac, out, &me.name).await? {
        return Ok(());
    }
    match (h.family, h.subtype) {
        (Family::OSERVICE, 0x0002) => announce_arrival(state, me).await?,
        (Family::OSERVICE, 0x0004) => service_request(&snac, state, me).await?,
        (Family::LOCATE, 0x0002) => {
            let tlvs: TlvList = [Tlv::u16(1, 1024), Tlv::u16(2, 16)].into_iter().collect();
            out.raw_snac(Family::LOCATE, 0x0003, rid, tlvs.to_bytes()?)
                .await?;
        }
        (Family::BUDDY, 0x0002) => {
            let tlvs: TlvList = [Tlv::u16(1, 512), Tlv::u16(2, 512)].into_iter().collect();
            out.raw_snac(Family::BUDDY, 0x0003, rid, tlvs.to_bytes()?)
                .await?;
        }
        (Family::ICBM, 0x0004) => {
            let mut b = BytesMut::new();
            b.put_u16(0); // channel
            b.put_u32(0x0000_000b); // flags: channel msgs, missed calls, typing
            b.put_u16(8000); // max SNAC size
            b.put_u16(999); // max sender warning
            b.put_u16(999); // max receiver warning
            b.put_u32(0); // min message interval
            out.raw_snac(Family::ICBM, 0x0005, rid, b.freeze()).await?;
        }
        (Family::ICBM, 0x0006) => match IcbmSend::from_snac(&snac) {
            Ok(im) => route_im(im, rid, state, me).await?,
            // What the strict decoder refuses (a trailing byte, a lying TLV length, more TLVs
            // than it takes) AOL's server passed on as the sender wrote it, and clients read
            // what they could of it. The lab does the same, so such IMs reach a
            // real client in the tests.
            Err(_) => route_raw_im(snac.body, rid, state, me).await?,
        },
        (Family::ICBM, 0x0010) => {
            // Offline messages, then "done".
            for stored in state.take_offline(&me.name) {
                out.snac(&stored, server_rid(state)).await?;
            }
            out.raw_snac(Family::ICBM, 0x0017, rid, Bytes::new())
                .await?;
        }
        (Family::ICBM, 0x0014) => {
            let typing = Typing::from_snac(&snac)?;
            let to = ScreenName::parse(&typing.screen_name)?;
            if let Some(peer) = state.find(&to) {
                let fwd = Typing {
                    screen_name: me.name.to_bytes(),
                    ..typing
                };
                let _ = peer.outbox.snac(&fwd, server_rid(state)).await;
            }
        }
        (Family::PERMIT_DENY, 0x0002) => {
            let tlvs: TlvList = [Tlv::u16(1, 160), Tlv::u16(2, 160)].into_iter().collect();
            out.raw_snac(Family::PERMIT_DENY, 0x0003, rid, tlvs.to_bytes()?)
                .await?;
        }
        (Family::FEEDBAG, 0x0002) => {
            let limits: Vec<u8> = std::iter::repeat_n(200u16.to_be_bytes(), 20)
                .flatten()
                .collect();
            let tlvs: TlvList = [Tlv::new(4, limits)].into_iter().collect();
            out.raw_snac(Family::FEEDBAG, 0x0003, rid, tlvs.to_bytes()?)
                .await?;
        }
        (Family::FEEDBAG, 0x0004 | 0x0005) => {
            // An empty buddy list: version 0, no items, timestamp 0.
            out.raw_snac(
                Family::FEEDBAG,
                0x0006,
                rid,
                Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0]),
            )
            .await?;
        }
        (Family::FEEDBAG, 0x0008..=0x000a) => {
            let n = feedbag_item_count(&snac.body);
            let ack: Vec<u8> = std::iter::repeat_n([0u8, 0u8], n).flatten().collect();
            out.raw_snac(Family::FEEDBAG, 0x000e, rid, ack).await?;
        }
        _ => tracing::trace!(family = ?h.family, subtype = h.subtype, "lab BOS: ignored SNAC"),
    }
    Ok(())
}

/// Counts the items in a feedbag add/update/delete body, to acknowledge each one.
fn feedbag_item_count(body: &Bytes) -> usize {
    // Each item: name (u16 len + bytes), group id, item id, class, length-prefixed TLVs.
    let skip_item = |rest: &[u8]| -> Option<usize> {
        let (len, tail) = split_u16(rest)?;
        let tail = tail.get(usize::from(len) + 6..)?;
        let (tlv_len, tail) = split_u16(tail)?;
        Some(rest.len() - tail.get(usize::from(tlv_len)..)?.len())
    };
    let mut rest = &body[..];
    let mut n = 0;
    while let Some(used) = skip_item(rest) {
        rest = rest.get(used..).unwrap_or_default();
        n += 1;
    }
    n
}

fn split_u16(b: &[u8]) -> Option<(u16, &[u8])> {
    let (head, tail) = b.split_first_chunk::<2>()?;
    Some((u16::from_be_bytes(*head), tail))
}

async fn announce_arrival(state: &LabState, me: &Online) -> Result<(), LabError> {
    // Tell the newcomer who is here (the bot always is), and everyone else about the newcomer.
    let mut here: Vec<UserInfo> = state
        .others(&me.name)
        .iter()
        .map(|o| user_info(&o.name))
        .collect();
    here.push(user_info(&state.bot));
    me.outbox
        .snac(&BuddyArrived(UserList { users: here }), server_rid(state))
        .await?;
    let arrived = BuddyArrived(UserList {
        users: vec![user_info(&me.name)],
    });
    for other in state.others(&me.name) {
        let _ = other.outbox.snac(&arrived, server_rid(state)).await;
    }
    Ok(())
}

async fn service_request(snac: &Snac, state: &LabState, me: &Online) -> Result<(), LabError> {
    let req = ServiceRequest::from_snac(snac)?;
    // TLV 0x008C asks for TLS; a lab without TLS listeners answers as if it were absent.
    let tls = state
        .advertised
        .tls
        .as_ref()
        .filter(|_| req.tlvs.contains(TLV_WANT_TLS));
    if req.family == Family::CHAT_NAV {
        // Chat navigation lives on the BOS listeners: a cookie for it, a BOS address.
        let cookie = state.grant(Grant::ChatNav(me.name.clone()));
        let to = match tls {
            Some(tls) => Target::Tls(&tls.bos, BOS_CERT_NAME),
            None => Target::Plain(&state.advertised.bos),
        };
        return redirect(me, snac, Family::CHAT_NAV, to, cookie).await;
    }
    if req.family != Family::CHAT {
        tracing::debug!(family = ?req.family, "lab BOS: service not offered");
        return Ok(());
    }
    // With several room-info TLVs, the last one: a server's reading of an ambiguous request
    // is its own, and the relay must not depend on guessing it (tests/hostile_chat.rs).
    let Some(room) = req.tlvs.iter().rfind(|t| t.kind == TLV_ROOM_INFO) else {
        return Err(LabError::Protocol(
            "chat service request without room info".into(),
        ));
    };
    let room = RoomInfo::decode(room.value.clone())?;
    let cookie = state.grant(Grant::Chat(me.name.clone(), room));
    let to = match tls {
        Some(tls) => Target::Tls(&tls.chat, CHAT_CERT_NAME),
        None => Target::Plain(&state.advertised.chat),
    };
    redirect(me, snac, Family::CHAT, to, cookie).await
}

/// Where a service redirect sends the client.
#[derive(Debug, Clone, Copy)]
enum Target<'a> {
    /// A plain listener's `host:port`.
    Plain(&'a str),
    /// A TLS listener's `host:port` and the certificate name the client checks.
    Tls(&'a str, &'a str),
}

/// 0x0001/0x0005 answering the service request `snac`: TLV 0x000D family, 0x0005 address,
/// 0x0006 cookie (libpurple `redirect` needs those three), then 0x008E = 0 for a plain
/// listener, or 0x008E = 2 (TLS, resumption supported) and 0x008D the certificate name for a
/// TLS one, as OOS answers a 0x008C request (oscar.md §3.2).
async fn redirect(
    me: &Online,
    snac: &Snac,
    family: Family,
    to: Target<'_>,
    cookie: Bytes,
) -> Result<(), LabError> {
    let tlvs = redirect_tlvs(family, to, cookie);
    me.outbox
        .snac(&ServiceResponse { tlvs }, snac.header.request_id)
        .await
}

/// The TLVs of a service response; see [`redirect`].
fn redirect_tlvs(family: Family, to: Target<'_>, cookie: Bytes) -> TlvList {
    let mut tlvs = TlvList::new();
    tlvs.push(Tlv::u16(TLV_SERVICE_FAMILY, family.0));
    let address = match to {
        Target::Plain(address) | Target::Tls(address, _) => address,
    };
    tlvs.set(TLV_ADDRESS, Bytes::from(address.to_owned()));
    tlvs.set(TLV_COOKIE, cookie);
    match to {
        Target::Plain(_) => tlvs.set(TLV_SSL_STATE, vec![0u8]),
        Target::Tls(_, name) => {
            tlvs.set(TLV_SSL_STATE, vec![2u8]);
            tlvs.set(TLV_CERT_NAME, Bytes::copy_from_slice(name.as_bytes()));
        }
    }
    tlvs
}

async fn route_im(im: IcbmSend, rid: u32, state: &LabState, me: &Online) -> Result<(), LabError> {
    let to = im.recipient_name()?;
    let wants_ack = im.tlvs.contains(TLV_REQUEST_ACK);
    if to == state.bot {
        bot_echo(&im, state, me).await?;
    } else if let Some(peer) = state.find(&to) {
        let rx = IcbmReceive::delivery_of(&im, user_info(&me.name));
        let _ = peer.outbox.snac(&rx, server_rid(state)).await;
    } else if im.tlvs.contains(oscar::message::icbm::TLV_STORE_OFFLINE) {
        // Stored for delivery at the recipient's next sign-on, stamped with the send time.
        let mut rx = IcbmReceive::delivery_of(&im, user_info(&me.name));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX));
        rx.tlvs
            .push(Tlv::u32(oscar::message::icbm::TLV_SEND_TIME, now));
        state.store_offline(&to, rx);
    } else {
        return not_logged_on(me, rid).await;
    }
    if wants_ack {
        let mut ack = BytesMut::new();
        ack.put_slice(&im.cookie);
        ack.put_u16(im.channel);
        ack.put_u8(u8::try_from(im.recipient.len()).unwrap_or(0));
        ack.put_slice(&im.recipient);
        me.outbox
            .raw_snac(Family::ICBM, 0x000c, rid, ack.freeze())
            .await?;
    }
    Ok(())
}

/// Tells `me` that the recipient of its ICBM `rid` is not online.
async fn not_logged_on(me: &Online, rid: u32) -> Result<(), LabError> {
    let mut err = BytesMut::new();
    err.put_u16(ICBM_ERR_NOT_LOGGED_ON);
    me.outbox
        .raw_snac(Family::ICBM, 0x0001, rid, err.freeze())
        .await
}

/// Delivers an ICBM whose TLV area the strict decoder refused: cookie, channel and
/// recipient as sent, the sender's user info, then the sender's TLV bytes unchanged. Neither
/// an acknowledgement nor offline storage is offered, as those need the TLVs read.
async fn route_raw_im(
    body: Bytes,
    rid: u32,
    state: &LabState,
    me: &Online,
) -> Result<(), LabError> {
    let frame = IcbmFrame::of_send(body)?;
    let to = ScreenName::parse(&frame.peer)?;
    let Some(peer) = state.find(&to) else {
        return not_logged_on(me, rid).await;
    };
    let mut rx = BytesMut::new();
    rx.put_slice(&frame.cookie);
    rx.put_u16(frame.channel);
    user_info(&me.name).encode(&mut rx)?;
    rx.put_slice(&frame.tlv_area);
    let _ = peer
        .outbox
        .raw_snac(Family::ICBM, 0x0007, server_rid(state), rx.freeze())
        .await;
    Ok(())
}

/// The echo bot: every IM comes straight back from the bot with the same content, so a
/// person trying a client by hand sees the round trip.
async fn bot_echo(im: &IcbmSend, state: &LabState, me: &Online) -> Result<(), LabError> {
    if let Ok(IcbmContent::Text(text)) = im.content() {
        tracing::info!(sn = %me.name, text = %text.plain(), "labbot echo");
    }
    let echo = IcbmReceive::delivery_of(im, user_info(&state.bot));
    me.outbox.snac(&echo, server_rid(state)).await
}

/// Sends `who` a migration to a fresh BOS cookie on the same BOS listener (oscar.md §3.5):
/// the TLS one for a session that came over TLS. Returns false when the user is not online.
pub(crate) async fn migrate(state: &LabState, who: &ScreenName) -> Result<bool, LabError> {
    let Some(session) = state.find(who) else {
        return Ok(false);
    };
    let cookie = state.grant(Grant::Bos(session.name.clone()));
    let bos = match &state.advertised.tls {
        Some(tls) if session.tls => &tls.bos,
        _ => &state.advertised.bos,
    };
    let mut tlvs = TlvList::new();
    tlvs.set(TLV_ADDRESS, Bytes::from(bos.clone()));
    tlvs.set(TLV_COOKIE, cookie);
    let families = BOS_FAMILIES.iter().map(|f| Family(*f)).collect();
    session
        .outbox
        .snac(&Migration { families, tlvs }, server_rid(state))
        .await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_tls_redirect_carries_state_2_and_the_cert_name_a_plain_one_state_0() {
        let cookie = Bytes::from_static(b"c");
        let tls = redirect_tlvs(
            Family::CHAT,
            Target::Tls("127.0.0.1:7001", CHAT_CERT_NAME),
            cookie.clone(),
        );
        assert_eq!(tls.get(TLV_SERVICE_FAMILY).unwrap().as_u16(), Some(0x000e));
        assert_eq!(&tls.value(TLV_ADDRESS).unwrap()[..], b"127.0.0.1:7001");
        assert_eq!(tls.value(TLV_SSL_STATE).map(|v| v.to_vec()), Some(vec![2]));
        assert_eq!(
            &tls.value(TLV_CERT_NAME).unwrap()[..],
            b"chat.oscar.aol.com"
        );
        let plain = redirect_tlvs(Family::CHAT_NAV, Target::Plain("127.0.0.1:7000"), cookie);
        assert_eq!(
            plain.value(TLV_SSL_STATE).map(|v| v.to_vec()),
            Some(vec![0])
        );
        assert!(!plain.contains(TLV_CERT_NAME));
    }
}
