//! The sign-on deadline: everything before sign-on shares one deadline from the accept, and
//! a signed-on session is then held to the idle timeout only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use intercept::{Relay, RelaySettings};
use lab::{LabClient, LabConfig, LabServer, LoginMethod};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(5);
const DEADLINE: Duration = Duration::from_secs(1);

/// A relay with a one-second sign-on deadline (and the default ten-minute idle timeout).
async fn relay(upstream: SocketAddr) -> (SocketAddr, Arc<Relay>, CancellationToken) {
    let config = RelaySettings {
        upstream_login: upstream.into(),
        signon_timeout: DEADLINE,
        ..RelaySettings::default()
    };
    let relay = Arc::new(Relay::new(config, None).expect("relay"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    tokio::spawn(intercept::serve(listener, relay.clone(), stop.clone()));
    (addr, relay, stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_on_session_outlives_the_signon_deadline() {
    let lab = LabServer::start(LabConfig::ephemeral()).await.unwrap();
    let (addr, relay, stop) = relay(lab.auth_addr).await;
    let mut alice = LabClient::login(addr, "alice", "x").await.unwrap();
    let mut bob = LabClient::login_with(addr, "bob", "y", LoginMethod::Legacy)
        .await
        .unwrap();
    // Well past the deadline, both BOS sessions still carry messages.
    tokio::time::sleep(DEADLINE * 3).await;
    alice.send_im("bob", "still here").await.unwrap();
    assert_eq!(bob.expect_im("alice", WAIT).await.unwrap(), "still here");
    assert_eq!(relay.gate.refused().signon_deadline, 0);
    assert_eq!(relay.gate.snapshot().open, 2);
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalives_before_sign_on_do_not_extend_the_deadline() {
    let lab = LabServer::start(LabConfig::ephemeral()).await.unwrap();
    let (addr, relay, stop) = relay(lab.auth_addr).await;
    let mut client = TcpStream::connect(addr).await.unwrap();
    let mut hello = [0u8; 10];
    client.read_exact(&mut hello).await.unwrap();
    assert_eq!(hello[..2], [b'*', 1], "the server hello");
    // A keepalive (channel 5, empty) every 200 ms, well inside any idle timeout.
    let mut closed = false;
    for seq in 1..=25u16 {
        let [hi, lo] = seq.to_be_bytes();
        if client.write_all(&[b'*', 5, hi, lo, 0, 0]).await.is_err() {
            closed = true;
            break;
        }
        let mut byte = [0u8; 1];
        match tokio::time::timeout(Duration::from_millis(200), client.read(&mut byte)).await {
            Err(_) => {}
            Ok(Ok(0) | Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(_)) => panic!("the relay sent something other than the hello"),
        }
    }
    assert!(closed, "still open after 5 s of keepalives");
    // The close is counted as a missed sign-on once the session task has ended.
    for _ in 0..50 {
        if relay.gate.refused().signon_deadline == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(relay.gate.refused().signon_deadline, 1);
    assert_eq!(relay.gate.snapshot().open, 0);
    stop.cancel();
}
