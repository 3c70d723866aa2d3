//! The words, names and rooms synthetic traffic is made of.

/// Words messages are made of: a trading floor's, with some small talk.
pub(super) const WORDS: &[&str] = &[
    "quarterly",
    "numbers",
    "meeting",
    "client",
    "portfolio",
    "trade",
    "settlement",
    "lunch",
    "report",
    "draft",
    "review",
    "deadline",
    "approve",
    "pricing",
    "bond",
    "equity",
    "call",
    "tomorrow",
    "today",
    "thanks",
    "please",
    "send",
    "update",
    "risk",
    "limit",
    "order",
    "confirm",
    "schedule",
    "budget",
    "forecast",
    "invoice",
    "contract",
    "merger",
    "audit",
    "compliance",
    "coffee",
    "weekend",
    "market",
];

/// Rooms a trading floor has.
pub(super) const ROOMS: &[&str] = &["trading-desk", "compliance", "sales", "research", "ops"];

/// The first users' names (the rest are numbered).
pub(super) const FIRST: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
];

/// What a blocked message says (the demo policy's block list has it).
pub(super) const BLOCKED_PHRASE: &str = "guaranteed returns";

/// The word a masking rule hides.
pub(super) const MASKED_WORD: &str = "4111111111111111";

/// The disclaimer text sent at the start of an outside conversation.
pub(super) const DISCLAIMER: &str =
    "This conversation is recorded and may be reviewed for compliance.";
