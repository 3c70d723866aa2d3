//! TLS decisions for a redirect (oscar.md §5.3): whether the follow-on connection's
//! upstream leg is TLS and for which name, and what the client is told, so the client side
//! stays consistent with what the gateway can present.

use std::net::IpAddr;

use oscar::Family;
use oscar::message::Redirect;

use crate::config::TlsTermination;

/// The name libpurple validates a BOS server against after an SSL login, since the login
/// reply names none (oscar.md §2.3); the real server's certificate carries it.
pub(crate) const BOS_CERT_NAME: &str = "bos.oscar.aol.com";

/// Which address carrier a redirect is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Carrier {
    /// A login result (carriers A and B): the way to BOS.
    Login,
    /// A service response (carrier C) for this family.
    Service(Option<Family>),
    /// A migration (carrier D): the session moves to another BOS.
    Migration,
}

/// The name the upstream leg of the follow-on connection uses for SNI and verification, or
/// `None` for plain TCP. `current` is the current upstream leg's TLS name, if it is TLS.
pub(crate) fn upstream_name(
    carrier: &impl Redirect,
    kind: Carrier,
    real_host: &str,
    current: Option<&str>,
) -> Option<String> {
    let declared = carrier.ssl_state().is_some_and(|s| s != 0);
    let cert_name = carrier
        .cert_name()
        .and_then(|n| std::str::from_utf8(n).ok())
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    match kind {
        // An SSL login leads to a TLS BOS, as libpurple assumes; a plain login only when
        // the server says so.
        Carrier::Login if declared || current.is_some() => {
            Some(cert_name.unwrap_or_else(|| BOS_CERT_NAME.to_owned()))
        }
        Carrier::Login => None,
        // Admin and buddy-icon servers advertise SSL but serve plain text: libpurple
        // connects to them in plain text whatever they say, so the real servers must
        // accept that.
        Carrier::Service(Some(Family::ADMIN | Family::BART)) => None,
        Carrier::Service(_) if declared => Some(cert_name.unwrap_or_else(|| real_host.to_owned())),
        Carrier::Service(_) => None,
        Carrier::Migration => current.map(|c| cert_name.unwrap_or_else(|| c.to_owned())),
    }
}

/// Adjusts what the client is told about TLS for the next connection: without client TLS,
/// plain text (the gateway still speaks TLS upstream when the route says so); with it, a
/// certificate name the gateway can present.
pub(crate) fn for_client(carrier: &mut impl Redirect, client_tls: Option<&TlsTermination>) {
    let Some(tls) = client_tls else {
        if carrier.ssl_state().is_some_and(|s| s != 0) || carrier.cert_name().is_some() {
            tracing::debug!("the gateway has no CA: telling the client to connect in plain text");
            carrier.set_plain();
        }
        return;
    };
    let Some(name) = carrier.cert_name() else {
        return;
    };
    let name = String::from_utf8_lossy(name).into_owned();
    let presented = presentable(&name, Some(tls));
    if presented != name {
        carrier.set_cert_name(Some(&presented));
    }
}

