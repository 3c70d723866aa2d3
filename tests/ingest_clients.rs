//! Named ingest clients against the real `imtegrity run`: a source belongs to the client
//! that first wrote it, durably (across a restart); another client writing under it gets
//! 409, nothing of its batch is stored, and an alert record is archived; a wrong token gets
//! 401; a token shorter than 128 bits is refused by `check-config` and `run`, which never
//! show it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::Path;

use imtegrity_harness::ingest::{batch, curl, gateway_ca, issue_client, post};
use imtegrity_harness::{Binary, Gateway, cli, search};
use serde_json::json;

const IMTEGRITY: Binary = Binary::at(env!("CARGO_BIN_EXE_imtegrity"));

const TOKEN_A: &str = "6f1d2c3b4a5968778695a4b3c2d1e0f1";
const TOKEN_B: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";

/// A configuration with two named clients, `st-a` and `st-b`, their tokens in `dir`.
fn two_clients(dir: &Path) -> std::path::PathBuf {
    let (a, b) = (dir.join("st-a.token"), dir.join("st-b.token"));
    std::fs::write(&a, format!("{TOKEN_A}\n")).unwrap();
    std::fs::write(&b, format!("{TOKEN_B}\n")).unwrap();
    let config = dir.join("imtegrity.toml");
    std::fs::write(
        &config,
        format!(
            "[ingest]\nlisten = [\"127.0.0.1:0\"]\n\
             [[ingest.clients]]\nname = \"st-a\"\ntoken_file = {:?}\n\
             [[ingest.clients]]\nname = \"st-b\"\ntoken_file = {:?}\n",
            a.display().to_string(),
            b.display().to_string()
        ),
    )
    .unwrap();
    config
}

