//! The numbers the server gets, as docs/sametime.md and docs/protocol/sametime-spi.md say, with the library
//! loaded by a C host (`tests/host/line_host.c`) one call at a time:
//!
//! - an over-long id is an invalid argument (`ST_DDA_API_INVALID_PARAM`, 2), while a message
//!   too long is `ST_DDA_MSG_TOO_LONG`, numbered by `[codes] msg_too_long` (reference §5.3,
//!   §9);
//! - a failed `stDdaClInit` answers with the file's `[codes] db_error`, not the default 3;
//! - a second `stDdaClInit` without `stDdaClTerminate` reads the file again, and the open
//!   sessions go on.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod c_host_harness;
mod line_host_driver;

use std::path::Path;

use archive::Kind;
use imtegrity_stchatlog::Spool;
use line_host_driver::{Host, build_line_host};

/// `ST_DDA_API_INVALID_PARAM`.
const INVALID_PARAM: i32 = 2;
/// `ST_DDA_API_INTERNAL_ERROR`.
const INTERNAL_ERROR: i32 = 3;
/// `ST_DDA_ERROR` and `ST_DDA_FATAL`, through `appRetCode`.
const SEV_ERROR: i32 = 3;
const SEV_FATAL: i32 = 4;
/// The longest text message the library takes (`codes::MAX_TEXT_LEN`).
const MAX_TEXT_LEN: usize = 1024 * 1024;

/// Writes the library's file: `spool` and a `[codes]` table.
fn write_config(config: &Path, spool: &Path, codes: &str) {
    std::fs::write(
        config,
        format!(
            "spool = {:?}\nnode = \"st-test\"\n[codes]\n{codes}\n",
            spool.display().to_string()
        ),
    )
    .expect("write config");
}

#[test]
fn over_long_ids_are_invalid_params_and_long_messages_msg_too_long() {
    let work = tempfile::tempdir().unwrap();
    let host = build_line_host(work.path());
    let spool = work.path().join("spool");
    let config = work.path().join("imtegrity_stchatlog.toml");
    write_config(&config, &spool, "msg_too_long = 103");
    let mut h = Host::start(&host, &config);
    h.ok("init");
    h.ok("start s1");
    h.ok("join s1 alice");
    // A session id of 1100 bytes: past ST_DDA_MAX_STR_LEN (1024 with the NUL).
    let long_id = "i".repeat(1100);
    let answer = h.call(&format!("start {long_id}"));
    assert_eq!(
        (answer.rc, answer.sev),
        (INVALID_PARAM, SEV_ERROR),
        "{answer:?}"
    );
    assert_eq!(answer.msg, "sessionId is longer than 1023 bytes");
    let answer = h.call(&format!("longmsg s1 alice bob {}", MAX_TEXT_LEN + 1));
    assert_eq!((answer.rc, answer.sev), (103, SEV_ERROR), "{answer:?}");
    assert_eq!(
        answer.msg,
        format!("msg is longer than {MAX_TEXT_LEN} bytes")
    );
    // The longest message accepted is accepted.
    h.ok(&format!("longmsg s1 alice bob {MAX_TEXT_LEN}"));
    h.ok("end s1");
    h.finish();
    let ims: Vec<usize> = Spool::read_all(&spool)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == Kind::Im)
        .map(|e| e.text.len())
        .collect();
    assert_eq!(ims, [MAX_TEXT_LEN]);
}

#[test]
fn a_failed_init_answers_with_the_configured_db_error() {
    let work = tempfile::tempdir().unwrap();
    let host = build_line_host(work.path());
    // The spool's directory would be inside a regular file: sled cannot open it.
    let blocker = work.path().join("not-a-directory");
    std::fs::write(&blocker, b"x").unwrap();
    let config = work.path().join("imtegrity_stchatlog.toml");
    write_config(&config, &blocker.join("spool"), "db_error = 101");
    let mut h = Host::start(&host, &config);
    let answer = h.call("init");
    assert_eq!((answer.rc, answer.sev), (101, SEV_FATAL), "{answer:?}");
    assert!(
        answer.msg.contains("not-a-directory/spool"),
        "names the spool: {answer:?}"
    );
    // A file that cannot be read has no [codes] to go by: the default numbers.
    std::fs::write(&config, "mode = \"sideways\"\n").unwrap();
    let answer = h.call("init");
    assert_eq!(
        (answer.rc, answer.sev),
        (INTERNAL_ERROR, SEV_ERROR),
        "{answer:?}"
    );
    assert!(answer.msg.starts_with("configuration: "), "{answer:?}");
    // One line, in plain words, with where the mistake is: not TOML's multi-line snippet.
    assert!(
        answer
            .msg
            .contains("imtegrity_stchatlog.toml: line 1 column 8: "),
        "{answer:?}"
    );
    assert_eq!(answer.newlines, 0, "{answer:?}");
}

