//! The lab authorizer: BUCP MD5 login (strong and weak hash) and the legacy channel-1
//! roasted-password login (oscar.md §2.1, §2.2). Success hands out the BOS address and a
//! cookie; failure the proper error TLV. The SSL authorizer (§2.3) is the same code over
//! TLS; its replies point at the TLS BOS.

use std::sync::Arc;

use bytes::Bytes;
use oscar::message::signon::{
    TLV_ADDRESS, TLV_COOKIE, TLV_ERROR_CODE, TLV_ERROR_URL, TLV_SCREEN_NAME, TLV_SSL_STATE,
};
use oscar::message::{
    KeyReply, KeyRequest, LoginReply, LoginRequest, SignOff, SignonHello, SignonKind,
};
use oscar::{Channel, ScreenName, Snac, SnacBody, TlvList};

use crate::auth_hash::{strong_hash, weak_hash};
use crate::conn::Conn;
use crate::error::LabError;
use crate::state::{Grant, LabState};
use crate::stream::Accepted;

/// Login error: incorrect screen name or password.
pub const ERR_BAD_PASSWORD: u16 = 0x0005;
/// Login error: unknown account.
pub const ERR_UNKNOWN_ACCOUNT: u16 = 0x0001;
const ERROR_URL: &[u8] = b"https://lab.invalid/login-error";

/// Serves one authorizer connection to its end.
pub(crate) async fn serve(accepted: Accepted, state: Arc<LabState>) -> Result<(), LabError> {
    let tls = accepted.tls;
    let mut conn = Conn::accept(accepted, 100).await?;
    // The login key handed out on this connection, per screen name asked.
    let mut key: Option<(ScreenName, Bytes)> = None;
    while let Some(flap) = conn.recv().await? {
        match flap.channel {
            Channel::SIGNON => {
                let hello = SignonHello::from_flap(&flap)?;
                match hello.kind() {
                    SignonKind::Plain => {}
                    SignonKind::LegacyLogin { screen_name } => {
                        let name = ScreenName::parse(&screen_name)?;
                        let password = hello.legacy_password().unwrap_or_default();
                        let ok = check_plain(&state, &name, &password);
                        let reply = legacy_reply(&state, &name, ok, tls);
                        tracing::info!(peer = %conn.peer, sn = %name, ok, "lab legacy login");
                        conn.outbox.send(reply.to_flap()?).await?;
                        return Ok(());
                    }
                    SignonKind::Cookie(_) => {
                        return Err(LabError::Protocol(
                            "cookie presented to the authorizer".into(),
                        ));
                    }
                }
            }
            Channel::DATA => {
                let snac = Snac::from_flap(&flap)?;
                let rid = snac.header.request_id;
                if snac.header.is(KeyRequest::FAMILY, KeyRequest::SUBTYPE) {
                    let req = KeyRequest::from_snac(&snac)?;
                    let name = ScreenName::parse(req.screen_name().map_or(&b""[..], |b| &b[..]))?;
                    if !state.accounts.knows(name.display()) {
                        let reply = failure(&name, ERR_UNKNOWN_ACCOUNT);
                        conn.outbox.snac(&reply, rid).await?;
                        continue;
                    }
                    let k =
                        Bytes::from(format!("{:010}", state.next_id() * 7_919 % 10_000_000_000));
                    conn.outbox
                        .snac(
                            &KeyReply {
                                key: k.clone(),
                                tlvs: TlvList::new(),
                            },
                            rid,
                        )
                        .await?;
                    key = Some((name, k));
                } else if snac.header.is(LoginRequest::FAMILY, LoginRequest::SUBTYPE) {
                    let req = LoginRequest::from_snac(&snac)?;
                    let name = ScreenName::parse(req.screen_name().map_or(&b""[..], |b| &b[..]))?;
                    let ok = match (&key, req.password_hash()) {
                        (Some((asked, k)), Some(hash)) if *asked == name => {
                            check_hash(&state, &name, k, hash, req.strong_hash())
                        }
                        _ => false,
                    };
                    tracing::info!(peer = %conn.peer, sn = %name, ok, "lab BUCP login");
                    let reply = if ok {
                        success(&state, &name, tls)
                    } else {
                        failure(&name, ERR_BAD_PASSWORD)
                    };
                    conn.outbox.snac(&reply, rid).await?;
                    if ok {
                        // OOS closes the authorizer connection with an empty channel-4 frame.
                        conn.outbox.send(SignOff::default().to_flap()?).await?;
                        return Ok(());
                    }
                }
            }
            Channel::SIGNOFF => return Ok(()),
            _ => {}
        }
    }
    Ok(())
}

