//! The reviewer console's accounts and roles: who may log in to the console, as what, over
//! which directory groups. `imtegrity console user ...` manages them; the console's server
//! authenticates against them.

mod accounts;
mod error;
pub mod password;
mod role;

pub use accounts::{ALL_GROUPS, Account, Accounts, NewAccount};
pub use error::ConsoleError;
pub use role::{Permission, Role};
