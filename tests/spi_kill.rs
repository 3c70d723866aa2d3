//! The Sametime module against the real gateway, with either side SIGKILLed mid-way.
//!
//! `spi/tests/host/producer.c` plays a Sametime server that only chats: it loads
//! `libimtegrity_stchatlog.so` with `dlopen`, ships to `imtegrity run`'s `[ingest]` endpoint
//! on loopback, and prints each record's id once the SPI call that made it durable returned
//! OK. Two runs:
//!
//! * the gateway is killed after some records arrived and while others wait in the spool,
//!   the producer goes on while it is down, the gateway restarts on the same archive and
//!   port, and the spool drains;
//! * the producer is killed mid-way, and a new one on the same spool drains the backlog.
//!
//! Either way the archive then holds every record whose call returned OK exactly once (the
//! one call in flight at a producer's death may or may not have made its record), the spool
//! is empty, and `imtegrity verify` finds the chain intact. Whether the kill really came
//! mid-way is checked on a copy of the dead side's store, so the restarted process still
//! does its own recovery.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../spi/tests/c_host_harness/mod.rs"]
mod c_host_harness;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use imtegrity_harness::{Binary, Gateway, cli, search, verify_intact};
use imtegrity_stchatlog::Spool;
use rustix::process::{Pid, Signal};
use serde_json::Value;

const IMTEGRITY: Binary = Binary::at(env!("CARGO_BIN_EXE_imtegrity"));

const TOKEN: &str = "spi-kill-token-0123456789abcdef";
/// Bound on every wait: a first ack, a producer's command, the drain.
const BOUND: Duration = Duration::from_secs(30);
/// Records the producer must have made before a kill, and after it while the gateway is
/// down: thousands, so the kill lands among many batches (the shipper sends up to 256).
const BEFORE_KILL: usize = 1500;
const WHILE_DOWN: usize = 2000;

/// Compiles `spi/tests/host/producer.c` into `dir`.
fn build_producer(dir: &Path) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("spi/tests/host/producer.c");
    let out = dir.join("producer");
    let status = Command::new("cc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&out)
        .arg(&source)
        .arg("-ldl")
        .status()
        .expect("cc (apt-get install build-essential)");
    assert!(status.success(), "cc failed on {}", source.display());
    out
}

/// A running producer; killed (SIGKILL) and reaped when dropped, so a failing test leaves
/// no process behind.
struct Producer {
    child: Child,
    stdin: Option<ChildStdin>,
    /// Every line it printed so far.
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
    /// `done` lines already consumed by [`Producer::wait_done`].
    dones: usize,
}

impl Producer {
    fn spawn(
        exe: &Path,
        spool: &Path,
        gateway: SocketAddr,
        token_file: &Path,
        prefix: &str,
    ) -> Self {
        let mut child = Command::new(exe)
            .arg(c_host_harness::library())
            .arg(prefix)
            .env("IMTEGRITY_SPI_SPOOL", spool)
            .env("IMTEGRITY_SPI_GATEWAY", gateway.to_string())
            .env("IMTEGRITY_SPI_TOKEN_FILE", token_file)
            .env_remove("IMTEGRITY_SPI_TOKEN")
            .env_remove("IMTEGRITY_SPI_CONFIG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the producer");
        let stdout = child.stdout.take().expect("producer stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        Self {
            stdin: child.stdin.take(),
            child,
            lines,
            reader: Some(reader),
            dones: 0,
        }
    }

    fn send(&mut self, command: &str) {
        let stdin = self.stdin.as_mut().expect("producer stdin open");
        writeln!(stdin, "{command}").expect("write to the producer");
        stdin.flush().expect("flush to the producer");
    }