/// The certificate name to tell a client instead of the upstream's `name`: `name` itself
/// when the gateway CA can issue for it, otherwise the configured fallback name.
pub(crate) fn presentable(name: &str, client_tls: Option<&TlsTermination>) -> String {
    let Some(tls) = client_tls else {
        return name.to_owned();
    };
    if name.parse::<IpAddr>().is_err() && (tls.presentable)(name) {
        return name.to_owned();
    }
    tracing::info!(
        upstream_name = %name, presented = %tls.fallback_name,
        "the gateway CA cannot issue for the upstream's certificate name; naming its own"
    );
    tls.fallback_name.clone()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use oscar::TlvList;
    use oscar::message::SignOff;
    use oscar::message::signon::{TLV_CERT_NAME, TLV_SSL_STATE};

    use super::*;

    fn carrier(state: Option<u8>, name: Option<&str>) -> SignOff {
        let mut tlvs = TlvList::new();
        if let Some(s) = state {
            tlvs.set(TLV_SSL_STATE, vec![s]);
        }
        if let Some(n) = name {
            tlvs.set(TLV_CERT_NAME, Bytes::copy_from_slice(n.as_bytes()));
        }
        SignOff { tlvs }
    }

    fn client_tls() -> TlsTermination {
        let server = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(rustls::server::ResolvesServerCertUsingSni::new()));
        TlsTermination {
            server: Arc::new(server),
            presentable: Arc::new(|n: &str| n.ends_with(".aol.com")),
            fallback_name: "slogin.oscar.aol.com".into(),
        }
    }

    #[test]
    fn an_ssl_login_leads_to_tls_bos_under_libpurples_name() {
        let plain = carrier(Some(0), None);
        assert_eq!(
            upstream_name(&plain, Carrier::Login, "10.0.0.1", None),
            None
        );
        assert_eq!(
            upstream_name(
                &plain,
                Carrier::Login,
                "10.0.0.1",
                Some("slogin.oscar.aol.com")
            ),
            Some(BOS_CERT_NAME.into())
        );
        let named = carrier(Some(1), Some("bos.revival.example"));
        assert_eq!(
            upstream_name(&named, Carrier::Login, "10.0.0.1", None),
            Some("bos.revival.example".into())
        );
    }

    #[test]
    fn a_service_is_tls_when_declared_except_admin_and_icons() {
        let tls = carrier(Some(2), Some("chat.oscar.aol.com"));
        let chat = Carrier::Service(Some(Family::CHAT));
        assert_eq!(
            upstream_name(&tls, chat, "10.0.0.1", None),
            Some("chat.oscar.aol.com".into())
        );
        let unnamed = carrier(Some(1), None);
        assert_eq!(
            upstream_name(&unnamed, chat, "chat.example", None),
            Some("chat.example".into()),
            "no 0x8D: the host, as libpurple validates"
        );
        for f in [Family::ADMIN, Family::BART] {
            assert_eq!(
                upstream_name(&tls, Carrier::Service(Some(f)), "h", None),
                None
            );
        }
        let plain = carrier(Some(0), Some("chat.oscar.aol.com"));
        assert_eq!(upstream_name(&plain, chat, "h", Some("x")), None);
    }

    #[test]
    fn a_migration_keeps_the_legs_tls() {
        let m = carrier(None, None);
        assert_eq!(upstream_name(&m, Carrier::Migration, "h", None), None);
        assert_eq!(
            upstream_name(&m, Carrier::Migration, "h", Some(BOS_CERT_NAME)),
            Some(BOS_CERT_NAME.into())
        );
    }

    #[test]
    fn without_a_ca_the_client_is_told_plain_text() {
        let mut c = carrier(Some(2), Some("chat.oscar.aol.com"));
        for_client(&mut c, None);
        assert_eq!(c.ssl_state(), Some(0));
        assert_eq!(c.cert_name(), None);
        let mut untouched = carrier(None, None);
        for_client(&mut untouched, None);
        assert!(untouched.tlvs.is_empty());
    }

    #[test]
    fn a_name_the_ca_cannot_issue_is_replaced() {
        let tls = client_tls();
        let mut ours = carrier(Some(2), Some("chat.oscar.aol.com"));
        for_client(&mut ours, Some(&tls));
        assert_eq!(
            ours.cert_name().map(|b| &b[..]),
            Some(&b"chat.oscar.aol.com"[..])
        );
        assert_eq!(ours.ssl_state(), Some(2));
        for foreign in ["bos.revival.example", "10.0.0.1"] {
            let mut c = carrier(Some(2), Some(foreign));
            for_client(&mut c, Some(&tls));
            assert_eq!(
                c.cert_name().map(|b| &b[..]),
                Some(&b"slogin.oscar.aol.com"[..])
            );
        }
    }
}
