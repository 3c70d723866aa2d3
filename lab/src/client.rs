//! A scripted OSCAR client for tests and the demo: logs in (BUCP MD5 or legacy, in plain
//! text or over TLS, or through the clientLogin HTTPS API), follows the BOS redirect,
//! completes sign-on, sends and receives IMs, joins chat rooms, and follows migrations. It
//! speaks to whatever addresses the server hands out, so pointed at the gateway it
//! exercises the gateway's rewriting.

mod chat;
mod events;
mod session;

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use oscar::message::icbm::TypingEvent;
use oscar::message::oservice::TLV_WANT_TLS;
use oscar::message::{IcbmSend, ServiceRequest, ServiceResponse, SignOff, Typing};
use oscar::{Family, ScreenName, ServerAddress, Snac, SnacBody, Tlv};
use tokio::sync::oneshot;

use crate::api_client::ClientLogin;
use crate::client_conn::{Conn, Hop, authorize, connect_with_cookie, hop_of, step};
use crate::client_tls::ClientTls;
use crate::error::LabError;
use crate::tls::SSL_LOGIN_NAME;
pub use chat::ChatClient;
pub use events::ClientEvent;
use session::{Command, Session};

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

    /// Signs off (channel 4) and closes.
    pub async fn logout(self) -> Result<(), LabError> {
        self.session.send(SignOff::default().to_flap()?).await
    }
}
