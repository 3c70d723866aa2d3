//! The `imtegrity` binary itself: subcommands, exit codes and `--json` output.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::Duration;

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
        stdout.contains("Alice -> bob: Hi Bob, the Q3 numbers are final."),
        "{stdout}"
    );
    assert!(stdout.contains("labbot -> Alice: echo test"), "{stdout}");
    assert!(
        stdout.contains("[compliance] bob: Morning all, standup in 5."),
        "{stdout}"
    );
    assert!(
        stdout
            .trim_end()
            .ends_with("demo complete: 5 messages delivered"),
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
    let ims: Vec<_> = lines.iter().filter(|l| l["event"] == "im").collect();
    assert_eq!(ims.len(), 4);
    assert_eq!(
        ims[1]["text"],
        "Thanks! Sending the summary to the client now."
    );
    assert_eq!(lines.last().unwrap()["delivered"], 5);
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
        common::start_lab(&["--account", "alice:a", "--account", "bob:b"]).await;
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
    assert!(lab::LabClient::login(auth, "alice", "wrong").await.is_err());
}
