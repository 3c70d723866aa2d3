//! `action` of a `[[policy.profiles.NAME.rules]]` entry: what a rule does with the messages
//! it matches. A configured value, so it lives with the configuration; the engine in
//! `policy` acts on it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What a rule does with the messages it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Deliver and record: what happens when no rule matches. As a rule, it stops later
    /// rules from applying.
    Log,
    /// Deliver, do not record: privacy exclusions such as an employee-assistance line.
    NoLog,
    /// Do not deliver; record the blocked message with the rule, and tell the sender why.
    Block,
    /// Replace each keyword or pattern match with the profile's mask character (one per
    /// character), deliver and record the masked text, keeping the original in the record.
    Mask,
    /// Deliver and record, with an alert (a log event, the record's verdict, and the
    /// profile's webhook if it has one).
    Alert,
    /// Deliver and record: an explicit exception that stops later rules (a block further
    /// down, say) from applying.
    Allow,
}

impl Action {
    /// Every action.
    pub const ALL: [Self; 6] = [
        Self::Log,
        Self::NoLog,
        Self::Block,
        Self::Mask,
        Self::Alert,
        Self::Allow,
    ];

    /// The name used in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Log => "log",
            Self::NoLog => "no_log",
            Self::Block => "block",
            Self::Mask => "mask",
            Self::Alert => "alert",
            Self::Allow => "allow",
        }
    }

    /// Whether the message is delivered.
    pub fn delivers(self) -> bool {
        self != Self::Block
    }

    /// Whether the message is archived.
    pub fn records(self) -> bool {
        self != Self::NoLog
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
