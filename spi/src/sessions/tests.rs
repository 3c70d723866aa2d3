use std::sync::Arc;
use std::sync::atomic::Ordering;

use record::{Direction, Kind};

use super::*;
use crate::sink::MemorySink;

fn user(id: &str) -> OwnedEntity {
    OwnedEntity::new(id, entity_type::USER)
}

fn table() -> (SessionTable, Arc<MemorySink>) {
    let sink = Arc::new(MemorySink::default());
    (
        SessionTable::new(Box::new(Arc::clone(&sink)), "node".into()),
        sink,
    )
}

fn kinds(sink: &MemorySink) -> Vec<Kind> {
    sink.events.lock().unwrap().iter().map(|e| e.kind).collect()
}

#[test]
fn a_two_way_chat_is_keyed_by_its_pair_and_rich_text_is_rendered() {
    let (t, sink) = table();
    t.start("s1".into(), None).unwrap();
    t.join("s1", user("Alice"), None).unwrap();
    t.join("s1", user("bob"), None).unwrap();
    t.data(
        "s1",
        &user("bob"),
        27191,
        0,
        b"\x00\x04data\x00\x08richtext\xEE",
    )
    .unwrap();
    t.text("s1", &user("Alice"), Some(&user("bob")), b"hi")
        .unwrap();
    t.text("s1", &user("bob"), None, b"<b>hello</b>").unwrap();
    t.end("s1").unwrap();
    assert_eq!(
        kinds(&sink),
        [Kind::SessionStart, Kind::Im, Kind::Im, Kind::SessionEnd]
    );
    let events = sink.events.lock().unwrap();
    assert_eq!(events[1].conversation, "sametime:alice|bob");
    assert_eq!(events[2].conversation, "sametime:alice|bob");
    assert_eq!(events[2].recipients, ["Alice"]);
    assert_eq!(
        (events[2].text.as_str(), events[2].raw.as_str()),
        ("hello", "<b>hello</b>")
    );
    assert_eq!(events[3].recipients, ["Alice", "bob"]);
    assert!(
        events[3]
            .detail
            .as_deref()
            .unwrap()
            .contains("\"bob\":true")
    );
}

#[test]
fn a_place_records_joins_leaves_and_chat_messages() {
    let (t, sink) = table();
    t.start("p".into(), Some("Acme".into())).unwrap();
    let place = OwnedEntity::new("PLACE", entity_type::SESSION);
    t.join("p", user("a"), Some(place.clone())).unwrap();
    t.join("p", user("b"), Some(place)).unwrap();
    t.text("p", &user("a"), None, b"all").unwrap();
    t.leave("p", &user("b")).unwrap();
    t.leave("p", &user("b")).unwrap();
    t.end("p").unwrap();
    assert_eq!(
        kinds(&sink),
        [
            Kind::SessionStart,
            Kind::ChatJoin,
            Kind::ChatJoin,
            Kind::ChatMessage,
            Kind::ChatLeave,
            Kind::SessionEnd
        ]
    );
    let events = sink.events.lock().unwrap();
    assert_eq!(events[3].conversation, "sametime:room:p");
    assert_eq!(events[3].room.as_deref(), Some("p"));
    assert_eq!(events[3].recipients, ["b"]);
}

#[test]
fn external_users_set_the_direction() {
    let (t, sink) = table();
    t.start("x".into(), None).unwrap();
    let ext = OwnedEntity::new("partner", entity_type::EXTERNAL_USER);
    t.text("x", &ext, Some(&user("me")), b"in").unwrap();
    t.text("x", &user("me"), Some(&ext), b"out").unwrap();
    let events = sink.events.lock().unwrap();
    assert_eq!(events[1].direction, Direction::Inbound);
    assert_eq!(events[1].local_user, "me");
    assert_eq!(events[2].direction, Direction::Outbound);
}

