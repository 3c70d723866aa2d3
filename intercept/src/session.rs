//! One client connection relayed to its upstream: sign-on routing, frame relay with
//! sequence renumbering per leg, redirect rewriting, and capture into the archive.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use archive::{Direction, Event, Kind};
use std::future::Future;
use std::pin::Pin;

use futures_util::stream::FuturesOrdered;
use futures_util::{FutureExt, StreamExt};
use oscar::message::RoomInfo;
use oscar::message::{SignonHello, SnacMessage};
use oscar::{Channel, Family, Flap, FlapCodec, Message, ServerAddress};
use record::normalize_screen_name;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use tokio_util::codec::FramedRead;
use tracing::Instrument;

use crate::config::CaptureMode;
use crate::enforce::{Rebuild, Seen};
use crate::error::{SessionError, Side};
use crate::plan::{Fate, Plan};
use crate::relay::Relay;
use crate::rewrite::{RewriteContext, rewrite};
use crate::room_members::RoomMembers;
use crate::stream_halves::{Wire, split_plain, split_upstream_tls};
use crate::upstream::connect_upstream;
use crate::upstream_tls::connect_tls;
use capture::Capturer;
use client_leg::{ClientLeg, advertised_address};
use frame::{Decoded, MessageFrame};
use legs::{Leg, Reader, has_buffered_frame, next};
use login::{Input, SignOn};

mod chat_room;
mod client_leg;
mod frame;
mod legs;
mod login;
mod messages;
mod refusal;
mod service_requests;
mod sign_on;

pub(crate) use service_requests::Answered;
use service_requests::{Refusal, ServiceRequests};

/// An OSERVICE error (0x0001/0x0001): the server refused a request.
const OSERVICE_ERROR: u16 = 0x0001;

/// What the relay loop does next.
enum Step {
    /// A frame (or the end of the stream) arrived from a side.
    Read(Side, Result<Option<Flap>, SessionError>),
    /// A frame for this side is released: its records are settled.
    Release(Side, Result<Option<Flap>, SessionError>),
    /// The gateway is stopping.
    Closing,
}

