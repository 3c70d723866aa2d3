//! The console's roles, kept apart so that no one person both reads the record and
//! decides who may read it, or reviews and audits the reviews.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::ConsoleError;

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages accounts and policy; never reads message content.
    Admin,
    /// Reads and reviews the messages of the directory groups in its scope, never its own.
    Reviewer,
    /// Reviews the reviewers of its scope: samples their dispositions, sees their reports.
    Supervisor,
    /// Reads the access trail and the reports; no message content.
    Auditor,
}

impl Role {
    /// Every role, in the order `user list` explains them.
    pub const ALL: [Self; 4] = [Self::Admin, Self::Reviewer, Self::Supervisor, Self::Auditor];

    /// The name used on the command line and in the accounts file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Reviewer => "reviewer",
            Self::Supervisor => "supervisor",
            Self::Auditor => "auditor",
        }
    }

    /// Whether the role reads message content (and so is limited to a scope of groups).
    pub fn reads_content(self) -> bool {
        matches!(self, Self::Reviewer | Self::Supervisor)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = ConsoleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| ConsoleError::InvalidRole(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_only_content_roles_read_content() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!(" Reviewer ".parse::<Role>().is_ok());
        assert!(matches!(
            "root".parse::<Role>(),
            Err(ConsoleError::InvalidRole(_))
        ));
        let readers: Vec<Role> = Role::ALL
            .into_iter()
            .filter(|r| r.reads_content())
            .collect();
        assert_eq!(readers, [Role::Reviewer, Role::Supervisor]);
    }
}

/// What an account may do beyond its role, granted one by one: each is its own decision,
/// recorded with the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    /// Place and release legal holds on users in the account's scope.
    Hold,
}

impl Permission {
    /// Every permission.
    pub const ALL: [Self; 1] = [Self::Hold];

    /// The name on the command line and in the accounts file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hold => "hold",
        }
    }
}

impl FromStr for Permission {
    type Err = ConsoleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| ConsoleError::Scope(format!("unknown permission {s:?}: hold")))
    }
}
