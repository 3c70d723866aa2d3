//! The scripted client's connections: dialling (plain, or TLS with a name of its own), the
//! authorizer exchange, and signing on to a BOS or service host with a cookie. What a
//! redirect says about TLS (TLV 0x008E, 0x008D) decides how the next hop is dialled, as in
//! libpurple (oscar.md §2.3, §3.2, §5.1).

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use oscar::message::bucp::{TLV_PASSWORD_HASH, TLV_STRONG_HASH};
use oscar::message::signon::{TLV_CERT_NAME, TLV_CLIENT_ID, TLV_SCREEN_NAME, TLV_SSL_STATE};
use oscar::message::{
    KeyReply, KeyRequest, LoginReply, LoginRequest, Redirect, SignOff, SignonHello,
};
use oscar::{Channel, Family, Flap, FlapCodec, ScreenName, ServerAddress, Snac, SnacBody, Tlv};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

use crate::auth_hash::{strong_hash, weak_hash};
use crate::client::LoginMethod;
use crate::client_tls::ClientTls;
use crate::error::LabError;
use crate::stream::BoxStream;
use crate::tls::BOS_CERT_NAME;

/// How long each step of a scripted exchange may take before it is a failure.
pub(crate) const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// One framed OSCAR connection, plain or TLS.
pub(crate) type Conn = Framed<BoxStream, FlapCodec>;

/// How to dial: in plain text, or TLS trusting `.0` and sending `.1` as SNI.
pub(crate) type Dial<'a> = Option<(&'a ClientTls, &'a str)>;

/// Where a login reply, service response or migration sends the client next.
#[derive(Debug, Clone)]
pub(crate) struct Hop {
    /// TLV 0x0005.
    pub(crate) address: ServerAddress,
    /// TLV 0x0006.
    pub(crate) cookie: Bytes,
    /// The certificate name to dial with TLS, when TLV 0x008E asks for TLS: TLV 0x008D, or
    /// `bos.oscar.aol.com` without one (libpurple's fixed name after an SSL login).
    pub(crate) tls_name: Option<String>,
}

/// `fut`, failing after [`STEP_TIMEOUT`].
pub(crate) async fn step<T>(fut: impl Future<Output = Result<T, LabError>>) -> Result<T, LabError> {
    tokio::time::timeout(STEP_TIMEOUT, fut)
        .await
        .map_err(|_| LabError::Timeout("the server"))?
}

/// Connects to `addr`, in plain text or as `dial` says.
pub(crate) async fn connect(addr: &str, dial: Dial<'_>) -> Result<Conn, LabError> {
    let stream: BoxStream = match dial {
        Some((tls, name)) => tls.connect(addr, name).await?,
        None => {
            let stream = TcpStream::connect(addr)
                .await
                .map_err(|source| LabError::Connect {
                    addr: addr.to_owned(),
                    source,
                })?;
            let _ = stream.set_nodelay(true);
            Box::new(stream)
        }
    };
    Ok(Framed::new(stream, FlapCodec::default()))
}

/// Our side's sequence counter lives in the codec's user: libpurple starts at 1.
pub(crate) async fn send(conn: &mut Conn, seq: &mut u16, mut flap: Flap) -> Result<(), LabError> {
    flap.seq = *seq;
    *seq = seq.wrapping_add(1);
    conn.send(flap).await.map_err(LabError::from)
}

/// The next SNAC or sign-off from the server, skipping its hello and keep-alives.
pub(crate) async fn next_frame(conn: &mut Conn) -> Result<Flap, LabError> {
    loop {
        match conn.next().await {
            Some(Ok(flap))
                if flap.channel == Channel::SIGNON || flap.channel == Channel::KEEPALIVE => {}
            Some(Ok(flap)) => return Ok(flap),
            Some(Err(e)) => return Err(e.into()),
            None => return Err(LabError::Closed("")),
        }
    }
}

/// The authorizer exchange at `auth` (dialled as `dial` says): returns where BOS is.
pub(crate) async fn authorize(
    auth: SocketAddr,
    dial: Dial<'_>,
    name: &ScreenName,
    password: &[u8],
    method: LoginMethod,
) -> Result<Hop, LabError> {
    let mut conn = connect(&auth.to_string(), dial).await?;
    let mut seq = 1u16;
    if method == LoginMethod::Legacy {
        let hello = SignonHello::legacy_login(name, password, "imtegrity lab client");
        send(&mut conn, &mut seq, hello.to_flap()?).await?;
        let flap = next_frame(&mut conn).await?;
        let reply = SignOff::from_flap(&flap)?;
        return hop_of(&reply);
    }
    send(&mut conn, &mut seq, SignonHello::default().to_flap()?).await?;
    let mut req = KeyRequest::default();
    req.tlvs.set(TLV_SCREEN_NAME, name.to_bytes());
    req.tlvs.push(Tlv::flag(0x004b));
    req.tlvs.push(Tlv::flag(0x005a));
    send(&mut conn, &mut seq, req.to_snac(1)?.to_flap()?).await?;
    let snac = Snac::from_flap(&next_frame(&mut conn).await?)?;
    if snac.header.is(LoginReply::FAMILY, LoginReply::SUBTYPE) {
        return hop_of(&LoginReply::from_snac(&snac)?);
    }
    let key = KeyReply::from_snac(&snac)?.key;
    let mut login = LoginRequest::default();
    login.tlvs.set(TLV_SCREEN_NAME, name.to_bytes());
    let hash = match method {
        LoginMethod::Md5Weak => weak_hash(&key, password),
        _ => strong_hash(&key, password),
    };
    login.tlvs.set(TLV_PASSWORD_HASH, hash.to_vec());
    if method == LoginMethod::Md5Strong {
        login.tlvs.push(Tlv::flag(TLV_STRONG_HASH));
    }
    login.tlvs.set(TLV_CLIENT_ID, &b"imtegrity lab client"[..]);
    login.tlvs.push(Tlv::new(0x004a, vec![1u8]));
    send(&mut conn, &mut seq, login.to_snac(2)?.to_flap()?).await?;
    loop {
        let snac = Snac::from_flap(&next_frame(&mut conn).await?)?;
        if snac.header.is(LoginReply::FAMILY, LoginReply::SUBTYPE) {
            return hop_of(&LoginReply::from_snac(&snac)?);
        }
    }
}

