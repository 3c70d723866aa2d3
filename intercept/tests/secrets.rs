//! The MD5 login hash, roasted passwords and cookies never reach the logs (even at TRACE)
//! or the archive's files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use archive::{Archive, ArchiveOptions};
use intercept::{Relay, RelaySettings};
use lab::{Accounts, LabClient, LabConfig, LabServer, LoginMethod};
use tokio_util::sync::CancellationToken;

/// Collects everything the tracing subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// Current-thread runtime: the subscriber is set for this thread, and every task runs on it.
#[tokio::test]
async fn secrets_stay_out_of_logs_and_the_archive() {
    let logs = Captured::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let password = "Sup3rSecret!";
    let lab = LabServer::start(LabConfig {
        accounts: Accounts::from_pairs([("alice", password), ("olduser", password)]),
        ..LabConfig::ephemeral()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let archive = Archive::open(dir.path(), ArchiveOptions::default()).unwrap();
    // The relay logs in through a recorder, so the test knows the cookies it must not find.
    let (upstream, from_lab) = recording_forwarder(lab.auth_addr).await;
    let relay = Arc::new(
        Relay::new(
            RelaySettings {
                upstream_login: upstream.into(),
                ..RelaySettings::default()
            },
            Some(archive.clone()),
        )
        .expect("relay"),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(intercept::serve(
        listener,
        relay.clone(),
        CancellationToken::new(),
    ));

    let mut alice = LabClient::login_with(addr, "alice", password, LoginMethod::Md5Strong)
        .await
        .unwrap();
    let mut old = LabClient::login_with(addr, "olduser", password, LoginMethod::Legacy)
        .await
        .unwrap();
    alice
        .send_im("olduser", "the message itself is archived")
        .await
        .unwrap();
    assert_eq!(
        old.expect_im("alice", Duration::from_secs(5))
            .await
            .unwrap(),
        "the message itself is archived"
    );
    archive.sync().await.unwrap();
    drop(archive);
    drop(relay);

    let roasted = oscar::message::signon::roast_password(password.as_bytes());
    let logged = logs.0.lock().unwrap().clone();
    assert!(
        !logged.is_empty(),
        "the subscriber saw nothing: the test would prove nothing"
    );
    assert!(contains(&logged, b"login"), "sessions should be logged");
    let mut files = Vec::new();
    for entry in walk(dir.path()) {
        files.extend(std::fs::read(entry).unwrap_or_default());
    }
    assert!(
        contains(&files, b"the message itself is archived"),
        "the archive holds the message"
    );
    for (what, needle) in [
        ("password", password.as_bytes().to_vec()),
        ("roasted password", roasted.clone()),
        ("roasted password (hex)", hex(&roasted).into_bytes()),
    ] {
        assert!(!contains(&logged, &needle), "{what} in the logs");
        assert!(!contains(&files, &needle), "{what} in the archive files");
    }
    // Cookies: every redirect the relay rewrote carried one; none may be logged or stored,
    // neither raw nor in hex. These are the ones the lab really sent.
    let cookies = cookies_in(&from_lab.lock().unwrap());
    assert_eq!(cookies.len(), 2, "alice's and olduser's login replies");
    for cookie in &cookies {
        for (form, needle) in [("raw", cookie.clone()), ("hex", hex(cookie).into_bytes())] {
            assert!(!contains(&logged, &needle), "a {form} cookie in the logs");
            assert!(
                !contains(&files, &needle),
                "a {form} cookie in the archive files"
            );
        }
    }
    // And no other 32-byte value in hex (an MD5 pair, a cookie from elsewhere).
    let leaked = lab_cookies(&logged);
    assert!(leaked.is_empty(), "a cookie or hash was logged: {leaked:?}");
}

/// A loopback forwarder to `target`; everything `target` sends back is also kept.
async fn recording_forwarder(
    target: std::net::SocketAddr,
) -> (std::net::SocketAddr, Arc<Mutex<Vec<u8>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = tokio::net::TcpStream::connect(target).await.unwrap();
            let (mut client_read, mut client_write) = client.into_split();
            let (mut server_read, mut server_write) = server.into_split();
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
                let _ = server_write.shutdown().await;
            });
            let kept = Arc::clone(&kept);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                while let Ok(n @ 1..) = server_read.read(&mut buf).await {
                    kept.lock().unwrap().extend_from_slice(&buf[..n]);
                    if client_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (addr, seen)
}

/// The values of every cookie TLV (type 0x0006, 32 bytes, as the lab issues them) in `bytes`.
fn cookies_in(bytes: &[u8]) -> Vec<Vec<u8>> {
    const COOKIE_TLV: [u8; 4] = [0x00, 0x06, 0x00, 0x20];
    (0..(bytes.len() + 1).saturating_sub(COOKIE_TLV.len() + 32))
        .filter(|at| bytes[*at..].starts_with(&COOKIE_TLV))
        .map(|at| bytes[at + 4..at + 36].to_vec())
        .collect()
}

/// Any 64-hex-digit run in the logs would be a 32-byte cookie or an MD5 pair in hex.
fn lab_cookies(logged: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(logged);
    text.split(|c: char| !c.is_ascii_hexdigit())
        .filter(|w| w.len() >= 32)
        .map(str::to_owned)
        .collect()
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else if !path.ends_with("signing.key") {
            out.push(path);
        }
    }
    out
}
