//! The session's upstream leg: connected from an egress address (plain or TLS), greeted
//! with the client's own hello after the server's is swallowed (the client already got
//! one from us).

use oscar::{Channel, Flap};

use super::legs::{Leg, Reader};
use super::login::{Connect, Upstream};
use super::refusal;
use super::state::State;
use crate::error::{SessionError, Side};
use crate::relay::{EgressLease, Relay};
use crate::stream_halves::{split_plain, split_upstream_tls};
use crate::upstream::connect_upstream;
use crate::upstream_tls::connect_tls;

/// The upstream leg, connected.
pub(super) struct UpstreamLeg<'r> {
    /// Frames from the upstream.
    pub(super) rx: Reader,
    /// Frames to the upstream.
    pub(super) tx: Leg,
    /// The egress address this session counts on: held, never read; dropping the leg
    /// releases the count, whichever way the session ends.
    _egress: Option<EgressLease<'r>>,
}

/// Connects to `upstream`; returns the leg and the port reached (the default port of the
/// redirects it sends). A client whose upstream cannot be reached is told in OSCAR terms
/// instead of being left hanging.
pub(super) async fn connect<'r>(
    relay: &'r Relay,
    upstream: &Upstream,
    client_tx: &mut Leg,
) -> Result<(UpstreamLeg<'r>, u16), SessionError> {
    let target = &upstream.target;
    let connected = match connect_upstream(relay, target).await {
        Ok((stream, egress)) => {
            let port = stream.peer_addr().map_or(0, |a| a.port());
            let halves = match &upstream.tls_name {
                None => Ok(split_plain(stream)),
                Some(name) => connect_tls(
                    relay.upstream_tls.clone(),
                    name,
                    target,
                    stream,
                    relay.config.connect_timeout,
                )
                .await
                .map(split_upstream_tls),
            };
            // A failed handshake drops the lease, and the egress count with it.
            halves.map(|halves| (halves, egress, port))
        }
        Err(e) => Err(e),
    };
    let ((read, write), egress, port) = match connected {
        Ok(ok) => ok,
        Err(e) => {
            let _ = client_tx
                .send(refusal::sign_off(refusal::UPSTREAM_UNREACHABLE)?)
                .await;
            return Err(e);
        }
    };
    let leg = UpstreamLeg {
        rx: Reader::new(read, relay.config.max_frame),
        tx: Leg::new(Side::Upstream, write, 1),
        _egress: egress,
    };
    Ok((leg, port))
}

/// Connects as `connect` says and exchanges the hellos: the leg, or `None` when the
/// upstream closed before its hello (the session ends quietly).
pub(super) async fn open<'r>(
    relay: &'r Relay,
    state: &mut State,
    connect: Connect,
    client_tx: &mut Leg,
) -> Result<Option<UpstreamLeg<'r>>, SessionError> {
    let (mut upstream, port) = self::connect(relay, &connect.upstream, client_tx).await?;
    state.upstream_port = port;
    Ok(upstream
        .greet(relay, connect.hello)
        .await?
        .then_some(upstream))
}

impl UpstreamLeg<'_> {
    /// Swallows the server's hello and sends the client's. `false`: the upstream closed
    /// before its hello, which ends the session quietly.
    pub(super) async fn greet(
        &mut self,
        relay: &Relay,
        client_hello: Flap,
    ) -> Result<bool, SessionError> {
        let timeout = relay.config.connect_timeout;
        let first = tokio::time::timeout(timeout, self.rx.next(Side::Upstream))
            .await
            .map_err(|_| SessionError::Protocol {
                side: Side::Upstream,
                detail: format!("no server hello within {} s", timeout.as_secs()),
            })?;
        match first? {
            Some(f) if f.channel == Channel::SIGNON => {}
            Some(f) => {
                return Err(SessionError::Protocol {
                    side: Side::Upstream,
                    detail: format!("expected the server hello, got {:?}", f.channel),
                });
            }
            None => return Ok(false),
        }
        self.tx.send(client_hello).await?;
        Ok(true)
    }
}
