use std::net::IpAddr;

use proptest::prelude::*;

use super::*;
use settings::Config;

const DIRECTORY: &str = "\
id,name,email,screen_names,addresses
jsmith,John Smith,,JSmith Trader,10.20.1.7
akumar,Asha Kumar,,akumar,
intern1,Ian Tern,,intern one,10.40.0.0/16
";

const POLICY: &str = r##"
[policy]
directory = "/etc/imtegrity/directory.csv"
default_profile = "standard"

[[policy.groups]]
name = "traders"
employees = ["JSMITH"]
screen_names = ["fx*"]
subnets = ["10.20.0.0/16"]
profile = "trading"

[[policy.groups]]
name = "interns"
screen_names = ["intern*"]
profile = "standard"

[policy.profiles.standard]
disclaimer = "Recorded."
notice = "Not delivered ({rule}): {reason}"

[[policy.profiles.standard.rules]]
name = "eap"
remote = ["eap*"]
action = "no_log"

[[policy.profiles.standard.rules]]
name = "files"
kinds = ["file", "direct_im"]
action = "block"

[[policy.profiles.standard.rules]]
name = "interns-inside"
local = ["intern*"]
direction = "outbound"
action = "block"
reason = "interns may only message colleagues"

[[policy.profiles.standard.rules]]
name = "ssn"
patterns = ['\d{3}-\d{2}-\d{4}']
action = "mask"

[policy.profiles.trading]
mask_char = "#"
notice_interval_secs = 5

[[policy.profiles.trading.rules]]
name = "broker-ok"
remote = ["broker"]
action = "allow"

[[policy.profiles.trading.rules]]
name = "insider"
keywords = ["insider", "guaranteed return"]
action = "alert"

[[policy.profiles.trading.rules]]
name = "everything-else"
action = "log"

[[policy.profiles.trading.rules]]
name = "shadowed"
action = "block"
"##;

fn engine(text: &str) -> PolicyEngine {
    let config = Config::load("imtegrity.toml", text, &[]).unwrap();
    let directory = Directory::parse_csv(DIRECTORY).unwrap();
    PolicyEngine::compile(&config.policy, directory).unwrap()
}

fn ip(text: &str) -> Option<IpAddr> {
    Some(text.parse().unwrap())
}

fn msg<'a>(
    local: &'a Identity,
    remote: &'a str,
    text: &'a str,
    kind: MessageKind,
    direction: Direction,
) -> MessageContext<'a> {
    MessageContext {
        kind,
        direction,
        local,
        remote,
        text,
    }
}

fn im<'a>(local: &'a Identity, remote: &'a str, text: &'a str) -> MessageContext<'a> {
    msg(local, remote, text, MessageKind::Im, Direction::Outbound)
}

#[test]
fn identity_by_screen_name_then_address_then_groups_in_order() {
    let e = engine(POLICY);
    let j = e.identify("JSmith Trader", None);
    assert_eq!(
        j.employee,
        Some(EmployeeRef {
            id: "jsmith".into(),
            name: "John Smith".into(),
            by: IdentifiedBy::ScreenName
        })
    );
    assert_eq!(j.group.as_deref(), Some("traders"));
    assert_eq!(j.profile, "trading");
    assert_eq!(j.screen_name, "JSmith Trader");
    // An unlisted screen name at jsmith's workstation is jsmith, by address.
    let by_address = e.identify("someone", ip("10.20.1.7"));
    assert_eq!(by_address.employee.unwrap().by, IdentifiedBy::Address);
    assert_eq!(by_address.profile, "trading");
    // In the traders' subnet but not in the directory: the group by subnet.
    let subnet = e.identify("visitor", ip("10.20.99.1"));
    assert_eq!(subnet.employee, None);
    assert_eq!(subnet.group.as_deref(), Some("traders"));
    // By screen-name pattern; then the first group wins over later ones.
    assert_eq!(e.identify("FX 12", None).group.as_deref(), Some("traders"));
    let intern = e.identify("intern one", None);
    assert_eq!(intern.group.as_deref(), Some("interns"));
    // No group: the default profile.
    let a = e.identify("akumar", ip("192.0.2.1"));
    assert_eq!((a.group, a.profile.as_str()), (None, "standard"));
}

