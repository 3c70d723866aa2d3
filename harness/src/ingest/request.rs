//! Requests to the ingest endpoint as the Sametime module sends them: a Sametime IM event, a
//! batch of them under a source, one plain-HTTP POST with a bearer token.

// These helpers assert as the calling test would: a failure panics with what went wrong.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use record::{Direction, Event, Kind, Protocol, Verdict, conversation_for_pair};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An IM from `CN=Ann` to `CN=Ben` saying `text`, from node `st-server-1`.
pub fn event(text: &str) -> Event {
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
pub fn batch(source: &str, records: &[(u64, &str)]) -> String {
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
pub async fn post(addr: SocketAddr, token: &str, body: &str) -> (u16, String) {
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