#[test]
fn a_repeated_init_reads_the_configuration_again() {
    let work = tempfile::tempdir().unwrap();
    let host = build_line_host(work.path());
    let spool = work.path().join("spool");
    let config = work.path().join("imtegrity_stchatlog.toml");
    write_config(&config, &spool, "session_does_not_exist = 102");
    let mut h = Host::start(&host, &config);
    h.ok("init");
    h.ok("start s1");
    h.ok("join s1 alice");
    h.ok("msg s1 alice bob before");
    assert_eq!(h.call("end nosuch").rc, 102);

    write_config(&config, &spool, "session_does_not_exist = 105");
    let answer = h.call("init");
    assert_eq!((answer.rc, answer.sev), (0, 0), "{answer:?}");
    assert_eq!(h.call("end nosuch").rc, 105, "the new [codes] apply");
    // The session opened before goes on, into the same spool.
    h.ok("msg s1 alice bob after");

    // A file that cannot be used fails that Init and leaves the running configuration.
    std::fs::write(&config, "mode = \"sideways\"\n").unwrap();
    let answer = h.call("init");
    assert_eq!(answer.rc, INTERNAL_ERROR, "{answer:?}");
    assert_eq!(h.call("end nosuch").rc, 105, "the previous [codes] stay");
    h.ok("msg s1 alice bob still");
    h.ok("end s1");
    h.finish();

    let records: Vec<(Kind, String)> = Spool::read_all(&spool)
        .unwrap()
        .into_iter()
        .map(|e| (e.kind, e.text))
        .collect();
    let ims: Vec<&str> = records
        .iter()
        .filter(|(kind, _)| *kind == Kind::Im)
        .map(|(_, text)| text.as_str())
        .collect();
    assert_eq!(ims, ["before", "after", "still"]);
    let starts = records
        .iter()
        .filter(|(kind, _)| *kind == Kind::SessionStart)
        .count();
    let ends = records
        .iter()
        .filter(|(kind, _)| *kind == Kind::SessionEnd)
        .count();
    assert_eq!(
        (starts, ends),
        (1, 1),
        "one session, not ended by the re-read"
    );
}

#[test]
fn a_repeated_init_with_another_spool_moves_the_open_sessions_there() {
    let work = tempfile::tempdir().unwrap();
    let host = build_line_host(work.path());
    let (first, second) = (work.path().join("spool-1"), work.path().join("spool-2"));
    let config = work.path().join("imtegrity_stchatlog.toml");
    write_config(&config, &first, "");
    let mut h = Host::start(&host, &config);
    h.ok("init");
    h.ok("start s1");
    h.ok("join s1 alice");
    h.ok("msg s1 alice bob into the first spool");
    write_config(&config, &second, "");
    h.ok("init");
    h.ok("msg s1 alice bob into the second spool");
    h.ok("end s1");
    h.finish();
    let texts = |spool: &Path| -> Vec<(Kind, String)> {
        Spool::read_all(spool)
            .unwrap()
            .into_iter()
            .filter(|e| matches!(e.kind, Kind::Im | Kind::SessionStart | Kind::SessionEnd))
            .map(|e| (e.kind, e.text))
            .collect()
    };
    let first = texts(&first);
    let second = texts(&second);
    assert_eq!(
        first.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
        [Kind::SessionStart, Kind::Im],
        "{first:?}"
    );
    assert_eq!(first[1].1, "into the first spool");
    assert_eq!(
        second.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
        [Kind::Im, Kind::SessionEnd],
        "{second:?}"
    );
    assert_eq!(second[0].1, "into the second spool");
}
