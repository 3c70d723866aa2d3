//! A scripted OSCAR client for tests and the demo: logs in (BUCP MD5 or legacy), follows
//! the BOS redirect, completes sign-on, sends and receives IMs, joins chat rooms, and
//! follows migrations. It speaks to whatever addresses the server hands out, so pointed at
//! the gateway it exercises the gateway's rewriting.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use oscar::message::bucp::{TLV_PASSWORD_HASH, TLV_STRONG_HASH};
use oscar::message::icbm::TypingEvent;
use oscar::message::signon::{TLV_CLIENT_ID, TLV_SCREEN_NAME};
use oscar::message::{
    BuddyArrived, BuddyDeparted, ChatMessage, ChatReceive, ChatSend, ChatUsersJoined,
    ChatUsersLeft, IcbmContent, IcbmReceive, IcbmSend, KeyReply, KeyRequest, LoginReply,
    LoginRequest, Migration, Redirect, RoomInfo, ServiceRequest, ServiceResponse, SignOff,
    SignonHello, Typing,
};
use oscar::{Channel, Family, Flap, FlapCodec, HostPort, ScreenName, Snac, SnacBody, Tlv};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::Framed;

use crate::auth_hash::{strong_hash, weak_hash};
use crate::chat::room_for;
use crate::error::LabError;

/// How the scripted client proves its password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginMethod {
    /// BUCP with `MD5(key ‖ MD5(pw) ‖ magic)` and TLV 0x004C (AIM 4.8+, libpurple).
    Md5Strong,
    /// BUCP with `MD5(key ‖ pw ‖ magic)`.
    Md5Weak,
    /// FLAP channel-1 login with a roasted password (AIM 1.x–3.0, old ICQ).
    Legacy,
}

/// Something the server told the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// An instant message arrived.
    Im {
        /// Who sent it.
        from: ScreenName,
        /// The text as sent, HTML included.
        html: String,
        /// Plain-text rendering.
        plain: String,
    },
    /// A typing notification arrived.
    Typing {
        /// Who is typing.
        from: ScreenName,
        /// What they are doing.
        event: TypingEvent,
    },
    /// A buddy came online.
    BuddyArrived(ScreenName),
    /// A buddy went offline.
    BuddyDeparted(ScreenName),
    /// The server refused an IM (ICBM error code).
    ImError(u16),
    /// The session moved to another BOS host.
    Migrated(String),
    /// Members joined the chat room.
    ChatJoined(Vec<ScreenName>),
    /// Members left the chat room.
    ChatLeft(Vec<ScreenName>),
    /// A chat message was delivered.
    ChatMessage {
        /// Who said it.
        from: ScreenName,
        /// Plain text.
        plain: String,
    },
    /// The server closed the session.
    Disconnected,
}

enum Command {
    Send(Flap),
    Service {
        request: ServiceRequest,
        reply: oneshot::Sender<ServiceResponse>,
    },
}

/// How long each step of a scripted exchange may take before it is a failure.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// A logged-in scripted client.
#[derive(Debug)]
pub struct LabClient {
    /// Our own screen name.
    pub screen_name: ScreenName,
    session: Session,
    auth_port: u16,
    next_cookie: u64,
}

/// A scripted client's membership of one chat room.
#[derive(Debug)]
pub struct ChatClient {
    /// The room's name.
    pub room: String,
    session: Session,
}

#[derive(Debug)]
struct Session {
    commands: mpsc::Sender<Command>,
    events: mpsc::Receiver<ClientEvent>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
    }
}

type Conn = Framed<TcpStream, FlapCodec>;

impl LabClient {
    /// Logs in at `auth` with the strong MD5 hash and completes BOS sign-on.
    pub async fn login(
        auth: SocketAddr,
        screen_name: &str,
        password: &str,
    ) -> Result<Self, LabError> {
        Self::login_with(auth, screen_name, password, LoginMethod::Md5Strong).await
    }

