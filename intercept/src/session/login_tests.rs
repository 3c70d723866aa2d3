//! The sign-on machine driven by hand: frames and answers in, actions out, no sockets.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::time::Duration;

use oscar::{Snac, SnacHeader};

use super::*;

fn login() -> Upstream {
    Upstream {
        target: "login.example:5190".parse().unwrap(),
        tls_name: None,
    }
}

fn machine() -> (SignOn, Instant) {
    let deadline = Instant::now() + Duration::from_secs(30);
    (SignOn::new(login(), deadline), deadline)
}

fn keepalive() -> Flap {
    Flap::new(Channel::KEEPALIVE, Bytes::new())
}

fn plain_hello() -> Flap {
    SignonHello::default().to_flap().unwrap()
}

fn cookie_hello(cookie: &[u8]) -> Flap {
    SignonHello::with_cookie(cookie.to_vec()).to_flap().unwrap()
}

fn legacy_hello(name: &str) -> Flap {
    let name = oscar::ScreenName::parse(name.as_bytes()).unwrap();
    SignonHello::legacy_login(&name, b"secret", "test")
        .to_flap()
        .unwrap()
}

fn route(family: Family, user: Option<&str>) -> Route {
    Route {
        upstream: "bos.example:5190".parse().unwrap(),
        local_user: user.map(str::to_owned),
        family: Some(family),
        room: None,
        tls_name: Some("bos.example".into()),
    }
}

fn identity(name: &str) -> Identity {
    Identity {
        screen_name: name.into(),
        client: None,
        employee: None,
        group: None,
        profile: "default".into(),
    }
}

fn one(mut actions: Vec<Action>) -> Action {
    assert_eq!(actions.len(), 1, "{actions:?}");
    actions.remove(0)
}

fn connect_of(action: Action) -> Connect {
    match action {
        Action::Connect(c) => c,
        other => panic!("expected a connect, got {other:?}"),
    }
}

/// A BOS session on a routed cookie for `user`, connected.
fn bos(user: Option<&str>) -> SignOn {
    let (mut s, _) = machine();
    let hello = cookie_hello(b"cookie");
    one(s.handle(Input::BeforeHello(Some(&hello))));
    let next = one(s.handle(Input::Redeemed(Ok(route(Family::OSERVICE, user)))));
    if let Action::Identify(_) = next {
        connect_of(one(s.handle(Input::Admission(Admission::Unchecked))));
    } else {
        connect_of(next);
    }
    s
}

#[test]
fn keepalives_before_a_plain_hello_then_the_login_upstream() {
    let (mut s, deadline) = machine();
    assert!(matches!(
        one(s.handle(Input::BeforeHello(Some(&keepalive())))),
        Action::ReadHello
    ));
    let hello = plain_hello();
    let c = connect_of(one(s.handle(Input::BeforeHello(Some(&hello)))));
    assert_eq!(c.upstream, login());
    assert_eq!(c.hello, hello, "the client's own hello goes upstream");
    assert_eq!(c.service, None);
    assert_eq!(s.user(), None);
    assert_eq!(
        s.deadline(),
        Some(deadline),
        "a login has not signed on yet"
    );
}

#[test]
fn a_client_that_leaves_before_its_hello_is_silent_only_without_a_frame() {
    let (mut s, _) = machine();
    assert!(matches!(
        one(s.handle(Input::BeforeHello(None))),
        Action::Close(Outcome::Silent)
    ));
    let (mut s, _) = machine();
    one(s.handle(Input::BeforeHello(Some(&keepalive()))));
    assert!(matches!(
        one(s.handle(Input::BeforeHello(None))),
        Action::Close(Outcome::Relayed)
    ));
}