    /// The records it reported durable so far (`S sid`, `M text`, `E sid`), in order.
    fn records(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with("S ") || l.starts_with("M ") || l.starts_with("E "))
            .cloned()
            .collect()
    }

    /// Waits for the answer to the last command; returns the producer's message total.
    async fn wait_done(&mut self) -> usize {
        let deadline = Instant::now() + BOUND;
        loop {
            let done: Vec<usize> = self
                .lines
                .lock()
                .unwrap()
                .iter()
                .filter_map(|l| l.strip_prefix("done ")?.parse().ok())
                .collect();
            if done.len() > self.dones {
                self.dones += 1;
                return done[self.dones - 1];
            }
            self.check_alive();
            assert!(
                Instant::now() < deadline,
                "the producer did not answer in {BOUND:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until it reported `n` records durable.
    async fn wait_records(&mut self, n: usize) {
        let deadline = Instant::now() + BOUND;
        while self.records().len() < n {
            self.check_alive();
            assert!(
                Instant::now() < deadline,
                "the producer made fewer than {n} records in {BOUND:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn check_alive(&mut self) {
        if let Some(status) = self.child.try_wait().expect("poll the producer") {
            panic!("the producer exited early: {status}");
        }
    }

    /// SIGKILL; returns once it is reaped and everything it printed has been read.
    fn kill(&mut self) {
        self.child.kill().expect("SIGKILL the producer");
        self.child.wait().expect("reap the producer");
        if let Some(reader) = self.reader.take() {
            reader.join().expect("producer reader thread");
        }
    }

    /// Ends the open chat, Terminates the library, and waits (bounded) for a clean exit.
    async fn quit(mut self) {
        let made = self.records().len();
        self.send("q");
        drop(self.stdin.take());
        let deadline = Instant::now() + BOUND;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("poll the producer") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "the producer did not exit in {BOUND:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(status.success(), "producer exit status {status}");
        if let Some(reader) = self.reader.take() {
            reader.join().expect("producer reader thread");
        }
        assert_eq!(
            self.lines.lock().unwrap().last().map(String::as_str),
            Some("bye")
        );
        // A record made at quit would ship only after a later Init: the tests end every
        // chat before.
        let records = self.records();
        assert_eq!(
            records.len(),
            made,
            "records made at quit: {:?}",
            &records[made..]
        );
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `imtegrity run` with only the ingest endpoint on `ingest` (port 0: a free one).
async fn start_gateway(
    archive: &Path,
    token_file: &Path,
    ingest: SocketAddr,
) -> (Gateway, SocketAddr) {
    let gw = Gateway::start(
        IMTEGRITY,
        "127.0.0.1:9",
        archive,
        "gw-spi-kill",
        &[
            &format!(r#"ingest.listen=["{ingest}"]"#),
            &format!("ingest.token_file={}", token_file.display()),
        ],
    )
    .await;
    let bound: SocketAddr = gw.running["ingest"][0].as_str().unwrap().parse().unwrap();
    (gw, bound)
}

/// Sends `signal` to the gateway process.
fn signal(gw: &Gateway, signal: Signal) {
    let pid = gw.process.child.id().expect("the gateway is running");
    let pid = Pid::from_raw(i32::try_from(pid).unwrap()).unwrap();
    rustix::process::kill_process(pid, signal).expect("signal the gateway");
}

/// SIGKILL, and reaped.
async fn kill_gateway(mut gw: Gateway) {
    gw.process.child.start_kill().expect("SIGKILL the gateway");
    tokio::time::timeout(BOUND, gw.process.child.wait())
        .await
        .expect("the gateway dies")
        .expect("reap the gateway");
}

/// Records in the archive (`status`: through the running gateway, else the store itself).
async fn archive_len(archive: &Path) -> u64 {
    let (code, stdout, stderr) = cli(
        IMTEGRITY,
        &["status", "--archive", archive.to_str().unwrap()],
    )
    .await;
    assert_eq!(code, Some(0), "status failed: {stderr}");
    let status: Value = serde_json::from_str(stdout.trim()).unwrap();
    status["archive"]["records"].as_u64().unwrap()
}

/// Waits until the archive holds at least one record: the first batch was acknowledged.
async fn wait_first_ack(archive: &Path) {
    let deadline = Instant::now() + BOUND;
    while archive_len(archive).await == 0 {
        assert!(
            Instant::now() < deadline,
            "nothing arrived at the gateway in {BOUND:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The Sametime records of the archive as the producer names them (`S sid`, `M text`,
/// `E sid`), each with how often it is stored.
async fn archived(archive: &Path) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for r in search(IMTEGRITY, archive, &["--protocol", "sametime"]).await {
        let session = || {
            let detail: Value = serde_json::from_str(r["detail"].as_str().unwrap()).unwrap();
            detail["session"].as_str().unwrap().to_owned()
        };
        let id = match r["kind"].as_str().unwrap() {
            "im" => format!("M {}", r["text"].as_str().unwrap()),
            "session_start" => format!("S {}", session()),
            "session_end" => format!("E {}", session()),
            other => panic!("a {other} record the producer never makes: {r}"),
        };
        *seen.entry(id).or_insert(0) += 1;
    }
    seen
}

/// Waits (bounded) until every record in `expected` is in the archive.
async fn wait_drained(archive: &Path, expected: &BTreeSet<String>) {
    let deadline = Instant::now() + BOUND;
    loop {
        let stored = archived(archive).await;
        let missing = expected.iter().filter(|r| !stored.contains_key(*r)).count();
        if missing == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} of {} records still missing after {BOUND:?}",
            expected.len()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Copies a store directory (regular files only: not the admin socket), so the copy can be
/// opened without recovering the original.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let kind = entry.file_type().unwrap();
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_dir(&entry.path(), &target);
        } else if kind.is_file() {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The final checks: every record in `must` stored exactly once; anything else stored is one
/// of `may` (a killed producer's call in flight), stored once; the spool empty; the chain
/// intact.
async fn check_exactly_once(archive: &Path, spool: &Path, must: &BTreeSet<String>, may: &[String]) {
    let stored = archived(archive).await;
    let doubled: Vec<_> = stored.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "stored more than once: {doubled:?}");
    let missing: Vec<_> = must.iter().filter(|r| !stored.contains_key(*r)).collect();
    assert!(
        missing.is_empty(),
        "lost: {} records, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    let extra: Vec<_> = stored
        .keys()
        .filter(|r| !must.contains(*r) && !may.contains(r))
        .collect();
    assert!(extra.is_empty(), "stored but never produced: {extra:?}");
    assert_eq!(
        Spool::open(spool).unwrap().len(),
        0,
        "the spool did not drain"
    );
    verify_intact(IMTEGRITY, archive).await;
}

fn write_token(dir: &Path) -> PathBuf {
    let token_file = dir.join("ingest.token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    token_file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_killed_mid_way_loses_and_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let exe = build_producer(dir.path());
    let token_file = write_token(dir.path());
    let (archive, spool) = (dir.path().join("archive"), dir.path().join("spool"));
    let (gw, ingest) = start_gateway(&archive, &token_file, "127.0.0.1:0".parse().unwrap()).await;
    let mut producer = Producer::spawn(&exe, &spool, ingest, &token_file, "gk");

    // Producing and shipping: once a batch was acknowledged, freeze the gateway (SIGSTOP)
    // where it is, likely inside a request, let the producer go on a little so the spool
    // surely holds records the gateway never had, and kill it there.
    producer.send("r");
    producer.wait_records(BEFORE_KILL).await;
    wait_first_ack(&archive).await;
    signal(&gw, Signal::STOP);
    let frozen_at = producer.records().len();
    producer.wait_records(frozen_at + 200).await;
    let made_before_kill = producer.records().len();
    kill_gateway(gw).await;

    // The producer goes on with the gateway down: the spool grows.
    producer.wait_records(made_before_kill + WHILE_DOWN).await;
    producer.send("s");
    producer.wait_done().await;

    // Mid-way, on a copy of the dead gateway's store: some records had arrived, not all
    // that were durable in the spool before the kill.
    let snapshot = dir.path().join("archive-at-kill");
    copy_dir(&archive, &snapshot);
    let at_kill: usize = archived(&snapshot).await.values().sum();
    assert!(
        0 < at_kill && at_kill < made_before_kill,
        "the kill was not mid-way: {at_kill} archived of {made_before_kill} made before it"
    );

    // Back on the same archive and port: the backlog drains, and new records ship live.
    let (gw, again) = start_gateway(&archive, &token_file, ingest).await;
    assert_eq!(again, ingest);
    producer.send("500");
    producer.wait_done().await;
    // The open chat's end now, not at quit: what quit writes ships only after a next Init.
    producer.send("e");
    producer.wait_done().await;
    let expected: BTreeSet<String> = producer.records().into_iter().collect();
    eprintln!(
        "gateway kill: {made_before_kill} records made before the kill, {at_kill} archived by then, {} in all",
        expected.len()
    );
    wait_drained(&archive, &expected).await;
    // The last ack's deletion follows the gateway's answer by microseconds; leave it time
    // before Terminate stops the shipper.
    tokio::time::sleep(Duration::from_secs(1)).await;
    producer.quit().await;
    gw.stop().await;
    check_exactly_once(&archive, &spool, &expected, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_killed_mid_way_leaves_a_backlog_its_successor_drains() {
    let dir = tempfile::tempdir().unwrap();
    let exe = build_producer(dir.path());
    let token_file = write_token(dir.path());
    let (archive, spool) = (dir.path().join("archive"), dir.path().join("spool"));
    let (gw, ingest) = start_gateway(&archive, &token_file, "127.0.0.1:0".parse().unwrap()).await;

    // Freeze the gateway (SIGSTOP) while the producer ships, so the spool fills behind its
    // shipper (most likely left waiting for an answer); kill the producer there, then let
    // the gateway go on: a batch it was given is stored and answered to a dead socket, and
    // the successor resends records the archive already holds.
    let mut first = Producer::spawn(&exe, &spool, ingest, &token_file, "lk1");
    first.send("r");
    first.wait_records(BEFORE_KILL).await;
    wait_first_ack(&archive).await;
    signal(&gw, Signal::STOP);
    let frozen_at = first.records().len();
    first.wait_records(frozen_at + 200).await;
    first.kill();
    signal(&gw, Signal::CONT);
    let made = first.records();
    assert!(
        !first
            .lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.starts_with("done ")),
        "the producer finished before the kill"
    );

    // Mid-way, on a copy of the dead producer's spool: records were left to ship.
    let snapshot = dir.path().join("spool-at-kill");
    copy_dir(&spool, &snapshot);
    let backlog = Spool::open(&snapshot).unwrap().len();
    assert!(
        backlog >= 200,
        "only {backlog} records in the spool at the kill"
    );

    // The call in flight at the kill may have made its record durable without saying so:
    // the next one after the last reported (a message, or a chat's end or start).
    let may = in_flight_after(&made, "lk1");

    let mut second = Producer::spawn(&exe, &spool, ingest, &token_file, "lk2");
    second.send("1000");
    second.wait_done().await;
    second.send("e");
    second.wait_done().await;
    let mut expected: BTreeSet<String> = made.iter().cloned().collect();
    expected.extend(second.records());
    eprintln!(
        "producer kill: {} records reported by the killed producer, {backlog} in its spool at the kill, {} in all",
        made.len(),
        expected.len()
    );
    wait_drained(&archive, &expected).await;
    // The last ack's deletion follows the gateway's answer by microseconds; leave it time
    // before Terminate stops the shipper.
    tokio::time::sleep(Duration::from_secs(1)).await;
    second.quit().await;
    gw.stop().await;
    check_exactly_once(&archive, &spool, &expected, &may).await;
}

/// The records the producer's next call could have made, given the last it reported.
fn in_flight_after(made: &[String], prefix: &str) -> Vec<String> {
    let messages = made.iter().filter(|r| r.starts_with("M ")).count();
    let sessions = made.iter().filter(|r| r.starts_with("S ")).count();
    vec![
        format!("M {prefix}-m{messages}"),
        format!("E {prefix}-s{}", sessions.saturating_sub(1)),
        format!("S {prefix}-s{sessions}"),
    ]
}
