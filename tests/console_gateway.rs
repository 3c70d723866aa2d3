//! The gateway serves the reviewer console itself (`console.listen`): an IM relayed a
//! moment ago is readable there by a reviewer of the sender's group, through the JSON API
//! with curl as a script would, with its integrity badge, and found by its words through
//! the text index the gateway keeps up, sampled into the review queue and escalated, which the
//! supervisor's report counts; and each of those reads is an
//! `access` record in the archive the gateway owns, which `search` then shows.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use imtegrity_harness::{Binary, Gateway, add_console_user, search, tools_present};
use lab::{Accounts, LabClient, LabConfig, LabServer};
use serde_json::Value;

const IMTEGRITY: Binary = Binary::at(env!("CARGO_BIN_EXE_imtegrity"));
const CURL: &str = "/usr/bin/curl";
const WAIT: Duration = Duration::from_secs(5);
const PASSWORD: &str = "correct horse battery staple";

/// `curl` with the cookie jar `jar`; the body (and, with `form`, a POST of it).
fn curl(jar: &Path, url: &str, form: Option<&str>) -> String {
    let mut command = Command::new(CURL);
    command
        .args(["-sS", "--max-time", "10", "-c"])
        .arg(jar)
        .arg("-b")
        .arg(jar);
    if let Some(form) = form {
        command.args(["--data", form]);
    }
    let out = command.arg(url).output().unwrap();
    assert!(out.status.success(), "curl {url}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn json(jar: &Path, url: &str) -> Value {
    let body = curl(jar, url, None);
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: {e}: {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relayed_im_is_read_in_the_gateways_console_and_each_read_is_recorded() {
    if !tools_present(
        "a_relayed_im_is_read_in_the_gateways_console_and_each_read_is_recorded",
        &[CURL],
    ) {
        return;
    }
    let lab = LabServer::start(LabConfig {
        accounts: Accounts::AnyPassword,
        ..LabConfig::ephemeral()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("imtegrity.toml");
    std::fs::write(
        &config,
        "[[policy.groups]]\nname = \"traders\"\nscreen_names = [\"trader*\"]\nprofile = \"default\"\n\
         [[console.sampling]]\ngroup = \"traders\"\nper_mille = 1000\nseed = 3\n",
    )
    .unwrap();
    let users = dir.path().join("users.toml");
    add_console_user(
        IMTEGRITY,
        &config,
        &users,
        &[
            "sue",
            "--role",
            "supervisor",
            "--scope",
            "traders",
            "--permit",
            "hold",
        ],
        PASSWORD,
    );
    add_console_user(
        IMTEGRITY,
        &config,
        &users,
        &["rita", "--role", "reviewer", "--scope", "traders"],
        PASSWORD,
    );

    let config_arg = config.to_str().unwrap().to_owned();
    let users_set = format!("console.users={}", users.display());
    let gw = Gateway::start_with(
        IMTEGRITY,
        &["--config", &config_arg],
        &lab.auth_addr.to_string(),
        &dir.path().join("archive"),
        "gw-console",
        &[r#"console.listen=["127.0.0.1:0"]"#, &users_set],
    )
    .await;
    let base = gw.running["console"][0]
        .as_str()
        .unwrap_or_else(|| panic!("no console in {}", gw.running))
        .to_owned();

    let mut trader = LabClient::login(gw.relay, "trader1", "x").await.unwrap();
    let mut outsider = LabClient::login(gw.relay, "outsider", "x").await.unwrap();
    trader
        .send_im("outsider", "<b>bond</b> at par")
        .await
        .unwrap();
    // The lab client reads the text, as a client shows it.
    assert_eq!(
        outsider.expect_im("trader1", WAIT).await.unwrap(),
        "bond at par"
    );
    for c in [trader, outsider] {
        c.logout().await.unwrap();
    }

    let jar = dir.path().join("cookies");
    let dir_path = dir.path().to_path_buf();
    let reads = tokio::task::spawn_blocking(move || {
        assert_eq!(
            json(&jar, &format!("{base}api/me"))["error"],
            "not logged in"
        );
        curl(
            &jar,
            &format!("{base}login"),
            Some(&format!("name=rita&password={PASSWORD}")),
        );
        let days = json(&jar, &format!("{base}api/u/trader1"));
        let day = days["days"][0]["day"].as_str().unwrap().to_owned();
        let thread = json(&jar, &format!("{base}api/u/trader1/{day}"));
        let im = thread["records"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["kind"] == "im")
            .unwrap_or_else(|| panic!("no IM in {thread}"))
            .clone();
        assert_eq!(im["from"], "trader1", "{im}");
        assert_eq!(im["to"], "outsider", "{im}");
        let record = json(&jar, &format!("{base}api/r/{}", im["id"]));
        assert_eq!(record["integrity"]["status"], "verified", "{record}");
        assert!(
            record["raw"].as_str().unwrap().contains("<b>bond</b>"),
            "{record}"
        );
        // Found by its words once the text index has followed the archive (it looks once a
        // second).
        let mut found = Value::Null;
        for _ in 0..100 {
            found = json(&jar, &format!("{base}api/search?q=bond+pa*&user=trader1"));
            if found["hits"].as_array().is_some_and(|h| !h.is_empty()) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(found["hits"][0]["id"], im["id"], "{found}");
        // Out of scope: the outsider's own page.
        let refused = json(&jar, &format!("{base}api/u/outsider"));
        assert!(
            refused["error"]
                .as_str()
                .unwrap()
                .contains("outside this account's scope"),
            "{refused}"
        );
        // Sampled into the queue (every trader message, by the rule), then escalated.
        let queue = curl(&jar, &format!("{base}queue"), None);
        let id = im["id"].as_u64().unwrap();
        assert!(queue.contains(&format!("data-item=\"{id}\"")), "{queue}");
        assert!(
            queue.contains("sample: traders, 1000 per mille, seed 3"),
            "{queue}"
        );
        let csrf = queue
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap()
            .to_owned();
        curl(
            &jar,
            &format!("{base}review"),
            Some(&format!(
                "csrf={csrf}&item={id}&action=escalate&comment=ask+legal"
            )),
        );
        let after = json(&jar, &format!("{base}api/queue"));
        assert_eq!(after["items"][0]["state"], "escalated by rita", "{after}");
        // The supervisor's report counts it; the reviewer may not read the report.
        assert!(
            json(&jar, &format!("{base}api/report"))["error"]
                .as_str()
                .unwrap()
                .contains("supervisors")
        );
        let sue = dir_path.join("sue-cookies");
        curl(
            &sue,
            &format!("{base}login"),
            Some(&format!("name=sue&password={PASSWORD}")),
        );
        let report = json(&sue, &format!("{base}api/report"));
        assert_eq!(report["rows"][0]["reviewer"], "rita", "{report}");
        assert_eq!(report["rows"][0]["escalated"], 1, "{report}");
        assert!(report["flagged"].as_u64().unwrap() >= 1, "{report}");
        let csv = curl(&sue, &format!("{base}report.csv"), None);
        assert!(csv.lines().nth(1).unwrap().contains(",rita,"), "{csv}");
        // A legal hold from the console: sue may, rita may not.
        assert!(
            curl(&jar, &format!("{base}holds"), None)
                .contains("may not place or release legal holds")
        );
        let holds = curl(&sue, &format!("{base}holds"), None);
        let sue_csrf = holds
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap()
            .to_owned();
        curl(
            &sue,
            &format!("{base}holds"),
            Some(&format!("csrf={sue_csrf}&user=trader1&reason=matter+42")),
        );
        assert!(curl(&sue, &format!("{base}holds"), None).contains("matter 42"));
        // Claimed by sue, the item is hers: rita's decision is refused until sue releases it.
        let review = |jar: &Path, csrf: &str, action: &str| {
            curl(
                jar,
                &format!("{base}review"),
                Some(&format!("csrf={csrf}&item={id}&action={action}")),
            )
        };
        let claimed = review(&sue, &sue_csrf, "claim");
        let refused = review(&jar, &csrf, "no_issue");
        assert!(
            refused.contains("claimed by sue"),
            "claim: {claimed}\nrefused: {refused}"
        );
        let queued = json(&jar, &format!("{base}api/queue"));
        assert_eq!(
            queued["items"][0]["state"], "escalated by rita, claimed by sue",
            "{queued}"
        );
        assert!(review(&jar, &csrf, "release").contains("only they or a supervisor"));
        review(&sue, &sue_csrf, "release");
        let queued = json(&jar, &format!("{base}api/queue"));
        assert_eq!(queued["items"][0]["state"], "escalated by rita", "{queued}");
        id
    })
    .await
    .unwrap();

    let archive = gw.archive.clone();
    gw.stop().await;
    let trail = search(IMTEGRITY, &archive, &["--kind", "access"]).await;
    let mut by_rita: Vec<String> = trail
        .iter()
        .filter(|r| r["sender"] == "rita")
        .map(|r| {
            let detail: Value = serde_json::from_str(r["detail"].as_str().unwrap()).unwrap();
            assert_eq!(detail["via"], "console", "{detail}");
            detail["command"].as_str().unwrap().to_owned()
        })
        .collect();
    // Each search while the index caught up is recorded too: one entry for them all here.
    by_rita.dedup();
    assert_eq!(
        by_rita,
        [
            "console login",
            "console user",
            "console day",
            "console record",
            "console search",
            "console denied",
            "console queue"
        ],
        "{trail:#?}"
    );
    let record_read = trail
        .iter()
        .find(|r| {
            r["text"]
                .as_str()
                .is_some_and(|t| t.contains("console record"))
        })
        .unwrap();
    let detail: Value = serde_json::from_str(record_read["detail"].as_str().unwrap()).unwrap();
    assert_eq!(detail["args"]["record"], reads);
    // The hold is the archive's, placed by the console account.
    let (code, holds, stderr) = imtegrity_harness::cli(
        IMTEGRITY,
        &["hold", "list", "--archive", archive.to_str().unwrap()],
    )
    .await;
    assert_eq!(code, Some(0), "{stderr}");
    let hold: Value = serde_json::from_str(holds.lines().next().unwrap()).unwrap();
    assert_eq!(hold["reason"], "matter 42", "{hold}");
    assert_eq!(
        hold["target"],
        serde_json::json!({"type": "user", "value": "trader1"}),
        "{hold}"
    );
    assert_eq!(hold["placed_by"]["user"], "sue", "{hold}");
    assert_eq!(hold["placed_by"]["via"], "console", "{hold}");
    // The decision is a review record in the chain, with why the item was in the queue.
    let reviews = search(IMTEGRITY, &archive, &["--kind", "review"]).await;
    let details: Vec<Value> = reviews
        .iter()
        .map(|r| serde_json::from_str(r["detail"].as_str().unwrap()).unwrap())
        .collect();
    let actions: Vec<&str> = details
        .iter()
        .map(|d| d["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["escalate", "claim", "release"], "{details:#?}");
    let review = details[0].clone();
    assert_eq!(
        review,
        serde_json::json!({"reviewer": "rita", "item": reads, "action": "escalate",
                           "comment": "ask legal", "reason": "sample: traders, 1000 per mille, seed 3"})
    );
}

/// `curl ARGS` for the TLS test: stdout and the exit code.
fn curl_with(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(CURL)
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_console_tls_the_gateway_serves_https_under_its_ca_with_a_secure_cookie() {
    if !tools_present(
        "with_console_tls_the_gateway_serves_https_under_its_ca_with_a_secure_cookie",
        &[CURL],
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ca_sets = imtegrity_harness::ingest::gateway_ca(IMTEGRITY, dir.path()).await;
    let config = dir.path().join("imtegrity.toml");
    std::fs::write(&config, "").unwrap();
    let users = dir.path().join("users.toml");
    add_console_user(
        IMTEGRITY,
        &config,
        &users,
        &["al", "--role", "auditor"],
        PASSWORD,
    );
    let users_set = format!("console.users={}", users.display());
    let mut extra: Vec<&str> = ca_sets.iter().map(String::as_str).collect();
    extra.extend([
        r#"console.listen=["127.0.0.1:0"]"#,
        "console.tls=true",
        "console.name=console.imtegrity.test",
        &users_set,
    ]);
    let gw = Gateway::start(
        IMTEGRITY,
        "127.0.0.1:9",
        &dir.path().join("archive"),
        "gw-console-tls",
        &extra,
    )
    .await;
    let url = gw.running["console"][0].as_str().unwrap().to_owned();
    let port = url
        .strip_prefix("https://127.0.0.1:")
        .and_then(|rest| rest.strip_suffix('/'))
        .unwrap_or_else(|| panic!("not an https URL on loopback: {url}"))
        .to_owned();
    let ca = dir.path().join("ca.pem").display().to_string();
    let jar = dir.path().join("jar").display().to_string();
    let resolve = format!("console.imtegrity.test:{port}:127.0.0.1");
    let base = format!("https://console.imtegrity.test:{port}/");
    let outcome = tokio::task::spawn_blocking(move || {
        // The leaf verifies under the gateway CA, for the configured name.
        let (code, head) = curl_with(&[
            "-i",
            "--cacert",
            &ca,
            "--resolve",
            &resolve,
            "-c",
            &jar,
            "--data",
            &format!("name=al&password={PASSWORD}"),
            &format!("{base}login"),
        ]);
        assert_eq!(code, Some(0), "{head}");
        let cookie = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
            .unwrap_or_else(|| panic!("no cookie: {head}"))
            .to_owned();
        assert!(
            cookie.contains("; Secure") && cookie.contains("HttpOnly"),
            "{cookie}"
        );
        let (code, me) = curl_with(&[
            "--cacert",
            &ca,
            "--resolve",
            &resolve,
            "-b",
            &jar,
            &format!("{base}api/me"),
        ]);
        assert_eq!(code, Some(0));
        assert!(me.contains("\"name\":\"al\""), "{me}");
        // Without the CA, curl refuses the certificate; plain HTTP gets no answer.
        let (code, _) = curl_with(&["--resolve", &resolve, &format!("{base}login")]);
        assert_eq!(code, Some(60), "an unknown CA must fail verification");
        let (code, _) = curl_with(&[&format!("http://127.0.0.1:{port}/login")]);
        assert_ne!(code, Some(0), "plain HTTP on the TLS port");
    })
    .await;
    gw.stop().await;
    outcome.unwrap();
}
