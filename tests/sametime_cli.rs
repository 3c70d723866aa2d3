//! `imtegrity sametime check-config` and `sametime spool`: the Sametime administrator reads
//! the module's file with the module's own code before restarting the server (what it would
//! do, or exit 64 with the mistake's line and column; the token never printed), and looks
//! at and drains a spool the module left behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

use imtegrity_harness::ingest::event;
use imtegrity_harness::{Binary, Gateway, search};
use imtegrity_stchatlog::RecordSink as _;
use imtegrity_stchatlog::spool::Spool;

const IMTEGRITY: Binary = Binary::at(env!("CARGO_BIN_EXE_imtegrity"));

const TOKEN: &str = "a-long-enough-ingest-token-0123456789";

fn check(file: &std::path::Path, json: bool) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_imtegrity"));
    if json {
        command.arg("--json");
    }
    command
        .args(["sametime", "check-config"])
        .arg(file)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    imtegrity_harness::output_text(out)
}

#[test]
fn a_good_file_is_summarised_and_mistakes_exit_64_with_where() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ingest.token"), format!("{TOKEN}\n")).unwrap();
    std::fs::write(
        dir.path().join("policy.toml"),
        "[policy]\n[[policy.profiles.default.rules]]\nname = \"watch\"\n\
         keywords = [\"merger\"]\naction = \"alert\"\n",
    )
    .unwrap();
    let file = dir.path().join("imtegrity_stchatlog.toml");
    std::fs::write(
        &file,
        "mode = \"relaxed\"\nspool = \"spool\"\n[gateway]\naddress = \"127.0.0.1:9444\"\n\
         token_file = \"ingest.token\"\n[policy]\nfile = \"policy.toml\"\n",
    )
    .unwrap();

    let out = check(&file, false);
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("  mode: relaxed"), "{shown}");
    assert!(
        shown.contains(&format!("  spool: {}", dir.path().join("spool").display())),
        "{shown}"
    );
    assert!(
        shown.contains(&format!(
            "authenticated by the token in {}",
            dir.path().join("ingest.token").display()
        )),
        "{shown}"
    );
    assert!(shown.contains("(1 rule)"), "{shown}");
    assert!(
        !shown.contains(TOKEN),
        "the token must never be printed: {shown}"
    );
    let out = check(&file, true);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["gateway"]["address"], "127.0.0.1:9444");
    assert_eq!(summary["policy"]["rules"], 1);
    assert!(!text(&out).contains(TOKEN));

    // A typo: exit 64, the line and column.
    std::fs::write(&file, "mode = \"strict\"\nspool = \"spool\"\nmdoe = 1\n").unwrap();
    let out = check(&file, false);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(64), "{shown}");
    assert!(shown.contains("line 3 column 1"), "{shown}");
    assert_eq!(shown.trim_end().lines().count(), 1, "one line: {shown}");
    assert!(shown.contains("mdoe"), "{shown}");

    // A gateway whose token file is missing: the module would not start shipping.
    std::fs::write(
        &file,
        "[gateway]\naddress = \"127.0.0.1:9444\"\ntoken_file = \"missing.token\"\n",
    )
    .unwrap();
    let out = check(&file, false);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(64), "{shown}");
    assert!(shown.contains("missing.token"), "{shown}");
}