#[test]
fn without_a_policy_section_everything_is_logged() {
    let e = PolicyEngine::compile(&PolicyConfig::default(), Directory::default()).unwrap();
    let who = e.identify("anyone", None);
    assert_eq!(who.profile, "default");
    assert_eq!(e.admit(&who), Admission::Allow);
    let d = e.decide(&im(&who, "bob", "insider guaranteed return"));
    assert_eq!(d, Decision::default_for("default"));
    assert!(d.record && d.deliver);
    let p = e.profile(&who);
    assert_eq!((p.disclaimer.as_deref(), p.rule_count()), (None, 0));
    assert_eq!(p.disclaimer_every, Duration::from_secs(24 * 3600));
    assert_eq!(p.notice_interval, Duration::from_secs(60));
}

#[test]
fn unknown_screen_names_can_be_refused_even_at_an_employees_address() {
    let e = engine(&format!("{POLICY}\n"));
    assert_eq!(e.admit(&e.identify("nobody", None)), Admission::Allow);
    let blocking = POLICY.replace(
        "default_profile = \"standard\"",
        "default_profile = \"standard\"\nunknown_screen_names = \"block\"",
    );
    let e = engine(&blocking);
    assert_eq!(e.admit(&e.identify("akumar", None)), Admission::Allow);
    let Admission::Refuse { reason } = e.admit(&e.identify("Some One", ip("10.20.1.7"))) else {
        panic!("an unlisted screen name is refused");
    };
    assert_eq!(
        reason,
        "screen name \"Some One\" is not in the directory (policy.unknown_screen_names = \"block\")"
    );
}

#[test]
fn each_action_does_what_it_says() {
    let e = engine(POLICY);
    let std_user = e.identify("akumar", None);
    let trader = e.identify("jsmithtrader", None);

    let no_log = e.decide(&im(&std_user, "EAP Counsel", "I need help"));
    assert_eq!(no_log.rule.as_deref(), Some("eap"));
    assert_eq!(
        (no_log.action, no_log.record, no_log.deliver),
        (Action::NoLog, false, true)
    );

    let file = e.decide(&msg(
        &std_user,
        "bob",
        "",
        MessageKind::File,
        Direction::Outbound,
    ));
    assert_eq!(
        (file.action, file.record, file.deliver),
        (Action::Block, true, false)
    );
    assert_eq!(
        file.notice.as_deref(),
        Some("Not delivered (files): file transfers are blocked by your organisation's IM policy")
    );

    let masked = e.decide(&im(&std_user, "bob", "my ssn is 123-45-6789, ok?"));
    assert_eq!(
        (masked.action, masked.record, masked.deliver),
        (Action::Mask, true, true)
    );
    assert_eq!(masked.text.as_deref(), Some("my ssn is ***********, ok?"));
    assert_eq!(
        e.mask_as(&masked, "<b>123-45-6789</b>").as_deref(),
        Some("<b>***********</b>")
    );
    assert_eq!(e.mask_as(&no_log, "123-45-6789"), None);

    let allowed = e.decide(&im(&trader, "broker", "insider tip"));
    assert_eq!(
        (allowed.action, allowed.rule.as_deref()),
        (Action::Allow, Some("broker-ok"))
    );
    assert!(allowed.record && allowed.deliver && allowed.alert.is_none());

    let alert = e.decide(&im(&trader, "bob", "a Guaranteed  Return!"));
    assert_eq!(
        (alert.action, alert.record, alert.deliver),
        (Action::Alert, true, true)
    );
    assert_eq!(
        alert.alert.as_deref(),
        Some("rule \"insider\" matched: keyword \"guaranteed return\" found")
    );

    let logged = e.decide(&im(&trader, "bob", "lunch?"));
    assert_eq!(
        (logged.action, logged.rule.as_deref()),
        (Action::Log, Some("everything-else"))
    );

    let plain = e.decide(&im(&std_user, "bob", "lunch?"));
    assert_eq!(plain, Decision::default_for("standard"));
}

#[test]
fn direction_and_local_conditions() {
    let e = engine(POLICY);
    let intern = e.identify("intern one", None);
    let out = e.decide(&im(&intern, "friend", "hi"));
    assert_eq!(out.rule.as_deref(), Some("interns-inside"));
    assert_eq!(
        out.notice.as_deref(),
        Some("Not delivered (interns-inside): interns may only message colleagues")
    );
    let inside = e.decide(&msg(
        &intern,
        "akumar",
        "hi",
        MessageKind::Im,
        Direction::Internal,
    ));
    assert_eq!(inside.rule, None);
}

#[test]
fn an_identity_from_before_a_reload_falls_back_to_the_default_profile() {
    let e = engine(POLICY);
    let mut who = e.identify("akumar", None);
    who.profile = "removed".into();
    assert_eq!(e.profile(&who).name, "standard");
    assert_eq!(e.decide(&im(&who, "eapline", "x")).profile, "standard");
}