    /// Logs in at `auth` with `method` and completes BOS sign-on.
    pub async fn login_with(
        auth: SocketAddr,
        screen_name: &str,
        password: &str,
        method: LoginMethod,
    ) -> Result<Self, LabError> {
        let name = ScreenName::parse(screen_name.as_bytes())?;
        let (bos, cookie) = step(authorize(auth, &name, password.as_bytes(), method)).await?;
        let conn = connect_with_cookie(&bos, auth.port(), cookie).await?;
        Ok(Self {
            screen_name: name,
            session: Session::spawn(conn, auth.port()),
            auth_port: auth.port(),
            next_cookie: 1,
        })
    }

    /// Sends an IM.
    pub async fn send_im(&mut self, to: &str, text: &str) -> Result<(), LabError> {
        let to = ScreenName::parse(to.as_bytes())?;
        self.next_cookie += 1;
        let mut im = IcbmSend::text(self.next_cookie.to_be_bytes(), &to, text)?;
        im.tlvs
            .push(Tlv::flag(oscar::message::icbm::TLV_REQUEST_ACK));
        self.session
            .send(im.to_snac(self.next_cookie as u32)?.to_flap()?)
            .await
    }

    /// Sends an IM the server should store if `to` is offline (TLV 0x0006, as libpurple
    /// sends every IM).
    pub async fn send_im_storable(&mut self, to: &str, text: &str) -> Result<(), LabError> {
        let to = ScreenName::parse(to.as_bytes())?;
        let mut im = IcbmSend::text((self.next_cookie + 1).to_be_bytes(), &to, text)?;
        im.tlvs
            .push(Tlv::flag(oscar::message::icbm::TLV_STORE_OFFLINE));
        self.send_icbm(im).await
    }

    /// Asks for messages stored while offline (0x0004/0x0010), as clients do after signing
    /// on; they arrive as ordinary IM events.
    pub async fn fetch_offline(&mut self) -> Result<(), LabError> {
        let snac = Snac::new(
            oscar::SnacHeader::new(Family::ICBM, 0x0010, 0x10),
            Bytes::new(),
        );
        self.session.send(snac.to_flap()?).await
    }

    /// Sends an ICBM built by the caller (rendezvous proposals, ICQ channel-4 messages).
    pub async fn send_icbm(&mut self, im: IcbmSend) -> Result<(), LabError> {
        self.next_cookie += 1;
        self.session
            .send(im.to_snac(self.next_cookie as u32)?.to_flap()?)
            .await
    }

    /// Sends a typing notification to `to`.
    pub async fn send_typing(&mut self, to: &str, event: TypingEvent) -> Result<(), LabError> {
        let typing = Typing {
            cookie: [0; 8],
            channel: 1,
            screen_name: Bytes::copy_from_slice(to.as_bytes()),
            event,
        };
        self.session.send(typing.to_snac(0)?.to_flap()?).await
    }

    /// The next event, waiting at most `timeout`.
    pub async fn next_event(&mut self, timeout: Duration) -> Result<ClientEvent, LabError> {
        self.session.next_event(timeout).await
    }

    /// Waits for an IM from `from` (other events are skipped); returns its plain text.
    pub async fn expect_im(&mut self, from: &str, timeout: Duration) -> Result<String, LabError> {
        let from = ScreenName::parse(from.as_bytes())?;
        self.session
            .wait_for(timeout, "an IM", |e| match e {
                ClientEvent::Im { from: f, plain, .. } if *f == from => Some(plain.clone()),
                _ => None,
            })
            .await
    }

    /// Waits for a particular event (others are skipped).
    pub async fn expect_event(
        &mut self,
        timeout: Duration,
        what: &'static str,
        want: impl Fn(&ClientEvent) -> bool,
    ) -> Result<ClientEvent, LabError> {
        self.session
            .wait_for(timeout, what, |e| want(e).then(|| e.clone()))
            .await
    }

