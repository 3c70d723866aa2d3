//! Looking at one relayed frame: decoded once (`frame.rs`), it comes back as an
//! [`Observation`] that says where it goes, as what, and with which records, or that it
//! showed a user the policy refuses. Nothing is written here: the pump queues what comes
//! back behind the archive gate.

use oscar::Flap;

use super::decide::Handled;
use super::state::State;
use crate::error::{SessionError, Side};
use crate::relay::Relay;

mod from_client;
mod from_upstream;

/// What one frame came to.
#[derive(Debug)]
pub(super) enum Observation {
    /// Relay `frame` toward `dest` as `handled` says, once its records are settled.
    Relay {
        /// The leg it goes to.
        dest: Side,
        /// The frame: the one read, or the redirect rewritten.
        frame: Flap,
        /// Its plan and records.
        handled: Handled,
    },
    /// The frame showed a user the policy refuses, for this reason: it goes no further,
    /// and the session ends refused.
    Refused(String),
}

/// What looking at a frame came to, before it is addressed.
enum Looked {
    /// Relay it as this says.
    Handled(Handled),
    /// The policy refused the user the frame showed, for this reason.
    Refused(String),
}

impl Observation {
    /// `frame` toward `dest` as `looked` says, with `first` (records the frame produced
    /// before it was decided, such as a sign-on) ahead of the decision's own.
    fn of(dest: Side, frame: Flap, mut first: Vec<archive::Event>, looked: Looked) -> Self {
        let handled = match looked {
            Looked::Handled(handled) => handled,
            Looked::Refused(reason) => return Self::Refused(reason),
        };
        first.extend(handled.events);
        Self::Relay {
            dest,
            frame,
            handled: Handled {
                plan: handled.plan,
                events: first,
            },
        }
    }
}

/// Observes `flap`, read from `side`.
pub(super) fn observe(
    relay: &Relay,
    state: &mut State,
    side: Side,
    flap: Flap,
) -> Result<Observation, SessionError> {
    match side {
        Side::Client => from_client::observe(relay, state, flap),
        Side::Upstream => from_upstream::observe(relay, state, flap),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use std::time::Duration;

    use archive::{Kind, Verdict};
    use bytes::Bytes;
    use oscar::message::SignonHello;
    use oscar::{Channel, Family, ServerAddress, Snac, SnacHeader};
    use tokio::time::Instant;

    use super::*;
    use crate::cookies::Route;
    use crate::plan::Fate;
    use crate::session::login::{Action, Admission, Input, SignOn, Upstream};

    fn relay() -> Relay {
        Relay::new(crate::config::RelaySettings::default(), None).unwrap()
    }

    /// A session that connected after `hello`, its cookie (if any) routed to a BOS
    /// session of alice's.
    fn session(hello: &Flap) -> State {
        let login = Upstream {
            target: "login.example:5190".parse().unwrap(),
            tls_name: None,
        };
        let mut sign_on = SignOn::new(login, Instant::now() + Duration::from_secs(30));
        let mut actions = sign_on.handle(Input::BeforeHello(Some(hello)));
        let connect = loop {
            actions = match actions.pop() {
                Some(Action::Redeem(_)) => sign_on.handle(Input::Redeemed(Ok(Route {
                    upstream: "bos.example:5190".parse().unwrap(),
                    local_user: Some("alice".into()),
                    family: Some(Family::OSERVICE),
                    room: None,
                    tls_name: None,
                }))),
                Some(Action::Identify(_)) => sign_on.handle(Input::Admission(Admission::Unchecked)),
                Some(Action::Connect(connect)) => break connect,
                other => panic!("unexpected {other:?}"),
            };
        };
        let client = "10.0.0.9:40000".parse().unwrap();
        let mut state = State::new(client, ServerAddress::new("10.0.0.5", 5190), sign_on);
        state.connected(&connect);
        state
    }

    fn signed_on() -> State {
        session(&SignonHello::with_cookie(vec![1u8; 16]).to_flap().unwrap())
    }

    fn cut_short() -> Flap {
        Flap::new(Channel::DATA, Bytes::from_static(&[0, 4, 0, 6, 0]))
    }

    #[test]
    fn the_first_data_frame_of_a_proven_session_comes_back_with_its_sign_on_record() {
        let relay = relay();
        let mut state = signed_on();
        let flap = Snac::new(SnacHeader::new(Family::OSERVICE, 0x0003, 1), Bytes::new())
            .to_flap()
            .unwrap();
        let Observation::Relay {
            dest,
            frame,
            handled,
        } = observe(&relay, &mut state, Side::Upstream, flap.clone()).unwrap()
        else {
            panic!("relayed");
        };
        assert_eq!((dest, frame), (Side::Client, flap.clone()));
        assert_eq!(handled.plan.fate, Fate::Forward);
        let kinds: Vec<Kind> = handled.events.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [Kind::SessionStart]);
        assert!(relay.is_local("alice"));
        // Once: the next frame records nothing.
        let Observation::Relay { handled, .. } =
            observe(&relay, &mut state, Side::Upstream, flap).unwrap()
        else {
            panic!("relayed");
        };
        assert!(handled.events.is_empty());
    }

    #[test]
    fn a_snac_whose_header_does_not_read_is_refused_and_recorded_not_relayed() {
        let relay = relay();
        let mut state = signed_on();
        let Observation::Relay {
            dest,
            handled: Handled { plan, events },
            ..
        } = observe(&relay, &mut state, Side::Client, cut_short()).unwrap()
        else {
            panic!("an observation to relay");
        };
        assert_eq!(dest, Side::Upstream);
        assert_eq!(plan.fate, Fate::Drop, "strict: not relayed");
        let [event] = &events[..] else {
            panic!("one record: {events:?}");
        };
        assert_eq!(event.kind, Kind::Im);
        assert_eq!(event.sender, "alice");
        assert_eq!(event.verdict, Verdict::Blocked("unreadable".into()));
    }

    #[test]
    fn before_sign_on_a_snac_whose_header_does_not_read_ends_the_session() {
        let relay = relay();
        let mut state = session(&SignonHello::default().to_flap().unwrap());
        let ended = observe(&relay, &mut state, Side::Client, cut_short());
        assert!(
            matches!(
                ended,
                Err(SessionError::Protocol {
                    side: Side::Client,
                    ..
                })
            ),
            "{ended:?}"
        );
    }
}
