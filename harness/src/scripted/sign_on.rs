//! Signing on through the relay with a [`Scripted`] connection: the BUCP login that yields a
//! BOS cookie, and presenting that cookie.

// These helpers assert as the calling test would: a failure panics with what went wrong.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, SocketAddr};

use oscar::message::bucp::{TLV_PASSWORD_HASH, TLV_STRONG_HASH};
use oscar::message::signon::TLV_SCREEN_NAME;
use oscar::message::{KeyReply, KeyRequest, LoginReply, LoginRequest, Redirect, SignonHello};
use oscar::{Channel, Family, Flap, SnacBody, Tlv};

use super::{End, Scripted, WAIT};

/// The login-less hello a BUCP client sends first.
pub fn client_hello() -> Flap {
    Flap::new(Channel::SIGNON, vec![0, 0, 0, 1])
}

/// Logs `name` in through the relay from `from` (BUCP, MD5, `password`) and returns the BOS
/// cookie the login reply handed out, once the authorizer connection closed.
pub async fn bos_cookie(relay: SocketAddr, from: IpAddr, name: &str, password: &str) -> Vec<u8> {
    let mut auth = Scripted::connect(relay, from).await;
    auth.send(client_hello()).await;
    let mut req = KeyRequest::default();
    req.tlvs.set(TLV_SCREEN_NAME, name.as_bytes().to_vec());
    auth.send_snac(&req, 1).await;
    let key = KeyReply::from_snac(&auth.snac().await).unwrap().key;
    let mut login = LoginRequest::default();
    login.tlvs.set(TLV_SCREEN_NAME, name.as_bytes().to_vec());
    login.tlvs.set(
        TLV_PASSWORD_HASH,
        lab::strong_hash(&key, password.as_bytes()).to_vec(),
    );
    login.tlvs.push(Tlv::flag(TLV_STRONG_HASH));
    auth.send_snac(&login, 2).await;
    let reply = LoginReply::from_snac(&auth.snac().await).unwrap();
    assert_eq!(reply.error_code(), None, "login of {name} refused");
    let cookie = reply.cookie().unwrap().to_vec();
    // The lab ends the authorizer connection with an empty channel-4 frame.
    let off = auth.next(WAIT).await.expect("the authorizer's sign-off");
    assert_eq!(off.channel, Channel::SIGNOFF);
    assert_eq!(auth.next(WAIT).await.unwrap_err(), End::Closed);
    cookie
}

/// Presents `cookie` from `from` and waits for the server's HOST_ONLINE (0x0001/0x0003):
/// a signed-on BOS or service connection.
pub async fn present(relay: SocketAddr, from: IpAddr, cookie: &[u8]) -> Scripted {
    let mut conn = Scripted::connect(relay, from).await;
    conn.send(SignonHello::with_cookie(cookie.to_vec()).to_flap().unwrap())
        .await;
    let online = conn.snac().await;
    assert!(online.header.is(Family::OSERVICE, 0x0003), "{online:?}");
    conn
}
