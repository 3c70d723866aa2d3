//! Sign-on, decided without I/O. [`SignOn`] takes what arrived (the client's frames before
//! its hello, the cookie table's and the policy's answers, names and frames seen once the
//! session relays) and answers with [`Action`]s for the session to carry out. It owns what
//! a session knows about its user: the name, whether the connection proves it, whether the
//! user counts as local, the policy's identity or refusal, and the sign-on deadline.
//!
//! Why a machine: who a user is decides what is recorded and whether anyone counts as
//! behind the gateway (`local_users.rs`), so every step of it is tested here without a
//! socket, and the session's I/O code only does what it is told.

use bytes::Bytes;
use oscar::message::{RoomInfo, SignonHello, SignonKind};
use oscar::{Channel, Family, Flap, SnacHeader};
use policy::Identity;
use record::normalize_screen_name;
use settings::HostPort;
use tokio::time::Instant;

use super::Outcome;
use crate::cookies::{CookieRefusal, Route};
use crate::error::{SessionError, Side};
use crate::local_users::proves_identity;

/// Where a session's upstream leg goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Upstream {
    /// Where to connect.
    pub(super) target: HostPort,
    /// The TLS name to send and verify; `None`: plain TCP.
    pub(super) tls_name: Option<String>,
}

/// Everything the session needs to connect upstream once the sign-on allows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Connect {
    /// Where to.
    pub(super) upstream: Upstream,
    /// The client's hello, relayed to the upstream as it came.
    pub(super) hello: Flap,
    /// The service the cookie's route was for (chat: `Family::CHAT`).
    pub(super) service: Option<Family>,
    /// The room the client asked for when it requested this connection: a claim.
    pub(super) claimed_room: Option<RoomInfo>,
}

/// What the policy says about a user ([`Action::Identify`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Admission {
    /// No policy is in force: nobody is identified, nobody refused.
    Unchecked,
    /// The user may sign on; who they are by the directory.
    Admitted(Identity),
    /// The user may not sign on, and why.
    Refused(String),
}

/// What the session saw that the sign-on depends on.
#[derive(Debug)]
pub(super) enum Input<'a> {
    /// A frame from the client before its hello; `None`: the client closed.
    BeforeHello(Option<&'a Flap>),
    /// The cookie table's answer to [`Action::Redeem`].
    Redeemed(Result<Route, CookieRefusal>),
    /// The policy's answer to [`Action::Identify`].
    Admission(Admission),
    /// The client claims to be this user (a key or login request): proves nothing.
    Claimed(String),
    /// The server names the session's user (its self-info).
    Named(String),
    /// A frame on this channel arrived from the upstream.
    FromUpstream(Channel),
    /// The upstream answered on this connection with a redirect the gateway routed.
    Routed,
    /// The client sent a message SNAC (its header), or a SNAC whose header does not read
    /// (`None`), which may be one.
    ClientMessage(Option<SnacHeader>),
}

/// What the session does next.
#[derive(Debug)]
pub(super) enum Action {
    /// Read the client's next frame: the hello has not come yet.
    ReadHello,
    /// The client left before its hello: the connection ends this way.
    Close(Outcome),
    /// The session ends with this error.
    Fail(SessionError),
    /// Take this cookie's route out of the relay's table; answer [`Input::Redeemed`].
    Redeem(Bytes),
    /// Ask the policy about this user; answer [`Input::Admission`].
    Identify(String),
    /// Connect upstream and relay.
    Connect(Connect),
    /// The cookie was not taken: the client gets a sign-off (error 0x0004), and the
    /// session ends with the refusal.
    RefuseCookie(CookieRefusal),
    /// The policy refuses the user: record it, tell the client, end the session.
    Refuse(String),
    /// Count this (normalised) user as behind the gateway and record their sign-on.
    SignIn(String),
}

/// Where the sign-on stands.
#[derive(Debug)]
enum Phase {
    /// Waiting for the client's hello, after this many keep-alives.
    Hello { keepalives: u32 },
    /// A cookie presented; waiting for its route.
    Redeeming { hello: Flap },
    /// The user is known before connecting; waiting for the policy. (Boxed: the phase is
    /// kept for the session's life, and this one is passed in an instant.)
    Admitting { connect: Box<Connect> },
    /// Connected: frames are relayed.
    Relaying,
    /// Ended before connecting (refused or failed).
    Over,
}

