//! Retention that cannot be turned against the record, against the real binary: a minimum
//! (`archive.retention.min_days`) locked into the archive refuses `retention apply --days 0`
//! (exit 77, nothing purged), refuses a gateway configured with a lower one, and is raised
//! by a higher one; `verify` names each purge (how many, when, policy, who); holds keep who
//! placed and released them and why, on the direct path and through the admin socket.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use imtegrity_harness::{Binary, Gateway, cli};
use serde_json::Value;

const IMTEGRITY: Binary = Binary::at(env!("CARGO_BIN_EXE_imtegrity"));

/// Exit code of `retention apply` refused by the locked minimum (docs/archive.md, "Retention and its minimum").
const EX_RETENTION_LOCKED: i32 = 77;
/// Exit code of a configuration the gateway refuses.
const EX_USAGE: i32 = 64;
/// Where no upstream listens: these gateways relay nothing.
const NO_UPSTREAM: &str = "127.0.0.1:9";

/// `imtegrity generate` into `archive`: `count` records over the last 20 days.
async fn generate(archive: &Path, count: u32) {
    let d = archive.to_str().unwrap();
    let (code, _, stderr) = cli(
        IMTEGRITY,
        &[
            "generate",
            "--archive",
            d,
            "--count",
            &count.to_string(),
            "--users",
            "12",
            "--days",
            "20",
        ],
    )
    .await;
    assert_eq!(code, Some(0), "{stderr}");
}

/// Records other than the access trail (what a purge could take).
async fn content_records(archive: &Path) -> usize {
    imtegrity_harness::search(IMTEGRITY, archive, &[])
        .await
        .len()
}

/// This process's user as `verify` names it: "root (uid 0)".
fn me() -> String {
    let uid = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap());
    let name = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    format!(
        "{} (uid {uid})",
        String::from_utf8(name.stdout).unwrap().trim()
    )
}

fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not JSON: {stdout:?}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn days_zero_under_a_minimum_purges_nothing_and_a_lower_minimum_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    let d = archive.to_str().unwrap();
    generate(&archive, 400).await;

    // Lock six years in.
    let (code, stdout, stderr) = cli(
        IMTEGRITY,
        &[
            "retention",
            "apply",
            "--archive",
            d,
            "--set",
            "archive.retention.min_days=2190",
        ],
    )
    .await;
    assert_eq!(code, Some(0), "{stderr}");
    let lock = &json(&stdout)["lock"];
    assert_eq!(
        lock["minimum"]["per_protocol"],
        serde_json::json!({"aim": 2190, "icq": 2190, "sametime": 2190})
    );

    // --days 0 (and its dry run) is refused with exit 77, naming both values; nothing goes.
    for dry in [false, true] {
        let mut args = vec!["retention", "apply", "--archive", d, "--days", "0"];
        if dry {
            args.push("--dry-run");
        }
        let (code, stdout, stderr) = cli(IMTEGRITY, &args).await;
        assert_eq!(code, Some(EX_RETENTION_LOCKED), "{stdout}\n{stderr}");
        assert!(
            stderr.contains(
                "refused: retention days = 0 for aim is below this archive's locked minimum \
                 of 2190 days (set "
            ) && stderr.contains(&format!("by {})", me()))
                && stderr.contains("nothing was purged"),
            "{stderr}"
        );
        assert_eq!(stdout, "");
    }
    assert_eq!(content_records(&archive).await, 400);

    // A gateway configured with a lower minimum does not start, and says why.
    let (code, _, stderr) = cli(
        IMTEGRITY,
        &[
            "run",
            "--set",
            r#"relay.listen=["127.0.0.1:0"]"#,
            "--set",
            "dns.listen=[]",
            "--set",
            &format!("upstream.login={NO_UPSTREAM}"),
            "--set",
            &format!("archive.path={d}"),
            "--set",
            "archive.retention.min_days=30",
        ],
    )
    .await;
    assert_eq!(code, Some(EX_USAGE), "{stderr}");
    assert!(
        stderr.contains(
            "refused: archive.retention.min_days = 30 for aim is below this archive's locked \
             minimum of 2190 days"
        ),
        "{stderr}"
    );
    // So does `retention apply` with the lower minimum configured.
    let (code, _, stderr) = cli(
        IMTEGRITY,
        &[
            "retention",
            "apply",
            "--archive",
            d,
            "--set",
            "archive.retention.min_days=30",
            "--days",
            "40",
        ],
    )
    .await;
    assert_eq!(code, Some(EX_RETENTION_LOCKED), "{stderr}");
    assert!(
        stderr.contains("archive.retention.min_days = 30 for aim"),
        "{stderr}"
    );
    assert_eq!(content_records(&archive).await, 400);

    // A higher one starts the gateway and is locked in; through its admin socket, --days 0
    // is still refused with the same code.
    let gateway = Gateway::start(
        IMTEGRITY,
        NO_UPSTREAM,
        &archive,
        "gw",
        &["archive.retention.min_days=3650"],
    )
    .await;
    let (code, _, stderr) = cli(
        IMTEGRITY,
        &["retention", "apply", "--archive", d, "--days", "0"],
    )
    .await;
    assert_eq!(code, Some(EX_RETENTION_LOCKED), "{stderr}");
    assert!(stderr.contains("locked minimum of 3650 days"), "{stderr}");
    gateway.stop().await;
    let (code, stdout, stderr) = cli(IMTEGRITY, &["verify", "--archive", d]).await;
    assert_eq!(code, Some(0), "{stderr}");
    let report = json(&stdout);
    assert_eq!(report["intact"], true, "{report}");
    assert_eq!(
        report["retention"]["lock"]["minimum"]["per_protocol"]["sametime"],
        3650
    );
    assert_eq!(report["retention"]["purges"], serde_json::json!([]));
    assert_eq!(content_records(&archive).await, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_each_purge_with_its_policy_minimum_and_who() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    let d = archive.to_str().unwrap();
    generate(&archive, 300).await;

    let (code, stdout, stderr) = cli(
        IMTEGRITY,
        &[
            "retention",
            "apply",
            "--archive",
            d,
            "--days",
            "10",
            "--set",
            "archive.retention.min_days=10",
        ],
    )
    .await;
    assert_eq!(code, Some(0), "{stderr}");
    let lines: Vec<Value> = stdout.lines().map(json).collect();
    let report = lines.last().unwrap();
    let purged = report["purged"].as_u64().unwrap();
    assert!(purged > 0 && purged < 300, "{report}");
    assert_eq!(content_records(&archive).await as u64, 300 - purged);

    // The text verdict says what happened, not a bare "intact".
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_imtegrity"))
        .args(["verify", "--archive", d])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let first = text.lines().next().unwrap();
    let prefix = format!("archive {d}: intact; {purged} records (ids ");
    let suffix = format!(
        " by retention (10 days; minimum 10 days) as {}, by command",
        me()
    );
    assert!(
        first.starts_with(&prefix) && first.ends_with(&suffix),
        "{first}\nwanted {prefix}...{suffix}"
    );
    assert!(
        text.contains("\n  retention minimum 10 days (set "),
        "{text}"
    );

    // The JSON report carries the same facts.
    let (code, stdout, _) = cli(IMTEGRITY, &["verify", "--archive", d]).await;
    assert_eq!(code, Some(0));
    let report = json(&stdout);
    let purges = report["retention"]["purges"].as_array().unwrap();
    assert_eq!(purges.len(), 1, "{report}");
    assert_eq!(purges[0]["records"].as_u64(), Some(purged));
    assert_eq!(purges[0]["trigger"], "command");
    assert_eq!(purges[0]["policy"]["default_days"], 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateways_schedule_purges_as_itself_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    let d = archive.to_str().unwrap();
    generate(&archive, 200).await;
    // The first scheduled run is at start.
    let gateway = Gateway::start(
        IMTEGRITY,
        NO_UPSTREAM,
        &archive,
        "gw",
        &["archive.retention.days=5", "archive.retention.min_days=5"],
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let purge = loop {
        let (code, stdout, stderr) = cli(IMTEGRITY, &["verify", "--archive", d]).await;
        assert_eq!(code, Some(0), "{stderr}");
        let report = json(&stdout);
        if let Some(first) = report["retention"]["purges"].get(0) {
            break first.clone();
        }
        assert!(Instant::now() < deadline, "no scheduled purge: {report}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    gateway.stop().await;
    assert_eq!(purge["trigger"], "schedule", "{purge}");
    assert_eq!(purge["policy"]["default_days"], 5);
    assert_eq!(purge["minimum"]["per_protocol"]["icq"], 5);
    let purged = purge["records"].as_u64().unwrap();
    assert!(purged > 0, "{purge}");
    assert_eq!(content_records(&archive).await as u64, 200 - purged);
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_imtegrity"))
        .args(["verify", "--archive", d])
        .output()
        .await
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.lines().next().unwrap().ends_with(&format!(
            " by retention (5 days; minimum 5 days) as {}, on the gateway's schedule",
            me()
        )),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holds_show_who_placed_and_released_them_and_why() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    let d = archive.to_str().unwrap();
    generate(&archive, 50).await;
    let me = me();

    // Directly: placed and released by this process's user, with both reasons.
    let (code, stdout, stderr) = cli(
        IMTEGRITY,
        &[
            "hold",
            "add",
            "--archive",
            d,
            "--user",
            "carol",
            "--reason",
            "matter 42",
        ],
    )
    .await;
    assert_eq!(code, Some(0), "{stderr}");
    let placed = json(&stdout);
    assert_eq!(placed["placed_by"]["via"], "direct", "{placed}");
    // A release needs a reason.
    let (code, _, _) = cli(IMTEGRITY, &["hold", "release", "--archive", d, "1"]).await;
    assert_eq!(code, Some(2), "clap's missing-argument code");
    let (code, _, stderr) = cli(
        IMTEGRITY,
        &["hold", "release", "--archive", d, "1", "--reason", "   "],
    )
    .await;
    assert_ne!(code, Some(0));
    assert!(stderr.contains("a release needs a reason"), "{stderr}");
    let (code, _, stderr) = cli(
        IMTEGRITY,
        &[
            "hold",
            "release",
            "--archive",
            d,
            "1",
            "--reason",
            "matter closed",
        ],
    )
    .await;
    assert_eq!(code, Some(0), "{stderr}");

    // Through a running gateway's admin socket: the peer's credentials name the user.
    let gateway = Gateway::start(IMTEGRITY, NO_UPSTREAM, &archive, "gw", &[]).await;
    let (code, _, stderr) = cli(
        IMTEGRITY,
        &[
            "hold",
            "add",
            "--archive",
            d,
            "--conversation",
            "aim:x|y",
            "--reason",
            "case 7",
        ],
    )
    .await;
    assert_eq!(code, Some(0), "{stderr}");
    let (code, stdout, stderr) = cli(IMTEGRITY, &["hold", "list", "--all", "--archive", d]).await;
    assert_eq!(code, Some(0), "{stderr}");
    gateway.stop().await;
    let holds: Vec<Value> = stdout.lines().map(json).collect();
    assert_eq!(holds.len(), 2, "{stdout}");
    let uid = &holds[0]["placed_by"]["uid"];
    assert_eq!(holds[0]["reason"], "matter 42");
    assert_eq!(holds[0]["release_reason"], "matter closed");
    assert_eq!(holds[0]["released_by"]["uid"], *uid);
    assert_eq!(holds[1]["reason"], "case 7");
    assert_eq!(holds[1]["placed_by"]["via"], "socket", "{}", holds[1]);
    assert_eq!(holds[1]["released_by"], Value::Null);

    // The text list says the same.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_imtegrity"))
        .args(["hold", "list", "--all", "--archive", d])
        .output()
        .await
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with("hold 1 on user carol (matter 42), placed ")
            && lines[0].contains(&format!(" by {me}, released "))
            && lines[0].ends_with(&format!(" by {me}: matter closed")),
        "{text}"
    );
    assert!(
        lines[1].starts_with("hold 2 on conversation aim:x|y (case 7), placed ")
            && lines[1].ends_with(&format!(" by {me}, active")),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shipped_record_cannot_pose_as_a_lock_or_purge_record() {
    const TOKEN: &str = "a-long-enough-shared-token-123";
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    let d = archive.to_str().unwrap();
    let token_file = tmp.path().join("ingest.token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let gateway = Gateway::start(
        IMTEGRITY,
        NO_UPSTREAM,
        &archive,
        "gw",
        &[
            r#"ingest.listen=["127.0.0.1:0"]"#,
            &format!("ingest.token_file={}", token_file.display()),
        ],
    )
    .await;
    let ingest: std::net::SocketAddr = gateway.running["ingest"][0]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // A Sametime server (or whoever holds its token) ships a "retention lock" that would
    // forbid every purge, and a made-up purge record, as access records.
    let mut lock = imtegrity_harness::ingest::event("");
    lock.kind = archive::Kind::Access;
    lock.conversation = "access".into();
    lock.detail = Some(
        serde_json::json!({
            "user": "root", "uid": 0, "via": "direct", "command": "retention lock",
            "args": {"minimum": {"per_protocol": {"aim": 99999}}}, "count": 0
        })
        .to_string(),
    );
    let body = serde_json::json!({
        "source": "spool-1",
        "records": [{"seq": 1, "event": lock}],
    })
    .to_string();
    let (status, answer) = imtegrity_harness::ingest::post(ingest, TOKEN, &body).await;
    assert_eq!(
        (status, answer.as_str()),
        (
            400,
            r#"{"error":"records of kind access are written by the archive only"}"#
        )
    );
    // Nor may it ship a reviewer's decision, which would close a flagged message unseen.
    let mut review = imtegrity_harness::ingest::event("");
    review.kind = archive::Kind::Review;
    review.conversation = archive::review_conversation(1);
    let body = serde_json::json!({
        "source": "spool-1",
        "records": [{"seq": 1, "event": review}],
    })
    .to_string();
    let (status, answer) = imtegrity_harness::ingest::post(ingest, TOKEN, &body).await;
    assert_eq!(
        (status, answer.as_str()),
        (
            400,
            r#"{"error":"records of kind review are written by the reviewer console only"}"#
        )
    );
    // An ordinary record still goes in.
    let ok = imtegrity_harness::ingest::batch("spool-1", &[(1, "hello")]);
    assert_eq!(
        imtegrity_harness::ingest::post(ingest, TOKEN, &ok).await.0,
        200
    );
    gateway.stop().await;
    let (code, stdout, stderr) = cli(IMTEGRITY, &["verify", "--archive", d]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(json(&stdout)["retention"]["lock"], Value::Null, "{stdout}");
}
