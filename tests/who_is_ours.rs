//! One answer to "who is ours" (docs/policy.md, "Who is the organisation's"): a screen name signed on
//! through the gateway that the directory does not list is an outsider for the record. The
//! relay records alice's IM to it as outbound and sends the disclaimer, and `policy explain`
//! for the same pair says the same, disclaimer included. Two directory users signed on
//! through the gateway talk internally, without one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::Duration;

use imtegrity_harness::{Binary, Gateway, search};
use lab::{Accounts, LabClient, LabConfig, LabServer};

const IMTEGRITY: Binary = Binary::at(env!("CARGO_BIN_EXE_imtegrity"));

const WAIT: Duration = Duration::from_secs(5);
const DISCLAIMER: &str = "[IMtegrity] Recorded by Example Corp.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_and_explain_agree_on_who_is_ours() {
    let lab = LabServer::start(LabConfig {
        accounts: Accounts::AnyPassword,
        ..LabConfig::ephemeral()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let directory = dir.path().join("directory.csv");
    std::fs::write(
        &directory,
        "id,name,email,screen_names,addresses\nasmith,Alice Smith,,alice,\nbjones,Bob Jones,,bob,\n",
    )
    .unwrap();
    let config = dir.path().join("imtegrity.toml");
    std::fs::write(
        &config,
        format!(
            "[policy]\ndirectory = {:?}\ndefault_profile = \"standard\"\n\
             [policy.profiles.standard]\ndisclaimer = \"{DISCLAIMER}\"\n",
            directory.to_str().unwrap()
        ),
    )
    .unwrap();
    let config_arg = config.to_str().unwrap().to_owned();
    let gw = Gateway::start_with(
        IMTEGRITY,
        &["--config", &config_arg],
        &lab.auth_addr.to_string(),
        &dir.path().join("archive"),
        "gw-ours",
        &[],
    )
    .await;
    // All three behind the gateway; mallory is not in the directory.
    let mut alice = LabClient::login(gw.relay, "alice", "x").await.unwrap();
    let mut bob = LabClient::login(gw.relay, "bob", "x").await.unwrap();
    let mut mallory = LabClient::login(gw.relay, "mallory", "x").await.unwrap();

    alice.send_im("mallory", "to the contractor").await.unwrap();
    assert_eq!(mallory.expect_im("alice", WAIT).await.unwrap(), DISCLAIMER);
    assert_eq!(
        mallory.expect_im("alice", WAIT).await.unwrap(),
        "to the contractor"
    );
    // And back: inbound to alice (a disclaimer may come first, from mallory's side).
    mallory
        .send_im("alice", "from the contractor")
        .await
        .unwrap();
    let mut seen = Vec::new();
    while seen.last().map(String::as_str) != Some("from the contractor") {
        seen.push(alice.expect_im("mallory", WAIT).await.unwrap());
        assert!(seen.len() <= 3, "{seen:?}");
    }
    alice.send_im("bob", "to a colleague").await.unwrap();
    assert_eq!(
        bob.expect_im("alice", WAIT).await.unwrap(),
        "to a colleague"
    );
    for c in [alice, bob, mallory] {
        c.logout().await.unwrap();
    }
    let archive = gw.archive.clone();
    gw.stop().await;
    let records = search(IMTEGRITY, &archive, &[]).await;
    let one = |text: &str| {
        let found: Vec<_> = records.iter().filter(|r| r["text"] == text).collect();
        assert_eq!(found.len(), 1, "{text}: {records:#?}");
        found[0].clone()
    };
    assert_eq!(one("to the contractor")["direction"], "outbound");
    // Recorded once as what it is, by the session that sent it; not again as an IM.
    let disclaimers: Vec<_> = records.iter().filter(|r| r["text"] == DISCLAIMER).collect();
    assert!(!disclaimers.is_empty());
    assert!(
        disclaimers.iter().all(|r| r["kind"] == "policy_action"),
        "{disclaimers:#?}"
    );
    assert_eq!(one("from the contractor")["direction"], "inbound");
    assert_eq!(one("to a colleague")["direction"], "internal");

    // explain, asked about the same pairs, says what the relay did.
    let explain = |to: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_imtegrity"))
            .args(["--json", "policy", "explain", "--config", &config_arg])
            .args(["--from", "alice", "--to", to])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let contractor = explain("mallory");
    assert_eq!(contractor["direction"], "outbound");
    assert_eq!(
        contractor["disclaimer_sent"],
        serde_json::json!({"sent": true, "text": DISCLAIMER})
    );
    let colleague = explain("bob");
    assert_eq!(colleague["direction"], "internal");
    assert_eq!(
        colleague["disclaimer_sent"],
        serde_json::json!({"sent": false, "why": "internal"})
    );
}
