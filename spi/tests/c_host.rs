//! The library as the Sametime server sees it: `tests/host/host.c`, built with `cc`, loads
//! `libimtegrity_stchatlog.so` with `dlopen` and plays the server (see its header comment);
//! afterwards the spool must hold exactly the records those calls should have produced.
//! The same run is repeated under valgrind, which must report no error and no definite leak.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fake_gateway;

mod c_host_harness;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use c_host_harness::{
    HOST_RECORDS, VALGRIND_CALL_TIMEOUT, VALGRIND_CHECKED, build_host, have_valgrind, library,
};

use archive::{Event, Kind, Protocol};
use fake_gateway::FakeGateway;
use imtegrity_stchatlog::Spool;
use serde_json::Value;

const TOKEN: &str = "c-host-token-1b8e6d4f2a0c9e7b5d3f";

/// Runs `host` (optionally under `wrapper`) against the library with its own spool and no
/// gateway; returns the spool's records.
fn run_host(host: &Path, spool: &Path, wrapper: &[&str]) -> Vec<Event> {
    run_host_with(host, spool, wrapper, None)
}

/// As [`run_host`], shipping to `gateway` (`host:port`, with [`TOKEN`]) if given.
fn run_host_with(host: &Path, spool: &Path, wrapper: &[&str], gateway: Option<&str>) -> Vec<Event> {
    let mut command = match wrapper.split_first() {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(host);
            c
        }
        None => Command::new(host),
    };
    command
        .arg(library())
        .env("IMTEGRITY_SPI_SPOOL", spool)
        .env_remove("IMTEGRITY_SPI_GATEWAY")
        .env_remove("IMTEGRITY_SPI_TOKEN_FILE")
        .env_remove("IMTEGRITY_SPI_TOKEN");
    if !wrapper.is_empty() {
        let config = spool.with_extension("toml");
        std::fs::write(&config, VALGRIND_CALL_TIMEOUT).unwrap();
        command.env("IMTEGRITY_SPI_CONFIG", config);
    }
    if let Some(gateway) = gateway {
        command
            .env("IMTEGRITY_SPI_GATEWAY", gateway)
            .env("IMTEGRITY_SPI_TOKEN", TOKEN);
    }
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "host {wrapper:?} exited {:?}:\n{stderr}",
        output.status
    );
    Spool::read_all(spool).unwrap()
}

fn detail(event: &Event) -> Value {
    serde_json::from_str(event.detail.as_deref().unwrap()).unwrap()
}

/// The records, grouped by session id, each group in spool order.
fn by_session(events: &[Event]) -> BTreeMap<String, Vec<&Event>> {
    let mut sessions: BTreeMap<String, Vec<&Event>> = BTreeMap::new();
    for e in events {
        assert_eq!(e.protocol, Protocol::Sametime);
        let id = detail(e)["session"].as_str().unwrap().to_owned();
        sessions.entry(id).or_default().push(e);
    }
    sessions
}

fn kinds(events: &[&Event]) -> Vec<Kind> {
    events.iter().map(|e| e.kind).collect()
}

