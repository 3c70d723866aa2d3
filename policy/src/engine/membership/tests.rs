use super::*;
use crate::Directory;
use crate::Identity;
use settings::Config;

const DIRECTORY: &str = "\
id,name,email,screen_names,addresses
jsmith,John Smith,,JSmith Trader,
akumar,Asha Kumar,,akumar,
";

const POLICY: &str = "\
[policy]
default_profile = \"p\"
disclaimer_opt_out = [\"akumar\"]
[policy.profiles.p]
disclaimer = \"Recorded.\"
disclaimer_mandatory = false
[[policy.profiles.p.rules]]
name = \"quiet\"
remote = [\"eap*\"]
action = \"no_log\"
[[policy.profiles.p.rules]]
name = \"stop\"
keywords = [\"secret\"]
action = \"block\"
";

fn engine(directory: &str) -> PolicyEngine {
    let config = Config::load("imtegrity.toml", POLICY, &[]).unwrap();
    let directory = if directory.is_empty() {
        Directory::new(Vec::new()).unwrap()
    } else {
        Directory::parse_csv(directory).unwrap()
    };
    PolicyEngine::compile(&config.policy, directory).unwrap()
}

#[test]
fn the_directory_decides_who_is_ours_and_without_one_being_signed_on_here_does() {
    let with = engine(DIRECTORY);
    // Listed: ours wherever they are; not listed: not ours even when signed on here.
    assert!(with.is_ours("JSmithTrader", false));
    assert!(!with.is_ours("contractor", true));
    let without = engine("");
    assert!(without.is_ours("contractor", true));
    assert!(!without.is_ours("JSmith Trader", false));
}

#[test]
fn direction_follows_who_is_ours_and_the_gateways_side_breaks_the_tie() {
    assert_eq!(direction_of(true, true, true), Direction::Internal);
    assert_eq!(direction_of(true, true, false), Direction::Internal);
    assert_eq!(direction_of(true, false, false), Direction::Outbound);
    assert_eq!(direction_of(false, true, true), Direction::Inbound);
    // Neither listed: the side the gateway holds stands for the organisation.
    assert_eq!(direction_of(false, false, true), Direction::Outbound);
    assert_eq!(direction_of(false, false, false), Direction::Inbound);
}

#[test]
fn a_disclaimer_is_due_only_for_delivered_recorded_one_to_one_messages_with_outsiders() {
    let e = engine(DIRECTORY);
    let jsmith = e.identify("JSmith Trader", None);
    let akumar = e.identify("akumar", None);
    let case = |local: &Identity, remote: &str, text: &str, kind, direction| {
        let msg = MessageContext {
            kind,
            direction,
            local,
            remote,
            text,
        };
        let decision = e.decide(&msg);
        e.disclaimer_applies(&msg, &decision)
    };
    use Direction::{Inbound, Internal, Outbound};
    use MessageKind::{Chat, File, Im};
    assert_eq!(case(&jsmith, "buddy", "hi", Im, Outbound), Ok("Recorded."));
    assert_eq!(case(&jsmith, "buddy", "hi", Im, Inbound), Ok("Recorded."));
    assert_eq!(case(&jsmith, "buddy", "", File, Outbound), Ok("Recorded."));
    assert_eq!(
        case(&jsmith, "akumar", "hi", Im, Internal),
        Err(NoDisclaimer::Internal)
    );
    assert_eq!(
        case(&jsmith, "room", "hi", Chat, Outbound),
        Err(NoDisclaimer::Room)
    );
    assert_eq!(
        case(&jsmith, "eap1", "hi", Im, Outbound),
        Err(NoDisclaimer::NotRecorded)
    );
    assert_eq!(
        case(&jsmith, "buddy", "a secret", Im, Outbound),
        Err(NoDisclaimer::NotDelivered)
    );
    assert_eq!(
        case(&akumar, "buddy", "hi", Im, Outbound),
        Err(NoDisclaimer::OptedOut)
    );
    let bare = PolicyEngine::compile(
        &Config::load("imtegrity.toml", "", &[]).unwrap().policy,
        Directory::new(Vec::new()).unwrap(),
    )
    .unwrap();
    let anyone = bare.identify("x", None);
    let msg = MessageContext {
        kind: Im,
        direction: Outbound,
        local: &anyone,
        remote: "y",
        text: "hi",
    };
    assert_eq!(
        bare.disclaimer_applies(&msg, &bare.decide(&msg)),
        Err(NoDisclaimer::NoneConfigured)
    );
}
