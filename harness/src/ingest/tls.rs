//! The ingest endpoint over TLS: a gateway CA whose names include the endpoint's, client
//! certificates under it, and curl as the client.

// These helpers assert as the calling test would: a failure panics with what went wrong.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::Path;

use serde_json::Value;

use crate::{Binary, cli};

/// A gateway CA in `dir/ca` whose names include `imtegrity.test` (where the endpoint's
/// name lives), made by `imtegrity ca init`; its certificate exported to `dir/ca.pem`.
pub async fn gateway_ca(binary: Binary, dir: &Path) -> [String; 2] {
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
        let (code, _, stderr) = cli(binary, &args).await;
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
    }
    sets
}

/// `imtegrity ca issue-client NAME` under the CA of `sets`, into `dir`: (cert, key).
pub async fn issue_client(
    binary: Binary,
    sets: &[String; 2],
    dir: &Path,
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
    let (code, stdout, stderr) = cli(binary, &args).await;
    assert_eq!(code, Some(0), "{stderr}");
    let issued: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(issued["event"], "issued_client", "{issued}");
    assert_eq!(issued["name"], name, "{issued}");
    (cert, key)
}

/// `curl` POSTing `body` to the endpoint at `addr` as `ingest.imtegrity.test` over TLS
/// trusting `ca`, with `extra` arguments; (exit code, body).
pub fn curl(addr: SocketAddr, ca: &Path, extra: &[&str], body: &str) -> (i32, String) {
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

/// The header that presents `token` (curl's `-H` argument).
pub fn bearer(token: &str) -> String {
    format!("Authorization: Bearer {token}")
}
