//! The compliance policy: the employee [`Directory`] and the [`PolicyEngine`] that compiles
//! the `[policy]` section of the configuration (`settings::PolicyConfig`) and applies it:
//! who a user is, whether they may sign on, what happens to each message (identity, groups,
//! profiles, first-match rules, with the per-session [`NoticeLimiter`] and
//! [`DisclaimerClock`]), and the one enforcement plan both capture points render
//! ([`enforce`]). Pure: no I/O, no sockets, no clock reads.
//!
//! [`load_config`] loads the whole configuration the way the gateway does: the `settings`
//! crate's checks, then this engine's, every error pointing at its line.
#![forbid(unsafe_code)]

pub mod directory;
mod engine;
pub mod fuzzing;

pub use directory::{Directory, DirectoryError, Employee};
pub use engine::{
    Admission, CanCarry, DEFAULT_BLOCK_NOTICE, Decision, Delivery, DisclaimerClock, EmployeeRef,
    Enforcement, Explanation, GroupCheck, IdentifiedBy, Identity, Keep, MessageContext,
    NoDisclaimer, NoticeLimiter, PolicyEngine, Profile, RuleCheck, RuleOutcome, ToEnforce,
    conversation_key, direction_of, enforce, load_config,
};
