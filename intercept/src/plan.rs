//! What happens to one relayed frame once it has been looked at: forwarded as it came,
//! replaced (masked text), or dropped (blocked), with gateway-originated frames (notices,
//! disclaimers) sent before or after it on either leg. Each leg stamps its own sequence
//! numbers on whatever it sends, so injected and dropped frames keep both legs consistent.

use oscar::Flap;

use crate::error::Side;

/// The frame's own fate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Relayed unchanged.
    Forward,
    /// Relayed as this frame instead.
    Replace(Flap),
    /// Not relayed.
    Drop,
}

/// A frame's fate and the frames the gateway sends around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Sent before the frame, each to the leg named.
    pub(crate) before: Vec<(Side, Flap)>,
    /// The frame itself.
    pub(crate) fate: Fate,
    /// Sent after the frame (notices to the sender).
    pub(crate) after: Vec<(Side, Flap)>,
}

impl Plan {
    /// Relay the frame unchanged, nothing added: what happens without a policy.
    pub(crate) fn forward() -> Self {
        Self {
            before: Vec::new(),
            fate: Fate::Forward,
            after: Vec::new(),
        }
    }
}