#[test]
fn warnings_name_missing_employees_and_shadowed_rules() {
    let e = engine(&POLICY.replace(
        "employees = [\"JSMITH\"]",
        "employees = [\"JSMITH\", \"gone\"]",
    ));
    assert_eq!(
        e.warnings(),
        [
            "profile \"trading\": rule \"shadowed\" never applies: rule \"everything-else\" before it matches every message",
            "group \"traders\": employee \"gone\" is not in the directory",
        ]
    );
}

#[test]
fn notices_fill_placeholders_once() {
    assert_eq!(
        render_notice("a {reason} b {rule} {x}", "r {rule}", "n"),
        "a r {rule} b n {x}"
    );
}

#[test]
fn explain_shows_every_group_and_rule() {
    let e = engine(POLICY);
    let trader = e.identify("JSmith Trader", ip("10.20.1.7"));
    let x = e.explain(&im(&trader, "bob", "insider"));
    let groups: Vec<(&str, RuleOutcome, &str)> = x
        .groups
        .iter()
        .map(|g| (g.name.as_str(), g.outcome, g.why.as_str()))
        .collect();
    assert_eq!(
        groups,
        [
            ("traders", RuleOutcome::Matched, "employee jsmith is listed"),
            (
                "interns",
                RuleOutcome::NotReached,
                "an earlier group matched"
            ),
        ]
    );
    let rules: Vec<(&str, RuleOutcome, &str)> = x
        .rules
        .iter()
        .map(|r| (r.name.as_str(), r.outcome, r.why.as_str()))
        .collect();
    assert_eq!(
        rules,
        [
            (
                "broker-ok",
                RuleOutcome::NotMatched,
                "remote bob matches none of \"broker\""
            ),
            ("insider", RuleOutcome::Matched, "keyword \"insider\" found"),
            (
                "everything-else",
                RuleOutcome::NotReached,
                "an earlier rule decided"
            ),
            (
                "shadowed",
                RuleOutcome::NotReached,
                "an earlier rule decided"
            ),
        ]
    );
    assert_eq!(x.decision, e.decide(&im(&trader, "bob", "insider")));
    assert!(!x.default_profile);

    let other = e.identify("akumar", ip("192.0.2.9"));
    let x = e.explain(&msg(
        &other,
        "bob",
        "",
        MessageKind::DirectIm,
        Direction::Inbound,
    ));
    assert_eq!(
        x.groups[0].why,
        "employee akumar is not listed; screen name akumar matches none of \"fx*\"; client 192.0.2.9 is in none of 10.20.0.0/16"
    );
    assert_eq!(
        x.groups[1].why,
        "screen name akumar matches none of \"intern*\""
    );
    assert!(x.default_profile);
    let whys: Vec<&str> = x.rules.iter().map(|r| r.why.as_str()).collect();
    assert_eq!(
        whys,
        [
            "remote bob matches none of \"eap*\"",
            "kind direct_im is one of file, direct_im",
            "an earlier rule decided",
            "an earlier rule decided",
        ]
    );
    let x = e.explain(&msg(&other, "bob", "", MessageKind::Im, Direction::Inbound));
    assert_eq!(x.rules[1].why, "kind im is not one of file, direct_im");
    assert_eq!(x.rules[2].why, "direction inbound is not outbound");
    assert_eq!(
        x.rules[3].why,
        "no text to search for pattern \"\\\\d{3}-\\\\d{2}-\\\\d{4}\""
    );
}

// Property tests.

/// The fixed message the generated rules are tried on.
const LOCAL: &str = "alice";
const REMOTE: &str = "bob";
const TEXT: &str = "hello world";

/// A condition value with whether it holds for the fixed message.
fn remote_pattern() -> impl Strategy<Value = (&'static str, bool)> {
    prop::sample::select(vec![
        ("bob", true),
        ("B O B", true),
        ("b*", true),
        ("re:^b.b$", true),
        ("carol", false),
        ("c*", false),
        ("re:^bo$", false),
    ])
}

fn keyword() -> impl Strategy<Value = (&'static str, bool)> {
    prop::sample::select(vec![
        ("hello", true),
        ("WORLD", true),
        ("hello world", true),
        ("hell", false),
        ("xyz", false),
    ])
}

/// One generated rule as TOML, and whether it matches the fixed message.
#[derive(Debug, Clone)]
struct GenRule {
    toml: String,
    matches: bool,
    action: Action,
}

