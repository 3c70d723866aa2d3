//! The harness against the real libpurple AIM client, before any OSCAR server exists: bitlbee
//! starts, lists the `aim` plugin, and the client's first bytes to a bare listener are the
//! FLAP sign-on and a BUCP key request (real-peers.md §2a). Skips when the peers are not
//! installed, fails under `CI=true`.

// A panic is how a test reports; clippy's allow-unwrap-in-tests covers `#[test]` fns but not
// the async helpers they call.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use imtegrity_harness::{
    AimClient, AimLogin, Bitlbee, Capture, HarnessError, IrcClient, Peers, aim_packets,
    malformed_count, require_peers,
};
use tokio::io::AsyncReadExt as _;
use tokio::net::{TcpListener, TcpStream};

/// Bound on each step.
const STEP: Duration = Duration::from_secs(10);
/// Bound on a whole test.
const WHOLE_TEST: Duration = Duration::from_secs(50);
const SCREEN_NAME: &str = "tester1";

/// The client's login connection and what it sent before waiting for an answer.
struct FirstBytes {
    client: AimClient,
    connection: TcpStream,
    bytes: Vec<u8>,
}

/// Checks `plugins`, then logs in against `listener` and reads the client's opening bytes.
async fn start_login_against(bitlbee: &Bitlbee, listener: &TcpListener) -> FirstBytes {
    let mut irc = IrcClient::connect(bitlbee.addr(), "tester", STEP)
        .await
        .unwrap();
    irc.command("plugins").await.unwrap();
    let row = irc
        .wait_for("the aim row of `plugins`", STEP, |line| {
            line.root_text()
                .is_some_and(|text| text.split_whitespace().next() == Some("aim"))
        })
        .await
        .unwrap();
    assert!(
        row.raw.contains("2.14.1"),
        "expected bullseye's AIM prpl 2.14.1: {row}"
    );
    let enabled = irc
        .wait_for("`Enabled Protocols:`", STEP, |line| {
            line.root_text()
                .is_some_and(|text| text.starts_with("Enabled Protocols:"))
        })
        .await
        .unwrap();
    let protocols = enabled.trailing().unwrap_or_default();
    assert!(
        protocols
            .trim_start_matches("Enabled Protocols:")
            .split(',')
            .any(|p| p.trim() == "aim"),
        "{protocols}"
    );

    let server = listener.local_addr().unwrap();
    let client = AimClient::start_on(irc, &AimLogin::new(server, SCREEN_NAME, "secret"))
        .await
        .unwrap();
    let (mut connection, peer) = tokio::time::timeout(STEP, listener.accept())
        .await
        .unwrap_or_else(|_| panic!("the client never connected\n{}", client.transcript()))
        .unwrap();
    assert!(peer.ip().is_loopback());

    // The client speaks first and then waits for the key (17/07): read until the key request
    // is complete or nothing more comes.
    let mut bytes = Vec::new();
    let mut buf = [0_u8; 1024];
    while key_request(&bytes).is_none() {
        match tokio::time::timeout(STEP, connection.read(&mut buf)).await {
            Ok(Ok(0)) | Err(_) => break,
            Ok(Ok(n)) => bytes.extend_from_slice(&buf[..n]),
            Ok(Err(err)) => panic!("reading the client: {err}"),
        }
    }
    FirstBytes {
        client,
        connection,
        bytes,
    }
}

/// FLAPs as `(channel, payload)`; stops at the first incomplete or unmarked frame.
fn flaps(mut bytes: &[u8]) -> Vec<(u8, &[u8])> {
    let mut out = Vec::new();
    while let [0x2a, channel, _, _, len_hi, len_lo, rest @ ..] = bytes {
        let len = usize::from(u16::from_be_bytes([*len_hi, *len_lo]));
        let Some((payload, tail)) = rest.split_at_checked(len) else {
            break;
        };
        out.push((*channel, payload));
        bytes = tail;
    }
    out
}

