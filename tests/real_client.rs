//! The real libpurple AIM client (Debian bullseye's 2.14.1 plugin inside bitlbee, driven over
//! IRC) against `imtegrity lab`: it signs on, gets the echo bot's reply, and exchanges IMs
//! with a scripted user; tshark decodes a capture of it all with no malformed frame.
//!
//! Needs `tests/peers/install.sh` (run by `.ci/run`); skipped with a message otherwise, and
//! a failure in CI.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use imtegrity_harness::{
    AimClient, Binary, Bitlbee, Capture, HarnessError, aim_field_values, malformed_count,
    require_peers,
};

const IMTEGRITY: Binary = Binary::at(env!("CARGO_BIN_EXE_imtegrity"));

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libpurple_signs_on_to_imtegrity_lab_and_gets_its_echo() {
    let Some(peers) = require_peers("libpurple_signs_on_to_imtegrity_lab_and_gets_its_echo") else {
        return;
    };
    let (_lab, auth, bos, chat) = imtegrity_harness::start_lab(
        IMTEGRITY,
        &["--account", "tester1:secret", "--account", "alice:pw"],
    )
    .await;
    let ports = [auth.port(), bos.port(), chat.port()];
    let dir = tempfile::tempdir().unwrap();
    let capture = Capture::start(&peers, &ports, &dir.path().join("aim.pcapng"))
        .await
        .unwrap();

    let bitlbee = Bitlbee::start(&peers).await.unwrap();
    let mut aim = AimClient::connect(&bitlbee, auth, "tester1", "secret")
        .await
        .unwrap();

    aim.send_im("labbot", "hello from libpurple").await.unwrap();
    let echo = aim.wait_im("labbot", "hello from libpurple", WAIT).await;
    let echo = echo.unwrap_or_else(|e| panic!("no echo: {e}\n{}", aim.transcript()));
    assert_eq!(echo.text, "hello from libpurple");

    // A scripted user and the real client talk to each other through the lab's BOS.
    let mut alice = lab::LabClient::login(auth, "alice", "pw").await.unwrap();
    alice
        .send_im("tester1", "hi tester, it's alice")
        .await
        .unwrap();
    let got = aim.wait_im("alice", "hi tester", WAIT).await;
    assert_eq!(
        got.unwrap_or_else(|e| panic!("{e}\n{}", aim.transcript()))
            .text,
        "hi tester, it's alice"
    );
    aim.send_im("alice", "hello alice, from pidgin's code")
        .await
        .unwrap();
    assert_eq!(
        alice.expect_im("tester1", WAIT).await.unwrap(),
        "hello alice, from pidgin's code"
    );
    aim.sign_off().await.unwrap();

    let pcap = capture.stop().await.unwrap();
    assert_eq!(
        malformed_count(&peers, &pcap, &ports).await.unwrap(),
        0,
        "tshark found malformed AIM frames"
    );
    let texts = aim_field_values(&peers, &pcap, &ports, "aim.messageblock.message")
        .await
        .unwrap();
    for want in [
        "hello from libpurple",
        "hi tester, it's alice",
        "hello alice, from pidgin's code",
    ] {
        assert!(
            texts.iter().any(|t| t.contains(want)),
            "tshark did not decode {want:?}: {texts:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libpurple_wrong_password_is_refused_cleanly() {
    let Some(peers) = require_peers("libpurple_wrong_password_is_refused_cleanly") else {
        return;
    };
    let (_lab, auth, _, _) =
        imtegrity_harness::start_lab(IMTEGRITY, &["--account", "tester1:secret"]).await;
    let bitlbee = Bitlbee::start(&peers).await.unwrap();
    let err = AimClient::connect(&bitlbee, auth, "tester1", "wrong")
        .await
        .unwrap_err();
    // libpurple turns the lab's TLV 0x0008 = 0x0005 into this text.
    match err {
        HarnessError::LoginFailed { reason, .. } => assert_eq!(reason, "Incorrect password"),
        other => panic!("expected a refused login, got {other}"),
    }
}
