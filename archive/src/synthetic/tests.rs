use std::collections::{BTreeMap, BTreeSet};

use super::*;

const END: i64 = 1_700_000_000_000_000_000;

fn events(seed: u64, users: u32, n: u64) -> Vec<Event> {
    let mut s = Synthetic::new(seed, users, 3, END);
    (0..n).map(|i| s.event(i, n)).collect()
}

#[test]
fn the_same_seed_makes_the_same_traffic_and_another_seed_other_traffic() {
    assert_eq!(events(5, 12, 500), events(5, 12, 500));
    assert_ne!(events(5, 12, 500), events(6, 12, 500));
}

#[test]
fn rooms_are_joined_before_anyone_speaks_and_every_member_present_receives() {
    for seed in [1, 2, 3] {
        // room -> members by the records so far
        let mut rooms: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for e in events(seed, 12, 20_000) {
            let Some(room) = &e.room else { continue };
            let members = rooms.entry(room.clone()).or_default();
            let mut others: Vec<String> = members
                .iter()
                .filter(|m| **m != e.sender)
                .cloned()
                .collect();
            let mut got = e.recipients.clone();
            got.sort();
            others.sort();
            match e.kind {
                Kind::ChatJoin => {
                    assert!(!members.contains(&e.sender), "joined twice: {e:?}");
                    assert_eq!(got, others, "a join is seen by who was there: {e:?}");
                    members.insert(e.sender.clone());
                }
                Kind::ChatMessage => {
                    assert!(members.contains(&e.sender), "spoke unjoined: {e:?}");
                    assert!(!e.recipients.is_empty(), "{e:?}");
                    assert_eq!(got, others, "every member present receives: {e:?}");
                }
                Kind::ChatLeave => {
                    assert!(members.remove(&e.sender), "left unjoined: {e:?}");
                    assert_eq!(got, others, "{e:?}");
                    // Once none of ours is left the gateway sees the room no more.
                    if !members.iter().any(|m| !m.starts_with("Buddy")) {
                        members.clear();
                    }
                }
                other => panic!("a room record of kind {other}: {e:?}"),
            }
            assert!(!e.local_user.starts_with("Buddy"), "{e:?}");
            let outsider_present = e.recipients.iter().any(|r| r.starts_with("Buddy"));
            let expected = if e.sender.starts_with("Buddy") {
                Direction::Inbound
            } else if outsider_present {
                Direction::Outbound
            } else {
                Direction::Internal
            };
            assert_eq!(e.direction, expected, "{e:?}");
        }
    }
}

#[test]
fn aim_users_sign_on_before_they_say_anything_and_leave_rooms_before_signing_off() {
    let mut online = BTreeSet::new();
    let mut in_rooms: BTreeMap<String, usize> = BTreeMap::new();
    for e in events(9, 12, 20_000) {
        if e.protocol != Protocol::Aim {
            continue;
        }
        match e.kind {
            Kind::SessionStart => assert!(online.insert(e.local_user.clone()), "{e:?}"),
            Kind::SessionEnd => {
                assert_eq!(in_rooms.get(&e.local_user).copied().unwrap_or(0), 0);
                assert!(online.remove(&e.local_user), "{e:?}");
            }
            _ => assert!(online.contains(&e.local_user), "before sign-on: {e:?}"),
        }
        if !e.sender.starts_with("Buddy") {
            match e.kind {
                Kind::ChatJoin => *in_rooms.entry(e.sender.clone()).or_default() += 1,
                Kind::ChatLeave => *in_rooms.entry(e.sender.clone()).or_default() -= 1,
                _ => {}
            }
        }
    }
}

#[test]
fn sametime_chats_open_and_close_as_sessions() {
    let mut open = BTreeSet::new();
    let mut messages = 0;
    for e in events(4, 12, 20_000) {
        if e.protocol != Protocol::Sametime {
            continue;
        }
        let session = e.detail.clone().unwrap_or_default();
        let id = session.split('"').nth(3).unwrap_or_default().to_owned();
        match e.kind {
            Kind::SessionStart => assert!(open.insert(id), "{e:?}"),
            Kind::SessionEnd => assert!(open.remove(&id), "{e:?}"),
            Kind::Im => {
                assert!(open.contains(&id), "a message outside its session: {e:?}");
                messages += 1;
            }
            other => panic!("Sametime {other}: {e:?}"),
        }
    }
    assert!(messages > 1000, "{messages}");
}

#[test]
fn the_mix_is_mostly_ims_with_rooms_files_and_policy_actions() {
    let all = events(11, 20, 50_000);
    let share = |f: &dyn Fn(&Event) -> bool| {
        all.iter().filter(|e| f(e)).count() as f64 * 100.0 / all.len() as f64
    };
    let ims = share(&|e| e.kind == Kind::Im);
    let rooms = share(&|e| e.room.is_some());
    let files = share(&|e| e.kind == Kind::FileOffer);
    let blocked = share(&|e| matches!(e.verdict, Verdict::Blocked(_)));
    let disclaimers = share(&|e| e.kind == Kind::PolicyAction);
    let sessions = share(&|e| matches!(e.kind, Kind::SessionStart | Kind::SessionEnd));
    let sametime = share(&|e| e.protocol == Protocol::Sametime);
    assert!((45.0..75.0).contains(&ims), "IMs {ims}%");
    assert!((15.0..35.0).contains(&rooms), "rooms {rooms}%");
    assert!((1.5..6.0).contains(&files), "file offers {files}%");
    assert!((1.0..5.0).contains(&blocked), "blocked {blocked}%");
    assert!(
        (0.5..4.0).contains(&disclaimers),
        "disclaimers {disclaimers}%"
    );
    assert!((2.0..15.0).contains(&sessions), "sessions {sessions}%");
    assert!((15.0..40.0).contains(&sametime), "Sametime {sametime}%");
}

#[test]
fn file_offers_carry_their_text_and_masked_ims_hide_the_word() {
    let all = events(3, 12, 20_000);
    let offer = all.iter().find(|e| e.kind == Kind::FileOffer).unwrap();
    assert!(offer.text.starts_with("here is report-"), "{offer:?}");
    assert!(offer.detail.as_deref().unwrap().starts_with("file report-"));
    let masked = all
        .iter()
        .find(|e| matches!(e.verdict, Verdict::Masked(_)))
        .unwrap();
    assert!(masked.text.ends_with("****") && masked.raw.contains(MASKED_WORD));
}

#[test]
fn two_users_still_make_traffic_without_sametime() {
    let all = events(1, 2, 2_000);
    assert!(all.iter().all(|e| e.protocol == Protocol::Aim));
    assert!(all.iter().any(|e| e.kind == Kind::ChatMessage));
}