#[test]
fn unknown_and_duplicate_sessions_are_refused() {
    let (t, _sink) = table();
    t.start("s".into(), None).unwrap();
    assert!(matches!(
        t.start("s".into(), None),
        Err(SpiError::SessionExists(_))
    ));
    assert!(matches!(
        t.text("nope", &user("a"), None, b"x"),
        Err(SpiError::SessionMissing(_))
    ));
    t.end("s").unwrap();
    assert!(matches!(t.end("s"), Err(SpiError::SessionMissing(_))));
}

#[test]
fn a_message_in_an_unknown_session_is_refused_but_still_recorded() {
    let (t, sink) = table();
    assert!(matches!(
        t.text(
            "never-started",
            &user("alice"),
            Some(&user("bob")),
            b"said anyway"
        ),
        Err(SpiError::SessionMissing(_))
    ));
    let events = sink.events.lock().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, Kind::Im);
    assert_eq!(events[0].text, "said anyway");
    assert_eq!(events[0].conversation, "sametime:alice|bob");
    let detail: serde_json::Value =
        serde_json::from_str(events[0].detail.as_deref().unwrap()).unwrap();
    assert_eq!(detail["session_unknown"], true);
    assert_eq!(detail["session"], "never-started");
}

#[test]
fn a_start_that_cannot_be_recorded_does_not_open_the_session() {
    let (t, sink) = table();
    sink.fail.store(true, Ordering::SeqCst);
    assert!(t.start("s".into(), None).is_err());
    assert_eq!(t.open_count(), 0);
    sink.fail.store(false, Ordering::SeqCst);
    t.start("s".into(), None).unwrap();
}

#[test]
fn close_all_ends_every_open_session() {
    let (t, sink) = table();
    t.start("b".into(), None).unwrap();
    t.start("a".into(), None).unwrap();
    t.close_all().unwrap();
    assert_eq!(t.open_count(), 0);
    let events = sink.events.lock().unwrap();
    assert!(
        events[2]
            .detail
            .as_deref()
            .unwrap()
            .contains("\"session\":\"a\"")
    );
    assert!(
        events[3]
            .detail
            .as_deref()
            .unwrap()
            .contains("\"ended_by\":\"terminate\"")
    );
}

fn policy(text: &str) -> (tempfile::TempDir, crate::spi_policy::SpiPolicy) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.toml");
    std::fs::write(&file, text).unwrap();
    let policy = crate::spi_policy::SpiPolicy::from_file(&file).unwrap();
    (dir, policy)
}

#[test]
fn alerts_are_recorded_with_the_alert_and_no_log_leaves_only_a_text_less_record() {
    let (_dir, policy) = policy(
        "[policy]\n[[policy.profiles.default.rules]]\nname = \"watch\"\nkeywords = [\"merger\"]\n\
         action = \"alert\"\n[[policy.profiles.default.rules]]\nname = \"private\"\n\
         keywords = [\"doctor\"]\naction = \"no_log\"\n",
    );
    let (t, sink) = table();
    t.start("s".into(), None).unwrap();
    t.join("s", user("alice"), None).unwrap();
    t.join("s", user("bob"), None).unwrap();
    let p = Some(&policy);
    let alerted = t
        .text_with(
            "s",
            &user("alice"),
            Some(&user("bob")),
            b"the merger",
            p,
            true,
        )
        .unwrap();
    assert_eq!(alerted, EntryResult::allowed());
    let private = t
        .text_with(
            "s",
            &user("bob"),
            Some(&user("alice")),
            b"my doctor",
            p,
            true,
        )
        .unwrap();
    assert_eq!(private, EntryResult::allowed());
    let events = sink.events.lock().unwrap();
    assert_eq!(events[1].verdict, record::Verdict::Alerted("watch".into()));
    let detail: serde_json::Value =
        serde_json::from_str(events[1].detail.as_deref().unwrap()).unwrap();
    assert_eq!(detail["session"], "s");
    assert!(detail["alert"].as_str().unwrap().contains("merger"));
    let hidden = &events[2];
    assert_eq!(hidden.kind, Kind::PolicyAction);
    assert!(hidden.text.is_empty() && hidden.raw.is_empty() && hidden.recipients.is_empty());
    assert_eq!(hidden.conversation, "policy:bob");
    assert!(
        hidden
            .detail
            .as_deref()
            .unwrap()
            .contains("not logged: rule private")
    );
}