fn check_spool(events: &[Event]) {
    use Kind::*;
    let sessions = by_session(events);
    let mut expected: BTreeMap<String, Vec<Kind>> = BTreeMap::new();
    let chat = vec![SessionStart, Im, SessionEnd];
    expected.insert("2way-1".into(), vec![SessionStart, Im, Im, Im, SessionEnd]);
    expected.insert("2way-dup".into(), vec![SessionStart, SessionEnd]);
    // Refused (no such session) but recorded: the server said it was sent. No receiver
    // and no session to say otherwise, so a message to everyone, as in a place.
    expected.insert("no-such-session".into(), vec![ChatMessage]);
    expected.insert(
        "place-1".into(),
        vec![
            SessionStart,
            ChatJoin,
            ChatJoin,
            ChatJoin,
            ChatMessage,
            ChatMessage,
            ChatLeave,
            SessionEnd,
        ],
    );
    for id in ["ANNOUNCE_42", "big", "open-at-term", "cycle-1", "cycle-2"] {
        expected.insert(id.into(), chat.clone());
    }
    for t in 0..4 {
        for j in 0..10 {
            expected.insert(format!("t{t}-{j}"), vec![SessionStart, Im, Im, SessionEnd]);
        }
    }
    let got: BTreeMap<String, Vec<Kind>> = sessions
        .iter()
        .map(|(id, evs)| (id.clone(), kinds(evs)))
        .collect();
    assert_eq!(got, expected);
    assert_eq!(events.len(), HOST_RECORDS);

    let two_way = &sessions["2way-1"];
    let (hello, hi, latin1) = (two_way[1], two_way[2], two_way[3]);
    assert_eq!(
        (hello.sender.as_str(), hello.text.as_str()),
        ("alice", "Hello Bob")
    );
    assert_eq!(hello.recipients, ["bob"]);
    assert_eq!(hello.conversation, "sametime:alice|bob");
    assert_eq!(hi.conversation, "sametime:alice|bob");
    assert_eq!(hi.text, "Hi Alice");
    assert_eq!(hi.raw, "<span style=\"color:red\">Hi <b>Alice</b></span>");
    assert_eq!(latin1.raw, "caf\u{fffd}\u{0}!");
    assert_eq!(detail(latin1)["raw_hex"], "636166e90021");
    let end = detail(two_way[4]);
    assert_eq!(end["session_kind"], "two_way");
    assert_eq!(end["data_messages"]["typing"], 1);
    assert_eq!(end["data_messages"]["images"], 1);
    assert_eq!(end["data_messages"]["image_bytes"], 8);
    assert_eq!(end["data_messages"]["rich_text"]["alice"], true);
    assert_eq!(two_way[4].recipients, ["alice", "bob"]);

    let place = &sessions["place-1"];
    assert_eq!(detail(place[0])["organization"], "Acme");
    assert_eq!(place[4].conversation, "sametime:room:place-1");
    assert_eq!(place[4].room.as_deref(), Some("place-1"));
    assert_eq!(place[4].recipients, ["bob", "carol"]);
    assert_eq!(place[5].recipients, ["carol"]);
    assert_eq!(place[6].sender, "carol");

    let announce = &sessions["ANNOUNCE_42"];
    assert_eq!(
        announce[1].conversation,
        "sametime:announcement:announce_42"
    );
    assert_eq!(announce[1].recipients, ["alice", "bob"]);
    assert_eq!(announce[1].text, "Fire drill at 3");

    assert_eq!(sessions["big"][1].text.len(), 200 * 1024);
    assert_eq!(detail(sessions["open-at-term"][2])["ended_by"], "terminate");
    assert_eq!(sessions["cycle-2"][1].text, "cycle 2");
    for t in 0..4 {
        for j in 0..10 {
            let s = &sessions[&format!("t{t}-{j}")];
            assert_eq!(
                (s[1].text.as_str(), s[2].text.as_str()),
                ("first", "second")
            );
            assert_eq!(s[2].sender, format!("user{t}b"));
        }
    }
}

#[test]
fn a_c_host_drives_every_entry_point_and_the_spool_holds_exactly_its_records() {
    let dir = tempfile::tempdir().unwrap();
    let host = build_host(dir.path());
    let events = run_host(&host, &dir.path().join("spool"), &[]);
    check_spool(&events);
}

/// The shipper thread is started at each Init and joined at each Terminate across the host's
/// load/unload cycles: valgrind still finds nothing, and every record is either at the
/// gateway or still spooled, none twice.
#[test]
fn under_valgrind_with_a_gateway_the_shipper_is_clean_and_loses_nothing() {
    if !have_valgrind("c_host") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let host = build_host(dir.path());
    let gateway = FakeGateway::start("127.0.0.1:0".parse().unwrap(), TOKEN, &[]);
    let spooled = run_host_with(
        &host,
        &dir.path().join("spool"),
        &VALGRIND_CHECKED,
        Some(&gateway.addr.to_string()),
    );
    let st = gateway.state.lock().unwrap();
    assert_eq!(st.duplicates, 0);
    assert!(!st.stored.is_empty(), "the shipper shipped nothing");
    let mut all: Vec<Event> = st.stored.values().cloned().collect();
    all.extend(spooled);
    check_spool(&all);
}

#[test]
fn under_valgrind_the_c_host_finds_no_errors_and_no_definite_leaks() {
    if !have_valgrind("c_host") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let host = build_host(dir.path());
    let events = run_host(&host, &dir.path().join("spool"), &VALGRIND_CHECKED);
    check_spool(&events);
}
