//! Policy through the SPI, as the Sametime server sees it: `tests/host/host.c policy` runs
//! against a configuration (`IMTEGRITY_SPI_CONFIG`) whose `[policy] file` declines a pair,
//! disclaims an outsider chat, blocks and masks messages; the host checks every server
//! message and cleans it once; afterwards the spool must hold exactly the records with their
//! verdicts. Repeated under valgrind: no error, no definite leak (one array is left for
//! `stDdaClTerminate` to free). A broken policy file makes Init fail, naming file and key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod c_host_harness;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use archive::{Direction, Event, Kind, Verdict};
use c_host_harness::{VALGRIND_CALL_TIMEOUT, VALGRIND_CHECKED, build_host, have_valgrind, library};
use imtegrity_stchatlog::Spool;
use serde_json::Value;

const POLICY: &str = r#"
# The gateway's own file works: its other sections are accepted and ignored here.
[archive]
mode = "strict"

[policy]
directory = "people.csv"
unknown_screen_names = "block"
default_profile = "staff"

[policy.profiles.staff]
disclaimer = "This chat is recorded by IMtegrity."
notice = "[IMtegrity] Not delivered: {reason}"

[[policy.profiles.staff.rules]]
name = "no-rivals"
remote = ["rival*"]
action = "block"
reason = "rivals are off limits"

[[policy.profiles.staff.rules]]
name = "secret"
keywords = ["secret"]
action = "block"

[[policy.profiles.staff.rules]]
name = "cards"
patterns = ['\d{4}-\d{4}']
action = "mask"
"#;

/// Writes the module's configuration, the policy and its directory into `dir`.
fn configure(dir: &Path, policy: &str) {
    std::fs::write(
        dir.join("people.csv"),
        "id,screen_names\nalice,alice\nbob,bob\ncarol,carol\n",
    )
    .unwrap();
    std::fs::write(dir.join("policy.toml"), policy).unwrap();
    std::fs::write(
        dir.join("imtegrity_stchatlog.toml"),
        "[policy]\nfile = \"policy.toml\"\n",
    )
    .unwrap();
}

/// Runs the host in `mode` (optionally under `wrapper`); returns its stdout and the spool.
fn run(dir: &Path, mode: &[&str], wrapper: &[&str]) -> (String, Vec<Event>) {
    let host = build_host(dir);
    let mut command = match wrapper.split_first() {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(&host);
            c
        }
        None => Command::new(&host),
    };
    let spool = dir.join("spool");
    let output = command
        .arg(library())
        .args(mode)
        .env("IMTEGRITY_SPI_CONFIG", dir.join("imtegrity_stchatlog.toml"))
        .env("IMTEGRITY_SPI_SPOOL", &spool)
        .env_remove("IMTEGRITY_SPI_GATEWAY")
        .env_remove("IMTEGRITY_SPI_TOKEN_FILE")
        .env_remove("IMTEGRITY_SPI_TOKEN")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "host {mode:?} {wrapper:?} exited {:?}:\n{stderr}",
        output.status
    );
    let events = if spool.exists() {
        Spool::read_all(&spool).unwrap()
    } else {
        Vec::new()
    };
    (String::from_utf8_lossy(&output.stdout).into_owned(), events)
}

fn detail(event: &Event) -> Value {
    serde_json::from_str(event.detail.as_deref().unwrap()).unwrap()
}

/// The records by session id ("" for policy checks, which come before any session).
fn by_session(events: &[Event]) -> BTreeMap<String, Vec<&Event>> {
    let mut sessions: BTreeMap<String, Vec<&Event>> = BTreeMap::new();
    for e in events {
        let id = detail(e)["session"].as_str().unwrap_or("").to_owned();
        sessions.entry(id).or_default().push(e);
    }
    sessions
}

