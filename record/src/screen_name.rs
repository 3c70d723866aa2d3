//! The one screen-name normalisation: how two spellings of a name are told to be the same
//! person, for routing, policy, room membership and search alike.
//!
//! AIM and ICQ servers ignore case and the space character in screen names ("Alice Smith",
//! "alicesmith" and "ALICE SMITH" sign on as one account) and refuse names with other
//! whitespace. So only U+0020 is removed: a name with a tab or a no-break space is not an
//! account the server would route to, and folding it onto a real user would let the relay
//! and the archive disagree about who someone is. ICQ UINs are digits, which this leaves
//! as they are. Sametime ids are compared case-insensitively, surrounding blanks trimmed.

use crate::model::Protocol;

/// The comparison key of an AIM or ICQ screen name: lower case, spaces removed.
pub fn normalize_screen_name(name: &str) -> String {
    name.chars()
        .filter(|c| *c != ' ')
        .flat_map(char::to_lowercase)
        .collect()
}

/// The comparison key of a name on `protocol`: [`normalize_screen_name`] for AIM and ICQ,
/// trimmed and lower-cased for Sametime.
pub fn normalize(protocol: Protocol, name: &str) -> String {
    match protocol {
        Protocol::Aim | Protocol::Icq => normalize_screen_name(name),
        Protocol::Sametime => name.trim().to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn aim_names_ignore_case_and_spaces_only() {
        assert_eq!(normalize_screen_name("Alice Smith"), "alicesmith");
        assert_eq!(normalize_screen_name(" ALICE  smith "), "alicesmith");
        // Other whitespace is part of the (invalid) name: not folded onto alice.
        assert_eq!(normalize_screen_name("al\tice"), "al\tice");
        assert_eq!(normalize_screen_name("al\u{a0}ice"), "al\u{a0}ice");
        assert_eq!(normalize_screen_name("al\nice"), "al\nice");
        // ICQ UINs.
        assert_eq!(normalize(Protocol::Icq, "123 456"), "123456");
    }

    #[test]
    fn sametime_ids_are_trimmed_and_case_folded_but_keep_inner_spaces() {
        assert_eq!(
            normalize(Protocol::Sametime, " CN=Alice Smith/O=Acme "),
            "cn=alice smith/o=acme"
        );
        assert_eq!(normalize(Protocol::Aim, "Alice Smith"), "alicesmith");
    }

    proptest! {
        #[test]
        fn normalising_twice_changes_nothing(name in "\\PC{0,24}") {
            let once = normalize_screen_name(&name);
            prop_assert_eq!(normalize_screen_name(&once), once.clone());
            prop_assert!(!once.contains(' '));
        }

        #[test]
        fn spaces_and_case_never_make_two_names(name in "[A-Za-z0-9 ]{1,16}") {
            let spaced: String = name.chars().flat_map(|c| [c, ' ']).collect();
            prop_assert_eq!(
                normalize_screen_name(&spaced.to_uppercase()),
                normalize_screen_name(&name)
            );
        }
    }
}