#[test]
fn anything_but_a_hello_first_or_an_unreadable_hello_fails() {
    let (mut s, _) = machine();
    let data = Snac::new(SnacHeader::new(Family::ICBM, 6, 1), Bytes::new())
        .to_flap()
        .unwrap();
    let Action::Fail(SessionError::Protocol { side, detail }) =
        one(s.handle(Input::BeforeHello(Some(&data))))
    else {
        panic!("not a protocol failure");
    };
    assert_eq!(side, Side::Client);
    assert!(detail.starts_with("expected a sign-on frame"), "{detail}");
    let (mut s, _) = machine();
    let short = Flap::new(Channel::SIGNON, Bytes::from_static(&[0, 0]));
    let Action::Fail(SessionError::Protocol { detail, .. }) =
        one(s.handle(Input::BeforeHello(Some(&short))))
    else {
        panic!("not a protocol failure");
    };
    assert!(detail.starts_with("unreadable sign-on"), "{detail}");
}

#[test]
fn a_legacy_login_names_its_user_and_asks_the_policy_before_connecting() {
    let (mut s, _) = machine();
    let hello = legacy_hello("Alice");
    let Action::Identify(user) = one(s.handle(Input::BeforeHello(Some(&hello)))) else {
        panic!("the policy is asked first");
    };
    assert_eq!(user, "Alice");
    let admitted = Admission::Admitted(identity("Alice"));
    let c = connect_of(one(s.handle(Input::Admission(admitted))));
    assert_eq!(c.upstream, login());
    assert_eq!(s.identity().map(|i| i.profile.as_str()), Some("default"));

    let (mut s, _) = machine();
    one(s.handle(Input::BeforeHello(Some(&hello))));
    let refused = Admission::Refused("not in the directory".into());
    let Action::Refuse(reason) = one(s.handle(Input::Admission(refused))) else {
        panic!("refused");
    };
    assert_eq!(reason, "not in the directory");
    assert_eq!(s.refused(), Some("not in the directory"));
}

#[test]
fn a_cookie_is_redeemed_and_its_route_connects_signed_on() {
    let (mut s, _) = machine();
    let hello = cookie_hello(b"cookie");
    let Action::Redeem(cookie) = one(s.handle(Input::BeforeHello(Some(&hello)))) else {
        panic!("redeem first");
    };
    assert_eq!(&cookie[..], b"cookie");
    let mut chat = route(Family::CHAT, None);
    chat.room = Some(RoomInfo {
        exchange: 4,
        cookie: Bytes::from_static(b"4-0-room"),
        instance: 0,
    });
    let c = connect_of(one(s.handle(Input::Redeemed(Ok(chat.clone())))));
    assert_eq!(c.upstream.target.to_string(), "bos.example:5190");
    assert_eq!(c.upstream.tls_name.as_deref(), Some("bos.example"));
    assert_eq!(c.service, Some(Family::CHAT));
    assert_eq!(c.claimed_room, chat.room);
    assert_eq!(s.deadline(), None, "a routed cookie is a sign-on");
    // Signed on: messages may travel.
    let icbm = SnacHeader::new(Family::ICBM, 6, 1);
    assert!(s.handle(Input::ClientMessage(Some(icbm))).is_empty());
}

#[test]
fn a_refused_cookie_is_refused() {
    let (mut s, _) = machine();
    one(s.handle(Input::BeforeHello(Some(&cookie_hello(b"x")))));
    let owner = std::net::IpAddr::from([10, 0, 0, 1]);
    let refusal = CookieRefusal::Elsewhere { owner };
    assert!(matches!(
        one(s.handle(Input::Redeemed(Err(refusal)))),
        Action::RefuseCookie(CookieRefusal::Elsewhere { owner: o }) if o == owner
    ));
}

#[test]
fn a_routed_user_is_identified_before_connecting() {
    let (mut s, _) = machine();
    one(s.handle(Input::BeforeHello(Some(&cookie_hello(b"c")))));
    let Action::Identify(user) =
        one(s.handle(Input::Redeemed(Ok(route(Family::OSERVICE, Some("alice"))))))
    else {
        panic!("identify first");
    };
    assert_eq!(user, "alice");
    connect_of(one(s.handle(Input::Admission(Admission::Unchecked))));
    assert_eq!(s.identity(), None, "no policy, no identity");
}