/// What a session knows about itself.
pub(super) struct State {
    client_addr: SocketAddr,
    advertised: ServerAddress,
    upstream_port: u16,
    /// The upstream leg's TLS name (SNI and verification); `None`: plain TCP.
    upstream_tls: Option<String>,
    /// The sign-on: who the user is, whether they count as local, the deadline.
    login: SignOn,
    /// The service this connection's route was for (chat: `Family::CHAT`).
    service: Option<Family>,
    /// The room the client asked for when it requested this chat connection: a claim,
    /// only compared with what the server says.
    claimed_room: Option<RoomInfo>,
    /// The room the server says this chat connection is in (its room-info update).
    room: Option<RoomInfo>,
    /// Service requests waiting for the server's answer.
    services: ServiceRequests,
    /// The room's members, as the server's notices on this chat connection show them.
    members: RoomMembers,
    /// Whether the session ended because the gateway stopped.
    closed_by_gateway: bool,
    /// Whether this chat connection's own user joined its room (their join recorded, their
    /// leave due when the connection ends).
    joined_room: bool,
    /// Events the frame being handled produced; taken per frame and made durable before
    /// that frame is forwarded (a mutex only so a shared borrow can push).
    captured: std::sync::Mutex<Vec<Event>>,
}

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
    // Everything before sign-on shares one deadline from the accept, so a client cannot
    // hold its descriptor by speaking slowly (a keepalive every few seconds, say).
    let deadline = Instant::now() + relay.config.signon_timeout;
    let local = client.local_addr().unwrap_or(client_addr);
    let _ = client.set_nodelay(true);
    let advertised = advertised_address(relay.config.advertise.as_ref(), local);
    let accepted = client_leg::accept(&relay, client, client_addr, &advertised, deadline).await?;
    let (client_read, client_write, wire) = match accepted {
        ClientLeg::Oscar { read, write, wire } => (read, write, wire),
        ClientLeg::Done(outcome) => return Ok(outcome),
    };
    let mut client_rx = FramedRead::new(
        client_read,
        FlapCodec::with_max_payload(relay.config.max_frame),
    );
    let mut client_tx = Leg::new(Side::Client, client_write, 1);
    // Servers speak first; libpurple does not wait for it, official clients may.
    client_tx.send(SignonHello::default().to_flap()?).await?;
    let login = SignOn::new(sign_on::login_upstream(&relay, wire), deadline);
    let mut state = State {
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
        joined_room: false,
        closed_by_gateway: false,
        captured: std::sync::Mutex::default(),
    };
    let started =
        sign_on::until_connected(&relay, &mut state, &mut client_rx, &mut client_tx, deadline)
            .await?;
    let connect = match started {
        sign_on::Started::Connect(connect) => connect,
        sign_on::Started::Done(outcome) => return Ok(outcome),
    };
    state.upstream_tls.clone_from(&connect.upstream.tls_name);
    state.service = connect.service;
    state.claimed_room.clone_from(&connect.claimed_room);
    let target = connect.upstream.target;
    let hello_frame = connect.hello;
    let span = tracing::info_span!("session", client = %client_addr, upstream = %target,
        sn = state.login.user().unwrap_or(""),
        client_tls = wire == Wire::Tls,
        upstream_tls = state.upstream_tls.as_deref().unwrap_or("-"));
    // Counted until this function returns, its end record written: the gateway's stop waits.
    let _relaying = relay.relaying();
    // Instrument, not enter: the span must follow the future across awaits and threads.
    let relayed = relay_frames(
        &relay,
        &mut state,
        &target,
        hello_frame,
        &mut client_rx,
        &mut client_tx,
    )
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
    sign_on::sign_off(&relay, &mut state, &result).await;
    result.map(|()| match state.login.refused() {
        Some(_) => Outcome::Refused,
        None => Outcome::Relayed,
    })
}

/// "AIM" or "ICQ", for a session record's detail.
pub(super) fn sign_on_kind(relay: &Relay, state: &State) -> &'static str {
    match capturer(relay, state).protocol() {
        archive::Protocol::Icq => "ICQ",
        _ => "AIM",
    }
}

