//! Who is on a connection: the screen name, the employee behind it when the directory
//! knows, and the group and profile that follow.

use std::net::IpAddr;

use serde::Serialize;

/// The organisation's user on one connection, as
/// [`PolicyEngine::identify`](super::PolicyEngine::identify) found them. Identify once per
/// session (and again after the policy is reloaded: a profile that no longer exists falls
/// back to the default profile).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// The screen name as the client gave it.
    pub screen_name: String,
    /// The client's address, when known; used for directory and group lookups.
    pub client: Option<IpAddr>,
    /// The employee, when the directory maps the screen name (or else the address) to one.
    pub employee: Option<EmployeeRef>,
    /// The first group the user is in, if any.
    pub group: Option<String>,
    /// The profile that applies: the group's, else `policy.default_profile`.
    pub profile: String,
}

/// An employee from the directory, as records and policies name them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmployeeRef {
    /// The directory id (`jsmith`), as written in the directory.
    pub id: String,
    /// The person's name (`John Smith`).
    pub name: String,
    /// How the directory found them.
    pub by: IdentifiedBy,
}

/// Which directory lookup found an employee.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentifiedBy {
    /// The screen name is one of theirs.
    ScreenName,
    /// The screen name is not in the directory, but the client connects from one of their
    /// addresses (longest prefix).
    Address,
}

/// Whether a user may sign on through the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "admission", rename_all = "snake_case")]
pub enum Admission {
    /// Sign on.
    Allow,
    /// Sign off with this reason (log it; the client sees a sign-off).
    Refuse {
        /// Why, for the log and the record.
        reason: String,
    },
}
