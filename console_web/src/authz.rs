//! Who may read what, decided without I/O from the account, the policy's directory and
//! groups, and the record: separation of duties as the roles say (see `console::Role`).

use std::fmt;

use archive::{Kind, Record};
use console::{ALL_GROUPS, Account, Role};
use policy::PolicyEngine;

/// Why a read was refused (shown to the user, and recorded for the auditors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// The role reads no message content.
    NoContent(Role),
    /// The user or record belongs to a group outside the account's scope.
    OutOfScope {
        /// The group, or `None` for a user in no group.
        group: Option<String>,
    },
    /// The account's own messages.
    OwnMessages,
    /// Only auditors read the access trail.
    AccessTrail,
    /// Only supervisors and auditors read the supervisory report.
    Report,
    /// Holds need the `hold` permission.
    NoHoldPermission,
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoContent(role) => write!(f, "the {role} role reads no message content"),
            Self::OutOfScope { group: Some(g) } => {
                write!(f, "group {g:?} is outside this account's scope")
            }
            Self::OutOfScope { group: None } => {
                write!(f, "users in no group are outside this account's scope")
            }
            Self::OwnMessages => write!(f, "an account never reads its own person's messages"),
            Self::AccessTrail => write!(f, "only auditors read the access trail"),
            Self::Report => write!(
                f,
                "only supervisors and auditors read the supervisory report"
            ),
            Self::NoHoldPermission => {
                write!(f, "this account may not place or release legal holds")
            }
        }
    }
}

/// One account's view of the archive.
pub struct Reader<'a> {
    /// The account.
    pub account: &'a Account,
    /// The policy, for each screen name's directory entry and group.
    pub engine: &'a PolicyEngine,
}

impl Reader<'_> {
    /// Whether the account may browse `screen_name`'s messages.
    pub fn may_browse(&self, screen_name: &str) -> Result<(), Denied> {
        self.reads_content()?;
        let who = self.engine.identify(screen_name, None);
        if self.is_own(who.employee.as_ref().map(|e| e.id.as_str())) {
            return Err(Denied::OwnMessages);
        }
        self.in_scope(who.group)
    }

    /// Whether the account may search message text (content roles only; the hits are then
    /// each checked with [`Reader::may_read`]).
    pub fn may_search(&self) -> Result<(), Denied> {
        self.reads_content()
    }

    /// Whether the account may place or release a hold on `screen_name`'s records: the
    /// `hold` permission, and the user in its scope.
    pub fn may_hold(&self, screen_name: &str) -> Result<(), Denied> {
        if !self
            .account
            .permissions
            .contains(&console::Permission::Hold)
        {
            return Err(Denied::NoHoldPermission);
        }
        self.may_browse(screen_name)
    }

    /// Whether the account may read `record`.
    pub fn may_read(&self, record: &Record) -> Result<(), Denied> {
        let event = &record.event;
        if event.kind == Kind::Access {
            return if self.account.role == Role::Auditor {
                Ok(())
            } else {
                Err(Denied::AccessTrail)
            };
        }
        self.reads_content()?;
        if self.is_own(event.employee.as_deref())
            || event.participants().iter().any(|name| {
                let who = self.engine.identify(name, None);
                self.is_own(who.employee.as_ref().map(|e| e.id.as_str()))
            })
        {
            return Err(Denied::OwnMessages);
        }
        let local = if event.local_user.is_empty() {
            &event.sender
        } else {
            &event.local_user
        };
        self.in_scope(self.engine.identify(local, None).group)
    }

    fn reads_content(&self) -> Result<(), Denied> {
        if self.account.role.reads_content() {
            Ok(())
        } else {
            Err(Denied::NoContent(self.account.role))
        }
    }

    fn is_own(&self, employee: Option<&str>) -> bool {
        matches!((&self.account.employee, employee), (Some(mine), Some(theirs)) if mine.eq_ignore_ascii_case(theirs))
    }

    fn in_scope(&self, group: Option<String>) -> Result<(), Denied> {
        let scopes = &self.account.scopes;
        let covered = scopes.iter().any(|s| s == ALL_GROUPS)
            || group.as_ref().is_some_and(|g| scopes.contains(g));
        if covered {
            Ok(())
        } else {
            Err(Denied::OutOfScope { group })
        }
    }
}

