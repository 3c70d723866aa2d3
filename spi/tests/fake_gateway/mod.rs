//! A fake gateway ingest endpoint for the shipper tests: checks method, path, token, content
//! type and the body's shape, answers from a script of statuses (200 once it runs out), and
//! records every request.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use archive::Event;
use serde_json::Value;

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) status: u16,
    pub(crate) source: String,
    pub(crate) seqs: Vec<u64>,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    /// Statuses to answer, in order; 200 when empty.
    pub(crate) script: VecDeque<u16>,
    pub(crate) requests: Vec<Request>,
    /// Durable records by (source, seq): a resent duplicate is not stored twice.
    pub(crate) stored: BTreeMap<(String, u64), Event>,
    /// How many records arrived again after they were stored.
    pub(crate) duplicates: usize,
}

pub(crate) struct FakeGateway {
    pub(crate) addr: SocketAddr,
    pub(crate) state: Arc<Mutex<State>>,
}

impl FakeGateway {
    /// Serves on `addr` (`127.0.0.1:0` for any port) with `token`.
    pub(crate) fn start(addr: SocketAddr, token: &str, script: &[u16]) -> Self {
        let listener = TcpListener::bind(addr).unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            script: script.iter().copied().collect(),
            ..State::default()
        }));
        let (token, thread_state) = (token.to_owned(), Arc::clone(&state));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let _ = serve(stream, &token, &thread_state);
            }
        });
        Self { addr, state }
    }

    pub(crate) fn stored(&self) -> usize {
        self.state.lock().unwrap().stored.len()
    }

    pub(crate) fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Waits up to 20 s for `done`.
    pub(crate) fn wait_for(&self, what: &str, done: impl Fn(&State) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done(&self.state.lock().unwrap()) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn serve(mut stream: TcpStream, token: &str, state: &Mutex<State>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    assert_eq!(lines.next().unwrap(), "POST /ingest/v1 HTTP/1.1");
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers["content-length"].parse().unwrap();
    let mut body = buf.split_off(end);
    while body.len() < length {
        let n = stream.read(&mut chunk)?;
        assert!(n > 0, "request body cut short");
        body.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(headers["content-type"], "application/json");

    let body: Value = serde_json::from_slice(&body).unwrap();
    let source = body["source"].as_str().unwrap().to_owned();
    assert_eq!(source.len(), 32);
    assert!(source.bytes().all(|b| b.is_ascii_hexdigit()));
    let records = body["records"].as_array().unwrap();
    assert!(!records.is_empty() && records.len() <= 256);
    let mut batch = Vec::new();
    for r in records {
        let seq = r["seq"].as_u64().unwrap();
        let event: Event = serde_json::from_value(r["event"].clone()).unwrap();
        batch.push((seq, event));
    }
    assert!(
        batch.windows(2).all(|w| w[0].0 < w[1].0),
        "seq not increasing"
    );
    let seqs: Vec<u64> = batch.iter().map(|(s, _)| *s).collect();

    let mut st = state.lock().unwrap();
    let status =
        if headers.get("authorization").map(String::as_str) != Some(&format!("Bearer {token}")) {
            401
        } else {
            st.script.pop_front().unwrap_or(200)
        };
    st.requests.push(Request {
        status,
        source: source.clone(),
        seqs: seqs.clone(),
    });
    let answer = if status == 200 {
        for (seq, event) in batch {
            if st.stored.insert((source.clone(), seq), event).is_some() {
                st.duplicates += 1;
            }
        }
        format!("{{\"acked_upto\":{}}}", seqs.last().unwrap())
    } else {
        "{\"error\":\"scripted\"}".to_owned()
    };
    drop(st);
    write!(
        stream,
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
        answer.len()
    )?;
    stream.flush()
}