async fn start(config: &Path, archive: &Path) -> (Gateway, SocketAddr) {
    let config = config.display().to_string();
    let gw = Gateway::start_with(
        IMTEGRITY,
        &["--config", &config],
        "127.0.0.1:9",
        archive,
        "gw",
        &[],
    )
    .await;
    let ingest = gw.running["ingest"][0].as_str().unwrap().parse().unwrap();
    (gw, ingest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_client_claiming_a_source_gets_409_and_an_alert_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = two_clients(dir.path());
    let archive = dir.path().join("archive");

    let (gw, ingest) = start(&config, &archive).await;
    let ok = |upto: u64| (200, format!("{{\"acked_upto\":{upto}}}"));
    let claimed = (
        409,
        r#"{"error":"source \"spool-a\" belongs to another ingest client"}"#.to_owned(),
    );
    assert_eq!(
        post(ingest, TOKEN_A, &batch("spool-a", &[(1, "a1"), (2, "a2")])).await,
        ok(2)
    );
    // B under A's source: new seqs and a resend of stored ones alike.
    assert_eq!(
        post(ingest, TOKEN_B, &batch("spool-a", &[(3, "b-forged")])).await,
        claimed
    );
    assert_eq!(
        post(ingest, TOKEN_B, &batch("spool-a", &[(2, "a2")])).await,
        claimed
    );
    assert_eq!(
        post(ingest, TOKEN_B, &batch("spool-b", &[(1, "b1")])).await,
        ok(1)
    );
    // A wrong token, and A's own token with B's token's length but one digit changed.
    let mut near = TOKEN_A.to_owned();
    near.replace_range(31.., "0");
    for wrong in ["", "wrong", near.as_str()] {
        let (status, body) = post(ingest, wrong, &batch("spool-a", &[(9, "x")])).await;
        assert_eq!(
            (status, body.as_str()),
            (401, r#"{"error":"bad token"}"#),
            "{wrong:?}"
        );
    }
    gw.stop().await;

    // After a restart the binding holds.
    let (gw, ingest) = start(&config, &archive).await;
    assert_eq!(
        post(ingest, TOKEN_B, &batch("spool-a", &[(5, "b-again")])).await,
        claimed
    );
    assert_eq!(
        post(ingest, TOKEN_A, &batch("spool-a", &[(3, "a3")])).await,
        ok(3)
    );
    gw.stop().await;

    let ims: Vec<String> = search(IMTEGRITY, &archive, &["--kind", "im"])
        .await
        .iter()
        .map(|r| r["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ims, ["a1", "a2", "b1", "a3"]);
    // One alert per (client, source) and gateway process: two processes, two alerts.
    let alerts = search(IMTEGRITY, &archive, &["--kind", "policy_action"]).await;
    assert_eq!(alerts.len(), 2, "{alerts:#?}");
    for alert in &alerts {
        assert_eq!(alert["protocol"], "sametime", "{alert}");
        assert_eq!(alert["sender"], "st-b", "{alert}");
        assert_eq!(alert["recipients"], json!(["st-a"]), "{alert}");
        assert_eq!(
            alert["verdict"],
            json!({"alerted": archive_servers::SOURCE_CLAIMED}),
            "{alert}"
        );
        assert_eq!(
            alert["detail"], "source=spool-a owner=st-a client=st-b",
            "{alert}"
        );
        assert!(
            alert["client_addr"]
                .as_str()
                .unwrap()
                .starts_with("127.0.0.1:"),
            "{alert}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_under_128_bits_is_refused_by_check_config_and_run_without_showing_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = two_clients(dir.path());
    // 31 hex digits: 124 bits.
    let short = "abcdef0123456789abcdef012345678";
    std::fs::write(dir.path().join("st-b.token"), format!("{short}\n")).unwrap();
    let config = config.display().to_string();
    let archive = format!("archive.path={}", dir.path().join("archive").display());
    for args in [
        vec!["check-config", config.as_str()],
        vec![
            "run",
            "--config",
            &config,
            "--set",
            r#"relay.listen=["127.0.0.1:0"]"#,
            "--set",
            "dns.listen=[]",
            "--set",
            &archive,
        ],
    ] {
        let (code, stdout, stderr) = cli(IMTEGRITY, &args).await;
        assert_eq!(code, Some(64), "{args:?}: {stdout}{stderr}");
        assert!(
            stderr.contains(&format!(
                "ingest.clients[1].token_file {}: the token is too short: 31 characters \
                 count as 124 bits, at least 128 are required",
                dir.path().join("st-b.token").display()
            )),
            "{args:?}: {stderr}"
        );
        assert!(!format!("{stdout}{stderr}").contains(short), "{stderr}");
    }
    // The same token for two clients is refused too.
    std::fs::write(dir.path().join("st-b.token"), TOKEN_A).unwrap();
    let (code, _, stderr) = cli(IMTEGRITY, &["check-config", &config]).await;
    assert_eq!(code, Some(64), "{stderr}");
    assert!(
        stderr.contains("the same token as client \"st-a\""),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_mutual_tls_the_certificate_subject_names_the_client() {
    let dir = tempfile::tempdir().unwrap();
    let sets = gateway_ca(IMTEGRITY, dir.path()).await;
    let (cert_a, key_a) = issue_client(IMTEGRITY, &sets, dir.path(), "st1.example.com").await;
    let (cert_b, key_b) = issue_client(IMTEGRITY, &sets, dir.path(), "st2.example.com").await;
    let (cert_c, key_c) = issue_client(IMTEGRITY, &sets, dir.path(), "st3.example.com").await;
    let mut extra: Vec<String> = sets.to_vec();
    extra.extend([
        r#"ingest.listen=["127.0.0.1:0"]"#.to_owned(),
        "ingest.tls=true".to_owned(),
        "ingest.name=ingest.imtegrity.test".to_owned(),
        "ingest.auth=client_cert".to_owned(),
        r#"ingest.clients=[{name="st-a",certificate="st1.example.com"},{name="st-b",certificate="st2.example.com"}]"#.to_owned(),
    ]);
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let archive = dir.path().join("archive");
    let gw = Gateway::start(IMTEGRITY, "127.0.0.1:9", &archive, "gw-mtls", &extra).await;
    let ingest: SocketAddr = gw.running["ingest"][0].as_str().unwrap().parse().unwrap();
    let ca = dir.path().join("ca.pem");
    let ship = |cert: &str, key: &str, body: &str| {
        curl(ingest, &ca, &["--cert", cert, "--key", key], body)
    };

    assert_eq!(
        ship(&cert_a, &key_a, &batch("spool-m", &[(1, "from st1")])),
        (0, r#"{"acked_upto":1}"#.to_owned())
    );
    assert_eq!(
        ship(&cert_b, &key_b, &batch("spool-m", &[(2, "forged by st2")])),
        (
            0,
            r#"{"error":"source \"spool-m\" belongs to another ingest client"}"#.to_owned()
        )
    );
    // A certificate from the gateway CA that no client names gets through the handshake
    // but not in.
    assert_eq!(
        ship(&cert_c, &key_c, &batch("spool-c", &[(1, "from st3")])),
        (
            0,
            r#"{"error":"client certificate not among ingest.clients"}"#.to_owned()
        )
    );
    gw.stop().await;

    let ims: Vec<String> = search(IMTEGRITY, &archive, &["--kind", "im"])
        .await
        .iter()
        .map(|r| r["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ims, ["from st1"]);
    let alerts = search(IMTEGRITY, &archive, &["--kind", "policy_action"]).await;
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(
        alerts[0]["detail"], "source=spool-m owner=st-a client=st-b",
        "{alerts:#?}"
    );
}