#[cfg(test)]
mod tests {
    use archive::{Direction, Event, Protocol, Verdict, conversation_for_pair};
    use policy::Directory;

    use super::*;

    fn engine() -> PolicyEngine {
        let config = settings::Config::load(
            "t.toml",
            "[[policy.groups]]\nname = \"traders\"\nscreen_names = [\"trader*\"]\nprofile = \"default\"\n\
             [[policy.groups]]\nname = \"sales\"\nscreen_names = [\"sales*\"]\nprofile = \"default\"\n",
            &[],
        )
        .unwrap();
        let directory =
            Directory::parse_csv("id,name,email,screen_names,addresses\nrita,Rita R,,trader9,\n")
                .unwrap();
        PolicyEngine::compile(&config.policy, directory).unwrap()
    }

    fn account(role: Role, scopes: &[&str], employee: Option<&str>) -> Account {
        Account {
            name: "rita".into(),
            role,
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            employee: employee.map(str::to_owned),
            permissions: Vec::new(),
            password: String::new(),
            created_ns: 0,
            created_by: String::new(),
            disabled_ns: None,
            disabled_by: None,
            password_set_ns: 0,
        }
    }

    fn im(from: &str, to: &str, kind: Kind) -> Record {
        Record {
            id: 1,
            event: Event {
                time_ns: 0,
                protocol: Protocol::Aim,
                kind,
                conversation: conversation_for_pair(Protocol::Aim, from, to),
                sender: from.into(),
                recipients: vec![to.into()],
                direction: Direction::Outbound,
                local_user: from.into(),
                room: None,
                client_addr: None,
                node: String::new(),
                text: String::new(),
                raw: String::new(),
                charset: None,
                verdict: Verdict::Allowed,
                detail: None,
                employee: None,
            },
        }
    }

    #[test]
    fn reviewers_read_their_scope_but_not_their_own_messages() {
        let engine = engine();
        let rita = account(Role::Reviewer, &["traders"], Some("rita"));
        let reader = Reader {
            account: &rita,
            engine: &engine,
        };
        assert_eq!(reader.may_browse("trader1"), Ok(()));
        assert_eq!(
            reader.may_browse("sales1"),
            Err(Denied::OutOfScope {
                group: Some("sales".into())
            })
        );
        assert_eq!(
            reader.may_browse("outsider"),
            Err(Denied::OutOfScope { group: None })
        );
        assert_eq!(reader.may_browse("Trader 9"), Err(Denied::OwnMessages));
        assert_eq!(
            reader.may_read(&im("trader1", "outsider", Kind::Im)),
            Ok(())
        );
        assert_eq!(
            reader.may_read(&im("trader1", "trader9", Kind::Im)),
            Err(Denied::OwnMessages),
            "a message to the reviewer is theirs too"
        );
        assert_eq!(
            reader.may_read(&im("sales2", "trader1", Kind::Im)),
            Err(Denied::OutOfScope {
                group: Some("sales".into())
            })
        );
        assert_eq!(
            reader.may_read(&im("trader1", "x", Kind::Access)),
            Err(Denied::AccessTrail)
        );
    }

    #[test]
    fn admins_and_auditors_read_no_content_and_only_auditors_the_trail() {
        let engine = engine();
        for role in [Role::Admin, Role::Auditor] {
            let a = account(role, &[], None);
            let reader = Reader {
                account: &a,
                engine: &engine,
            };
            assert_eq!(reader.may_browse("trader1"), Err(Denied::NoContent(role)));
            assert_eq!(
                reader.may_read(&im("trader1", "x", Kind::Im)),
                Err(Denied::NoContent(role))
            );
        }
        let auditor = account(Role::Auditor, &[], None);
        let reader = Reader {
            account: &auditor,
            engine: &engine,
        };
        assert_eq!(reader.may_read(&im("root", "", Kind::Access)), Ok(()));
        let everyone = account(Role::Supervisor, &[ALL_GROUPS], None);
        let reader = Reader {
            account: &everyone,
            engine: &engine,
        };
        assert_eq!(reader.may_browse("outsider"), Ok(()));
    }
}
