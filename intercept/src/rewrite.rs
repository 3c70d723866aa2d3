//! Rewriting the address carriers (oscar.md §3.1 A–D) so every follow-on connection comes
//! back through the gateway, and remembering where each cookie really leads.

use bytes::Bytes;
use oscar::message::{Redirect, RoomInfo, SnacMessage};
use oscar::{Family, Message, ServerAddress};
use settings::HostPort;

use crate::config::TlsTermination;
use crate::cookies::Route;
use crate::session::Answered;
use crate::tls_route::{self, Carrier};

/// What the session knows that a route must carry.
pub(crate) struct RewriteContext<'a> {
    /// The address this client reached the gateway on (or the configured advertise one).
    pub(crate) advertised: &'a ServerAddress,
    /// The port of the current upstream connection: the default for addresses without one.
    pub(crate) upstream_port: u16,
    /// The local user, if known yet.
    pub(crate) local_user: Option<&'a str>,
    /// What the session took the service response being rewritten to answer (see
    /// `session/service_requests.rs`); `None` for other messages.
    pub(crate) answered: Option<&'a Answered>,
    /// The current upstream leg's TLS name, if it is TLS.
    pub(crate) upstream_tls: Option<&'a str>,
    /// The gateway's client-side TLS, if it has a CA.
    pub(crate) client_tls: Option<&'a TlsTermination>,
}

/// What became of a redirect.
#[derive(Debug)]
pub(crate) enum Rewritten {
    /// It now names the gateway, and `cookie` leads to `route`.
    Routed {
        /// The cookie the client will present.
        cookie: Bytes,
        /// Where it leads.
        route: Route,
    },
    /// It now names the gateway, but the upstream's address is no host name (`bös!`), so
    /// no route is kept: the client's follow-on connection is refused at the gateway
    /// rather than sent around it.
    Unroutable,
}

/// Rewrites the address in `message` if it is a redirect; returns the cookie and the real
/// route to remember. Messages that carry no address (or an error instead, or an address
/// that does not read at all) are untouched.
pub(crate) fn rewrite(message: &mut Message, cx: &RewriteContext<'_>) -> Option<Rewritten> {
    match message {
        // Carrier A: legacy channel-1 login result on channel 4.
        Message::SignOff(off) => redirect(off, cx, Carrier::Login, Some(Family::OSERVICE), None),
        Message::Snac { body, .. } => match body {
            // Carrier B: BUCP login reply.
            SnacMessage::LoginReply(reply) => {
                redirect(reply, cx, Carrier::Login, Some(Family::OSERVICE), None)
            }
            // Carrier C: service response; its own family TLV, else the request it answers,
            // says what it is for. The room is the client's claim, which the chat service's
            // own word replaces on the new connection.
            SnacMessage::ServiceResponse(resp) => {
                let (family, room) = match cx.answered {
                    Some(a) => (a.family, a.claimed_room.clone()),
                    None => (resp.family(), None),
                };
                redirect(resp, cx, Carrier::Service(family), family, room)
            }
            // Carrier D: migration; the session moves with its user.
            SnacMessage::Migration(m) => {
                redirect(m, cx, Carrier::Migration, Some(Family::OSERVICE), None)
            }
            _ => None,
        },
        _ => None,
    }
}

fn redirect(
    carrier: &mut impl Redirect,
    cx: &RewriteContext<'_>,
    kind: Carrier,
    family: Option<Family>,
    room: Option<RoomInfo>,
) -> Option<Rewritten> {
    let real = match carrier.address()? {
        Ok(addr) => addr,
        Err(e) => {
            tracing::warn!(error = %e, "upstream sent an unreadable redirect address; left as is");
            return None;
        }
    };
    let cookie = carrier.cookie()?.clone();
    // Decided on what the upstream said, before the client's view is adjusted.
    let tls_name = tls_route::upstream_name(carrier, kind, &real.host, cx.upstream_tls);
    carrier.set_address(cx.advertised);
    tls_route::for_client(carrier, cx.client_tls);
    // Checked here, where it arrives; the route carries the checked value to the connect.
    let upstream = match HostPort::new(&real.host, real.port_or(cx.upstream_port)) {
        Ok(upstream) => upstream,
        Err(e) => {
            tracing::warn!(error = %e,
                "upstream redirected to an address that is no host name; the client is sent \
                 to the gateway with no route, so its follow-on connection will be refused");
            return Some(Rewritten::Unroutable);
        }
    };
    let route = Route {
        upstream,
        local_user: carrier
            .screen_name()
            .map(|sn| String::from_utf8_lossy(sn).into_owned())
            .or_else(|| cx.local_user.map(str::to_owned)),
        family,
        room,
        tls_name,
    };
    tracing::debug!(real = %route.upstream, advertised = %cx.advertised,
        tls = route.tls_name.as_deref().unwrap_or("-"), "rewrote a redirect");
    Some(Rewritten::Routed { cookie, route })
}

