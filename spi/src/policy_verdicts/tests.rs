use policy::Directory;
use settings::{Action, Config};

use super::*;
use crate::abi_types::entity_type;

const POLICY: &str = r#"
[policy]
directory = "people.csv"
unknown_screen_names = "block"
default_profile = "staff"
[policy.profiles.staff]
disclaimer = "This chat is recorded."
notice = "Not sent: {reason} ({rule})"
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
[[policy.profiles.staff.rules]]
name = "watch"
keywords = ["merger"]
action = "alert"
[[policy.profiles.staff.rules]]
name = "private"
keywords = ["doctor"]
action = "no_log"
"#;

fn engine() -> PolicyEngine {
    let config = Config::load("policy.toml", POLICY, &[]).unwrap();
    let directory = Directory::parse_csv("id,screen_names\nalice,alice\nbob,bob\n").unwrap();
    PolicyEngine::compile(&config.policy, directory).unwrap()
}

fn user(id: &str) -> OwnedEntity {
    OwnedEntity::new(id, entity_type::USER)
}

fn outsider(id: &str) -> OwnedEntity {
    OwnedEntity::new(id, entity_type::EXTERNAL_USER)
}

#[test]
fn outsiders_are_remote_and_the_insider_is_local() {
    let (alice, bob, ext) = (user("alice"), user("bob"), outsider("ext@partner"));
    let out = parties(&alice, &[&ext], None);
    assert_eq!((out.local, out.remote.as_str()), (&alice, "ext@partner"));
    assert_eq!(out.direction, Direction::Outbound);
    let inbound = parties(&ext, &[&alice], None);
    assert_eq!(
        (inbound.local, inbound.remote.as_str()),
        (&alice, "ext@partner")
    );
    assert_eq!(inbound.direction, Direction::Inbound);
    let internal = parties(&bob, &[&alice], None);
    assert_eq!(
        (internal.local, internal.direction),
        (&bob, Direction::Internal)
    );
    let room = parties(&alice, &[&bob, &ext], Some("place-7"));
    assert_eq!(
        (room.remote.as_str(), room.direction),
        ("place-7", Direction::Outbound)
    );
}

#[test]
fn a_pair_is_refused_for_an_unregistered_insider_or_a_blocked_remote_never_for_an_outsider() {
    let engine = engine();
    let (alice, ext) = (user("alice"), outsider("ext@partner"));
    assert_eq!(
        refusal(&engine, MessageKind::Im, &alice, &[&ext], None),
        None
    );
    assert_eq!(
        refusal(&engine, MessageKind::Im, &ext, &[&alice], None),
        None
    );

    let mallory = user("mallory");
    let refused = refusal(&engine, MessageKind::Im, &alice, &[&mallory], None).unwrap();
    assert_eq!(refused.rule, "unknown_screen_names");
    assert_eq!(
        refused.notice,
        "Not sent: mallory is not registered in your organisation's IM directory (unknown_screen_names)"
    );
    assert!(
        refused.why.contains("not in the directory"),
        "{}",
        refused.why
    );

    let rival = outsider("rival.bob");
    let refused = refusal(&engine, MessageKind::Im, &alice, &[&rival], None).unwrap();
    assert_eq!(refused.rule, "no-rivals");
    assert_eq!(
        refused.notice,
        "Not sent: rivals are off limits (no-rivals)"
    );
    // Inbound from them too: the rule names the remote party, whichever side starts.
    assert!(refusal(&engine, MessageKind::Im, &rival, &[&alice], None).is_some());
    // A keyword rule needs words: it never refuses a chat before anything is said.
    assert_eq!(
        refusal(&engine, MessageKind::Chat, &alice, &[], Some("p")),
        None
    );
}

fn plan(
    text: &str,
    sender: &OwnedEntity,
    receiver: &OwnedEntity,
    replies: bool,
    due: bool,
) -> MessagePlan {
    let recipients = [receiver];
    let input = MessageInput {
        kind: MessageKind::Im,
        sender,
        recipients: &recipients,
        room: None,
        text,
        raw: text.as_bytes(),
        rich: false,
        two_way: true,
        replies,
    };
    plan_message(&engine(), &input, |_, _| due, |_, _| true)
}

fn texts(outcome: &EntryResult) -> Vec<(Destination, String)> {
    outcome
        .messages
        .iter()
        .map(|m| {
            (
                m.destination,
                String::from_utf8_lossy(m.text()).into_owned(),
            )
        })
        .collect()
}

#[test]
fn block_sends_only_a_notice_to_the_sender() {
    let p = plan("the secret plan", &user("alice"), &user("bob"), true, true);
    assert_eq!(p.outcome.reply, Reply::MsgChanged);
    assert_eq!(p.delivery, Delivery::Dropped);
    assert_eq!(
        texts(&p.outcome),
        [(
            Destination::Sender,
            "Not sent: it was blocked by your organisation's IM policy (secret)".into()
        )]
    );
    // Without server messages it is still not delivered.
    let p = plan("the secret plan", &user("alice"), &user("bob"), false, true);
    assert_eq!(
        (p.outcome.reply, p.outcome.messages.len()),
        (Reply::MsgChanged, 0)
    );
    // A notice already sent in this interval: dropped, no second notice.
    let input = MessageInput {
        kind: MessageKind::Im,
        sender: &user("alice"),
        recipients: &[&user("bob")],
        room: None,
        text: "secret",
        raw: b"secret",
        rich: false,
        two_way: true,
        replies: true,
    };
    let p = plan_message(&engine(), &input, |_, _| true, |_, _| false);
    assert_eq!(
        (p.outcome.reply, p.outcome.messages.len()),
        (Reply::MsgChanged, 0)
    );
}