fn gen_rule() -> impl Strategy<Value = GenRule> {
    (
        prop::option::of(prop::collection::vec(remote_pattern(), 1..3)),
        prop::option::of(prop::collection::vec(keyword(), 1..3)),
        prop::option::of(prop::sample::subsequence(MessageKind::ALL.to_vec(), 1..4)),
        prop::option::of(prop::sample::select(Direction::ALL.to_vec())),
        prop::sample::select(vec![
            Action::Log,
            Action::NoLog,
            Action::Block,
            Action::Mask,
            Action::Alert,
            Action::Allow,
        ]),
    )
        .prop_map(|(remote, keywords, kinds, direction, action)| {
            // `mask` needs something to mask.
            let keywords = match (keywords, action) {
                (None, Action::Mask) => Some(vec![("hello", true)]),
                (k, _) => k,
            };
            let mut toml = String::new();
            let mut matches = true;
            if let Some(remote) = &remote {
                let list: Vec<String> = remote.iter().map(|(p, _)| format!("{p:?}")).collect();
                toml.push_str(&format!("remote = [{}]\n", list.join(", ")));
                matches &= remote.iter().any(|(_, m)| *m);
            }
            if let Some(keywords) = &keywords {
                let list: Vec<String> = keywords.iter().map(|(k, _)| format!("{k:?}")).collect();
                toml.push_str(&format!("keywords = [{}]\n", list.join(", ")));
                matches &= keywords.iter().any(|(_, m)| *m);
            }
            if let Some(kinds) = &kinds {
                let list: Vec<String> = kinds.iter().map(|k| format!("{:?}", k.as_str())).collect();
                toml.push_str(&format!("kinds = [{}]\n", list.join(", ")));
                matches &= kinds.contains(&MessageKind::Im);
            }
            if let Some(direction) = direction {
                toml.push_str(&format!("direction = {:?}\n", direction.as_str()));
                matches &= direction == Direction::Outbound;
            }
            toml.push_str(&format!("action = {:?}\n", action.as_str()));
            GenRule {
                toml,
                matches,
                action,
            }
        })
}

fn engine_of(rules: &[GenRule]) -> PolicyEngine {
    let mut text = String::from("[policy.profiles.default]\n");
    for (i, rule) in rules.iter().enumerate() {
        text.push_str(&format!(
            "[[policy.profiles.default.rules]]\nname = \"r{i}\"\n{}",
            rule.toml
        ));
    }
    let config =
        Config::load("generated.toml", &text, &[]).unwrap_or_else(|e| panic!("{e}\n{text}"));
    PolicyEngine::compile(&config.policy, Directory::default()).unwrap()
}

