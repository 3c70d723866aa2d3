//! `imtegrity lab --tls --ca-out FILE`: the real binary's TLS listeners and HTTPS API, with
//! the CA it wrote: the scripted client's SSL and clientLogin sign-ons, and curl trusting
//! the file (curl from tests/peers/install.sh; that part is skipped locally without it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use imtegrity_harness::Binary;
use lab::{ClientLogin, ClientTls, LabClient, SslLogin};

const IMTEGRITY: Binary = Binary::at(env!("CARGO_BIN_EXE_imtegrity"));

const CURL: &str = "/usr/bin/curl";
const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn lab_tls_prints_its_listeners_and_writes_a_ca_that_clients_trust() {
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("lab-ca.pem");
    let mut lab = imtegrity_harness::Imtegrity::spawn(
        IMTEGRITY,
        &[
            "lab",
            "--listen",
            "127.0.0.1:0",
            "--account",
            "alice:pw",
            "--tls",
            "--ca-out",
            ca_path.to_str().unwrap(),
        ],
    );
    let line = lab.next_json().await;
    assert_eq!(line["event"], "listening", "{line}");
    let addr = |k: &str| line[k].as_str().unwrap().parse::<SocketAddr>().unwrap();
    let (ssl_auth, api) = (addr("ssl_auth"), addr("api"));
    let _ = (addr("tls_bos"), addr("tls_chat"));
    assert_eq!(line["ca_out"], ca_path.to_str().unwrap());
    let ca = std::fs::read_to_string(&ca_path).unwrap();
    let tls = ClientTls::trusting_pem(&ca).unwrap();

    let mut alice = LabClient::login_ssl(ssl_auth, &SslLogin::new(tls.clone()), "alice", "pw")
        .await
        .unwrap();
    assert_eq!(alice.bos_tls_name(), Some("bos.oscar.aol.com"));
    alice.send_im("labbot", "ssl").await.unwrap();
    assert_eq!(alice.expect_im("labbot", WAIT).await.unwrap(), "ssl");
    alice.logout().await.unwrap();

    let mut again = LabClient::client_login(&ClientLogin::new(api, tls), "alice", "pw")
        .await
        .unwrap();
    again.send_im("labbot", "clientLogin").await.unwrap();
    assert_eq!(
        again.expect_im("labbot", WAIT).await.unwrap(),
        "clientLogin"
    );

    if !imtegrity_harness::tools_present("lab_tls_curl", &[CURL]) {
        return;
    }
    let out = tokio::process::Command::new(CURL)
        .args(["-sS", "--cacert"])
        .arg(&ca_path)
        .arg("--resolve")
        .arg(format!("api.screenname.aol.com:{}:127.0.0.1", api.port()))
        .args(["-d", "s=alice&pwd=pw&f=json"])
        .arg(format!(
            "https://api.screenname.aol.com:{}/auth/clientLogin",
            api.port()
        ))
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(body["response"]["statusCode"], 200, "{body}");
    assert_eq!(body["response"]["data"]["screenName"], "alice");
}

#[test]
fn ca_out_without_tls_is_a_usage_error() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_imtegrity"))
        .args(["lab", "--listen", "127.0.0.1:0", "--ca-out", "/dev/null"])
        .output()
        .unwrap();
    // Refused by the argument parser, before anything is bound.
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls"));
}