/// Appends a record no relayed frame waits for (a session's end, a member's own leave of a
/// room): strict waits until it is durable, relaxed queues it; a failure is logged, as the
/// session is over either way.
pub(super) async fn append_now(relay: &Relay, event: Event) {
    let Some(archive) = &relay.archive else {
        return;
    };
    let appended = match relay.config.mode {
        CaptureMode::Strict => archive.append(event).await.map(drop),
        CaptureMode::Relaxed => archive.append_relaxed(event).await,
    };
    match appended {
        Ok(()) => {
            relay.stats.records.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => tracing::error!(error = %e, "a session's closing record could not be archived"),
    }
}

async fn relay_frames(
    relay: &Relay,
    state: &mut State,
    target: &str,
    hello: Flap,
    client_rx: &mut Reader,
    client_tx: &mut Leg,
) -> Result<(), SessionError> {
    let connected = match connect_upstream(relay, target).await {
        Ok((upstream, egress)) => {
            state.upstream_port = upstream.peer_addr().map_or(0, |a| a.port());
            let legs = match &state.upstream_tls {
                None => Ok(split_plain(upstream)),
                Some(name) => connect_tls(
                    relay.upstream_tls.clone(),
                    name,
                    target,
                    upstream,
                    relay.config.connect_timeout,
                )
                .await
                .map(split_upstream_tls),
            };
            // A failed handshake drops the lease, and the egress count with it.
            legs.map(|legs| (legs, egress))
        }
        Err(e) => Err(e),
    };
    let ((up_read, up_write), egress) = match connected {
        Ok(ok) => ok,
        Err(e) => {
            // Tell the client in OSCAR terms instead of leaving it hanging.
            let _ = client_tx
                .send(refusal::sign_off(refusal::UPSTREAM_UNREACHABLE)?)
                .await;
            return Err(e);
        }
    };
    let mut up_rx = FramedRead::new(up_read, FlapCodec::with_max_payload(relay.config.max_frame));
    let mut up_tx = Leg::new(Side::Upstream, up_write, 1);
    let result = async {
        // The upstream's own hello is ours to swallow: the client already got one from us.
        let timeout = relay.config.connect_timeout;
        let first = tokio::time::timeout(timeout, next(&mut up_rx, Side::Upstream))
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
            None => return Ok(()),
        }
        up_tx.send(hello).await?;
        let idle = relay.config.idle_timeout;
        let mut to_upstream: FuturesOrdered<Pending> = FuturesOrdered::new();
        let mut to_client: FuturesOrdered<Pending> = FuturesOrdered::new();
        loop {
            // Before sign-on the deadline from the accept; after, the idle timeout.
            let wait = state
                .login
                .deadline()
                .unwrap_or_else(|| Instant::now() + idle);
            let step = timeout_at(wait, async {
                tokio::select! {
                    frame = next(client_rx, Side::Client), if to_upstream.len() < MAX_PENDING => Step::Read(Side::Client, frame),
                    frame = next(&mut up_rx, Side::Upstream), if to_client.len() < MAX_PENDING => Step::Read(Side::Upstream, frame),
                    Some(done) = to_upstream.next() => Step::Release(Side::Upstream, done),
                    Some(done) = to_client.next() => Step::Release(Side::Client, done),
                    () = relay.closing.cancelled() => Step::Closing,
                }
            })
            .await;
            let Ok(step) = step else {
                return Err(match state.login.deadline() {
                    Some(_) => SessionError::SignonTimeout {
                        secs: relay.config.signon_timeout.as_secs(),
                    },
                    None => SessionError::Idle {
                        side: Side::Client,
                        secs: idle.as_secs(),
                    },
                });
            };
            match step {
                Step::Closing => {
                    tracing::debug!("the gateway is stopping");
                    state.closed_by_gateway = true;
                    return release_all(&mut to_upstream, &mut up_tx, &mut to_client, client_tx)
                        .await;
                }
                Step::Read(side, frame) => {
                    let Some(flap) = frame? else {
                        // One side closed. Whatever is still waiting for the archive is
                        // released first, then both sockets close as we return.
                        tracing::debug!(%side, "closed");
                        return release_all(
                            &mut to_upstream,
                            &mut up_tx,
                            &mut to_client,
                            client_tx,
                        )
                        .await;
                    };
                    let mut queues = Queues {
                        to_upstream: &mut to_upstream,
                        to_client: &mut to_client,
                    };
                    let looked = match side {
                        Side::Client => observe_client(relay, state, &flap)
                            .await
                            .map(|plan| (Side::Upstream, flap, plan)),
                        Side::Upstream => from_upstream(relay, state, flap)
                            .await
                            .map(|(out, plan)| (Side::Client, out, plan)),
                    };
                    let (dest, frame, plan) = looked?;
                    // The frame showed a user the policy refuses: it goes no further.
                    if let Some(reason) = state.login.refused() {
                        record_refusal(relay, state, reason).await;
                        client_tx
                            .send(refusal::sign_off(refusal::POLICY_REFUSED)?)
                            .await?;
                        return Ok(());
                    }
                    queues.dispatch(relay, state, dest, frame, plan).await;
                }
                Step::Release(Side::Upstream, done) => up_tx.queue_some(done?).await?,
                Step::Release(Side::Client, done) => client_tx.queue_some(done?).await?,
            }
            // Release frames whose records are already settled (no archive wait), then write
            // out once nothing more is ready to relay: one system call for a burst.
            while let Some(Some(done)) = to_upstream.next().now_or_never() {
                up_tx.queue_some(done?).await?;
            }
            while let Some(Some(done)) = to_client.next().now_or_never() {
                client_tx.queue_some(done?).await?;
            }
            if !has_buffered_frame(client_rx) && !has_buffered_frame(&up_rx) {
                up_tx.flush().await?;
                client_tx.flush().await?;
            }
        }
    }
    .await;
    // Before the upstream leg closes (as this function returns): the server tells the rest
    // of the room only then, and their connections find this leave already recorded.
    if let Some(event) = chat_room::own_leave(relay, state) {
        append_now(relay, event).await;
    }
    // The session's upstream leg is done: its egress address counts one session fewer.
    drop(egress);
    result
}

