//! What a session knows about itself: its connection, its sign-on, and, on a chat
//! connection, its room; and who the records it writes are about.

use std::net::SocketAddr;

use archive::Event;
use capture::Capturer;
use oscar::message::RoomInfo;
use oscar::{Family, ServerAddress};

use super::login::{Connect, SignOn};
use super::service_requests::ServiceRequests;
use crate::relay::Relay;
use crate::room_members::RoomMembers;

/// One session's state.
pub(super) struct State {
    /// Where the client connects from.
    pub(super) client_addr: SocketAddr,
    /// The address written into redirects for this client.
    pub(super) advertised: ServerAddress,
    /// The port of the upstream connection: the default for redirects that name none.
    pub(super) upstream_port: u16,
    /// The upstream leg's TLS name (SNI and verification); `None`: plain TCP.
    pub(super) upstream_tls: Option<String>,
    /// The sign-on: who the user is, whether they count as local, the deadline.
    pub(super) login: SignOn,
    /// The service this connection's route was for (chat: `Family::CHAT`).
    pub(super) service: Option<Family>,
    /// The room the client asked for when it requested this chat connection: a claim,
    /// only compared with what the server says.
    pub(super) claimed_room: Option<RoomInfo>,
    /// The room the server says this chat connection is in (its room-info update).
    pub(super) room: Option<RoomInfo>,
    /// Service requests waiting for the server's answer.
    pub(super) services: ServiceRequests,
    /// The room's members, as the server's notices on this chat connection show them.
    pub(super) members: RoomMembers,
    /// Whether the session ended because the gateway stopped.
    pub(super) closed_by_gateway: bool,
    /// Whether this chat connection's own user joined its room (their join recorded, their
    /// leave due when the connection ends).
    pub(super) joined_room: bool,
}

impl State {
    /// A session of the client at `client_addr`, told `advertised` in redirects.
    pub(super) fn new(client_addr: SocketAddr, advertised: ServerAddress, login: SignOn) -> Self {
        Self {
            client_addr,
            advertised,
            upstream_port: 0,
            upstream_tls: None,
            login,
            service: None,
            claimed_room: None,
            room: None,
            services: ServiceRequests::default(),
            members: RoomMembers::default(),
            closed_by_gateway: false,
            joined_room: false,
        }
    }

    /// Takes what the sign-on said about the connection it allowed.
    pub(super) fn connected(&mut self, connect: &Connect) {
        self.upstream_tls.clone_from(&connect.upstream.tls_name);
        self.service = connect.service;
        self.claimed_room.clone_from(&connect.claimed_room);
    }

    /// The session's user, or "" before anyone is known.
    pub(super) fn me(&self) -> String {
        self.login.user().unwrap_or_default().to_owned()
    }

    /// The name of the room the server put this chat connection in, or "".
    pub(super) fn room_name(&self) -> String {
        self.room.as_ref().map(RoomInfo::name).unwrap_or_default()
    }
}

/// The record builder for this session's user.
pub(super) fn capturer<'a>(relay: &'a Relay, state: &'a State) -> Capturer<'a> {
    Capturer {
        local_user: state.login.user().unwrap_or(""),
        client_addr: state.client_addr.to_string(),
        node: &relay.config.node,
    }
}

/// `event` with the session's employee, if the directory knows them (as of now: a record
/// made before the user was identified stays without one).
pub(super) fn with_employee(state: &State, mut event: Event) -> Event {
    if event.employee.is_none()
        && let Some(employee) = state.login.identity().and_then(|i| i.employee.as_ref())
    {
        event.employee = Some(employee.id.clone());
    }
    event
}

/// "AIM" or "ICQ", for a session record's detail.
pub(super) fn sign_on_kind(relay: &Relay, state: &State) -> &'static str {
    match capturer(relay, state).protocol() {
        archive::Protocol::Icq => "ICQ",
        _ => "AIM",
    }
}

/// Bytes from the wire as text, invalid UTF-8 replaced.
pub(super) fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
