//! Who is behind the gateway is proven, not claimed, and cookies stay with their client
//! against `imtegrity run` (a child process) in front of an in-process lab
//! server, with scripted raw OSCAR through the gateway and outsiders logged in to the lab
//! directly:
//!
//! - a connection that only asks for a login key in an outsider's name makes nobody local:
//!   the real outsider's IMs to a local user are archived inbound, the local user's to the
//!   outsider outbound;
//! - an IM between two local users is archived once (the sender's record), every time;
//! - a BOS cookie is taken only from the address its login came from (or another address
//!   in the same `relay.client_nat_networks` network), and only once.
//!
//! Every read is bounded, so a relay that hangs instead of answering fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use imtegrity_harness::scripted::{self, End, Scripted, WAIT, client_hello};
use imtegrity_harness::{Binary, Gateway, ImRecord, search, verify_intact};
use lab::{Accounts, LabClient, LabConfig, LabServer};
use oscar::message::signon::{TLV_ERROR_CODE, TLV_SCREEN_NAME};
use oscar::message::{IcbmSend, KeyReply, KeyRequest, SignonHello};
use oscar::{Channel, Family, Flap, ScreenName, Snac, SnacBody};

const IMTEGRITY: Binary = Binary::at(env!("CARGO_BIN_EXE_imtegrity"));

const NODE: &str = "identity-test";
const PASSWORD: &str = "pw";
/// Where the scripted clients connect from.
const HOME: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Another loopback address: another client on the same network.
const AWAY: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 9));

/// Asks the authorizer, through the relay, for a login key in `name`'s name: the first
/// half of a login, with no password.
async fn key_request(relay: SocketAddr, name: &str) -> Scripted {
    let mut conn = Scripted::connect(relay, HOME).await;
    conn.send(client_hello()).await;
    let mut req = KeyRequest::default();
    req.tlvs.set(TLV_SCREEN_NAME, name.as_bytes().to_vec());
    conn.send_snac(&req, 1).await;
    KeyReply::from_snac(&conn.snac().await).expect("a key reply");
    conn
}

/// Logs `name` in through the relay from `from` and returns the BOS cookie its login got.
async fn bos_cookie(relay: SocketAddr, from: IpAddr, name: &str) -> Vec<u8> {
    scripted::bos_cookie(relay, from, name, PASSWORD).await
}

/// Presents `cookie` from `from`; returns the connection and the first thing it got.
async fn present(relay: SocketAddr, from: IpAddr, cookie: &[u8]) -> (Scripted, Result<Flap, End>) {
    let mut conn = Scripted::connect(relay, from).await;
    conn.send(SignonHello::with_cookie(cookie.to_vec()).to_flap().unwrap())
        .await;
    let first = conn.next(WAIT).await;
    (conn, first)
}

/// Asserts `first` is the relay's refusal of a cookie (a channel-4 frame with error code 4,
/// its second frame on the connection) and that the connection then closes.
async fn assert_cookie_refused(conn: &mut Scripted, first: Result<Flap, End>, case: &str) {
    let off = first.unwrap_or_else(|end| panic!("{case}: no refusal frame, connection {end:?}"));
    assert_eq!(
        (off.channel, off.seq, &off.payload[..]),
        (
            Channel::SIGNOFF,
            2,
            &[TLV_ERROR_CODE.to_be_bytes(), [0, 2], [0, 4]].concat()[..]
        ),
        "{case}"
    );
    assert_eq!(conn.next(WAIT).await.unwrap_err(), End::Closed, "{case}");
}

