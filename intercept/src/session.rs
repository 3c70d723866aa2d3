//! One client connection relayed to its upstream: sign-on routing, frame relay with
//! sequence renumbering per leg, redirect rewriting, and capture into the archive.
//!
//! The parts, in the order a session meets them:
//! - `client_leg.rs`: plain or TLS, FLAP or the HTTPS login API, on one port;
//! - `login.rs`: the sign-on decided without I/O (hello, cookie route, policy admission,
//!   who counts as local, the sign-on deadline), carried out by `sign_on.rs`;
//! - `upstream_leg.rs`: the upstream connection and the hello exchange;
//! - `pump.rs`: the loop that moves frames; `legs.rs` frames and stamps them;
//! - `observe.rs`: each frame decoded once (`frame.rs`) and turned into a plan and the
//!   records that go with it (`messages.rs`, `chat_room.rs`, `chat_lines.rs`, the policy
//!   through `decide.rs`);
//! - `archive_gate.rs`: a frame leaves only once its records are settled, in order;
//! - `refusal.rs`: what a client is told when the gateway ends its session.

use std::net::SocketAddr;
use std::sync::Arc;

use oscar::message::SignonHello;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tracing::Instrument;

use crate::error::{SessionError, Side};
use crate::relay::Relay;
use crate::stream_halves::Wire;

mod archive_gate;
mod chat_lines;
mod chat_room;
mod client_leg;
mod decide;
mod frame;
mod legs;
mod login;
mod messages;
mod observe;
mod pump;
mod refusal;
mod service_requests;
mod sign_on;
mod state;
mod upstream_leg;

pub(crate) use service_requests::Answered;

/// How a connection that ended without an error went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The client spoke OSCAR and the session ran until one side closed.
    Relayed,
    /// The client closed without sending a single frame: a health check (a bare TCP
    /// connect, as the DNS responder and load balancers do) or a port scan, not a session.
    Silent,
    /// The policy refused the user's sign-on (recorded, and told to the client): the
    /// session did what it should, so this is not an error.
    Refused,
}

/// Relays one accepted client connection until either side closes.
pub async fn run_session(
    relay: Arc<Relay>,
    client: TcpStream,
    client_addr: SocketAddr,
) -> Result<Outcome, SessionError> {
    // Boxed, as every phase a session passes only once: the session's task holds this
    // future for as long as the session lives, and a future is as large as its largest
    // phase. The TLS handshake and the sign-on are the largest, and over in seconds.
    // What the session keeps from here on is boxed as well, so that the future holds it
    // once and not also as the sign-on's answer.
    let (mut session, connect) = match Box::pin(begin(&relay, client, client_addr)).await? {
        Begun::Relay { session, connect } => (session, connect),
        Begun::Done(outcome) => return Ok(outcome),
    };
    let SignedOn {
        state,
        client_rx,
        client_tx,
        wire,
    } = &mut *session;
    let span = tracing::info_span!("session", client = %client_addr,
        upstream = %connect.upstream.target,
        sn = state.login.user().unwrap_or(""),
        client_tls = *wire == Wire::Tls,
        upstream_tls = state.upstream_tls.as_deref().unwrap_or("-"));
    // Counted until this function returns, its end record written: the gateway's stop waits.
    let _relaying = relay.relaying();
    // Instrument, not enter: the span must follow the future across awaits and threads.
    let relayed = pump::relay_frames(&relay, state, connect, client_rx, client_tx)
        .instrument(span)
        .await;
    let result = match relayed {
        // A peer that hung up while we were writing to it ended the session normally.
        Err(SessionError::Disconnected { side }) => {
            tracing::debug!(%side, "hung up");
            Ok(())
        }
        other => other,
    };
    Box::pin(sign_on::sign_off(&relay, state, &result)).await;
    result.map(|()| match state.login.refused() {
        Some(_) => Outcome::Refused,
        None => Outcome::Relayed,
    })
}

/// A client connection that signed on, ready to relay.
struct SignedOn {
    state: state::State,
    client_rx: legs::Reader,
    client_tx: legs::Leg,
    wire: Wire,
}

/// How the part of a session before relaying ended.
enum Begun {
    /// Signed on: connect as `connect` says, and relay.
    Relay {
        /// What the session keeps while it relays.
        session: Box<SignedOn>,
        /// Needed once, to connect (and given back then).
        connect: Box<login::Connect>,
    },
    /// The connection is over already.
    Done(Outcome),
}

/// Takes a client connection through TLS (if it speaks it) and its sign-on, as far as
/// connecting upstream.
async fn begin(
    relay: &Arc<Relay>,
    client: TcpStream,
    client_addr: SocketAddr,
) -> Result<Begun, SessionError> {
    // Everything before sign-on shares one deadline from the accept, so a client cannot
    // hold its descriptor by speaking slowly (a keepalive every few seconds, say).
    let deadline = Instant::now() + relay.config.signon_timeout;
    let local = client.local_addr().unwrap_or(client_addr);
    let _ = client.set_nodelay(true);
    let advertised = client_leg::advertised_address(relay.config.advertise.as_ref(), local);
    let accepted = client_leg::accept(relay, client, client_addr, &advertised, deadline).await?;
    let (read, write, wire) = match accepted {
        client_leg::ClientLeg::Oscar { read, write, wire } => (read, write, wire),
        client_leg::ClientLeg::Done(outcome) => return Ok(Begun::Done(outcome)),
    };
    let mut client_rx = legs::Reader::new(read, relay.config.max_frame);
    let mut client_tx = legs::Leg::new(Side::Client, write, 1);
    // Servers speak first; libpurple does not wait for it, official clients may.
    client_tx.send(SignonHello::default().to_flap()?).await?;
    let login = login::SignOn::new(sign_on::login_upstream(relay, wire), deadline);
    let mut state = state::State::new(client_addr, advertised, login);
    let started =
        sign_on::until_connected(relay, &mut state, &mut client_rx, &mut client_tx, deadline)
            .await?;
    let connect = match started {
        sign_on::Started::Connect(connect) => connect,
        sign_on::Started::Done(outcome) => return Ok(Begun::Done(outcome)),
    };
    state.connected(&connect);
    Ok(Begun::Relay {
        session: Box::new(SignedOn {
            state,
            client_rx,
            client_tx,
            wire,
        }),
        connect: Box::new(connect),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::RelaySettings;

    /// Every session's task holds this future for as long as the session lives, so an idle
    /// gateway's memory is mostly this times the sessions (`docs/performance.md`, memory).
    #[tokio::test]
    async fn a_sessions_future_stays_small() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let _client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (stream, peer) = listener.accept().await.unwrap();
        let relay = Arc::new(Relay::new(RelaySettings::default(), None).unwrap());
        let session = run_session(relay, stream, peer);
        assert!(
            size_of_val(&session) <= 2048,
            "{} bytes",
            size_of_val(&session)
        );
    }
}