    /// Creates (or finds) the room `name` the way libpurple does: asks BOS for the
    /// chat-navigation service (0x0001/0x0004 family 0x000D), follows the redirect, asks for
    /// the chatnav rights (0x000D/0x0002) and creates the room (0x000D/0x0008). Returns the
    /// room info from the 0x000D/0x0009 answer (TLV 0x0004), which [`join_room`] takes.
    ///
    /// [`join_room`]: Self::join_room
    pub async fn create_room(&mut self, name: &str) -> Result<RoomInfo, LabError> {
        let response = self
            .service(ServiceRequest {
                family: Family::CHAT_NAV,
                tlvs: oscar::TlvList::new(),
            })
            .await?;
        let (mut conn, mut seq) = self.follow(&response).await?;
        step(async {
            let rights = Snac::new(
                oscar::SnacHeader::new(Family::CHAT_NAV, 0x0002, 11),
                Bytes::new(),
            );
            send(&mut conn, &mut seq, rights.to_flap()?).await?;
            nav_info(&mut conn, 11).await?;
            let mut body = BytesMut::new();
            RoomInfo {
                exchange: 4,
                cookie: Bytes::from_static(b"create"),
                instance: 0xffff,
            }
            .encode(&mut body)?;
            body.put_u8(1);
            [
                Tlv::new(0x00d3, name.as_bytes().to_vec()),
                Tlv::new(0x00d6, &b"us-ascii"[..]),
                Tlv::new(0x00d7, &b"en"[..]),
            ]
            .into_iter()
            .collect::<oscar::TlvList>()
            .encode_counted(&mut body)?;
            let create = Snac::new(
                oscar::SnacHeader::new(Family::CHAT_NAV, 0x0008, 12),
                body.freeze(),
            );
            send(&mut conn, &mut seq, create.to_flap()?).await?;
            let info = nav_info(&mut conn, 12).await?;
            let block = info.value(0x0004).ok_or_else(|| {
                LabError::Protocol("create-room answer without TLV 0x0004".into())
            })?;
            let len = 5 + usize::from(*block.get(2).unwrap_or(&0));
            let room = RoomInfo::decode(block.slice(..len.min(block.len())))?;
            let _ = send(&mut conn, &mut seq, SignOff::default().to_flap()?).await;
            Ok(room)
        })
        .await
    }

    /// Joins the room `room` (as [`create_room`](Self::create_room) returned it) through the
    /// chat service redirect.
    pub async fn join_room(&mut self, room: &RoomInfo) -> Result<ChatClient, LabError> {
        let response = self.service(ServiceRequest::chat(room)?).await?;
        let conn = self.follow(&response).await?;
        let mut chat = ChatClient {
            room: room.name(),
            session: Session::spawn(conn, self.auth_port),
        };
        chat.session
            .wait_for(STEP_TIMEOUT, "the room's member list", |e| {
                matches!(e, ClientEvent::ChatJoined(_)).then_some(())
            })
            .await?;
        Ok(chat)
    }

    /// Sends a service request on the BOS connection and waits for its 0x0001/0x0005.
    async fn service(&mut self, request: ServiceRequest) -> Result<ServiceResponse, LabError> {
        let (reply, answer) = oneshot::channel();
        self.session
            .commands
            .send(Command::Service { request, reply })
            .await
            .map_err(|_| LabError::Closed(" (client)"))?;
        step(async {
            answer
                .await
                .map_err(|_| LabError::Closed(" (service response)"))
        })
        .await
    }

    /// Connects where a service response points, with its cookie.
    async fn follow(&self, response: &ServiceResponse) -> Result<(Conn, u16), LabError> {
        let address = response
            .address()
            .ok_or_else(|| LabError::Protocol("service response without an address".into()))??;
        let cookie = response
            .cookie()
            .cloned()
            .ok_or_else(|| LabError::Protocol("service response without a cookie".into()))?;
        connect_with_cookie(&address, self.auth_port, cookie).await
    }

    /// Asks BOS for the chat service for `room` (0x0001/0x0004), follows the redirect and
    /// joins the room.
    pub async fn join_chat(&mut self, room: &str) -> Result<ChatClient, LabError> {
        self.join_room(&room_for(room)).await
    }

    /// Signs off (channel 4) and closes.
    pub async fn logout(self) -> Result<(), LabError> {
        self.session.send(SignOff::default().to_flap()?).await
    }
}

impl ChatClient {
    /// Says `text` in the room.
    pub async fn send(&mut self, text: &str) -> Result<(), LabError> {
        let msg = ChatSend(ChatMessage::public([7; 8], text)?);
        self.session.send(msg.to_snac(1)?.to_flap()?).await
    }