/// A lab server with `names` (password [`PASSWORD`]) and the gateway in front of it.
struct Setup {
    lab: LabServer,
    gw: Gateway,
    archive: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Setup {
    /// With `extra` `--set KEY=VALUE` overrides for the gateway.
    async fn start(names: &[&str], extra: &[&str]) -> Self {
        let lab = LabServer::start(LabConfig {
            accounts: Accounts::from_pairs(names.iter().map(|n| (*n, PASSWORD))),
            ..LabConfig::ephemeral()
        })
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("archive");
        let gw = Gateway::start(IMTEGRITY, &lab.auth_addr.to_string(), &archive, NODE, extra).await;
        Self {
            lab,
            gw,
            archive,
            _dir: dir,
        }
    }
}

/// The archive's IM records, sorted, each checked to come from this gateway.
async fn archived_ims(archive: &std::path::Path) -> Vec<ImRecord> {
    let records = search(IMTEGRITY, archive, &["--kind", "im"]).await;
    for r in &records {
        assert_eq!(r["node"], NODE, "{r}");
    }
    let mut ims: Vec<ImRecord> = records.iter().map(ImRecord::from_json).collect();
    ims.sort();
    ims
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_request_in_an_outsiders_name_makes_nobody_local() {
    let t = Setup::start(&["alice", "eve"], &[]).await;

    // The claim: a key request in eve's name through the gateway, held open.
    let mut claim = key_request(t.gw.relay, "eve").await;
    claim.send(Flap::new(Channel::KEEPALIVE, Vec::new())).await;

    let mut alice = LabClient::login(t.gw.relay, "alice", PASSWORD)
        .await
        .unwrap();
    // The real eve, outside: logged in to the lab directly.
    let mut eve = LabClient::login(t.lab.auth_addr, "eve", PASSWORD)
        .await
        .unwrap();
    eve.send_im("alice", "from the real eve").await.unwrap();
    assert_eq!(
        alice.expect_im("eve", WAIT).await.unwrap(),
        "from the real eve"
    );
    alice.send_im("eve", "to the real eve").await.unwrap();
    assert_eq!(
        eve.expect_im("alice", WAIT).await.unwrap(),
        "to the real eve"
    );

    // The claim was live throughout: still open, nothing more said to it.
    claim.send(Flap::new(Channel::KEEPALIVE, Vec::new())).await;
    assert_eq!(
        claim.next(Duration::from_millis(300)).await.unwrap_err(),
        End::StillOpen
    );
    drop(claim);
    alice.logout().await.unwrap();
    eve.logout().await.unwrap();
    t.gw.stop().await;
    let mut want = vec![
        ImRecord::new(
            "aim",
            "eve",
            "alice",
            "inbound",
            "alice",
            "from the real eve",
        ),
        ImRecord::new(
            "aim",
            "alice",
            "eve",
            "outbound",
            "alice",
            "to the real eve",
        ),
    ];
    want.sort();
    assert_eq!(archived_ims(&t.archive).await, want);
    verify_intact(IMTEGRITY, &t.archive).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_im_between_two_local_users_is_recorded_once() {
    let t = Setup::start(&["alice", "bob"], &[]).await;
    let mut bob = LabClient::login(t.gw.relay, "bob", PASSWORD).await.unwrap();

    // alice, scripted, sends two different IMs under one ICBM cookie, as a hostile client
    // may: each is the sender's record, and bob's session skips each delivery because that
    // record was written, not because alice is local.
    let cookie = bos_cookie(t.gw.relay, HOME, "alice").await;
    let (mut alice, online) = present(t.gw.relay, HOME, &cookie).await;
    let online = Snac::decode(online.expect("HOST_ONLINE").payload).unwrap();
    assert!(online.header.is(Family::OSERVICE, 0x0003), "{online:?}");
    let to_bob = ScreenName::parse(b"bob").unwrap();
    for text in ["first under one cookie", "second under the same cookie"] {
        let im = IcbmSend::text(*b"SAMECOOK", &to_bob, text).unwrap();
        alice.send_snac(&im, 7).await;
        assert_eq!(bob.expect_im("alice", WAIT).await.unwrap(), text);
    }
    // And the other way, from a well-behaved client.
    let mut alice_sees = Vec::new();
    bob.send_im("alice", "bob to alice").await.unwrap();
    while alice_sees.is_empty() {
        let flap = alice.next(WAIT).await.expect("bob's IM reaches alice");
        let Ok(snac) = Snac::decode(flap.payload) else {
            continue;
        };
        if snac.header.is(Family::ICBM, 0x0007) {
            alice_sees.push(snac);
        }
    }
    drop(alice);
    bob.logout().await.unwrap();
    t.gw.stop().await;
    let mut want = vec![
        ImRecord::new(
            "aim",
            "alice",
            "bob",
            "internal",
            "alice",
            "first under one cookie",
        ),
        ImRecord::new(
            "aim",
            "alice",
            "bob",
            "internal",
            "alice",
            "second under the same cookie",
        ),
        ImRecord::new("aim", "bob", "alice", "internal", "bob", "bob to alice"),
    ];
    want.sort();
    assert_eq!(archived_ims(&t.archive).await, want);
    verify_intact(IMTEGRITY, &t.archive).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bos_cookie_is_taken_once_and_only_from_its_logins_address() {
    let t = Setup::start(&["alice", "bob"], &[]).await;
    let mut bob = LabClient::login(t.lab.auth_addr, "bob", PASSWORD)
        .await
        .unwrap();

    let cookie = bos_cookie(t.gw.relay, HOME, "alice").await;
    // Another client on the network presents it first: refused, and it stays alice's.
    let (mut thief, first) = present(t.gw.relay, AWAY, &cookie).await;
    assert_cookie_refused(&mut thief, first, "alice's cookie from another address").await;
    assert!(!t.lab.is_online("alice"), "nothing was connected upstream");

    // alice herself, from the login's address: signed on.
    let (mut alice, online) = present(t.gw.relay, HOME, &cookie).await;
    let online = Snac::decode(online.expect("HOST_ONLINE").payload).unwrap();
    assert!(online.header.is(Family::OSERVICE, 0x0003), "{online:?}");
    let to_bob = ScreenName::parse(b"bob").unwrap();
    let im = IcbmSend::text(*b"ALICE001", &to_bob, "from alice's own session").unwrap();
    alice.send_snac(&im, 3).await;
    assert_eq!(
        bob.expect_im("alice", WAIT).await.unwrap(),
        "from alice's own session"
    );

    // The same cookie again, from the right address: used up.
    let (mut again, first) = present(t.gw.relay, HOME, &cookie).await;
    assert_cookie_refused(&mut again, first, "alice's cookie a second time").await;
    // And from the other address, now that it is used.
    let (mut thief, first) = present(t.gw.relay, AWAY, &cookie).await;
    assert_cookie_refused(&mut thief, first, "a used cookie from another address").await;

    drop(alice);
    bob.logout().await.unwrap();
    t.gw.stop().await;
    let records = search(IMTEGRITY, &t.archive, &["--kind", "im"]).await;
    assert_eq!(records.len(), 1, "{records:#?}");
    let record = &records[0];
    assert_eq!(
        ImRecord::from_json(record),
        ImRecord::new(
            "aim",
            "alice",
            "bob",
            "outbound",
            "alice",
            "from alice's own session"
        )
    );
    let from = record["client_addr"].as_str().unwrap();
    assert!(from.starts_with("127.0.0.1:"), "{record}");
    verify_intact(IMTEGRITY, &t.archive).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn within_a_client_nat_network_a_cookie_may_come_from_another_address_of_it() {
    let t = Setup::start(
        &["alice"],
        &[r#"relay.client_nat_networks=["127.0.0.0/28"]"#],
    )
    .await;
    // The login from 127.0.0.1, the BOS connection from 127.0.0.9: one NAT pool.
    let cookie = bos_cookie(t.gw.relay, HOME, "alice").await;
    let (alice, online) = present(t.gw.relay, AWAY, &cookie).await;
    let online = Snac::decode(online.expect("HOST_ONLINE").payload).unwrap();
    assert!(online.header.is(Family::OSERVICE, 0x0003), "{online:?}");
    // Taken once all the same.
    let (mut again, first) = present(t.gw.relay, HOME, &cookie).await;
    assert_cookie_refused(&mut again, first, "a used cookie within the NAT network").await;
    drop(alice);
    t.gw.stop().await;

    // A network that does not hold both addresses changes nothing.
    let t = Setup::start(
        &["alice"],
        &[r#"relay.client_nat_networks=["127.0.0.0/29"]"#],
    )
    .await;
    let cookie = bos_cookie(t.gw.relay, HOME, "alice").await;
    let (mut thief, first) = present(t.gw.relay, AWAY, &cookie).await;
    assert_cookie_refused(&mut thief, first, "127.0.0.9 is outside 127.0.0.0/29").await;
    t.gw.stop().await;
}