/// Releases every frame still waiting for the archive, in order, and writes both legs out:
/// the session is ending, and nothing it accepted is left behind.
async fn release_all(
    to_upstream: &mut FuturesOrdered<Pending>,
    up_tx: &mut Leg,
    to_client: &mut FuturesOrdered<Pending>,
    client_tx: &mut Leg,
) -> Result<(), SessionError> {
    while let Some(done) = to_upstream.next().await {
        up_tx.queue_some(done?).await?;
    }
    while let Some(done) = to_client.next().await {
        client_tx.queue_some(done?).await?;
    }
    up_tx.flush().await?;
    client_tx.flush().await
}

/// Interprets an upstream frame: rewrites redirects, captures what it carries, and returns
/// the frame to send to the client (the original bytes unless rewritten).
async fn from_upstream(
    relay: &Relay,
    state: &mut State,
    flap: Flap,
) -> Result<(Flap, Plan), SessionError> {
    let mut signed_in = Vec::new();
    sign_on::while_relaying(
        relay,
        state,
        Input::FromUpstream(flap.channel),
        &mut signed_in,
    )?;
    keep(state, signed_in);
    let decoded = Decoded::of(&flap);
    if decoded.header_unreadable() {
        let plan = messages::unreadable_snac(relay, state, &flap, Side::Upstream);
        return Ok((flap, plan));
    }
    if let Some(subtype) = decoded.chat_subtype() {
        if chat_room::learn_room(state, &decoded) {
            state.members.clear();
        }
        if state.room.is_none() {
            let plan =
                chat_room::unattributed(relay, state, &flap, &decoded, Side::Upstream, subtype);
            return Ok((flap, plan));
        }
    }
    let typed = decoded.body();
    let answered = match decoded.message() {
        Ok(Message::Snac {
            header,
            body: SnacMessage::ServiceResponse(resp),
            ..
        }) => Some(state.services.answer(header.request_id, resp.family())),
        Ok(Message::Snac { header, .. }) if header.is(Family::OSERVICE, OSERVICE_ERROR) => {
            state.services.refused(header.request_id);
            None
        }
        _ => None,
    };
    match decoded.message_frame(Side::Upstream) {
        Some(MessageFrame::Icbm) => {
            let plan = messages::icbm(relay, state, &flap, &decoded, Side::Upstream)?;
            return Ok((flap, plan));
        }
        Some(MessageFrame::Chat) if typed.is_none() => {
            let room = state.room.as_ref().map(RoomInfo::name).unwrap_or_default();
            let plan = messages::unreadable(
                relay,
                state,
                &flap,
                messages::Unreadable {
                    kind: Kind::ChatMessage,
                    sender: "",
                    recipient: &room,
                    from: Side::Upstream,
                    direction: Direction::Inbound,
                    why: "a chat message that does not parse",
                    texts: &[],
                },
            );
            return Ok((flap, plan));
        }
        _ => {}
    }
    let Ok(mut message) = decoded.into_message() else {
        return Ok((flap, Plan::forward())); // not ours to judge: relay unchanged
    };
    let cx = RewriteContext {
        advertised: &state.advertised,
        upstream_port: state.upstream_port,
        local_user: state.login.user(),
        answered: answered.as_ref(),
        upstream_tls: state.upstream_tls.as_deref(),
        client_tls: relay.config.tls.as_ref(),
    };
    let out = match rewrite(&mut message, &cx) {
        Some((cookie, route)) => {
            sign_on::while_relaying(relay, state, Input::Routed, &mut Vec::new())?;
            relay.stats.rewrites.fetch_add(1, Ordering::Relaxed);
            relay.cookies.insert(cookie, route, state.client_addr.ip());
            message.to_flap()?
        }
        None => flap,
    };
    let plan = observe_upstream(relay, state, &message).await?;
    Ok((out, plan))
}

