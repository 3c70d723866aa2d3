//! A scripted OSCAR client for tests and the demo: logs in (BUCP MD5 or legacy, in plain
//! text or over TLS, or through the clientLogin HTTPS API), follows the BOS redirect,
//! completes sign-on, sends and receives IMs, joins chat rooms, and follows migrations. It
//! speaks to whatever addresses the server hands out, so pointed at the gateway it
//! exercises the gateway's rewriting.

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine;
use bytes::{BufMut, Bytes, BytesMut};
use oscar::message::icbm::TypingEvent;
use oscar::message::oservice::TLV_WANT_TLS;
use oscar::message::{
    BuddyArrived, BuddyDeparted, ChatMessage, ChatReceive, ChatSend, ChatUsersJoined,
    ChatUsersLeft, IcbmContent, IcbmReceive, IcbmSend, Migration, RoomInfo, ServiceRequest,
    ServiceResponse, SignOff, Typing,
};
use oscar::{Channel, Family, Flap, ScreenName, ServerAddress, Snac, SnacBody, Tlv};
use tokio::sync::{mpsc, oneshot};

use crate::api_client::ClientLogin;
use crate::chat::room_for;
use crate::client_conn::{
    Conn, Hop, STEP_TIMEOUT, authorize, connect_with_cookie, hop_of, next_frame, send, step,
};
use crate::client_tls::ClientTls;
use crate::error::LabError;
use crate::tls::SSL_LOGIN_NAME;

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
    /// The body of an ICBM delivery (0x0004/0x0007) as it arrived, for a test that reads
    /// it with another decoder; only after [`LabClient::report_icbms`].
    Icbm(Bytes),
    /// The server closed the session.
    Disconnected,
}

enum Command {
    Send(Flap),
    ReportIcbms,
    Service {
        request: ServiceRequest,
        reply: oneshot::Sender<ServiceResponse>,
    },
}

/// A logged-in scripted client.
#[derive(Debug)]
pub struct LabClient {
    /// Our own screen name.
    pub screen_name: ScreenName,
    session: Session,
    auth_port: u16,
    next_cookie: u64,
    /// What to trust when a redirect asks for TLS; with it, service requests ask for TLS
    /// (TLV 0x008C), as libpurple does with encryption on.
    tls: Option<ClientTls>,
    /// The certificate name the BOS connection was made with, if it is TLS.
    bos_tls_name: Option<String>,
}

/// A BUCP (or legacy) login over TLS to an SSL authorizer, as libpurple's `md5_login` with
/// encryption on (oscar.md §2.3): TLS from the first byte to the authorizer with SNI
/// `auth_name`, then to the BOS address of the reply with TLS as its TLV 0x008E says,
/// checking `bos.oscar.aol.com` when there is no TLV 0x008D.
#[derive(Debug, Clone)]
pub struct SslLogin {
    /// What the client trusts (the lab CA, or a gateway's).
    pub tls: ClientTls,
    /// The authorizer's SNI and certificate name (default `slogin.oscar.aol.com`).
    pub auth_name: String,
    /// How the password is proved.
    pub method: LoginMethod,
}

impl SslLogin {
    /// Strong MD5 to `slogin.oscar.aol.com`, trusting `tls`.
    pub fn new(tls: ClientTls) -> Self {
        Self {
            tls,
            auth_name: SSL_LOGIN_NAME.to_owned(),
            method: LoginMethod::Md5Strong,
        }
    }
}

