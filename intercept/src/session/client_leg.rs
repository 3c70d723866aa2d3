//! The client's connection before OSCAR: plain FLAP, or TLS terminated here with FLAP or
//! the HTTPS login API inside, all on one port (`stream_halves.rs` sniffs).

use std::net::SocketAddr;
use std::sync::Arc;

use oscar::ServerAddress;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use super::Outcome;
use crate::error::SessionError;
use crate::prefixed_io::PrefixedIo;
use crate::relay::Relay;
use crate::stream_halves::{
    Inner, StreamRead, StreamWrite, Wire, accept_tls, first_inner_bytes, sniff, split_plain,
    split_tls,
};

/// What the client's connection turned out to carry.
pub(super) enum ClientLeg {
    /// OSCAR, over `wire`: the session goes on with these halves.
    Oscar {
        /// The decrypted (or plain) read half.
        read: StreamRead,
        /// The write half.
        write: StreamWrite,
        /// Plain or TLS, which picks the authorizer a login goes to.
        wire: Wire,
    },
    /// The connection is over already (a login API exchange, or a TLS client that sent
    /// nothing).
    Done(Outcome),
}

/// Takes the client's connection as far as OSCAR: a plain one as it is, a TLS one through
/// its handshake (the login API answered right here), all within the sign-on `deadline`.
pub(super) async fn accept(
    relay: &Arc<Relay>,
    client: TcpStream,
    client_addr: SocketAddr,
    advertised: &ServerAddress,
    deadline: Instant,
) -> Result<ClientLeg, SessionError> {
    let missed = || SessionError::SignonTimeout {
        secs: relay.config.signon_timeout.as_secs(),
    };
    // Sniff only when TLS can be terminated: a plain client that waits for the server's
    // hello then gets it after the sniff's short wait, so a gateway without a CA keeps
    // plain OSCAR exactly as it was (a TLS client there fails on the FLAP marker).
    let wire = match &relay.config.tls {
        Some(_) => sniff(&client).await,
        None => Wire::Plain,
    };
    let tls = match (wire, &relay.config.tls) {
        (Wire::Plain, _) => {
            let (read, write) = split_plain(client);
            return Ok(ClientLeg::Oscar { read, write, wire });
        }
        (Wire::Tls, Some(tls)) => tls,
        (Wire::Tls, None) => return Err(SessionError::NoCa),
    };
    let handshake = accept_tls(client, tls.server.clone(), relay.config.connect_timeout);
    let mut stream = timeout_at(deadline, handshake)
        .await
        .map_err(|_| missed())?
        .map_err(|source| SessionError::Tls { source })?;
    let sni = stream.get_ref().1.server_name().map(str::to_owned);
    let first = first_inner_bytes(&mut stream)
        .await
        .map_err(|source| SessionError::Tls { source })?;
    match first {
        Inner::Closed => Ok(ClientLeg::Done(Outcome::Silent)),
        Inner::Http(prefix) => {
            tracing::debug!(
                sni = sni.as_deref().unwrap_or("-"),
                "HTTPS from the client: the login API"
            );
            let io = PrefixedIo::new(prefix, stream);
            // Boxed: the HTTP server future is large and only login API connections need it.
            // A login API connection carries the login and nothing after it: it lives
            // within the sign-on deadline.
            let api = Box::pin(crate::api::serve(
                relay.clone(),
                io,
                client_addr,
                advertised.clone(),
                sni,
            ));
            timeout_at(deadline, api).await.map_err(|_| missed())??;
            Ok(ClientLeg::Done(Outcome::Relayed))
        }
        Inner::Oscar(prefix) => {
            tracing::debug!(sni = sni.as_deref().unwrap_or("-"), "TLS from the client");
            let (read, write) = split_tls(PrefixedIo::new(prefix, stream));
            Ok(ClientLeg::Oscar { read, write, wire })
        }
    }
}

/// The address written into redirects for a client that reached us on `local`.
pub(super) fn advertised_address(
    advertise: Option<&ServerAddress>,
    local: SocketAddr,
) -> ServerAddress {
    match advertise {
        Some(name) => ServerAddress::new(name.host.clone(), name.port_or(local.port())),
        // Redirect addresses cannot express IPv6 (oscar.md §3.3); the config check rejects
        // an IPv6 listener without an `advertise` name.
        None => ServerAddress::new(local.ip().to_string(), local.port()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_name_the_advertised_host_with_its_port_or_the_one_the_client_reached() {
        let local: SocketAddr = "10.0.0.5:443".parse().unwrap_or_else(|e| panic!("{e}"));
        let with_port = ServerAddress::new("gw.example.com", 5190);
        let without_port = ServerAddress {
            host: "gw.example.com".into(),
            port: None,
        };
        let shown = |hp: ServerAddress| format!("{}:{}", hp.host, hp.port_or(0));
        assert_eq!(
            shown(advertised_address(Some(&with_port), local)),
            "gw.example.com:5190"
        );
        assert_eq!(
            shown(advertised_address(Some(&without_port), local)),
            "gw.example.com:443"
        );
        assert_eq!(shown(advertised_address(None, local)), "10.0.0.5:443");
    }
}