/// `event` with the session's employee, if the directory knows them.
pub(super) fn with_employee(state: &State, mut event: Event) -> Event {
    if event.employee.is_none()
        && let Some(employee) = state.login.identity().and_then(|i| i.employee.as_ref())
    {
        event.employee = Some(employee.id.clone());
    }
    event
}

/// Collects events the current frame produced, as they are.
fn keep(state: &State, events: Vec<Event>) {
    state
        .captured
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .extend(events);
}

/// Collects an event the current frame produced.
fn record(state: &State, event: Event) {
    let event = with_employee(state, event);
    state
        .captured
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(event);
}

/// A frame on its way to the other side, released once its records are durable; `None`
/// for a frame policy dropped, which still waits in line for its records.
type Pending = Pin<Box<dyn Future<Output = Result<Option<Flap>, SessionError>> + Send>>;

/// The two directions' queues of frames waiting for their records.
struct Queues<'a> {
    to_upstream: &'a mut FuturesOrdered<Pending>,
    to_client: &'a mut FuturesOrdered<Pending>,
}

impl Queues<'_> {
    fn toward(&mut self, side: Side) -> &mut FuturesOrdered<Pending> {
        match side {
            Side::Upstream => self.to_upstream,
            Side::Client => self.to_client,
        }
    }

    /// Queues `frame` (bound for `dest`) as `plan` says. The records the frame produced
    /// travel with the frame itself, or, when it is dropped, with its empty place in line.
    async fn dispatch(
        &mut self,
        relay: &Relay,
        state: &State,
        dest: Side,
        frame: Flap,
        plan: Plan,
    ) {
        // A dropped frame's records wait in line ahead of the notice that tells its sender,
        // so the notice never outruns the record (nor survives a session that ends first).
        let dest = match (&plan.fate, plan.after.first()) {
            (Fate::Drop, Some((side, _))) => *side,
            _ => dest,
        };
        for (side, injected) in plan.before {
            self.toward(side)
                .push_back(Box::pin(std::future::ready(Ok(Some(injected)))));
        }
        let main = match plan.fate {
            Fate::Forward => Some(frame),
            Fate::Replace(replacement) => Some(replacement),
            Fate::Drop => None,
        };
        let settled = archived_then(relay, state, main).await;
        self.toward(dest).push_back(settled);
        for (side, injected) in plan.after {
            self.toward(side)
                .push_back(Box::pin(std::future::ready(Ok(Some(injected)))));
        }
    }
}

/// Most frames per direction waiting for the archive before the session stops reading.
const MAX_PENDING: usize = 64;