/// A scripted client's membership of one chat room.
#[derive(Debug)]
pub struct ChatClient {
    /// The room's name.
    pub room: String,
    session: Session,
    tls_name: Option<String>,
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
        let hop = step(authorize(auth, None, &name, password.as_bytes(), method)).await?;
        Self::sign_on(name, &hop, auth.port(), None).await
    }

    /// Logs in over TLS at the SSL authorizer `auth` as `login` says, then signs on to BOS
    /// (over TLS when the login reply asks for it).
    pub async fn login_ssl(
        auth: SocketAddr,
        login: &SslLogin,
        screen_name: &str,
        password: &str,
    ) -> Result<Self, LabError> {
        let name = ScreenName::parse(screen_name.as_bytes())?;
        let dial = Some((&login.tls, login.auth_name.as_str()));
        let hop = step(authorize(
            auth,
            dial,
            &name,
            password.as_bytes(),
            login.method,
        ))
        .await?;
        Self::sign_on(name, &hop, auth.port(), Some(login.tls.clone())).await
    }

    /// Signs on through the clientLogin API as `api` says (oscar.md §2.5): POST clientLogin,
    /// GET a signed startOSCARSession, then BOS at the returned host and port with the
    /// returned cookie, over TLS with SNI `tlsCertName` if and only if the answer has one.
    /// A refusal (statusCode not 200) is [`LabError::ApiRefused`].
    pub async fn client_login(
        api: &ClientLogin,
        screen_name: &str,
        password: &str,
    ) -> Result<Self, LabError> {
        let name = ScreenName::parse(screen_name.as_bytes())?;
        let login = step(api.login_request(screen_name, password))
            .await?
            .success()?;
        let target = api.start_session_target(
            login.require("data.token.a")?,
            login.require("data.hostTime")?,
            password,
            login.require("data.sessionSecret")?,
        );
        let session = step(api.start_session_request(&target)).await?.success()?;
        let host = session.require("data.host")?;
        let port = session
            .require("data.port")?
            .trim()
            .parse::<u16>()
            .map_err(|_| LabError::ApiResponse(format!("bad port in {:?}", session.body)))?;
        let cookie = base64::engine::general_purpose::STANDARD
            .decode(session.require("data.cookie")?.trim())
            .map_err(|_| LabError::ApiResponse(format!("bad cookie in {:?}", session.body)))?;
        let hop = Hop {
            address: ServerAddress::new(host, port),
            cookie: Bytes::from(cookie),
            tls_name: session.field("data.tlsCertName").map(str::to_owned),
        };
        Self::sign_on(name, &hop, port, Some(api.tls.clone())).await
    }

    /// Connects to BOS as `hop` says and starts the session.
    async fn sign_on(
        name: ScreenName,
        hop: &Hop,
        default_port: u16,
        tls: Option<ClientTls>,
    ) -> Result<Self, LabError> {
        let conn = connect_with_cookie(hop, default_port, tls.as_ref()).await?;
        Ok(Self {
            screen_name: name,
            session: Session::spawn(conn, default_port, tls.clone(), hop.tls_name.clone()),
            auth_port: default_port,
            next_cookie: 1,
            tls,
            bos_tls_name: hop.tls_name.clone(),
        })
    }

    /// The certificate name the BOS connection was made with, or `None` if it is plain.
    pub fn bos_tls_name(&self) -> Option<&str> {
        self.bos_tls_name.as_deref()
    }

    /// What to trust when a redirect asks for TLS (TLV 0x008E). With `Some`, later service
    /// requests ask for TLS (TLV 0x008C); with `None`, they do not, and a TLS redirect is an
    /// error. Logins over TLS start with their own CA set.
    pub fn set_tls(&mut self, tls: Option<ClientTls>) {
        self.tls = tls;
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

    /// Sends `body` as a 0x0004/0x0006 SNAC verbatim, however malformed (a trailing byte,
    /// a lying length): what a hostile client sends.
    pub async fn send_icbm_body(&mut self, body: Bytes) -> Result<(), LabError> {
        self.next_cookie += 1;
        let header = oscar::SnacHeader::new(Family::ICBM, 0x0006, self.next_cookie as u32);
        self.session.send(Snac::new(header, body).to_flap()?).await
    }

    /// From now on, every ICBM delivery is also reported as [`ClientEvent::Icbm`] with its
    /// raw body (after any [`ClientEvent::Im`] it makes).
    pub async fn report_icbms(&mut self) -> Result<(), LabError> {
        self.session
            .commands
            .send(Command::ReportIcbms)
            .await
            .map_err(|_| LabError::Closed(" (client)"))
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
        let ((mut conn, mut seq), _) = self.follow(&response).await?;
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
        let (conn, tls_name) = self.follow(&response).await?;
        let mut chat = ChatClient {
            room: room.name(),
            session: Session::spawn(conn, self.auth_port, self.tls.clone(), tls_name.clone()),
            tls_name,
        };
        chat.session
            .wait_for(STEP_TIMEOUT, "the room's member list", |e| {
                matches!(e, ClientEvent::ChatJoined(_)).then_some(())
            })
            .await?;
        Ok(chat)
    }

    /// Sends a service request on the BOS connection and waits for its 0x0001/0x0005. A
    /// client that trusts a CA asks for TLS (TLV 0x008C), as libpurple with encryption on.
    async fn service(&mut self, mut request: ServiceRequest) -> Result<ServiceResponse, LabError> {
        if self.tls.is_some() && !request.tlvs.contains(TLV_WANT_TLS) {
            request.tlvs.push(Tlv::new(TLV_WANT_TLS, Bytes::new()));
        }
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

    /// Connects where a service response points, with its cookie (over TLS when its TLV
    /// 0x008E says so); returns the connection and its TLS name, if any.
    async fn follow(
        &self,
        response: &ServiceResponse,
    ) -> Result<((Conn, u16), Option<String>), LabError> {
        let hop = hop_of(response)?;
        let conn = connect_with_cookie(&hop, self.auth_port, self.tls.as_ref()).await?;
        Ok((conn, hop.tls_name))
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
    /// The certificate name the room's connection was made with, or `None` if it is plain.
    pub fn tls_name(&self) -> Option<&str> {
        self.tls_name.as_deref()
    }

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

/// How a session's connection was made, so a migration is followed the same way.
#[derive(Debug, Clone)]
struct Link {
    /// The port for an address without one.
    default_port: u16,
    /// What to trust for TLS hops.
    tls: Option<ClientTls>,
    /// The certificate name of the current connection, if it is TLS.
    tls_name: Option<String>,
}

impl Session {
    fn spawn(
        (conn, seq): (Conn, u16),
        default_port: u16,
        tls: Option<ClientTls>,
        tls_name: Option<String>,
    ) -> Self {
        let (commands, rx) = mpsc::channel(64);
        let (tx, events) = mpsc::channel(256);
        let link = Link {
            default_port,
            tls,
            tls_name,
        };
        tokio::spawn(drive(conn, seq, rx, tx, link));
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
    mut link: Link,
) {
    let mut pending: Vec<(u32, oneshot::Sender<ServiceResponse>)> = Vec::new();
    let mut rid = 100u32;
    let mut report_icbms = false;
    loop {
        tokio::select! {
            cmd = commands.recv() => match cmd {
                Some(Command::Send(flap)) => {
                    if send(&mut conn, &mut seq, flap).await.is_err() { break; }
                }
                Some(Command::ReportIcbms) => report_icbms = true,
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
                    match follow_migration(&snac, &link).await {
                        Ok((to, new_conn, new_seq, tls_name)) => {
                            // Leave the old host politely so it does not log a reset.
                            if let Ok(bye) = SignOff::default().to_flap() {
                                let _ = send(&mut conn, &mut seq, bye).await;
                            }
                            conn = new_conn;
                            seq = new_seq;
                            link.tls_name = tls_name;
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
                let raw = (report_icbms
                    && snac.header.is(IcbmReceive::FAMILY, IcbmReceive::SUBTYPE))
                .then(|| ClientEvent::Icbm(snac.body.clone()));
                for event in events_of(&snac).into_iter().chain(raw) {
                    if events.send(event).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
    let _ = events.send(ClientEvent::Disconnected).await;
}

/// Connects where a migration points. Migrations carry no TLV 0x008E: a TLS session moves
/// over TLS with the same certificate name, a plain one in plain text.
async fn follow_migration(
    snac: &Snac,
    link: &Link,
) -> Result<(String, Conn, u16, Option<String>), LabError> {
    let migration = Migration::from_snac(snac)?;
    let mut hop = hop_of(&migration)?;
    hop.tls_name = hop.tls_name.or_else(|| link.tls_name.clone());
    let (conn, seq) = connect_with_cookie(&hop, link.default_port, link.tls.as_ref()).await?;
    Ok((hop.address.to_string(), conn, seq, hop.tls_name))
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
