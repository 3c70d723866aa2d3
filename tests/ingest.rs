//! The ingest endpoint of `imtegrity run` (`[ingest]`), where the Sametime module ships its
//! spool: a batch is acknowledged once durable, a resend is not stored twice, a wrong token
//! or a malformed batch stores nothing, and the records come back from `search`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;

use archive::{Direction, Event, Kind, Protocol, Verdict, conversation_for_pair};
use common::gateway::{Gateway, search};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "a-long-enough-shared-token-123";

fn event(text: &str) -> Event {
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

/// One HTTP/1.1 POST; the status code and the body.
async fn post(addr: SocketAddr, token: &str, body: &str) -> (u16, String) {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST /ingest/v1 HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = answer
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

fn batch(source: &str, records: &[(u64, &str)]) -> String {
    json!({
        "source": source,
        "records": records
            .iter()
            .map(|(seq, text)| json!({"seq": seq, "event": event(text)}))
            .collect::<Vec<_>>(),
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipped_records_are_stored_once_and_acknowledged_when_durable() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("ingest.token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let gw = Gateway::start(
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

    let archive = gw.archive.clone();
    gw.stop().await;
    let records: Vec<Value> = search(&archive, &[]).await;
    let texts: Vec<&str> = records
        .iter()
        .map(|r| r["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["hello", "there", "again"], "{records:#?}");
    assert!(records.iter().all(|r| r["protocol"] == "sametime"));
    assert!(records.iter().all(|r| r["node"] == "st-server-1"));
}
