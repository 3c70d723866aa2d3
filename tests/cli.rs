//! The `imtegrity` binary itself: subcommands, exit codes and `--json` output.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::Duration;

use imtegrity_harness::Binary;

const IMTEGRITY: Binary = Binary::at(env!("CARGO_BIN_EXE_imtegrity"));

fn imtegrity(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_imtegrity"))
        .args(args)
        .output()
        .expect("run imtegrity")
}

#[test]
fn demo_prints_a_transcript_of_delivered_messages() {
    let out = imtegrity(&["demo"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("DNS: login.oscar.aol.com -> 127.0.0.1 (the gateway, not AOL)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Alice -> bob: Hi Bob, the Q3 numbers are final."),
        "{stdout}"
    );
    assert!(stdout.contains("labbot -> Alice: echo test"), "{stdout}");
    // The TLS user: HTTPS login API and TLS BOS through the gateway, archived like the rest.
    assert!(
        stdout.contains("carol signed on (clientLogin over HTTPS"),
        "{stdout}"
    );
    assert!(
        stdout.contains("carol: Sent over TLS, archived all the same.  [aim:alice|carol]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("[compliance] bob: Morning all, standup in 5."),
        "{stdout}"
    );
    assert!(stdout.contains("--- archived transcript"), "{stdout}");
    assert!(
        stdout.contains("#1 * Alice started a session: AIM signed on: the server took a BOS cookie routed through this gateway  [aim:signon:alice]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("#4 Alice: Hi Bob, the Q3 numbers are final.  [aim:alice|bob]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("* bob joined compliance  [aim:room:compliance]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("bob: Did the move work?  [aim:alice|bob]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("* Alice left compliance  [aim:room:compliance]"),
        "{stdout}"
    );
    let last = stdout.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.starts_with(
            "demo complete: 6 messages delivered, 19 records archived, archive verified intact"
        ),
        "{stdout}"
    );
}

#[test]
fn demo_json_is_one_object_per_line() {
    let out = imtegrity(&["--json", "demo"]);
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let dns: Vec<_> = lines.iter().filter(|l| l["event"] == "dns").collect();
    assert_eq!(dns.len(), 1);
    assert_eq!(
        (dns[0]["name"].as_str(), dns[0]["answer"].as_str()),
        (Some("login.oscar.aol.com"), Some("127.0.0.1"))
    );
    let ims: Vec<_> = lines.iter().filter(|l| l["event"] == "im").collect();
    assert_eq!(ims.len(), 5);
    assert_eq!(
        ims[1]["text"],
        "Thanks! Sending the summary to the client now."
    );
    // The archived records come as the archive's own JSON lines.
    let archived: Vec<_> = lines
        .iter()
        .filter(|l| l.get("conversation").is_some())
        .collect();
    // Three sign-ons, four sign-offs (Alice's migration ends her first BOS session), the IMs,
    // the room's joins, line and leaves.
    assert_eq!(archived.len(), 19);
    assert_eq!(archived[0]["kind"], "session_start");
    assert_eq!(archived[0]["sender"], "Alice");
    assert_eq!(archived[0]["direction"], "internal");
    // Alice's leave is hers, not the other member's whose client was told of it, and with
    // both members behind the gateway every room record is internal.
    let room: Vec<_> = archived
        .iter()
        .filter(|r| r["room"] == "compliance")
        .collect();
    assert_eq!(room.len(), 5);
    for r in &room {
        assert_eq!(r["direction"], "internal", "{r}");
        assert_eq!(r["local_user"], r["sender"], "{r}");
    }
    let done = lines.last().unwrap();
    assert_eq!(
        (
            done["delivered"].as_u64(),
            done["archived"].as_u64(),
            done["intact"].as_bool()
        ),
        (Some(6), Some(19), Some(true))
    );
}

#[test]
fn a_bad_account_argument_is_a_usage_error() {
    let out = imtegrity(&["lab", "--listen", "127.0.0.1:0", "--account", "nopassword"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected NAME:PASSWORD"));
}

#[test]
fn lab_refuses_a_port_in_use_with_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = imtegrity(&["lab", "--listen", &addr]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
}

#[tokio::test]
async fn lab_command_serves_scripted_clients_on_the_printed_address() {
    let (_lab, auth, _, _) =
        imtegrity_harness::start_lab(IMTEGRITY, &["--account", "alice:a", "--account", "bob:b"])
            .await;
    let mut alice = lab::LabClient::login(auth, "alice", "a").await.unwrap();
    let mut bob = lab::LabClient::login_with(auth, "bob", "b", lab::LoginMethod::Md5Weak)
        .await
        .unwrap();
    alice.send_im("bob", "via the binary").await.unwrap();
    assert_eq!(
        bob.expect_im("alice", Duration::from_secs(5))
            .await
            .unwrap(),
        "via the binary"
    );
    let refused = lab::LabClient::login(auth, "alice", "wrong").await.err();
    assert!(
        matches!(refused, Some(lab::LabError::LoginRefused { code }) if code == lab::ERR_BAD_PASSWORD),
        "a wrong password gets the lab's error 0x0005: {refused:?}"
    );
}

#[tokio::test]
async fn run_relays_a_scripted_client_to_the_lab_and_archives_it() {
    let (_lab, auth, _, _) = imtegrity_harness::start_lab(IMTEGRITY, &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    let mut gw = imtegrity_harness::Imtegrity::spawn(
        IMTEGRITY,
        &[
            "run",
            "--set",
            r#"relay.listen=["127.0.0.1:0"]"#,
            "--set",
            "dns.listen=[]",
            "--set",
            &format!("upstream.login={auth}"),
            "--set",
            &format!("archive.path={}", archive.display()),
        ],
    );
    let line = gw.next_json().await;
    assert_eq!(line["event"], "running", "{line}");
    let relay: std::net::SocketAddr = line["relay"][0].as_str().unwrap().parse().unwrap();
    let mut alice = lab::LabClient::login(relay, "alice", "a").await.unwrap();
    let mut bob = lab::LabClient::login(relay, "bob", "b").await.unwrap();
    alice.send_im("bob", "through the binary").await.unwrap();
    assert_eq!(
        bob.expect_im("alice", Duration::from_secs(5))
            .await
            .unwrap(),
        "through the binary"
    );
    // While the gateway runs, the CLI reads its archive through the admin socket.
    let a = archive.to_str().unwrap().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        imtegrity(&[
            "--json",
            "search",
            "--archive",
            &a,
            "--user",
            "bob",
            "--kind",
            "im",
        ])
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let found: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(found["text"], "through the binary");
    assert_eq!(found["direction"], "internal");
    let a = archive.to_str().unwrap().to_owned();
    let out =
        tokio::task::spawn_blocking(move || imtegrity(&["--json", "status", "--archive", &a]))
            .await
            .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["owner"]["role"], "gateway", "{status}");
    assert_eq!(status["owner"]["relay"]["sessions_open"], 2, "{status}");
    assert_eq!(status["owner"]["relay"]["records"], 3, "{status}");
    // Two sign-ons, the IM, and the search's access record.
    assert_eq!(status["archive"]["records"], 4, "{status}");
}

#[test]
fn check_config_accepts_the_example_and_rejects_mistakes() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/imtegrity.example.toml");
    let out = imtegrity(&["check-config", example]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = imtegrity(&["check-config", example, "--set", "relay.lissten=[]"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--set relay.lissten"));
    let out = imtegrity(&["run", "--set", "relay.idle_timeout_secs=60"]);
    assert_eq!(
        out.status.code(),
        Some(64),
        "run checks the config before binding anything"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_spread_over_the_egress_addresses_and_counted() {
    // 127.0.0.2 and 127.0.0.3 are loopback addresses every Linux host has.
    let lab = lab::LabServer::start(lab::LabConfig {
        auth: "127.0.0.1:0".parse().unwrap(),
        ..lab::LabConfig::ephemeral()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    let mut gw = imtegrity_harness::Imtegrity::spawn(
        IMTEGRITY,
        &[
            "run",
            "--set",
            r#"relay.listen=["127.0.0.1:0"]"#,
            "--set",
            "dns.listen=[]",
            "--set",
            &format!("upstream.login={}", lab.auth_addr),
            "--set",
            r#"upstream.egress=["127.0.0.2", "127.0.0.3"]"#,
            "--set",
            &format!("archive.path={}", archive.display()),
        ],
    );
    let line = gw.next_json().await;
    let relay: std::net::SocketAddr = line["relay"][0].as_str().unwrap().parse().unwrap();
    let mut clients = Vec::new();
    for name in ["u1", "u2", "u3", "u4"] {
        clients.push(lab::LabClient::login(relay, name, "x").await.unwrap());
    }
    // The lab saw the BOS connections come from the egress addresses only, both of them.
    // (Least-loaded spreading: a login connection still closing may hold a slot, so the
    // split is 2/2 or 3/1, never 4/0.)
    let sources: Vec<String> = lab.bos_peers().iter().map(|p| p.ip().to_string()).collect();
    let count = |ip: &str| sources.iter().filter(|s| *s == ip).count() as u64;
    assert_eq!(sources.len(), 4, "{sources:?}");
    assert_eq!(count("127.0.0.2") + count("127.0.0.3"), 4, "{sources:?}");
    assert!(
        count("127.0.0.2") >= 1 && count("127.0.0.3") >= 1,
        "{sources:?}"
    );
    // And status shows the open sessions per egress address, matching what the lab saw.
    // (Polled: a login connection may still be closing and hold a slot for a moment.)
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let status = loop {
        let a = archive.to_str().unwrap().to_owned();
        let out =
            tokio::task::spawn_blocking(move || imtegrity(&["--json", "status", "--archive", &a]))
                .await
                .unwrap();
        let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let open: u64 = status["owner"]["relay"]["egress"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["sessions"].as_u64().unwrap())
            .sum();
        if open == 4 || std::time::Instant::now() > deadline {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let egress = &status["owner"]["relay"]["egress"];
    assert_eq!(egress[0]["address"], "127.0.0.2", "{status}");
    assert_eq!(egress[1]["address"], "127.0.0.3", "{status}");
    assert_eq!(
        (
            egress[0]["sessions"].as_u64(),
            egress[1]["sessions"].as_u64()
        ),
        (Some(count("127.0.0.2")), Some(count("127.0.0.3"))),
        "{status}"
    );
    // The clients go: every session's egress count and open count is released.
    drop(clients);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        let a = archive.to_str().unwrap().to_owned();
        let out =
            tokio::task::spawn_blocking(move || imtegrity(&["--json", "status", "--archive", &a]))
                .await
                .unwrap();
        let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let relay = &status["owner"]["relay"];
        let open: u64 = relay["egress"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["sessions"].as_u64().unwrap())
            .sum();
        if (open == 0 && relay["sessions_open"] == 0) || std::time::Instant::now() > deadline {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let relay = &status["owner"]["relay"];
    assert_eq!(relay["egress"][0]["sessions"], 0, "{status}");
    assert_eq!(relay["egress"][1]["sessions"], 0, "{status}");
    assert_eq!(relay["sessions_open"], 0, "{status}");
}
