use std::cell::Cell;

use super::*;
use crate::{Directory, Identity};
use record::Direction;
use settings::{Config, MessageKind};

const POLICY: &str = "\
[policy]
default_profile = \"p\"
[policy.profiles.p]
disclaimer = \"Recorded.\"
notice = \"Not delivered: {reason}\"
[[policy.profiles.p.rules]]
name = \"quiet\"
remote = [\"eap*\"]
action = \"no_log\"
[[policy.profiles.p.rules]]
name = \"stop\"
keywords = [\"secret\"]
action = \"block\"
reason = \"no secrets\"
[[policy.profiles.p.rules]]
name = \"ssn\"
patterns = ['\\d{3}-\\d{2}-\\d{4}']
action = \"mask\"
";

fn engine() -> PolicyEngine {
    let config = Config::load("imtegrity.toml", POLICY, &[]).unwrap();
    PolicyEngine::compile(&config.policy, Directory::new(Vec::new()).unwrap()).unwrap()
}

const BOTH: CanCarry = CanCarry {
    can_replace: true,
    can_notify: true,
    can_disclaim: true,
};

fn plan(
    engine: &PolicyEngine,
    who: &Identity,
    remote: &str,
    text: &str,
    carry: CanCarry,
    variants: &[String],
) -> (Enforcement, bool, bool) {
    let (asked_disclaimer, asked_notice) = (Cell::new(false), Cell::new(false));
    let input = ToEnforce {
        message: MessageContext {
            kind: MessageKind::Im,
            direction: Direction::Outbound,
            local: who,
            remote,
            text,
        },
        sender: &who.screen_name,
        variants,
        html: None,
        carry,
    };
    let out = enforce(
        engine,
        &input,
        |_, _| {
            asked_disclaimer.set(true);
            true
        },
        |key, _| {
            asked_notice.set(true);
            assert_eq!(
                key,
                format!("alice|im|alice|{}", normalize_screen_name(remote))
            );
            true
        },
    );
    (out, asked_disclaimer.get(), asked_notice.get())
}

#[test]
fn a_plain_message_is_delivered_recorded_and_disclaimed_once_due() {
    let engine = engine();
    let alice = engine.identify("Alice", None);
    let (out, disclaimer_asked, notice_asked) = plan(&engine, &alice, "bob", "hi", BOTH, &[]);
    assert_eq!(out.delivery, Delivery::AsIs);
    assert_eq!(out.disclaimer.as_deref(), Some("Recorded."));
    assert_eq!(out.notice, None);
    assert!(disclaimer_asked && !notice_asked);
    assert!(matches!(
        out.keep,
        Keep::Record {
            verdict: Verdict::Allowed,
            shown_text: None
        }
    ));
}

#[test]
fn a_block_drops_tells_the_sender_and_sends_no_disclaimer() {
    let engine = engine();
    let alice = engine.identify("alice", None);
    let (out, disclaimer_asked, notice_asked) = plan(&engine, &alice, "bob", "a secret", BOTH, &[]);
    assert_eq!(out.delivery, Delivery::Dropped);
    assert_eq!(out.notice.as_deref(), Some("Not delivered: no secrets"));
    assert_eq!(out.disclaimer, None);
    assert!(!disclaimer_asked && notice_asked);
    assert_eq!(
        out.keep,
        Keep::Record {
            verdict: Verdict::Blocked("stop".into()),
            shown_text: None
        }
    );
    // A channel that cannot reach the sender asks for no notice.
    let mute = CanCarry {
        can_replace: false,
        can_notify: false,
        can_disclaim: false,
    };
    let (out, _, notice_asked) = plan(&engine, &alice, "bob", "a secret", mute, &[]);
    assert_eq!((out.notice, notice_asked), (None, false));
}

#[test]
fn a_mask_replaces_where_it_can_and_blocks_where_it_cannot() {
    let engine = engine();
    let alice = engine.identify("alice", None);
    let text = "ssn 123-45-6789";
    let (out, _, _) = plan(&engine, &alice, "bob", text, BOTH, &[]);
    let Delivery::Replaced(masked) = &out.delivery else {
        panic!("{:?}", out.delivery)
    };
    assert!(!masked.contains("6789"), "{masked}");
    assert!(
        matches!(&out.keep, Keep::Record { verdict: Verdict::Masked(_), shown_text: Some(t) } if t == masked)
    );
    let fixed = CanCarry {
        can_replace: false,
        ..BOTH
    };
    let (out, disclaimer_asked, _) = plan(&engine, &alice, "bob", text, fixed, &[]);
    assert_eq!(out.delivery, Delivery::Dropped);
    assert!(
        !disclaimer_asked,
        "no disclaimer before a message that is not delivered"
    );
    assert!(matches!(
        out.keep,
        Keep::Record {
            verdict: Verdict::Blocked(_),
            ..
        }
    ));
}

#[test]
fn a_hidden_variant_cannot_carry_a_blocked_word_and_no_log_is_kept_accountable() {
    let engine = engine();
    let alice = engine.identify("alice", None);
    let variants = ["a secret".to_owned()];
    let (out, _, _) = plan(&engine, &alice, "bob", "harmless", BOTH, &variants);
    assert_eq!(out.delivery, Delivery::Dropped);
    let (out, disclaimer_asked, _) = plan(&engine, &alice, "eapfriend", "hi", BOTH, &[]);
    assert_eq!(
        out.keep,
        Keep::NotLogged {
            rule: "quiet".into()
        }
    );
    assert_eq!(out.delivery, Delivery::AsIs);
    assert!(!disclaimer_asked, "saying 'recorded' would be false");
}

fn decision(action: Action) -> Decision {
    Decision {
        profile: "p".into(),
        rule: Some(action.as_str().into()),
        action,
        record: action.records(),
        deliver: action.delivers(),
        text: None,
        notice: None,
        alert: None,
    }
}

#[test]
fn the_strictest_decision_of_the_variants_wins_and_no_log_never_does() {
    let order = [Action::Block, Action::Mask, Action::Alert, Action::Log];
    for (i, stricter) in order.iter().enumerate() {
        for laxer in order[i + 1..].iter().chain([&Action::NoLog]) {
            for (a, b) in [(*stricter, *laxer), (*laxer, *stricter)] {
                let got = strictest(decision(a), decision(b));
                assert_eq!(got.action, *stricter, "{a} vs {b}");
            }
        }
    }
    // On a tie, the shown text's decision (the first) stands.
    let mut first = decision(Action::Log);
    first.rule = None;
    assert_eq!(strictest(first, decision(Action::Allow)).rule, None);
}