/// One connection's sign-on.
#[derive(Debug)]
pub(super) struct SignOn {
    phase: Phase,
    /// Where a login goes (the authorizer of the client's kind).
    login: Upstream,
    /// The user, as far as known.
    user: Option<String>,
    /// Whether this is a BOS session whose cookie came from a login through this gateway:
    /// once the server takes the cookie, its user is proven to be behind the gateway.
    proves_identity: bool,
    /// Whether this connection presented a cookie the gateway routed: only such sessions
    /// (BOS, chat) may carry messages.
    signed_on: bool,
    /// The normalised name counted as local, to release at the end.
    registered: Option<String>,
    /// Who the user is by the directory and which profile applies, once known. (Boxed:
    /// only sessions under a policy have one, and every session keeps the field.)
    identity: Option<Box<Identity>>,
    /// Why the policy refused the user, once it has.
    refused: Option<String>,
    /// When the connection must have signed on by; `None` once it has (a cookie routed, or
    /// the login answered), from when the idle timeout applies instead.
    deadline: Option<Instant>,
}

impl SignOn {
    /// A connection whose logins go to `login`, to sign on by `deadline`.
    pub(super) fn new(login: Upstream, deadline: Instant) -> Self {
        Self {
            phase: Phase::Hello { keepalives: 0 },
            login,
            user: None,
            proves_identity: false,
            signed_on: false,
            registered: None,
            identity: None,
            refused: None,
            deadline: Some(deadline),
        }
    }

    /// The session's user, as far as known (claimed, routed or named by the server).
    pub(super) fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// Who the user is by the policy's directory, once admitted.
    pub(super) fn identity(&self) -> Option<&Identity> {
        self.identity.as_deref()
    }

    /// Why the policy refused the user, if it has.
    pub(super) fn refused(&self) -> Option<&str> {
        self.refused.as_deref()
    }

    /// When the connection must have signed on by; `None` once it has.
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The name counted as local, taken at the session's end to release it (once).
    pub(super) fn sign_off(&mut self) -> Option<String> {
        self.registered.take()
    }

    /// Takes `input`; returns what to do, in order (nothing, most of the time).
    pub(super) fn handle(&mut self, input: Input<'_>) -> Vec<Action> {
        match input {
            Input::BeforeHello(frame) => self.before_hello(frame),
            Input::Redeemed(route) => self.redeemed(route),
            Input::Admission(admission) => self.admitted(admission),
            Input::Claimed(name) => self.learn(name, false),
            Input::Named(name) => self.learn(name, true),
            Input::FromUpstream(channel) => {
                // The authorizer's sign-off (a BOS address and cookie, or an error) answers
                // the login; a data frame shows the server took the cookie.
                if channel == Channel::SIGNOFF {
                    self.deadline = None;
                }
                if channel == Channel::DATA {
                    return self.register(true).into_iter().collect();
                }
                Vec::new()
            }
            Input::Routed => {
                // The login answered with a cookie: signed on as far as this connection goes.
                self.deadline = None;
                Vec::new()
            }
            Input::ClientMessage(_) if self.signed_on => Vec::new(),
            Input::ClientMessage(header) => {
                // Messages travel only on sessions that signed on with a cookie; anything
                // else would put unauthenticated text in the archive, or relay it unrecorded.
                let detail = match header {
                    Some(h) => format!(
                        "message SNAC {:04x}/{:04x} on a connection that has not signed on",
                        h.family.0, h.subtype
                    ),
                    None => "a SNAC whose header does not read (it may be a message) on a \
                             connection that has not signed on"
                        .to_owned(),
                };
                vec![Action::Fail(SessionError::Protocol {
                    side: Side::Client,
                    detail,
                })]
            }
        }
    }

    /// A frame before the hello: keep-alives are waited past, anything else but the hello
    /// ends the connection.
    fn before_hello(&mut self, frame: Option<&Flap>) -> Vec<Action> {
        let Phase::Hello { keepalives } = &mut self.phase else {
            return Vec::new();
        };
        let action = match frame {
            Some(f) if f.channel == Channel::KEEPALIVE => {
                *keepalives += 1;
                return vec![Action::ReadHello];
            }
            Some(f) if f.channel == Channel::SIGNON => return self.hello(f),
            Some(f) => Action::Fail(SessionError::Protocol {
                side: Side::Client,
                detail: format!("expected a sign-on frame, got {:?}", f.channel),
            }),
            // Nothing at all: a health check or a scan, not a session.
            None if *keepalives == 0 => Action::Close(Outcome::Silent),
            None => Action::Close(Outcome::Relayed),
        };
        self.phase = Phase::Over;
        vec![action]
    }