/// Takes the events `flap` produced and returns the future that yields `flap` once they are
/// archived: strict waits for durability, relaxed only queues them. Frames are released in
/// arrival order, so a session keeps reading while earlier records commit.
async fn archived_then(relay: &Relay, state: &State, flap: Option<Flap>) -> Pending {
    let events = std::mem::take(
        &mut *state
            .captured
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    let Some(archive) = relay.archive.clone().filter(|_| !events.is_empty()) else {
        return Box::pin(std::future::ready(Ok(flap)));
    };
    let n = events.len() as u64;
    match relay.config.mode {
        CaptureMode::Strict => {
            let records = relay.stats_records();
            Box::pin(async move {
                for event in events {
                    archive.append(event).await?;
                }
                records.fetch_add(n, Ordering::Relaxed);
                Ok(flap)
            })
        }
        CaptureMode::Relaxed => {
            for event in events {
                if let Err(e) = archive.append_relaxed(event).await {
                    // Relaxed: keep relaying, but leave a trace of the gap.
                    tracing::error!(error = %e, "archive gap: a relaxed-mode record was lost");
                    return Box::pin(std::future::ready(Ok(flap)));
                }
            }
            relay.stats.records.fetch_add(n, Ordering::Relaxed);
            Box::pin(std::future::ready(Ok(flap)))
        }
    }
}

pub(super) fn capturer<'a>(relay: &'a Relay, state: &'a State) -> Capturer<'a> {
    Capturer {
        local_user: state.login.user().unwrap_or(""),
        client_addr: state.client_addr.to_string(),
        node: &relay.config.node,
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn observe_client(
    relay: &Relay,
    state: &mut State,
    flap: &Flap,
) -> Result<Plan, SessionError> {
    let decoded = Decoded::of(flap);
    let message = decoded.message_frame(Side::Client);
    if message.is_some() || decoded.header_unreadable() {
        let input = Input::ClientMessage(decoded.header().copied());
        sign_on::while_relaying(relay, state, input, &mut Vec::new())?;
    }
    if decoded.header_unreadable() {
        return Ok(messages::unreadable_snac(relay, state, flap, Side::Client));
    }
    if state.room.is_none()
        && let Some(subtype) = decoded.chat_subtype()
    {
        return Ok(chat_room::unattributed(
            relay,
            state,
            flap,
            &decoded,
            Side::Client,
            subtype,
        ));
    }
    if let Some(request_id) = decoded.service_request_id() {
        let (family, room) = match decoded.body() {
            Some(SnacMessage::ServiceRequest(req)) => {
                (Some(req.family), req.room().and_then(Result::ok))
            }
            _ => (None, None),
        };
        ask_service(state, request_id, family, room)?;
    }
    let typed = decoded.body();
    match message {
        Some(MessageFrame::Icbm) => {
            return messages::icbm(relay, state, flap, &decoded, Side::Client);
        }
        Some(MessageFrame::Chat) if typed.is_none() => {
            let me = state.login.user().unwrap_or_default().to_owned();
            let room = state.room.as_ref().map(RoomInfo::name).unwrap_or_default();
            return Ok(messages::unreadable(
                relay,
                state,
                flap,
                messages::Unreadable {
                    kind: Kind::ChatMessage,
                    sender: &me,
                    recipient: &room,
                    from: Side::Client,
                    direction: Direction::Outbound,
                    why: "a chat message that does not parse",
                    texts: &[],
                },
            ));
        }
        _ => {}
    }
    let Some(body) = typed else {
        return Ok(Plan::forward());
    };
    match body {
        SnacMessage::KeyRequest(req) => {
            claim(relay, state, req.screen_name().map(|b| lossy(b)))?;
        }
        SnacMessage::LoginRequest(req) => {
            claim(relay, state, req.screen_name().map(|b| lossy(b)))?;
        }
        SnacMessage::Typing(_) => {
            relay.stats.typing.fetch_add(1, Ordering::Relaxed);
        }
        SnacMessage::ChatSend(send) => {
            let me = state.login.user().unwrap_or_default().to_owned();
            let room = state.room.as_ref().map(RoomInfo::name);
            let text = send.0.text().and_then(Result::ok);
            let (Some(room), Some(text)) = (room, text) else {
                let room = state.room.as_ref().map(RoomInfo::name).unwrap_or_default();
                let unreadable = messages::Unreadable {
                    kind: Kind::ChatMessage,
                    sender: &me,
                    recipient: &room,
                    from: Side::Client,
                    direction: Direction::Outbound,
                    why: "a chat message without a known room or readable text",
                    texts: &[],
                };
                return Ok(messages::unreadable(relay, state, flap, unreadable));
            };
            // The room will deliver this to every local member too; only this record counts.
            let key = chat_key(&room, &me, &send.0);
            if relay.first_sighting(key) {
                let event =
                    chat_room::room_event(relay, state, Kind::ChatMessage, &me, Some(&text));
                return decide(
                    relay,
                    state,
                    Some(event),
                    &room,
                    Side::Client,
                    Rebuild::Unsupported,
                    true,
                );
            }
        }
        _ => {}
    }
    Ok(Plan::forward())
}

/// Applies the policy to a message and, with `keep`, records what the decision says (a
/// copy another session records is decided, not recorded); without a policy (or before
/// the user is known) the message is recorded as it is and forwarded.
fn decide(
    relay: &Relay,
    state: &State,
    event: Option<Event>,
    remote: &str,
    from: Side,
    rebuild: Rebuild<'_>,
    keep: bool,
) -> Result<Plan, SessionError> {
    decide_among(relay, state, event, &[], remote, from, rebuild, keep)
}

/// What kind of message a record is, as the policy names it.
fn policy_kind(kind: Kind) -> policy::MessageKind {
    match kind {
        Kind::FileOffer => policy::MessageKind::File,
        Kind::DirectImOffer => policy::MessageKind::DirectIm,
        Kind::ChatMessage => policy::MessageKind::Chat,
        _ => policy::MessageKind::Im,
    }
}

/// A record's direction, as the policy names it.
fn policy_direction(direction: Direction) -> policy::Direction {
    match direction {
        Direction::Inbound => policy::Direction::Inbound,
        Direction::Outbound => policy::Direction::Outbound,
        Direction::Internal => policy::Direction::Internal,
    }
}

/// [`decide`] for a message whose recipient may be shown any of `variants` besides the
/// record's text: the policy is applied to each (`session/messages.rs`).
#[allow(clippy::too_many_arguments)]
fn decide_among(
    relay: &Relay,
    state: &State,
    event: Option<Event>,
    variants: &[String],
    remote: &str,
    from: Side,
    rebuild: Rebuild<'_>,
    keep: bool,
) -> Result<Plan, SessionError> {
    let (Some(runtime), Some(who), Some(seen)) =
        (relay.policy(), state.login.identity(), event.as_ref())
    else {
        if let Some(event) = event.filter(|_| keep) {
            record(state, event);
        }
        return Ok(Plan::forward());
    };
    let kind = policy_kind(seen.kind);
    let direction = policy_direction(seen.direction);
    let applied = crate::enforce::apply(
        runtime,
        &relay.config.node,
        &Seen {
            kind,
            direction,
            local: who,
            remote,
            from,
            variants,
        },
        event,
        rebuild,
        std::time::Instant::now(),
    )?;
    if keep {
        for event in applied.events {
            record(state, event);
        }
    }
    Ok(applied.plan)
}

/// Notes a service request; a reused outstanding id (or too many outstanding) ends the
/// session, so no answer can be taken for another request than its own.
fn ask_service(
    state: &mut State,
    request_id: u32,
    family: Option<Family>,
    room: Option<RoomInfo>,
) -> Result<(), SessionError> {
    state
        .services
        .ask(request_id, family, room)
        .map_err(|refusal| {
            let sn = state.login.user().unwrap_or("");
            match refusal {
                Refusal::Reused(request_id) => {
                    tracing::warn!(client = %state.client_addr, %sn, request_id,
                        "service request reusing the id of one still outstanding; ending the session");
                    SessionError::ReusedRequestId { request_id }
                }
                Refusal::TooMany => {
                    tracing::warn!(client = %state.client_addr, %sn,
                        "too many service requests outstanding; ending the session");
                    SessionError::TooManyServiceRequests {
                        max: service_requests::MAX_OUTSTANDING,
                    }
                }
            }
        })
}

/// Takes the user a login request claims (a claim proves nothing, but the policy may
/// refuse the name: the pump then ends the session).
fn claim(relay: &Relay, state: &mut State, name: Option<String>) -> Result<(), SessionError> {
    if let Some(name) = name {
        sign_on::while_relaying(relay, state, Input::Claimed(name), &mut Vec::new())?;
    }
    Ok(())
}

/// Archives a refused sign-on: the compliance team sees who tried, from where, and why.
pub(super) async fn record_refusal(relay: &Relay, state: &State, reason: &str) {
    let Some(archive) = &relay.archive else {
        return;
    };
    let event = capturer(relay, state).refusal(reason, archive::now_ns());
    if let Err(e) = archive.append(event).await {
        tracing::error!(error = %e, "a refused sign-on could not be archived");
    }
}

/// What makes a chat line the same line when several local members see it: room, sender,
/// message cookie, and the message itself (clients that reuse a cookie for every line, as
/// some do, must not have their later lines taken for copies of the first).
fn chat_key(room: &str, sender: &str, message: &oscar::message::ChatMessage) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    // The message info (text and encoding), which the sent line and every delivered copy
    // carry alike; the sender and flags TLVs differ between them.
    message
        .tlvs
        .value(oscar::message::chat::TLV_CHAT_MESSAGE_INFO)
        .hash(&mut hasher);
    format!(
        "chat|{room}|{}|{}|{:016x}",
        normalize_screen_name(sender),
        hex8(&message.cookie),
        hasher.finish()
    )
}

fn hex8(bytes: &[u8; 8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn observe_upstream(
    relay: &Relay,
    state: &mut State,
    message: &Message,
) -> Result<Plan, SessionError> {
    let Message::Snac { body, .. } = message else {
        return Ok(Plan::forward());
    };
    match body {
        SnacMessage::SelfInfo(info) => {
            if let Ok(name) = info.user.name() {
                let mut signed_in = Vec::new();
                let input = Input::Named(name.display().to_owned());
                sign_on::while_relaying(relay, state, input, &mut signed_in)?;
                keep(state, signed_in);
            }
        }
        SnacMessage::ChatReceive(rx) => {
            let room = state.room.as_ref().map(RoomInfo::name);
            let sender = rx.0.sender().and_then(Result::ok);
            let (Some(room), Some(sender), Some(_)) =
                (room, sender, rx.0.text().and_then(Result::ok))
            else {
                let room = state.room.as_ref().map(RoomInfo::name).unwrap_or_default();
                let unreadable = messages::Unreadable {
                    kind: Kind::ChatMessage,
                    sender: "",
                    recipient: &room,
                    from: Side::Upstream,
                    direction: Direction::Inbound,
                    why: "a chat message without a known room, sender or readable text",
                    texts: &[],
                };
                let flap = message.to_flap()?;
                return Ok(messages::unreadable(relay, state, &flap, unreadable));
            };
            let from = lossy(&sender.screen_name);
            let key = chat_key(&room, &from, &rx.0);
            // Reflections of our own message and copies other local members see were
            // recorded already (first sighting wins).
            // The policy applies to every copy; only the first is recorded.
            let first = relay.first_sighting(key);
            let text = rx.0.text().and_then(Result::ok);
            let event =
                chat_room::room_event(relay, state, Kind::ChatMessage, &from, text.as_ref());
            let plan = decide(
                relay,
                state,
                Some(event),
                &room,
                Side::Upstream,
                Rebuild::Unsupported,
                first,
            )?;
            return Ok(plan);
        }
        SnacMessage::ChatUsersJoined(list) => {
            chat_room::presence(relay, state, Kind::ChatJoin, &list.0.users);
        }
        SnacMessage::ChatUsersLeft(list) => {
            chat_room::presence(relay, state, Kind::ChatLeave, &list.0.users);
        }
        _ => {}
    }
    Ok(Plan::forward())
}