#[test]
fn the_shipped_example_file_is_what_the_module_reads_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/spi/imtegrity_stchatlog.example.toml"
    );
    let file = dir.path().join("imtegrity_stchatlog.toml");
    std::fs::copy(example, &file).unwrap();
    std::fs::write(dir.path().join("ingest.token"), format!("{TOKEN}\n")).unwrap();
    let out = check(&file, true);
    assert!(out.status.success(), "{}", text(&out));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The values the example states are the module's defaults.
    let defaults = imtegrity_stchatlog::config::SpiConfig::default();
    let example = imtegrity_stchatlog::config::SpiConfig::read(&file).unwrap();
    assert_eq!(example.mode, defaults.mode);
    assert_eq!(example.call_timeout_ms, defaults.call_timeout_ms);
    assert_eq!(example.terminate_timeout_ms, defaults.terminate_timeout_ms);
    assert_eq!(example.codes, defaults.codes);
    assert_eq!(
        example.relaxed.max_held_records,
        defaults.relaxed.max_held_records
    );
    assert_eq!(
        example.relaxed.max_held_bytes,
        defaults.relaxed.max_held_bytes
    );
    assert_eq!(summary["codes"]["db_error"], 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_left_spool_is_summarised_without_its_content_and_drained_to_the_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let spool_dir = dir.path().join("spool");
    {
        let spool = Spool::open(&spool_dir).unwrap();
        for text in ["first secret words", "second", "third"] {
            spool.append(&event(text)).unwrap();
        }
    }
    let spool_arg = spool_dir.to_str().unwrap().to_owned();
    let inspect = move |json: bool, extra: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_imtegrity"));
        if json {
            command.arg("--json");
        }
        command
            .args(["sametime", "spool", &spool_arg])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = inspect(false, &[]);
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(
        shown.contains("3 records waiting for the gateway"),
        "{shown}"
    );
    assert!(
        !shown.contains("secret"),
        "content is read through the archive: {shown}"
    );

    // A gateway with an ingest endpoint; a module file with the wrong token first.
    std::fs::write(dir.path().join("ingest.token"), format!("{TOKEN}\n")).unwrap();
    std::fs::write(
        dir.path().join("wrong.token"),
        "wrong-token-wrong-token-wrong-token\n",
    )
    .unwrap();
    let gw = Gateway::start(
        IMTEGRITY,
        "127.0.0.1:9",
        &dir.path().join("archive"),
        "gw-drain",
        &[
            r#"ingest.listen=["127.0.0.1:0"]"#,
            &format!(
                "ingest.token_file={}",
                dir.path().join("ingest.token").display()
            ),
        ],
    )
    .await;
    let ingest = gw.running["ingest"][0].as_str().unwrap().to_owned();
    let module = dir.path().join("imtegrity_stchatlog.toml");
    std::fs::write(
        &module,
        format!("[gateway]\naddress = \"{ingest}\"\ntoken_file = \"wrong.token\"\n"),
    )
    .unwrap();
    let module_arg = module.to_str().unwrap().to_owned();
    let refused = tokio::task::spawn_blocking({
        let inspect = inspect.clone();
        let module_arg = module_arg.clone();
        move || {
            inspect(
                true,
                &["--drain", "--config", &module_arg, "--timeout", "2"],
            )
        }
    })
    .await
    .unwrap();
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    let summary: serde_json::Value = serde_json::from_slice(&refused.stdout).unwrap();
    assert_eq!(summary["drained"]["left"], 3, "{summary:#}");

    std::fs::write(
        &module,
        format!("[gateway]\naddress = \"{ingest}\"\ntoken_file = \"ingest.token\"\n"),
    )
    .unwrap();
    let drained = tokio::task::spawn_blocking(move || {
        inspect(
            false,
            &["--drain", "--config", &module_arg, "--timeout", "20"],
        )
    })
    .await
    .unwrap();
    let shown = text(&drained);
    assert!(drained.status.success(), "{shown}");
    assert!(shown.contains("drained: 3 shipped, 0 left"), "{shown}");
    assert!(shown.contains("0 records waiting"), "{shown}");
    // The gateway's `status`: the module's spool as a client with its reported backlog,
    // and the wrong token as a refused sender.
    let status = imtegrity_harness::cli(
        IMTEGRITY,
        &["status", "--archive", gw.archive.to_str().unwrap()],
    )
    .await;
    let status: serde_json::Value = serde_json::from_str(&status.1).unwrap();
    let stats = &status["owner"]["ingest"]["stats"];
    assert_eq!(stats["clients"][0]["records"], 3, "{stats:#}");
    assert_eq!(stats["clients"][0]["backlog"], 0, "{stats:#}");
    assert_eq!(stats["refused"][0]["reason"], "bad token", "{stats:#}");
    let archive = gw.archive.clone();
    gw.stop().await;
    let texts: Vec<String> = search(IMTEGRITY, &archive, &["--protocol", "sametime"])
        .await
        .iter()
        .map(|r| r["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts, ["first secret words", "second", "third"]);
}