fn check_plain(state: &LabState, name: &ScreenName, password: &[u8]) -> bool {
    if !state.accounts.knows(name.display()) {
        return false;
    }
    state
        .accounts
        .password(name.display())
        .is_none_or(|want| want.as_bytes() == password)
}

fn check_hash(
    state: &LabState,
    name: &ScreenName,
    key: &[u8],
    hash: [u8; 16],
    strong: bool,
) -> bool {
    let Some(password) = state.accounts.password(name.display()) else {
        return state.accounts.knows(name.display());
    };
    let want = if strong {
        strong_hash(key, password.as_bytes())
    } else {
        weak_hash(key, password.as_bytes())
    };
    want == hash
}

/// The login reply of a successful login. On the SSL authorizer it points at the TLS BOS
/// with TLV 0x008E = 1 and, like AOL's, no 0x008D: libpurple then checks the BOS certificate
/// against the hard-coded `bos.oscar.aol.com` (oscar.md §2.3).
fn success(state: &LabState, name: &ScreenName, tls: bool) -> LoginReply {
    let cookie = state.grant(Grant::Bos(name.clone()));
    let (bos, ssl_state) = match (&state.advertised.tls, tls) {
        (Some(secure), true) => (&secure.bos, 1u8),
        _ => (&state.advertised.bos, 0u8),
    };
    let mut tlvs = TlvList::new();
    tlvs.set(TLV_SCREEN_NAME, name.to_bytes());
    tlvs.set(TLV_ADDRESS, Bytes::from(bos.clone()));
    tlvs.set(TLV_COOKIE, cookie);
    tlvs.set(TLV_SSL_STATE, vec![ssl_state]);
    LoginReply { tlvs }
}

fn failure(name: &ScreenName, code: u16) -> LoginReply {
    let mut tlvs = TlvList::new();
    tlvs.set(TLV_SCREEN_NAME, name.to_bytes());
    tlvs.set(TLV_ERROR_URL, Bytes::from_static(ERROR_URL));
    tlvs.push(oscar::Tlv::u16(TLV_ERROR_CODE, code));
    LoginReply { tlvs }
}

/// The channel-4 reply of a legacy login: the BUCP reply's TLVs, without the SSL state on a
/// plain connection (old clients never saw one) and with it over TLS, where the client must
/// learn that BOS is TLS too.
fn legacy_reply(state: &LabState, name: &ScreenName, ok: bool, tls: bool) -> SignOff {
    let reply = if ok {
        success(state, name, tls)
    } else {
        failure(name, ERR_BAD_PASSWORD)
    };
    let mut off = SignOff::default();
    for tlv in &reply.tlvs {
        if tls || tlv.kind != TLV_SSL_STATE {
            off.tlvs.push(tlv.clone());
        }
    }
    off
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use oscar::message::signon::TLV_CERT_NAME;

    use super::*;
    use crate::accounts::Accounts;
    use crate::state::{Advertised, AdvertisedTls};

    fn state() -> LabState {
        LabState::new(
            Accounts::AnyPassword,
            Advertised {
                bos: "127.0.0.1:1000".into(),
                chat: "127.0.0.1:1001".into(),
                tls: Some(AdvertisedTls {
                    bos: "127.0.0.1:2000".into(),
                    chat: "127.0.0.1:2001".into(),
                }),
            },
            ScreenName::parse(b"labbot").unwrap(),
            1,
        )
    }

    #[test]
    fn the_ssl_authorizer_points_at_the_tls_bos_with_state_1_and_no_cert_name() {
        let state = state();
        let name = ScreenName::parse(b"alice").unwrap();
        let ssl = success(&state, &name, true);
        assert_eq!(&ssl.tlvs.value(TLV_ADDRESS).unwrap()[..], b"127.0.0.1:2000");
        assert_eq!(
            ssl.tlvs.value(TLV_SSL_STATE).map(|v| v.to_vec()),
            Some(vec![1])
        );
        assert!(!ssl.tlvs.contains(TLV_CERT_NAME));
        let plain = success(&state, &name, false);
        assert_eq!(
            &plain.tlvs.value(TLV_ADDRESS).unwrap()[..],
            b"127.0.0.1:1000"
        );
        assert_eq!(
            plain.tlvs.value(TLV_SSL_STATE).map(|v| v.to_vec()),
            Some(vec![0])
        );
        // Legacy replies keep the SSL state only over TLS.
        assert!(
            !legacy_reply(&state, &name, true, false)
                .tlvs
                .contains(TLV_SSL_STATE)
        );
        let legacy_ssl = legacy_reply(&state, &name, true, true);
        assert_eq!(
            &legacy_ssl.tlvs.value(TLV_ADDRESS).unwrap()[..],
            b"127.0.0.1:2000"
        );
        assert!(legacy_ssl.tlvs.contains(TLV_SSL_STATE));
    }
}