#[test]
fn mask_replaces_the_text_for_the_receiver_or_drops_it_when_it_cannot() {
    let p = plan(
        "card 1234-5678 ok",
        &user("alice"),
        &user("bob"),
        true,
        false,
    );
    assert_eq!(p.outcome.reply, Reply::MsgChanged);
    assert_eq!(
        texts(&p.outcome),
        [(Destination::Receiver, "card ********* ok".into())]
    );
    assert_eq!(p.delivery, Delivery::Replaced("card ********* ok".into()));
    let p = plan(
        "card 1234-5678 ok",
        &user("alice"),
        &user("bob"),
        false,
        false,
    );
    assert_eq!(
        (p.delivery, p.outcome.messages.len()),
        (Delivery::Dropped, 0)
    );
    assert_eq!(p.outcome.reply, Reply::MsgChanged);
}

#[test]
fn rich_text_is_masked_in_its_html() {
    let html = "<b>1234-5678</b>";
    let input = MessageInput {
        kind: MessageKind::Im,
        sender: &user("alice"),
        recipients: &[&user("bob")],
        room: None,
        text: "1234-5678",
        raw: html.as_bytes(),
        rich: true,
        two_way: true,
        replies: true,
    };
    let p = plan_message(&engine(), &input, |_, _| false, |_, _| true);
    assert_eq!(
        texts(&p.outcome),
        [(Destination::Receiver, "<b>*********</b>".into())]
    );
}

#[test]
fn alert_and_no_log_are_delivered() {
    let p = plan("the merger", &user("alice"), &user("bob"), true, false);
    assert_eq!(
        (p.outcome.reply, p.delivery),
        (Reply::Allowed, Delivery::AsIs)
    );
    assert_eq!(p.decision.action, Action::Alert);
    let p = plan("my doctor", &user("alice"), &user("bob"), true, false);
    assert_eq!(
        (p.outcome.reply, p.decision.record),
        (Reply::Allowed, false)
    );
}

#[test]
fn a_disclaimer_goes_to_both_parties_before_the_first_message_with_an_outsider() {
    let ext = outsider("ext@partner");
    let p = plan("hello", &user("alice"), &ext, true, true);
    assert_eq!(p.outcome.reply, Reply::MsgChanged);
    assert_eq!(
        texts(&p.outcome),
        [
            (Destination::Sender, "This chat is recorded.".into()),
            (Destination::Receiver, "This chat is recorded.".into()),
            (Destination::Receiver, "hello".into()),
        ]
    );
    assert_eq!(p.disclaimer.as_deref(), Some("This chat is recorded."));
    // Not due: as is.
    let p = plan("hello", &user("alice"), &ext, true, false);
    assert_eq!((p.outcome.reply, p.disclaimer), (Reply::Allowed, None));
    // Internal: never; without server messages: never (the clock is not consulted).
    let p = plan("hello", &user("alice"), &user("bob"), true, true);
    assert_eq!(p.disclaimer, None);
    let input = MessageInput {
        kind: MessageKind::Im,
        sender: &ext,
        recipients: &[&user("alice")],
        room: None,
        text: "hi",
        raw: b"hi",
        rich: false,
        two_way: true,
        replies: false,
    };
    let p = plan_message(
        &engine(),
        &input,
        |_, _| panic!("clock consulted"),
        |_, _| true,
    );
    assert_eq!(p.outcome, EntryResult::allowed());
    // Masked and disclaimed: the masked text follows the disclaimers.
    let p = plan("1234-5678", &ext, &user("alice"), true, true);
    assert_eq!(
        texts(&p.outcome)[2],
        (Destination::Receiver, "*********".into())
    );
}

#[test]
fn a_place_join_is_refused_or_disclaimed_to_the_joiner() {
    let engine = engine();
    let (alice, ext) = (user("alice"), outsider("ext@partner"));
    let refused = plan_place_join(&engine, &user("mallory"), &[&alice], "p1", true, |_, _| {
        true
    });
    assert!(matches!(refused, JoinPlan::Declined(r) if r.rule == "unknown_screen_names"));
    let plan = plan_place_join(&engine, &ext, &[&alice], "p1", true, |_, _| true);
    assert_eq!(
        plan,
        JoinPlan::Admitted {
            disclaimer: Some("This chat is recorded.".into())
        }
    );
    let plan = plan_place_join(&engine, &user("bob"), &[&alice], "p1", true, |_, _| true);
    assert_eq!(plan, JoinPlan::Admitted { disclaimer: None });
}

#[test]
fn notices_are_rendered_in_one_pass() {
    assert_eq!(
        render("{reason}|{rule}|{x", "a {rule}", "r"),
        "a {rule}|r|{x"
    );
}