proptest! {
    #[test]
    fn the_first_matching_rule_decides_and_no_match_logs(
        rules in prop::collection::vec(gen_rule(), 0..8),
    ) {
        let e = engine_of(&rules);
        let who = e.identify(LOCAL, None);
        let d = e.decide(&im(&who, REMOTE, TEXT));
        match rules.iter().position(|r| r.matches) {
            Some(i) => {
                prop_assert_eq!(d.rule, Some(format!("r{i}")));
                prop_assert_eq!(d.action, rules[i].action);
                prop_assert_eq!(d.deliver, rules[i].action != Action::Block);
                prop_assert_eq!(d.record, rules[i].action != Action::NoLog);
                prop_assert_eq!(d.notice.is_some(), rules[i].action == Action::Block);
                prop_assert_eq!(d.alert.is_some(), rules[i].action == Action::Alert);
                prop_assert_eq!(d.text.is_some(), rules[i].action == Action::Mask);
            }
            None => prop_assert_eq!(d, Decision::default_for("default")),
        }
        // explain agrees, rule by rule.
        let x = e.explain(&im(&who, REMOTE, TEXT));
        let first = rules.iter().position(|r| r.matches);
        for (i, check) in x.rules.iter().enumerate() {
            let expected = match first {
                Some(f) if i == f => RuleOutcome::Matched,
                Some(f) if i > f => RuleOutcome::NotReached,
                _ => RuleOutcome::NotMatched,
            };
            prop_assert_eq!(check.outcome, expected, "rule {}: {}", i, &check.why);
        }
    }

    #[test]
    fn a_matching_rule_at_i_decides_whatever_follows(
        before in prop::collection::vec(gen_rule(), 0..5),
        decider in gen_rule(),
        after in prop::collection::vec(gen_rule(), 0..5),
    ) {
        // Make every rule before the decider miss, and the decider match.
        let mut rules: Vec<GenRule> = before
            .into_iter()
            .map(|mut r| {
                r.toml.push_str("local = [\"nobody\"]\n");
                r.matches = false;
                r
            })
            .collect();
        let i = rules.len();
        let decider = GenRule {
            toml: format!("action = {:?}\nkeywords = [\"hello\"]\n", decider.action.as_str()),
            matches: true,
            action: decider.action,
        };
        rules.push(decider);
        rules.extend(after);
        let e = engine_of(&rules);
        let who = e.identify(LOCAL, None);
        let d = e.decide(&im(&who, REMOTE, TEXT));
        prop_assert_eq!(d.rule, Some(format!("r{i}")));
        prop_assert_eq!(d.action, rules[i].action);
    }

    #[test]
    fn masking_keeps_every_other_character_and_leaves_no_match(
        keywords in prop::collection::vec("[a-z]{1,6}( [a-z]{1,6})?", 1..4),
        words in prop::collection::vec(
            prop_oneof![
                "[a-zA-Z]{1,8}",
                "[0-9]{1,4}",
                "[ .,!?'\\-]{1,3}",
                "[éüßøæ€😀]{1,2}",
            ],
            0..24,
        ),
        picks in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
        upper in any::<bool>(),
        mask in prop::sample::select(vec!['*', '#', '•', 'x']),
    ) {
        // The text: random words with some keywords spliced in, maybe upper-cased.
        let mut parts = words.clone();
        for pick in &picks {
            let k = pick.get(&keywords);
            let k = if upper { k.to_uppercase() } else { k.clone() };
            let at = pick.index(parts.len() + 1);
            parts.insert(at, format!(" {k} "));
        }
        let text: String = parts.concat();
        let list: Vec<String> = keywords.iter().map(|k| format!("{k:?}")).collect();
        let config = format!(
            "[policy.profiles.default]\nmask_char = {:?}\n[[policy.profiles.default.rules]]\nname = \"m\"\nkeywords = [{}]\naction = \"mask\"\n",
            mask.to_string(),
            list.join(", ")
        );
        let config = Config::load("generated.toml", &config, &[]).unwrap();
        let e = PolicyEngine::compile(&config.policy, Directory::default()).unwrap();
        let who = e.identify(LOCAL, None);
        let d = e.decide(&im(&who, REMOTE, &text));
        let matcher = TextMatcher::new(&keywords, &[]).unwrap();
        if !matcher.is_match(&text) {
            prop_assert_eq!(d.action, Action::Log);
            return Ok(());
        }
        let masked = d.text.expect("a mask decision has text");
        prop_assert_eq!(masked.chars().count(), text.chars().count());
        for (before, after) in text.chars().zip(masked.chars()) {
            prop_assert!(after == before || after == mask, "{:?} became {:?}", before, after);
        }
        // No keyword is left, and something visibly changed (unless the mask character
        // itself is in a keyword: 'x' and "x").
        if !keywords.iter().any(|k| k.contains(mask)) {
            prop_assert!(!matcher.is_match(&masked), "{:?} -> {:?}", text, masked);
            prop_assert!(masked.chars().zip(text.chars()).any(|(a, b)| a == mask && b != mask));
        }
    }
}

#[test]
fn a_disclaimer_can_be_opted_out_of_only_where_it_is_not_mandatory() {
    let text = |mandatory: bool| {
        format!(
            "[policy]\ndirectory = \"d.csv\"\ndefault_profile = \"p\"\n\
             disclaimer_opt_out = [\"akumar\", \"Intern One\"]\n\
             [policy.profiles.p]\ndisclaimer = \"recorded\"\ndisclaimer_mandatory = {mandatory}\n"
        )
    };
    let optional = engine(&text(false));
    let mandatory = engine(&text(true));
    // By directory id (akumar), by screen name (intern one), and someone who did not.
    for (sn, opted) in [
        ("akumar", true),
        ("intern one", true),
        ("JSmith Trader", false),
    ] {
        let who = optional.identify(sn, None);
        let expected = if opted { None } else { Some("recorded") };
        assert_eq!(optional.disclaimer_for(&who), expected, "{sn}");
        let who = mandatory.identify(sn, None);
        assert_eq!(
            mandatory.disclaimer_for(&who),
            Some("recorded"),
            "{sn}: mandatory"
        );
    }
    let none = engine("");
    assert_eq!(none.disclaimer_for(&none.identify("akumar", None)), None);
}
