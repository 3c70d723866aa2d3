//! The compliance policy through the real binary: `imtegrity run --config FILE` with a
//! `[policy]` section and a directory file, lab clients on loopback. A blocked message is
//! not delivered and its sender is told; a disclaimer reaches both parties first; records
//! name the employee; editing the config file or the directory file takes effect for new
//! messages without dropping the session that is signed on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use imtegrity_harness::{Binary, Gateway, search};
use lab::{Accounts, ClientEvent, LabClient, LabConfig, LabError, LabServer, LoginMethod};

const IMTEGRITY: Binary = Binary::at(env!("CARGO_BIN_EXE_imtegrity"));

const WAIT: Duration = Duration::from_secs(5);
const QUIET: Duration = Duration::from_millis(700);
const DISCLAIMER: &str = "[IMtegrity] This conversation is recorded by Example Corp.";

fn config_text(directory: &Path, blocked_word: &str) -> String {
    format!(
        r#"[policy]
directory = "{}"
unknown_screen_names = "block"
default_profile = "standard"

[policy.profiles.standard]
disclaimer = "{DISCLAIMER}"
notice = "[IMtegrity] Not delivered: {{reason}}"

[[policy.profiles.standard.rules]]
name = "banned-word"
keywords = ["{blocked_word}"]
action = "block"
reason = "that word is not allowed"
"#,
        directory.display()
    )
}

const DIRECTORY: &str = "id,name,email,screen_names,addresses\nasmith,Alice Smith,,alice,\n";

/// The next IM `client` gets from `from` within `wait`, if any.
async fn im_within(client: &mut LabClient, from: &str, wait: Duration) -> Option<String> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match client.next_event(left).await {
            Ok(ClientEvent::Im {
                from: who, plain, ..
            }) if who.normalized() == from => return Some(plain),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_blocks_tells_disclaims_and_reloads_from_its_files() {
    let lab = LabServer::start(LabConfig {
        accounts: Accounts::AnyPassword,
        ..LabConfig::ephemeral()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let directory = dir.path().join("directory.csv");
    std::fs::write(&directory, DIRECTORY).unwrap();
    let config = dir.path().join("imtegrity.toml");
    std::fs::write(&config, config_text(&directory, "forbidden")).unwrap();
    let config_arg = config.to_str().unwrap().to_owned();
    let mut gw = Gateway::start_with(
        IMTEGRITY,
        &["--config", &config_arg],
        &lab.auth_addr.to_string(),
        &dir.path().join("archive"),
        "gw-policy",
        &[],
    )
    .await;

    // Not in the directory: refused with error 0x0011 (docs/policy.md), and recorded below. (The
    // lab client reads the sign-off's code on a channel-1 login.)
    let refused = LabClient::login_with(gw.relay, "carol", "x", LoginMethod::Legacy)
        .await
        .err();
    assert!(
        matches!(refused, Some(LabError::LoginRefused { code: 0x0011 })),
        "{refused:?}"
    );
    let mut alice = LabClient::login(gw.relay, "alice", "x").await.unwrap();
    let mut bob = LabClient::login(lab.auth_addr, "bob", "y").await.unwrap();
    alice.send_im("bob", "good morning").await.unwrap();
    assert_eq!(bob.expect_im("alice", WAIT).await.unwrap(), DISCLAIMER);
    assert_eq!(bob.expect_im("alice", WAIT).await.unwrap(), "good morning");
    assert_eq!(alice.expect_im("bob", WAIT).await.unwrap(), DISCLAIMER);
    alice.send_im("bob", "a forbidden thing").await.unwrap();
    assert_eq!(
        alice.expect_im("bob", WAIT).await.unwrap(),
        "[IMtegrity] Not delivered: that word is not allowed"
    );
    assert_eq!(im_within(&mut bob, "alice", QUIET).await, None);

    // The compliance team changes the banned word: alice's open session follows.
    std::fs::write(&config, config_text(&directory, "other")).unwrap();
    gw.reloaded().await;
    alice
        .send_im("bob", "a forbidden thing, again")
        .await
        .unwrap();
    assert_eq!(
        bob.expect_im("alice", WAIT).await.unwrap(),
        "a forbidden thing, again"
    );
    // And the network team adds carol to the directory: she may sign on now.
    std::fs::write(
        &directory,
        format!("{DIRECTORY}cjones,Carol Jones,,carol,\n"),
    )
    .unwrap();
    gw.reloaded().await;
    let carol = LabClient::login(gw.relay, "carol", "x").await.unwrap();
    carol.logout().await.unwrap();
    alice.logout().await.unwrap();
    bob.logout().await.unwrap();

    let archive = gw.archive.clone();
    gw.stop().await;
    let records = search(IMTEGRITY, &archive, &[]).await;
    let find = |text: &str| {
        records
            .iter()
            .find(|r| r["text"] == text)
            .unwrap_or_else(|| panic!("no record of {text:?}: {records:#?}"))
    };
    assert_eq!(find("good morning")["employee"], "asmith");
    assert_eq!(find("good morning")["verdict"], "allowed");
    assert_eq!(
        find("a forbidden thing")["verdict"],
        serde_json::json!({"blocked": "banned-word"})
    );
    assert_eq!(find("a forbidden thing, again")["verdict"], "allowed");
    assert!(
        records
            .iter()
            .any(|r| r["kind"] == "policy_action" && r["text"] == DISCLAIMER),
        "{records:#?}"
    );
    let refusals: Vec<&serde_json::Value> = records
        .iter()
        .filter(|r| r["kind"] == "policy_action" && r["local_user"] == "carol")
        .collect();
    assert_eq!(refusals.len(), 1, "the refused sign-on, once: {records:#?}");
    assert_eq!(
        refusals[0]["verdict"],
        serde_json::json!({"blocked": "unknown_screen_names"})
    );
}