    /// Waits for a message in the room from `from`; returns its plain text.
    pub async fn expect_message(
        &mut self,
        from: &str,
        timeout: Duration,
    ) -> Result<String, LabError> {
        let from = ScreenName::parse(from.as_bytes())?;
        self.session
            .wait_for(timeout, "a chat message", |e| match e {
                ClientEvent::ChatMessage { from: f, plain } if *f == from => Some(plain.clone()),
                _ => None,
            })
            .await
    }

    /// The next event in the room.
    pub async fn next_event(&mut self, timeout: Duration) -> Result<ClientEvent, LabError> {
        self.session.next_event(timeout).await
    }

    /// Waits for a particular event in the room (others are skipped).
    pub async fn expect_event(
        &mut self,
        timeout: Duration,
        what: &'static str,
        want: impl Fn(&ClientEvent) -> bool,
    ) -> Result<ClientEvent, LabError> {
        self.session
            .wait_for(timeout, what, |e| want(e).then(|| e.clone()))
            .await
    }

    /// Leaves the room.
    pub async fn leave(self) -> Result<(), LabError> {
        self.session.send(SignOff::default().to_flap()?).await
    }
}

async fn step<T>(fut: impl Future<Output = Result<T, LabError>>) -> Result<T, LabError> {
    tokio::time::timeout(STEP_TIMEOUT, fut)
        .await
        .map_err(|_| LabError::Timeout("the server"))?
}

async fn connect(addr: &str) -> Result<Conn, LabError> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|source| LabError::Connect {
            addr: addr.to_owned(),
            source,
        })?;
    let _ = stream.set_nodelay(true);
    Ok(Framed::new(stream, FlapCodec::default()))
}

/// Our side's sequence counter lives in the codec's user: libpurple starts at 1.
async fn send(conn: &mut Conn, seq: &mut u16, mut flap: Flap) -> Result<(), LabError> {
    flap.seq = *seq;
    *seq = seq.wrapping_add(1);
    conn.send(flap).await.map_err(LabError::from)
}

/// The next SNAC or sign-off from the server, skipping its hello and keep-alives.
async fn next_frame(conn: &mut Conn) -> Result<Flap, LabError> {
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

/// Reads chatnav frames until the 0x000D/0x0009 answering request `rid`; returns its TLVs.
/// A 0x000D/0x0001 error for that request is a refusal.
async fn nav_info(conn: &mut Conn, rid: u32) -> Result<oscar::TlvList, LabError> {
    loop {
        let flap = next_frame(conn).await?;
        if flap.channel == Channel::SIGNOFF {
            return Err(LabError::Closed(" (chatnav)"));
        }
        let snac = Snac::from_flap(&flap)?;
        if snac.header.request_id != rid || snac.header.family != Family::CHAT_NAV {
            continue;
        }
        match snac.header.subtype {
            0x0009 => return Ok(oscar::TlvList::decode_rest(snac.body)?),
            0x0001 => {
                let code = snac
                    .body
                    .get(..2)
                    .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
                return Err(LabError::Protocol(format!(
                    "chatnav refused the request: {code:#06x}"
                )));
            }
            _ => {}
        }
    }
}

/// The authorizer exchange: returns the BOS address and cookie.
async fn authorize(
    auth: SocketAddr,
    name: &ScreenName,
    password: &[u8],
    method: LoginMethod,
) -> Result<(HostPort, Bytes), LabError> {
    let mut conn = connect(&auth.to_string()).await?;
    let mut seq = 1u16;
    if method == LoginMethod::Legacy {
        let hello = SignonHello::legacy_login(name, password, "imtegrity lab client");
        send(&mut conn, &mut seq, hello.to_flap()?).await?;
        let flap = next_frame(&mut conn).await?;
        let reply = SignOff::from_flap(&flap)?;
        return redirect_of(&reply);
    }
    send(&mut conn, &mut seq, SignonHello::default().to_flap()?).await?;
    let mut req = KeyRequest::default();
    req.tlvs.set(TLV_SCREEN_NAME, name.to_bytes());
    req.tlvs.push(Tlv::flag(0x004b));
    req.tlvs.push(Tlv::flag(0x005a));
    send(&mut conn, &mut seq, req.to_snac(1)?.to_flap()?).await?;
    let snac = Snac::from_flap(&next_frame(&mut conn).await?)?;
    if snac.header.is(LoginReply::FAMILY, LoginReply::SUBTYPE) {
        return redirect_of(&LoginReply::from_snac(&snac)?);
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
            return redirect_of(&LoginReply::from_snac(&snac)?);
        }
    }
}