#[test]
fn a_bos_user_counts_as_local_once_the_server_takes_the_cookie() {
    let mut s = bos(Some("Alice Smith"));
    // Frames other than data show nothing.
    assert!(s.handle(Input::FromUpstream(Channel::KEEPALIVE)).is_empty());
    let Action::SignIn(name) = one(s.handle(Input::FromUpstream(Channel::DATA))) else {
        panic!("signed in");
    };
    assert_eq!(name, "alicesmith");
    assert!(
        s.handle(Input::FromUpstream(Channel::DATA)).is_empty(),
        "once"
    );
    assert_eq!(s.sign_off().as_deref(), Some("alicesmith"));
    assert_eq!(s.sign_off(), None, "released once");
}

#[test]
fn only_a_bos_route_proves_its_user() {
    let (mut s, _) = machine();
    one(s.handle(Input::BeforeHello(Some(&cookie_hello(b"c")))));
    one(s.handle(Input::Redeemed(Ok(route(Family::CHAT, Some("alice"))))));
    one(s.handle(Input::Admission(Admission::Unchecked)));
    assert!(s.handle(Input::FromUpstream(Channel::DATA)).is_empty());
    assert_eq!(s.sign_off(), None);
}

#[test]
fn a_claimed_name_proves_nothing_but_the_servers_word_does() {
    // On a login connection the client's claim names the user, asks the policy, and
    // counts no one as local.
    let (mut s, _) = machine();
    connect_of(one(s.handle(Input::BeforeHello(Some(&plain_hello())))));
    let Action::Identify(user) = one(s.handle(Input::Claimed("mallory".into()))) else {
        panic!("identify");
    };
    assert_eq!(user, "mallory");
    assert_eq!(s.user(), Some("mallory"));
    assert!(
        s.handle(Input::Claimed("other".into())).is_empty(),
        "first wins"
    );
    // A proven BOS session whose route named nobody: the server's self-info names the
    // user and proves them, before the policy is asked.
    let mut s = bos(None);
    assert!(s.handle(Input::FromUpstream(Channel::DATA)).is_empty());
    let actions = s.handle(Input::Named("Bob".into()));
    assert!(
        matches!(&actions[..], [Action::SignIn(n), Action::Identify(u)] if n == "bob" && u == "Bob"),
        "{actions:?}"
    );
    let refused = Admission::Refused("blocked".into());
    assert!(matches!(
        one(s.handle(Input::Admission(refused))),
        Action::Refuse(_)
    ));
    assert_eq!(s.refused(), Some("blocked"));
    assert_eq!(s.sign_off().as_deref(), Some("bob"), "released at the end");
}

#[test]
fn the_deadline_ends_when_the_login_is_answered() {
    let (mut s, deadline) = machine();
    connect_of(one(s.handle(Input::BeforeHello(Some(&plain_hello())))));
    assert!(s.handle(Input::FromUpstream(Channel::DATA)).is_empty());
    assert_eq!(s.deadline(), Some(deadline));
    s.handle(Input::FromUpstream(Channel::SIGNOFF));
    assert_eq!(s.deadline(), None, "the authorizer's sign-off answers");
    let (mut s, _) = machine();
    connect_of(one(s.handle(Input::BeforeHello(Some(&plain_hello())))));
    s.handle(Input::Routed);
    assert_eq!(s.deadline(), None, "a routed login reply answers");
}

#[test]
fn messages_before_signing_on_end_the_session() {
    let (mut s, _) = machine();
    connect_of(one(s.handle(Input::BeforeHello(Some(&plain_hello())))));
    let chat = SnacHeader::new(Family::CHAT, 5, 1);
    let Action::Fail(SessionError::Protocol { detail, .. }) =
        one(s.handle(Input::ClientMessage(Some(chat))))
    else {
        panic!("a message before sign-on fails");
    };
    assert_eq!(
        detail,
        "message SNAC 000e/0005 on a connection that has not signed on"
    );
    assert!(matches!(
        one(s.handle(Input::ClientMessage(None))),
        Action::Fail(SessionError::Protocol { .. })
    ));
}
