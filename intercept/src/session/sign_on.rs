//! Carrying out what the sign-on machine (`login.rs`) decides: reading the client's frames
//! until it says to connect, answering its questions from the relay (the cookie table, the
//! policy), and turning its sign-ins and sign-offs into records and local users.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;

use archive::{Event, Kind};
use tokio::time::{Instant, timeout_at};

use super::archive_gate::append_now;
use super::legs::{Leg, Reader};
use super::login::{Action, Admission, Connect, Input, Upstream};
use super::state::{State, capturer, sign_on_kind, with_employee};
use super::{Outcome, refusal};
use crate::cookies::CookieRefusal;
use crate::error::{SessionError, Side};
use crate::relay::Relay;
use crate::stream_halves::Wire;

/// How the sign-on before connecting ended.
pub(super) enum Started {
    /// Connect upstream and relay.
    Connect(Connect),
    /// The connection is over, this way.
    Done(Outcome),
}

/// Where a login goes: the authorizer of its kind, an SSL login to the SSL authorizer,
/// over TLS verified against that authorizer's own name.
pub(super) fn login_upstream(relay: &Relay, wire: Wire) -> Upstream {
    match wire {
        Wire::Plain => Upstream {
            target: relay.config.upstream_login.clone(),
            tls_name: None,
        },
        Wire::Tls => {
            let target = relay.config.upstream_login_tls.clone();
            let tls_name = Some(target.host().to_owned());
            Upstream { target, tls_name }
        }
    }
}

/// Reads the client's frames until its sign-on says to connect (or ends the connection),
/// all by `deadline`: the hello, a cookie's route, the policy's word on a known user.
pub(super) async fn until_connected(
    relay: &Relay,
    state: &mut State,
    client_rx: &mut Reader,
    client_tx: &mut Leg,
    deadline: Instant,
) -> Result<Started, SessionError> {
    let client_ip = state.client_addr.ip();
    let mut actions = VecDeque::from([Action::ReadHello]);
    loop {
        // The machine always answers before connecting; nothing left means read on.
        let action = actions.pop_front().unwrap_or(Action::ReadHello);
        let next_actions = match action {
            Action::ReadHello => {
                let frame = timeout_at(deadline, client_rx.next(Side::Client))
                    .await
                    .map_err(|_| SessionError::SignonTimeout {
                        secs: relay.config.signon_timeout.as_secs(),
                    })??;
                state.login.handle(Input::BeforeHello(frame.as_ref()))
            }
            Action::Close(outcome) => return Ok(Started::Done(outcome)),
            Action::Fail(e) => return Err(e),
            Action::Redeem(cookie) => {
                let nat = &relay.config.client_nat_networks;
                let route = relay.cookies.take(&cookie, client_ip, nat);
                state.login.handle(Input::Redeemed(route))
            }
            Action::Identify(user) => {
                let admission = admission(relay, &user, state);
                state.login.handle(Input::Admission(admission))
            }
            Action::Connect(connect) => return Ok(Started::Connect(connect)),
            Action::RefuseCookie(refusal) => {
                let refused = cookie_refused(state, refusal);
                client_tx
                    .send(refusal::sign_off(refusal::COOKIE_REFUSED)?)
                    .await?;
                return Err(refused);
            }
            Action::Refuse(reason) => {
                refusal::record(relay, state, &reason).await;
                client_tx
                    .send(refusal::sign_off(refusal::POLICY_REFUSED)?)
                    .await?;
                return Ok(Started::Done(Outcome::Refused));
            }
            // Only once the session relays: a sign-in needs the server's data frame.
            Action::SignIn(_) => Vec::new(),
        };
        // What an answer led to comes before anything still waiting.
        for action in next_actions.into_iter().rev() {
            actions.push_front(action);
        }
    }
}

/// Logs a cookie that was not taken and gives the error the session ends with.
fn cookie_refused(state: &State, refusal: CookieRefusal) -> SessionError {
    let client = state.client_addr;
    match refusal {
        CookieRefusal::Unknown => {
            tracing::warn!(%client,
                "unknown, expired or already used cookie; refusing the connection");
            SessionError::UnknownCookie
        }
        CookieRefusal::Elsewhere { owner } => {
            tracing::warn!(%client, %owner,
                "cookie presented from another address than its login's; \
                 refusing the connection");
            SessionError::CookieElsewhere { owner }
        }
    }
}

/// Feeds `input` to the sign-on machine of a relaying session and carries out its answer:
/// a sign-in adds the user to the local users and its record to `events`; a question to
/// the policy is answered at once. Returns the policy's refusal, if it refused the user.
pub(super) fn while_relaying(
    relay: &Relay,
    state: &mut State,
    input: Input<'_>,
    events: &mut Vec<Event>,
) -> Result<Option<String>, SessionError> {
    let mut actions = VecDeque::from(state.login.handle(input));
    while let Some(action) = actions.pop_front() {
        let next_actions = match action {
            Action::SignIn(name) => {
                relay.sign_in(&name);
                let event = capturer(relay, state).session(
                    Kind::SessionStart,
                    format!(
                        "{} signed on: the server took a BOS cookie routed through this gateway",
                        sign_on_kind(relay, state)
                    ),
                    archive::now_ns(),
                );
                events.push(with_employee(state, event));
                Vec::new()
            }
            Action::Identify(user) => {
                let admission = admission(relay, &user, state);
                state.login.handle(Input::Admission(admission))
            }
            Action::Refuse(reason) => return Ok(Some(reason)),
            Action::Fail(e) => return Err(e),
            // Given only before the session connects (`SignOn::handle`).
            Action::ReadHello
            | Action::Close(_)
            | Action::Redeem(_)
            | Action::Connect(_)
            | Action::RefuseCookie(_) => Vec::new(),
        };
        for action in next_actions.into_iter().rev() {
            actions.push_front(action);
        }
    }
    Ok(None)
}

/// Looks `user` up in the directory and checks they may sign on at all
/// (`policy.unknown_screen_names = "block"`).
fn admission(relay: &Relay, user: &str, state: &State) -> Admission {
    let Some(runtime) = relay.policy() else {
        return Admission::Unchecked;
    };
    let who = runtime
        .engine()
        .identify(user, Some(state.client_addr.ip()));
    if let policy::Admission::Refuse { reason } = crate::enforce::admit(runtime, &who) {
        tracing::warn!(sn = %user, %reason, "sign-on refused by policy");
        relay.stats.refused.fetch_add(1, Ordering::Relaxed);
        return Admission::Refused(reason);
    }
    if let Some(employee) = &who.employee {
        tracing::debug!(sn = %user, employee = %employee.id, profile = %who.profile, "identified");
    }
    Admission::Admitted(who)
}

/// Records the end of a session whose user counted as local, then stops counting them
/// (recorded first, while the name still counts as local).
pub(super) async fn sign_off(relay: &Relay, state: &mut State, result: &Result<(), SessionError>) {
    let Some(name) = state.login.sign_off() else {
        return;
    };
    let how = match result {
        Ok(()) if state.closed_by_gateway => "session ended: the gateway stopped".to_owned(),
        Ok(()) if let Some(reason) = state.login.refused() => {
            format!("session ended: sign-on refused by policy: {reason}")
        }
        Ok(()) => "signed off".to_owned(),
        Err(e) => format!("session ended: {e}"),
    };
    let event = capturer(relay, state).session(
        Kind::SessionEnd,
        format!("{} {how}", sign_on_kind(relay, state)),
        archive::now_ns(),
    );
    append_now(relay, with_employee(state, event)).await;
    relay.sign_out(&name);
}
