//! Who is in a chat room, as the server's notices on one chat connection show it: the
//! member list the server sends when the connection joins (0x000E/0x0003 naming the
//! connection's own user), then each join (0x000E/0x0003) and leave (0x000E/0x0004).
//!
//! One view per connection rather than one merged per room: each connection's notices come
//! in the server's own order, so the members a line is recorded with are exactly the ones
//! that connection's server stream says were there when the line arrived. Merging the
//! notices of several connections would interleave them in whatever order the connections
//! happened to be read, and could put a member back after they left.

use std::collections::BTreeMap;

use record::normalize_screen_name;

/// Most members one view keeps. AOL rooms held a few dozen; a server that names more is
/// believed up to here, and the rest are left out with a warning.
pub(crate) const MAX_MEMBERS: usize = 1024;

/// The members of one room, as one connection's server notices show them.
#[derive(Debug, Default)]
pub(crate) struct RoomMembers {
    /// Normalised name → the name as the server spelt it.
    members: BTreeMap<String, String>,
    /// Whether the join's member list arrived (everything after it is a real join).
    listed: bool,
}

/// What a join notice means for this view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Joined {
    /// The member list the server sends on joining (the connection's user is in it, or it is
    /// the first list): everyone in it was there already, and the connection's user joined.
    List,
    /// These members (as spelt by the server) joined now.
    Now(Vec<String>),
}

impl RoomMembers {
    /// Takes a join notice naming `names`, on the connection of `me`.
    pub(crate) fn joined(&mut self, me: &str, names: &[String]) -> Joined {
        let me = normalize_screen_name(me);
        let list = !self.listed || names.iter().any(|n| normalize_screen_name(n) == me);
        self.listed = true;
        let mut now = Vec::new();
        for name in names {
            let key = normalize_screen_name(name);
            if self.members.contains_key(&key) {
                continue;
            }
            if self.members.len() >= MAX_MEMBERS {
                tracing::warn!(
                    max = MAX_MEMBERS,
                    "chat room member list full; a member is left out"
                );
                continue;
            }
            self.members.insert(key.clone(), name.clone());
            if key != me {
                now.push(name.clone());
            }
        }
        if list { Joined::List } else { Joined::Now(now) }
    }

    /// Takes a leave notice naming `names`; returns those that were members.
    pub(crate) fn left(&mut self, names: &[String]) -> Vec<String> {
        names
            .iter()
            .filter_map(|name| self.members.remove(&normalize_screen_name(name)))
            .collect()
    }

    /// Every member but `except`, as the server spelt them, in normalised-name order.
    pub(crate) fn others(&self, except: &str) -> Vec<String> {
        let except = normalize_screen_name(except);
        self.members
            .iter()
            .filter(|(key, _)| **key != except)
            .map(|(_, name)| name.clone())
            .collect()
    }

    /// Every member's normalised name.
    pub(crate) fn normalized(&self) -> impl Iterator<Item = &str> {
        self.members.keys().map(String::as_str)
    }

    /// Forgets everyone: the connection is in another room now.
    pub(crate) fn clear(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_first_list_is_who_was_there_and_later_notices_are_joins_and_leaves() {
        let mut room = RoomMembers::default();
        assert_eq!(
            room.joined("Bob", &names(&["alice", "Carol", "bob"])),
            Joined::List
        );
        assert_eq!(room.others("bob"), names(&["alice", "Carol"]));
        assert_eq!(
            room.joined("bob", &names(&["Dave", "carol"])),
            Joined::Now(names(&["Dave"])),
            "carol was there already"
        );
        assert_eq!(
            room.left(&names(&["ALICE", "eve"])),
            names(&["alice"]),
            "eve never was"
        );
        assert_eq!(room.others(""), names(&["bob", "Carol", "Dave"]));
        assert_eq!(
            room.normalized().collect::<Vec<_>>(),
            vec!["bob", "carol", "dave"]
        );
    }

    #[test]
    fn a_list_naming_the_connections_user_is_a_list_even_after_others() {
        let mut room = RoomMembers::default();
        // Some servers announce the others first, then the newcomer with everyone.
        assert_eq!(room.joined("bob", &names(&["alice"])), Joined::List);
        assert_eq!(room.joined("bob", &names(&["alice", "bob"])), Joined::List);
        assert_eq!(room.others("bob"), names(&["alice"]));
        room.clear();
        assert_eq!(room.others(""), Vec::<String>::new());
        assert_eq!(room.joined("bob", &names(&["carol"])), Joined::List);
    }

    #[test]
    fn the_view_is_bounded() {
        let mut room = RoomMembers::default();
        let many: Vec<String> = (0..MAX_MEMBERS + 10).map(|i| format!("m{i}")).collect();
        room.joined("me", &many);
        assert_eq!(room.others("").len(), MAX_MEMBERS);
        assert_eq!(
            room.joined("me", &names(&["late"])),
            Joined::Now(Vec::new())
        );
        room.left(&names(&["m0"]));
        assert_eq!(
            room.joined("me", &names(&["late"])),
            Joined::Now(names(&["late"]))
        );
    }
}