#[cfg(test)]
mod tests {
    use super::*;
    use oscar::message::signon::{TLV_ADDRESS, TLV_COOKIE, TLV_SCREEN_NAME};
    use oscar::message::{LoginReply, SnacBody};
    use oscar::{Flap, TlvList};

    /// A context with only the advertised address and the upstream's port: no user, no TLS.
    fn plain_context(advertised: &ServerAddress, upstream_port: u16) -> RewriteContext<'_> {
        RewriteContext {
            advertised,
            upstream_port,
            local_user: None,
            answered: None,
            upstream_tls: None,
            client_tls: None,
        }
    }

    #[test]
    fn the_login_reply_is_rewritten_and_its_cookie_routed() {
        let mut tlvs = TlvList::new();
        tlvs.set(TLV_SCREEN_NAME, &b"Alice"[..]);
        tlvs.set(TLV_ADDRESS, &b"64.12.30.168"[..]);
        tlvs.set(TLV_COOKIE, vec![9u8; 256]);
        let flap: Flap = LoginReply { tlvs }.to_snac(2).unwrap().to_flap().unwrap();
        let mut msg = Message::decode(&flap).unwrap();
        let advertised = ServerAddress::new("10.0.0.5", 5190);
        let cx = plain_context(&advertised, 443);
        let Some(Rewritten::Routed { cookie, route }) = rewrite(&mut msg, &cx) else {
            panic!("not routed");
        };
        assert_eq!(cookie.len(), 256);
        assert_eq!(
            route.upstream.to_string(),
            "64.12.30.168:443",
            "no port: the current connection's"
        );
        assert_eq!(route.local_user.as_deref(), Some("Alice"));
        let out = msg.to_flap().unwrap();
        let again = Message::decode(&out).unwrap();
        let Message::Snac {
            body: SnacMessage::LoginReply(r),
            ..
        } = again
        else {
            panic!("not a login reply")
        };
        assert_eq!(r.address().unwrap().unwrap(), advertised);
        assert_eq!(out.payload.len(), flap.payload.len() + 13 - 12);
    }

    #[test]
    fn an_error_reply_is_left_alone() {
        let mut tlvs = TlvList::new();
        tlvs.set(TLV_SCREEN_NAME, &b"alice"[..]);
        tlvs.push(oscar::Tlv::u16(0x0008, 5));
        let flap = LoginReply { tlvs }.to_snac(2).unwrap().to_flap().unwrap();
        let mut msg = Message::decode(&flap).unwrap();
        let advertised = ServerAddress::new("10.0.0.5", 5190);
        let cx = plain_context(&advertised, 5190);
        assert!(rewrite(&mut msg, &cx).is_none());
        assert_eq!(msg.to_flap().unwrap().payload, flap.payload);
    }

    #[test]
    fn an_address_that_is_no_host_name_is_rewritten_without_a_route() {
        let mut tlvs = TlvList::new();
        tlvs.set(TLV_SCREEN_NAME, &b"alice"[..]);
        tlvs.set(TLV_ADDRESS, &b"bos!example:5190"[..]);
        tlvs.set(TLV_COOKIE, vec![9u8; 16]);
        let flap = LoginReply { tlvs }.to_snac(2).unwrap().to_flap().unwrap();
        let mut msg = Message::decode(&flap).unwrap();
        let advertised = ServerAddress::new("10.0.0.5", 5190);
        let cx = plain_context(&advertised, 5190);
        assert!(matches!(
            rewrite(&mut msg, &cx),
            Some(Rewritten::Unroutable)
        ));
        let Message::Snac {
            body: SnacMessage::LoginReply(r),
            ..
        } = msg
        else {
            panic!("not a login reply")
        };
        assert_eq!(
            r.address().unwrap().unwrap(),
            advertised,
            "never around the gateway"
        );
    }
}
