//! Talking to the gateway's ingest endpoint as the Sametime module does: a Sametime IM
//! event, a batch of them under a source, one plain-HTTP POST with a bearer token; and for
//! TLS, a gateway CA, client certificates under it, and curl.

use std::net::SocketAddr;
use std::time::Duration;

use archive::{Direction, Event, Kind, Protocol, Verdict, conversation_for_pair};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An IM from `CN=Ann` to `CN=Ben` saying `text`, from node `st-server-1`.
pub(crate) fn event(text: &str) -> Event {
    Event {
        time_ns: 1_795_600_000_000_000_000,
        protocol: Protocol::Sametime,
        kind: Kind::Im,
        conversation: conversation_for_pair(Protocol::Sametime, "CN=Ann", "CN=Ben"),
        sender: "CN=Ann".into(),
        recipients: vec!["CN=Ben".into()],
        direction: Direction::Internal,
        local_user: "CN=Ann".into(),
        room: None,
        client_addr: None,
        node: "st-server-1".into(),
        text: text.into(),
        raw: text.into(),
        charset: None,
        verdict: Verdict::Allowed,
        detail: None,
        employee: None,
    }
}

/// The request body shipping `records` (seq, text) under `source`.
pub(crate) fn batch(source: &str, records: &[(u64, &str)]) -> String {
    json!({
        "source": source,
        "records": records
            .iter()
            .map(|(seq, text)| json!({"seq": seq, "event": event(text)}))
            .collect::<Vec<_>>(),
    })
    .to_string()
}

/// One HTTP/1.1 POST of `body` with `token` (bounded: 20 s); the status code and the body.
pub(crate) async fn post(addr: SocketAddr, token: &str, body: &str) -> (u16, String) {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST /ingest/v1 HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(20), tcp.read_to_string(&mut answer))
        .await
        .expect("an answer in time")
        .unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = answer
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

/// A gateway CA in `dir/ca` whose names include `imtegrity.test` (where the endpoint's
/// name lives), made by `imtegrity ca init`; its certificate exported to `dir/ca.pem`.
pub(crate) async fn gateway_ca(dir: &std::path::Path) -> [String; 2] {
    let sets = [
        format!("tls.ca_dir={}", dir.join("ca").display()),
        r#"tls.permitted=["oscar.aol.com","imtegrity.test"]"#.to_owned(),
    ];
    let with = |args: &[&str]| {
        let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        for set in &sets {
            all.extend(["--set".to_owned(), set.clone()]);
        }
        all
    };
    for args in [
        with(&["ca", "init"]),
        with(&[
            "ca",
            "export",
            "--out",
            &dir.join("ca.pem").display().to_string(),
        ]),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, _, stderr) = super::gateway::cli(&args).await;
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
    }
    sets
}

/// `imtegrity ca issue-client NAME` under the CA of `sets`, into `dir`: (cert, key).
pub(crate) async fn issue_client(
    sets: &[String; 2],
    dir: &std::path::Path,
    name: &str,
) -> (String, String) {
    let cert = dir.join(format!("{name}.pem")).display().to_string();
    let key = dir.join(format!("{name}.key")).display().to_string();
    let mut args = vec![
        "ca",
        "issue-client",
        name,
        "--out-cert",
        &cert,
        "--out-key",
        &key,
    ];
    for set in sets {
        args.extend(["--set", set]);
    }
    let (code, stdout, stderr) = super::gateway::cli(&args).await;
    assert_eq!(code, Some(0), "{stderr}");
    let issued: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(issued["event"], "issued_client", "{issued}");
    assert_eq!(issued["name"], name, "{issued}");
    (cert, key)
}

/// `curl` POSTing `body` to the endpoint at `addr` as `ingest.imtegrity.test` over TLS
/// trusting `ca`, with `extra` arguments; (exit code, body).
pub(crate) fn curl(
    addr: SocketAddr,
    ca: &std::path::Path,
    extra: &[&str],
    body: &str,
) -> (i32, String) {
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(ca)
        .arg("--resolve")
        .arg(format!("ingest.imtegrity.test:{}:127.0.0.1", addr.port()))
        .args(extra)
        .args([
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            body,
        ])
        .arg(format!(
            "https://ingest.imtegrity.test:{}/ingest/v1",
            addr.port()
        ))
        .output()
        .expect("curl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

pub(crate) fn bearer(token: &str) -> String {
    format!("Authorization: Bearer {token}")
}
