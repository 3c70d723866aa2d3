//! What a rule is asked about: one message (or offer) seen by the relay or the Sametime
//! module.

use record::Direction;
use settings::MessageKind;

use super::Identity;

/// One message as policy sees it.
///
/// The profile that applies is `local`'s: for an internal message, evaluate it once, with
/// the sender as `local`.
#[derive(Debug, Clone, Copy)]
pub struct MessageContext<'a> {
    /// What it is.
    pub kind: MessageKind,
    /// Which way it goes.
    pub direction: Direction,
    /// The organisation's user on whose connection it was seen, as
    /// [`PolicyEngine::identify`](super::PolicyEngine::identify) found them.
    pub local: &'a Identity,
    /// The other party's screen name, as seen (normalised here before matching).
    pub remote: &'a str,
    /// The plain text (HTML already stripped); for a file offer, the file name if known,
    /// else empty; empty for a direct-IM offer. Keyword and pattern rules search this.
    pub text: &'a str,
}

/// A bit of its own for each kind, for a rule's kind filter (a rule's `kinds` as one byte).
pub(crate) fn kind_bit(kind: MessageKind) -> u8 {
    match kind {
        MessageKind::Im => 1,
        MessageKind::Chat => 2,
        MessageKind::File => 4,
        MessageKind::DirectIm => 8,
    }
}