/// The TLVs after the SNAC header of a channel-2 FLAP carrying BUCP 17/06, if there is one.
fn key_request(bytes: &[u8]) -> Option<Vec<(u16, Vec<u8>)>> {
    let (_, snac) = flaps(bytes).into_iter().find(|(channel, payload)| {
        *channel == 2 && payload.starts_with(&[0x00, 0x17, 0x00, 0x06])
    })?;
    let mut rest = snac.get(10..)?;
    let mut tlvs = Vec::new();
    while let [t0, t1, l0, l1, tail @ ..] = rest {
        let (value, tail) = tail.split_at_checked(usize::from(u16::from_be_bytes([*l0, *l1])))?;
        tlvs.push((u16::from_be_bytes([*t0, *t1]), value.to_vec()));
        rest = tail;
    }
    Some(tlvs)
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test]
async fn real_aim_client_opens_with_flap_signon_and_bucp_key_request() {
    let Some(peers) = require_peers("real_aim_client_opens_with_flap_signon_and_bucp_key_request")
    else {
        return;
    };
    tokio::time::timeout(WHOLE_TEST, signon_bytes(peers))
        .await
        .expect("the whole test took too long");
}

async fn signon_bytes(peers: Peers) {
    let bitlbee = Bitlbee::start(&peers).await.unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let FirstBytes {
        mut client,
        connection,
        bytes,
    } = start_login_against(&bitlbee, &listener).await;
    let context = format!(
        "client sent: {}\n--- IRC ---\n{}",
        hex(&bytes),
        client.transcript()
    );

    assert!(
        bytes.starts_with(&[0x2a, 0x01]),
        "not a FLAP sign-on: {context}"
    );
    let frames = flaps(&bytes);
    assert_eq!(
        frames.first(),
        Some(&(1, &[0, 0, 0, 1][..])),
        "FLAP version 1 first: {context}"
    );
    let tlvs =
        key_request(&bytes).unwrap_or_else(|| panic!("no BUCP key request 0017/0006: {context}"));
    let screen_name = tlvs
        .iter()
        .find(|(t, _)| *t == 0x0001)
        .map(|(_, v)| v.as_slice());
    assert_eq!(
        screen_name,
        Some(SCREEN_NAME.as_bytes()),
        "TLV 1 screen name: {context}"
    );

    client
        .irc()
        .wait_for("`aim - Logging in: Username sent`", STEP, |line| {
            line.root_text() == Some("aim - Logging in: Username sent")
        })
        .await
        .unwrap();

    // A server that hangs up is a login error, and the harness reports it as one.
    drop(connection);
    match client.wait_logged_in(STEP).await {
        Err(HarnessError::LoginFailed { reason, .. }) => {
            assert!(
                reason.contains("closed"),
                "{reason}\n{}",
                client.transcript()
            );
        }
        other => panic!("expected LoginFailed, got {other:?}"),
    }
}

#[tokio::test]
async fn capture_of_the_real_signon_decodes_as_aim() {
    let Some(peers) = require_peers("capture_of_the_real_signon_decodes_as_aim") else {
        return;
    };
    tokio::time::timeout(WHOLE_TEST, capture_signon(peers))
        .await
        .expect("the whole test took too long");
}

async fn capture_signon(peers: Peers) {
    let bitlbee = Bitlbee::start(&peers).await.unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let capture = Capture::start(&peers, &[port], &dir.path().join("signon.pcapng"))
        .await
        .unwrap();

    let FirstBytes {
        client,
        connection,
        bytes,
    } = start_login_against(&bitlbee, &listener).await;
    assert!(
        key_request(&bytes).is_some(),
        "no key request: {}",
        hex(&bytes)
    );
    drop(connection);
    let pcap = capture.stop().await.unwrap();

    let packets = aim_packets(&peers, &pcap, &[port]).await.unwrap();
    let context = format!("{packets:#?}\n--- IRC ---\n{}", client.transcript());
    let from_client: Vec<_> = packets.iter().filter(|p| p.dst_port == port).collect();
    assert!(
        from_client.iter().any(|p| p.channels.contains(&1)),
        "no sign-on FLAP decoded: {context}"
    );
    assert!(
        from_client
            .iter()
            .any(|p| p.snacs.contains(&(0x0017, 0x0006))),
        "no 17/06 decoded: {context}"
    );
    assert_eq!(
        malformed_count(&peers, &pcap, &[port]).await.unwrap(),
        0,
        "{context}"
    );
}