    /// The hello: a login goes to the authorizer, a cookie to where its route leads.
    fn hello(&mut self, frame: &Flap) -> Vec<Action> {
        let hello = match SignonHello::from_flap(frame) {
            Ok(hello) => hello,
            Err(e) => {
                self.phase = Phase::Over;
                return vec![Action::Fail(SessionError::Protocol {
                    side: Side::Client,
                    detail: format!("unreadable sign-on: {e}"),
                })];
            }
        };
        let connect = |login: &Upstream| Connect {
            upstream: login.clone(),
            hello: frame.clone(),
            service: None,
            claimed_room: None,
        };
        match hello.kind() {
            SignonKind::Plain => self.admit_then(connect(&self.login)),
            SignonKind::LegacyLogin { screen_name } => {
                self.user = Some(String::from_utf8_lossy(&screen_name).into_owned());
                self.admit_then(connect(&self.login))
            }
            SignonKind::Cookie(cookie) => {
                self.phase = Phase::Redeeming {
                    hello: frame.clone(),
                };
                vec![Action::Redeem(cookie)]
            }
        }
    }

    /// The cookie's route, or why there is none: a routed cookie is a sign-on.
    fn redeemed(&mut self, route: Result<Route, CookieRefusal>) -> Vec<Action> {
        let Phase::Redeeming { hello } = std::mem::replace(&mut self.phase, Phase::Over) else {
            return Vec::new();
        };
        let route = match route {
            Ok(route) => route,
            Err(refusal) => return vec![Action::RefuseCookie(refusal)],
        };
        self.proves_identity = proves_identity(&route);
        let Route {
            upstream,
            local_user,
            family,
            room,
            tls_name,
        } = route;
        self.user = local_user;
        self.signed_on = true;
        self.deadline = None;
        self.admit_then(Connect {
            upstream: Upstream {
                target: upstream,
                tls_name,
            },
            hello,
            service: family,
            claimed_room: room,
        })
    }

    /// Connects, after asking the policy about the user if one is known already.
    fn admit_then(&mut self, connect: Connect) -> Vec<Action> {
        match self.user.clone() {
            Some(user) => {
                self.phase = Phase::Admitting {
                    connect: Box::new(connect),
                };
                vec![Action::Identify(user)]
            }
            None => {
                self.phase = Phase::Relaying;
                vec![Action::Connect(connect)]
            }
        }
    }

    /// The policy's word: a refusal ends the session, before or after connecting.
    fn admitted(&mut self, admission: Admission) -> Vec<Action> {
        let refused = match admission {
            Admission::Unchecked => None,
            Admission::Admitted(who) => {
                self.identity = Some(Box::new(who));
                None
            }
            Admission::Refused(reason) => {
                self.refused = Some(reason.clone());
                Some(reason)
            }
        };
        match (std::mem::replace(&mut self.phase, Phase::Over), refused) {
            (_, Some(reason)) => vec![Action::Refuse(reason)],
            (Phase::Admitting { connect }, None) => {
                self.phase = Phase::Relaying;
                vec![Action::Connect(*connect)]
            }
            (phase, None) => {
                self.phase = phase;
                Vec::new()
            }
        }
    }

    /// Learns the user from the client's claim or the server's word, if not known yet.
    fn learn(&mut self, name: String, from_server: bool) -> Vec<Action> {
        if self.user.is_some() {
            return Vec::new();
        }
        tracing::info!(sn = %name, "login");
        self.user = Some(name.clone());
        // A client's claim proves nothing; the server naming the user of a proven BOS
        // session does.
        let mut actions: Vec<Action> = self.register(from_server).into_iter().collect();
        actions.push(Action::Identify(name));
        actions
    }

    /// Counts the user as behind the gateway, if the session proves it: a BOS session on a
    /// cookie routed through this gateway, whose first data frame from the server
    /// (`accepted`) showed the server took the cookie. Nothing a client sends before that
    /// (a key request, a login) makes anyone local.
    fn register(&mut self, accepted: bool) -> Option<Action> {
        if self.registered.is_some() || !self.proves_identity || !accepted {
            return None;
        }
        let name = normalize_screen_name(self.user.as_deref()?);
        self.registered = Some(name.clone());
        Some(Action::SignIn(name))
    }
}

#[cfg(test)]
#[path = "login_tests.rs"]
mod tests;