fn redirect_of(reply: &impl Redirect) -> Result<(HostPort, Bytes), LabError> {
    if let Some(code) = reply.error_code() {
        return Err(LabError::LoginRefused { code });
    }
    let address = reply
        .address()
        .ok_or_else(|| LabError::Protocol("login reply without an address".into()))??;
    let cookie = reply
        .cookie()
        .cloned()
        .ok_or_else(|| LabError::Protocol("login reply without a cookie".into()))?;
    Ok((address, cookie))
}

/// Connects to a BOS or service host, presents the cookie and completes the sign-on
/// handshake (versions, rates, client ready).
async fn connect_with_cookie(
    address: &HostPort,
    default_port: u16,
    cookie: Bytes,
) -> Result<(Conn, u16), LabError> {
    step(async {
        let mut conn = connect(&format!(
            "{}:{}",
            address.host,
            address.port_or(default_port)
        ))
        .await?;
        let mut seq = 1u16;
        send(
            &mut conn,
            &mut seq,
            SignonHello::with_cookie(cookie).to_flap()?,
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

impl Session {
    fn spawn((conn, seq): (Conn, u16), default_port: u16) -> Self {
        let (commands, rx) = mpsc::channel(64);
        let (tx, events) = mpsc::channel(256);
        tokio::spawn(drive(conn, seq, rx, tx, default_port));
        Self { commands, events }
    }

    async fn send(&self, flap: Flap) -> Result<(), LabError> {
        self.commands
            .send(Command::Send(flap))
            .await
            .map_err(|_| LabError::Closed(" (client)"))
    }

    async fn next_event(&mut self, timeout: Duration) -> Result<ClientEvent, LabError> {
        match tokio::time::timeout(timeout, self.events.recv()).await {
            Ok(Some(event)) => Ok(event),
            Ok(None) => Ok(ClientEvent::Disconnected),
            Err(_) => Err(LabError::Timeout("an event")),
        }
    }

    async fn wait_for<T>(
        &mut self,
        timeout: Duration,
        what: &'static str,
        want: impl Fn(&ClientEvent) -> Option<T>,
    ) -> Result<T, LabError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let event = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .map_err(|_| LabError::Timeout(what))?
                .ok_or(LabError::Closed(" before the expected event"))?;
            if let Some(found) = want(&event) {
                return Ok(found);
            }
        }
    }
}

/// Owns one connection: writes commands, turns server frames into events, and follows a
/// migration by reconnecting with the new cookie.
async fn drive(
    mut conn: Conn,
    mut seq: u16,
    mut commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<ClientEvent>,
    default_port: u16,
) {
    let mut pending: Vec<(u32, oneshot::Sender<ServiceResponse>)> = Vec::new();
    let mut rid = 100u32;
    loop {
        tokio::select! {
            cmd = commands.recv() => match cmd {
                Some(Command::Send(flap)) => {
                    if send(&mut conn, &mut seq, flap).await.is_err() { break; }
                }
                Some(Command::Service { request, reply }) => {
                    rid += 1;
                    let Ok(flap) = request.to_snac(rid).and_then(|s| s.to_flap()) else { continue };
                    pending.push((rid, reply));
                    if send(&mut conn, &mut seq, flap).await.is_err() { break; }
                }
                None => break,
            },
            frame = next_frame(&mut conn) => {
                let Ok(flap) = frame else { break };
                if flap.channel == Channel::SIGNOFF {
                    break;
                }
                let Ok(snac) = Snac::from_flap(&flap) else { continue };
                if snac.header.is(Migration::FAMILY, Migration::SUBTYPE) {
                    match follow_migration(&snac, default_port).await {
                        Ok((to, new_conn, new_seq)) => {
                            // Leave the old host politely so it does not log a reset.
                            if let Ok(bye) = SignOff::default().to_flap() {
                                let _ = send(&mut conn, &mut seq, bye).await;
                            }
                            conn = new_conn;
                            seq = new_seq;
                            let _ = events.send(ClientEvent::Migrated(to)).await;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "lab client: migration failed");
                            break;
                        }
                    }
                    continue;
                }
                if snac.header.is(ServiceResponse::FAMILY, ServiceResponse::SUBTYPE) {
                    if let Some(i) = pending.iter().position(|(r, _)| *r == snac.header.request_id) {
                        let (_, reply) = pending.swap_remove(i);
                        if let Ok(resp) = ServiceResponse::from_snac(&snac) {
                            let _ = reply.send(resp);
                        }
                    }
                    continue;
                }
                for event in events_of(&snac) {
                    if events.send(event).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
    let _ = events.send(ClientEvent::Disconnected).await;
}

async fn follow_migration(snac: &Snac, default_port: u16) -> Result<(String, Conn, u16), LabError> {
    let migration = Migration::from_snac(snac)?;
    let (address, cookie) = redirect_of(&migration)?;
    let (conn, seq) = connect_with_cookie(&address, default_port, cookie).await?;
    Ok((address.to_string(), conn, seq))
}

fn names(list: &oscar::message::UserList) -> Vec<ScreenName> {
    list.users.iter().filter_map(|u| u.name().ok()).collect()
}

/// What a server SNAC means to the scripted client.
fn events_of(snac: &Snac) -> Vec<ClientEvent> {
    let h = snac.header;
    let decoded: Result<Vec<ClientEvent>, oscar::DecodeError> = (|| {
        Ok(if h.is(IcbmReceive::FAMILY, IcbmReceive::SUBTYPE) {
            let im = IcbmReceive::from_snac(snac)?;
            match im.content()? {
                IcbmContent::Text(text) => vec![ClientEvent::Im {
                    from: im.sender.name()?,
                    html: text.html(),
                    plain: text.plain(),
                }],
                _ => Vec::new(),
            }
        } else if h.is(Typing::FAMILY, Typing::SUBTYPE) {
            let t = Typing::from_snac(snac)?;
            vec![ClientEvent::Typing {
                from: ScreenName::parse(&t.screen_name)?,
                event: t.event,
            }]
        } else if h.is(BuddyArrived::FAMILY, BuddyArrived::SUBTYPE) {
            names(&BuddyArrived::from_snac(snac)?.0)
                .into_iter()
                .map(ClientEvent::BuddyArrived)
                .collect()
        } else if h.is(BuddyDeparted::FAMILY, BuddyDeparted::SUBTYPE) {
            names(&BuddyDeparted::from_snac(snac)?.0)
                .into_iter()
                .map(ClientEvent::BuddyDeparted)
                .collect()
        } else if h.is(Family::ICBM, 0x0001) {
            let code = snac
                .body
                .get(..2)
                .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
            vec![ClientEvent::ImError(code)]
        } else if h.is(ChatUsersJoined::FAMILY, ChatUsersJoined::SUBTYPE) {
            vec![ClientEvent::ChatJoined(names(
                &ChatUsersJoined::from_snac(snac)?.0,
            ))]
        } else if h.is(ChatUsersLeft::FAMILY, ChatUsersLeft::SUBTYPE) {
            vec![ClientEvent::ChatLeft(names(
                &ChatUsersLeft::from_snac(snac)?.0,
            ))]
        } else if h.is(ChatReceive::FAMILY, ChatReceive::SUBTYPE) {
            let msg = ChatReceive::from_snac(snac)?.0;
            let from = match msg.sender() {
                Some(info) => info?.name()?,
                None => return Ok(Vec::new()),
            };
            let plain = match msg.text() {
                Some(text) => text?.plain,
                None => String::new(),
            };
            vec![ClientEvent::ChatMessage { from, plain }]
        } else {
            Vec::new()
        })
    })();
    decoded.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "lab client: undecodable server SNAC");
        Vec::new()
    })
}