#[test]
fn with_a_directory_the_organisations_users_are_the_listed_ones_whatever_the_community() {
    let (dir, _) = policy("");
    std::fs::write(
        dir.path().join("people.csv"),
        "id,screen_names\nE1,alice\nE2,kim\n",
    )
    .unwrap();
    let file = dir.path().join("with-directory.toml");
    std::fs::write(
        &file,
        "[policy]\ndirectory = \"people.csv\"\ndefault_profile = \"staff\"\n\
         [policy.profiles.staff]\ndisclaimer = \"This chat is recorded.\"\n",
    )
    .unwrap();
    let policy = crate::spi_policy::SpiPolicy::from_file(&file).unwrap();
    let p = Some(&policy);
    let (t, sink) = table();
    // On this community but not in the directory: an outsider to the record.
    let contractor = user("contractor");
    // Of another community but listed: one of ours.
    let kim = OwnedEntity::new("kim", entity_type::EXTERNAL_USER);
    let eve = OwnedEntity::new("eve", entity_type::EXTERNAL_USER);
    for (id, from, to, text) in [
        ("s1", &contractor, &user("alice"), "hi"),
        ("s2", &user("alice"), &kim, "hi kim"),
        ("s3", &contractor, &eve, "hi eve"),
    ] {
        t.start(id.into(), None).unwrap();
        t.join_with(id, from.clone(), None, p, true).unwrap();
        t.join_with(id, to.clone(), None, p, true).unwrap();
        t.text_with(id, from, Some(to), text.as_bytes(), p, true)
            .unwrap();
    }
    let events = sink.events.lock().unwrap();
    let message = |text: &str| {
        events
            .iter()
            .find(|e| e.kind == Kind::Im && e.text == text)
            .unwrap_or_else(|| panic!("no record of {text}: {events:#?}"))
    };
    assert_eq!(message("hi").direction, Direction::Inbound);
    assert_eq!(message("hi").local_user, "alice");
    assert_eq!(message("hi kim").direction, Direction::Internal);
    // Two outsiders: the side on this community stands for the organisation.
    assert_eq!(message("hi eve").direction, Direction::Outbound);
    assert_eq!(message("hi eve").local_user, "contractor");
    // The contractor's messages crossed the organisation's edge: disclaimed, as the relay
    // would; alice to kim is internal and is not.
    let disclaimed: Vec<&str> = events
        .iter()
        .filter(|e| e.kind == Kind::PolicyAction && e.text.contains("This chat is recorded."))
        .map(|e| e.sender.as_str())
        .collect();
    assert!(disclaimed.contains(&"contractor"), "{events:#?}");
    assert!(!disclaimed.contains(&"alice"), "{events:#?}");
}

#[test]
fn without_a_policy_nothing_changes_and_no_messages_are_returned() {
    let (t, sink) = table();
    assert_eq!(
        t.policy_check(&user("a"), &user("b"), None, true).unwrap(),
        EntryResult::allowed()
    );
    t.start("s".into(), None).unwrap();
    let joined = t.join_with("s", user("a"), None, None, true).unwrap();
    assert_eq!(joined, EntryResult::allowed());
    let sent = t
        .text_with("s", &user("a"), None, b"x", None, true)
        .unwrap();
    assert_eq!(sent, EntryResult::allowed());
    assert_eq!(kinds(&sink), [Kind::SessionStart, Kind::Im]);
}
