//! The ingest endpoint of `imtegrity run` (`[ingest]`), where the Sametime module ships its
//! spool: a batch is acknowledged once durable, a resend is not stored twice, a wrong token
//! or a malformed batch stores nothing, and the records come back from `search`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;

use imtegrity_harness::ingest::{batch, bearer, curl, gateway_ca, issue_client, post};
use imtegrity_harness::{Binary, Gateway, cli, search};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const IMTEGRITY: Binary = Binary::at(env!("CARGO_BIN_EXE_imtegrity"));

const TOKEN: &str = "a-long-enough-shared-token-123";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipped_records_are_stored_once_and_acknowledged_when_durable() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("ingest.token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let gw = Gateway::start(
        IMTEGRITY,
        "127.0.0.1:9",
        &dir.path().join("archive"),
        "gw-ingest",
        &[
            r#"ingest.listen=["127.0.0.1:0"]"#,
            &format!("ingest.token_file={}", token_file.display()),
        ],
    )
    .await;
    let ingest: SocketAddr = gw.running["ingest"][0].as_str().unwrap().parse().unwrap();

    let (status, body) = post(
        ingest,
        TOKEN,
        &batch("spool-1", &[(1, "hello"), (2, "there")]),
    )
    .await;
    assert_eq!((status, body.as_str()), (200, r#"{"acked_upto":2}"#));
    // The ack was lost: the spool sends 2 again, with 3.
    let (status, body) = post(
        ingest,
        TOKEN,
        &batch("spool-1", &[(2, "there"), (3, "again")]),
    )
    .await;
    assert_eq!((status, body.as_str()), (200, r#"{"acked_upto":3}"#));
    // A wrong token or a malformed batch stores nothing.
    let (status, _) = post(
        ingest,
        "wrong-token-wrong-token",
        &batch("spool-1", &[(4, "x")]),
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = post(ingest, TOKEN, &batch("spool-1", &[(6, "y"), (5, "z")])).await;
    assert_eq!(status, 400);
    let (status, _) = post(ingest, TOKEN, "{\"source\": 1}").await;
    assert_eq!(status, 400);
    // A module with nothing new says how far behind it is and what troubles it.
    let report = r#"{"source":"spool-1","records":[],"backlog":7,"last_error":"spool disk full"}"#;
    assert_eq!(post(ingest, TOKEN, report).await.0, 200);

    // `status` shows the client, what it stored, its backlog and its last error, and the
    // sender refused for its token (who a Sametime administrator looks for).
    let archive_arg = gw.archive.to_str().unwrap().to_owned();
    let (code, stdout, stderr) = cli(IMTEGRITY, &["status", "--archive", &archive_arg]).await;
    assert_eq!(code, Some(0), "{stderr}");
    let status: Value = serde_json::from_str(&stdout).unwrap();
    let stats = &status["owner"]["ingest"]["stats"];
    assert_eq!(stats["records"], 3, "{status:#}");
    let client = &stats["clients"][0];
    assert_eq!(client["client"], "default");
    assert_eq!(
        (&client["records"], &client["resent"]),
        (&3.into(), &1.into())
    );
    assert_eq!(client["backlog"], 7);
    assert_eq!(
        client["last_error"],
        "reported by the sender: spool disk full"
    );
    assert_eq!(stats["refused"][0]["addr"], "127.0.0.1");
    assert_eq!(stats["refused"][0]["reason"], "bad token");
    let plain = std::process::Command::new(env!("CARGO_BIN_EXE_imtegrity"))
        .args(["status", "--archive", &archive_arg])
        .output()
        .unwrap();
    let plain = String::from_utf8_lossy(&plain.stdout);
    assert!(
        plain.contains(&format!("  ingest {ingest}: 3 records stored since start")),
        "{plain}"
    );
    assert!(
        plain.contains("    client default: last seen ")
            && plain.contains("3 records (1 resent) in 3 batches, backlog 7; last error "),
        "{plain}"
    );
    assert!(
        plain.contains("    REFUSED 127.0.0.1: 1 requests (bad token), last "),
        "{plain}"
    );

    let archive = gw.archive.clone();
    let stopped = gw.stop().await;
    // The stop line counts what was shipped too.
    assert_eq!(
        (
            &stopped["records"],
            &stopped["ingested"],
            &stopped["relayed"]
        ),
        (&3.into(), &3.into(), &0.into()),
        "{stopped}"
    );
    let records: Vec<Value> = search(IMTEGRITY, &archive, &[]).await;
    let texts: Vec<&str> = records
        .iter()
        .map(|r| r["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["hello", "there", "again"], "{records:#?}");
    assert!(records.iter().all(|r| r["protocol"] == "sametime"));
    assert!(records.iter().all(|r| r["node"] == "st-server-1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_ingest_with_the_token_and_plain_http_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sets = gateway_ca(IMTEGRITY, dir.path()).await;
    let token_file = dir.path().join("ingest.token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let mut extra: Vec<String> = sets.to_vec();
    extra.extend([
        r#"ingest.listen=["127.0.0.1:0"]"#.to_owned(),
        format!("ingest.token_file={}", token_file.display()),
        "ingest.tls=true".to_owned(),
        "ingest.name=ingest.imtegrity.test".to_owned(),
    ]);
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let gw = Gateway::start(
        IMTEGRITY,
        "127.0.0.1:9",
        &dir.path().join("archive"),
        "gw-tls",
        &extra,
    )
    .await;
    let ingest: SocketAddr = gw.running["ingest"][0].as_str().unwrap().parse().unwrap();
    let ca = dir.path().join("ca.pem");

    let (code, body) = curl(
        ingest,
        &ca,
        &["-H", &bearer(TOKEN)],
        &batch("spool-t", &[(1, "over tls")]),
    );
    assert_eq!((code, body.as_str()), (0, r#"{"acked_upto":1}"#));
    let (code, body) = curl(
        ingest,
        &ca,
        &["-H", &bearer("wrong-token-wrong-token")],
        &batch("spool-t", &[(2, "x")]),
    );
    assert_eq!((code, body.as_str()), (0, r#"{"error":"bad token"}"#));
    // Plain HTTP to the TLS endpoint gets no answer a client could take for one.
    let mut tcp = tokio::net::TcpStream::connect(ingest).await.unwrap();
    let body = batch("spool-t", &[(3, "in the clear")]);
    let request = format!(
        "POST /ingest/v1 HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tcp.write_all(request.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tcp.read_to_end(&mut answer),
    )
    .await;
    assert!(!answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");

    let archive = gw.archive.clone();
    gw.stop().await;
    let texts: Vec<String> = search(IMTEGRITY, &archive, &[])
        .await
        .iter()
        .map(|r| r["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts, ["over tls"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_takes_the_gateway_cas_client_certificates_only() {
    let dir = tempfile::tempdir().unwrap();
    let sets = gateway_ca(IMTEGRITY, dir.path()).await;
    let (cert, key) = issue_client(IMTEGRITY, &sets, dir.path(), "st1.example.com").await;
    // The same name from another CA.
    let other = tempfile::tempdir().unwrap();
    let other_sets = gateway_ca(IMTEGRITY, other.path()).await;
    let (stranger_cert, stranger_key) =
        issue_client(IMTEGRITY, &other_sets, other.path(), "st1.example.com").await;
    let mut extra: Vec<String> = sets.to_vec();
    extra.extend([
        r#"ingest.listen=["127.0.0.1:0"]"#.to_owned(),
        "ingest.tls=true".to_owned(),
        "ingest.name=ingest.imtegrity.test".to_owned(),
        "ingest.auth=client_cert".to_owned(),
    ]);
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let gw = Gateway::start(
        IMTEGRITY,
        "127.0.0.1:9",
        &dir.path().join("archive"),
        "gw-mtls",
        &extra,
    )
    .await;
    let ingest: SocketAddr = gw.running["ingest"][0].as_str().unwrap().parse().unwrap();
    let ca = dir.path().join("ca.pem");

    // The certificate alone authenticates: no token.
    let (code, body) = curl(
        ingest,
        &ca,
        &["--cert", &cert, "--key", &key],
        &batch("spool-m", &[(1, "mutual")]),
    );
    assert_eq!((code, body.as_str()), (0, r#"{"acked_upto":1}"#));
    // Another CA's certificate, or none, does not get through the handshake.
    let (code, body) = curl(
        ingest,
        &ca,
        &["--cert", &stranger_cert, "--key", &stranger_key],
        &batch("spool-m", &[(2, "stranger")]),
    );
    assert_ne!(code, 0, "{body}");
    let (code, body) = curl(
        ingest,
        &ca,
        &["-H", &bearer(TOKEN)],
        &batch("spool-m", &[(3, "none")]),
    );
    assert_ne!(code, 0, "{body}");

    let archive = gw.archive.clone();
    gw.stop().await;
    let texts: Vec<String> = search(IMTEGRITY, &archive, &[])
        .await
        .iter()
        .map(|r| r["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts, ["mutual"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_and_run_refuse_ingest_settings_that_cannot_work() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("imtegrity.toml");
    let listen = "[ingest]\nlisten = [\"127.0.0.1:0\"]\n";
    for (extra, key, says) in [
        (
            "auth = \"client_cert\"\n",
            "ingest.auth",
            "ingest.tls = true",
        ),
        (
            "tls = true\nauth = \"client_cert\"\ntoken_file = \"/t\"\n",
            "ingest.token_file",
            "\"both\"",
        ),
        (
            "tls = true\nauth = \"both\"\n",
            "ingest.token_file",
            "required",
        ),
        (
            "tls = true\ntoken_file = \"/t\"\nname = \"10.0.0.1\"\n",
            "ingest.name",
            "IP address",
        ),
    ] {
        std::fs::write(&config, format!("{listen}{extra}")).unwrap();
        let (code, _, stderr) =
            cli(IMTEGRITY, &["check-config", &config.display().to_string()]).await;
        assert_eq!(code, Some(64), "{extra}: {stderr}");
        assert!(
            stderr.contains(key) && stderr.contains(says),
            "{extra}: {stderr}"
        );
    }
    // A name the CA may not sign for stops the start, saying what to do.
    let sets = gateway_ca(IMTEGRITY, dir.path()).await;
    let token_file = dir.path().join("ingest.token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let mut args: Vec<String> = vec!["run".into()];
    for set in sets.iter().cloned().chain([
        r#"relay.listen=["127.0.0.1:0"]"#.to_owned(),
        "dns.listen=[]".to_owned(),
        format!("archive.path={}", dir.path().join("archive").display()),
        r#"ingest.listen=["127.0.0.1:0"]"#.to_owned(),
        format!("ingest.token_file={}", token_file.display()),
        "ingest.tls=true".to_owned(),
        "ingest.name=gw.corp.example".to_owned(),
    ]) {
        args.extend(["--set".to_owned(), set]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, _, stderr) = cli(IMTEGRITY, &args).await;
    assert_ne!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("gw.corp.example") && stderr.contains("tls.permitted"),
        "{stderr}"
    );
}