/// The next hop a redirect names, or the login error it carries.
pub(crate) fn hop_of(reply: &impl Redirect) -> Result<Hop, LabError> {
    if let Some(code) = reply.error_code() {
        return Err(LabError::LoginRefused { code });
    }
    let address = reply
        .address()
        .ok_or_else(|| LabError::Protocol("redirect without an address".into()))??;
    let cookie = reply
        .cookie()
        .cloned()
        .ok_or_else(|| LabError::Protocol("redirect without a cookie".into()))?;
    let tlvs = reply.redirect_tlvs();
    // 0x008E is one byte in redirects and two in Kerberos tickets; any non-zero is TLS.
    let wants_tls = tlvs
        .value(TLV_SSL_STATE)
        .is_some_and(|v| v.iter().any(|b| *b != 0));
    let tls_name = wants_tls.then(|| {
        tlvs.value(TLV_CERT_NAME)
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_else(|| BOS_CERT_NAME.to_owned())
    });
    Ok(Hop {
        address,
        cookie,
        tls_name,
    })
}

/// Connects to a BOS or service host (with TLS when the hop asks for it, trusting `tls`),
/// presents the cookie and completes the sign-on handshake (versions, rates, client ready).
pub(crate) async fn connect_with_cookie(
    hop: &Hop,
    default_port: u16,
    tls: Option<&ClientTls>,
) -> Result<(Conn, u16), LabError> {
    let dial = match (&hop.tls_name, tls) {
        (None, _) => None,
        (Some(name), Some(tls)) => Some((tls, name.as_str())),
        (Some(name), None) => {
            return Err(LabError::Protocol(format!(
                "the server asked for TLS as {name:?} (TLV 0x008E) but the client trusts no CA"
            )));
        }
    };
    step(async {
        let address = &hop.address;
        let mut conn = connect(
            &format!("{}:{}", address.host, address.port_or(default_port)),
            dial,
        )
        .await?;
        let mut seq = 1u16;
        send(
            &mut conn,
            &mut seq,
            SignonHello::with_cookie(hop.cookie.clone()).to_flap()?,
        )
        .await?;
        let first = next_frame(&mut conn).await?;
        if first.channel == Channel::SIGNOFF {
            let off = SignOff::from_flap(&first)?;
            return Err(LabError::LoginRefused {
                code: off.error_code().unwrap_or(0),
            });
        }
        let online = Snac::from_flap(&first)?;
        if !online.header.is(Family::OSERVICE, 0x0003) {
            return Err(LabError::Protocol(format!(
                "expected HOST_ONLINE, got {online:?}"
            )));
        }
        let mut versions = BytesMut::new();
        for pair in online.body.chunks(2) {
            versions.put_slice(pair);
            versions.put_u16(if pair == [0, 1] { 4 } else { 1 });
        }
        let raw = |sub: u16, rid: u32, body: Bytes| {
            Snac::new(oscar::SnacHeader::new(Family::OSERVICE, sub, rid), body).to_flap()
        };
        send(&mut conn, &mut seq, raw(0x0017, 1, versions.freeze())?).await?;
        send(&mut conn, &mut seq, raw(0x0006, 2, Bytes::new())?).await?;
        loop {
            let snac = Snac::from_flap(&next_frame(&mut conn).await?)?;
            if snac.header.is(Family::OSERVICE, 0x0007) {
                break;
            }
        }
        send(
            &mut conn,
            &mut seq,
            raw(0x0008, 3, Bytes::from_static(&[0, 1]))?,
        )
        .await?;
        send(&mut conn, &mut seq, raw(0x0002, 4, Bytes::new())?).await?;
        Ok((conn, seq))
    })
    .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn reply(tlvs: &[(u16, &[u8])]) -> LoginReply {
        let mut reply = LoginReply::default();
        reply.tlvs.set(0x0005, &b"10.0.0.1:5190"[..]);
        reply.tlvs.set(0x0006, &b"cookie"[..]);
        for (kind, value) in tlvs {
            reply.tlvs.set(*kind, value.to_vec());
        }
        reply
    }

    #[test]
    fn the_ssl_state_and_cert_name_decide_the_next_dial() {
        assert_eq!(hop_of(&reply(&[])).unwrap().tls_name, None);
        assert_eq!(
            hop_of(&reply(&[(TLV_SSL_STATE, &[0])])).unwrap().tls_name,
            None
        );
        assert_eq!(
            hop_of(&reply(&[(TLV_SSL_STATE, &[1])]))
                .unwrap()
                .tls_name
                .as_deref(),
            Some("bos.oscar.aol.com")
        );
        let named = reply(&[
            (TLV_SSL_STATE, &[2]),
            (TLV_CERT_NAME, b"chat.oscar.aol.com"),
        ]);
        assert_eq!(
            hop_of(&named).unwrap().tls_name.as_deref(),
            Some("chat.oscar.aol.com")
        );
        assert_eq!(
            hop_of(&reply(&[(TLV_SSL_STATE, &[0, 2])]))
                .unwrap()
                .tls_name
                .as_deref(),
            Some("bos.oscar.aol.com")
        );
    }
}