fn check_spool(events: &[Event]) {
    use Kind::*;
    let sessions = by_session(events);
    let kinds = |id: &str| sessions[id].iter().map(|e| e.kind).collect::<Vec<_>>();

    let declined = &sessions[""];
    assert_eq!(declined.len(), 8, "{declined:#?}");
    for e in declined {
        assert_eq!(e.kind, PolicyAction);
        assert_eq!(detail(e)["policy"], "chat declined");
    }
    let rival = declined[0];
    assert_eq!(
        (rival.sender.as_str(), rival.recipients.as_slice()),
        ("alice", &["rival.bob@other".to_owned()][..])
    );
    assert_eq!(rival.direction, Direction::Outbound);
    assert_eq!(rival.conversation, "sametime:alice|rival.bob@other");
    assert_eq!(detail(rival)["rule"], "no-rivals");
    assert_eq!(
        rival.text,
        "[IMtegrity] Not delivered: rivals are off limits"
    );
    assert_eq!(detail(declined[1])["rule"], "unknown_screen_names");
    // Inbound from a rival: the local user is the insider.
    assert_eq!(declined[2].local_user, "bob");

    assert_eq!(
        kinds("pol-2way"),
        [SessionStart, PolicyAction, Im, Im, Im, Im, Im, SessionEnd]
    );
    let two_way = &sessions["pol-2way"];
    let disclaimer = two_way[1];
    assert_eq!(disclaimer.text, "This chat is recorded by IMtegrity.");
    assert_eq!(
        detail(disclaimer)["policy"],
        "disclaimer sent to both parties"
    );
    assert_eq!(disclaimer.conversation, "sametime:alice|partner@ext");
    let (hello, again, secret, card, secret_again) =
        (two_way[2], two_way[3], two_way[4], two_way[5], two_way[6]);
    assert_eq!(
        (hello.text.as_str(), &hello.verdict),
        ("Hello partner", &Verdict::Allowed)
    );
    assert_eq!(
        (again.direction, &again.verdict),
        (Direction::Inbound, &Verdict::Allowed)
    );
    assert_eq!(secret.verdict, Verdict::Blocked("secret".into()));
    assert_eq!(secret.text, "the secret plan");
    assert_eq!(card.verdict, Verdict::Masked("cards".into()));
    assert_eq!(
        (card.text.as_str(), card.raw.as_str()),
        ("card *********", "card 1234-5678")
    );
    assert_eq!(secret_again.verdict, Verdict::Blocked("secret".into()));

    assert_eq!(
        kinds("pol-place"),
        [
            SessionStart,
            ChatJoin,
            ChatJoin,
            PolicyAction,
            PolicyAction,
            SessionEnd
        ]
    );
    let place = &sessions["pol-place"];
    assert_eq!(detail(place[3])["policy"], "disclaimer sent to the joiner");
    assert_eq!(place[3].sender, "partner@ext");
    assert_eq!(place[3].room.as_deref(), Some("pol-place"));
    assert_eq!(detail(place[4])["policy"], "join declined");
    assert_eq!(place[4].sender, "mallory");
    // The declined joiner never joined.
    assert_eq!(place[5].recipients, ["alice", "partner@ext"]);

    // After the reload: no rules, nobody refused.
    assert_eq!(kinds("pol-reloaded"), [SessionStart, Im, SessionEnd]);
    assert_eq!(sessions["pol-reloaded"][1].verdict, Verdict::Allowed);
    assert_eq!(events.len(), 8 + 8 + 6 + 3);
}

#[test]
fn a_c_host_sees_declines_disclaimers_blocks_and_masks_as_server_messages() {
    let dir = tempfile::tempdir().unwrap();
    configure(dir.path(), POLICY);
    let policy_file = dir.path().join("policy.toml");
    let (_, events) = run(dir.path(), &["policy", policy_file.to_str().unwrap()], &[]);
    check_spool(&events);
}

#[test]
fn under_valgrind_policy_server_messages_are_clean_and_nothing_leaks() {
    if !have_valgrind("policy_host") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    configure(dir.path(), POLICY);
    let config = dir.path().join("imtegrity_stchatlog.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{VALGRIND_CALL_TIMEOUT}{text}")).unwrap();
    let policy_file = dir.path().join("policy.toml");
    let (_, events) = run(
        dir.path(),
        &["policy", policy_file.to_str().unwrap()],
        &VALGRIND_CHECKED,
    );
    check_spool(&events);
}

#[test]
fn a_broken_policy_file_fails_init_naming_the_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    configure(
        dir.path(),
        "[policy]\n[policy.profiles.p]\n[[policy.profiles.p.rules]]\nname = \"r\"\nactoin = \"block\"\n",
    );
    let (stdout, events) = run(dir.path(), &["broken-policy"], &[]);
    assert!(stdout.contains("policy.toml:5:1"), "{stdout}");
    assert!(events.is_empty());
}
