//! What a rule is asked about: one message (or offer) seen by the relay or the Sametime
//! module.

use std::fmt;

use serde::{Deserialize, Serialize};

use record::Direction;

use super::Identity;

/// What kind of traffic a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// A one-to-one instant message.
    Im,
    /// A message said in a chat room.
    Chat,
    /// A file-transfer offer. The file itself goes peer to peer, around the gateway, so the
    /// offer is the only thing policy can stop.
    File,
    /// A direct-IM offer: the conversation would continue peer to peer, unrecorded.
    DirectIm,
}

impl MessageKind {
    /// Every kind, in the order of the configuration documentation.
    pub const ALL: [Self; 4] = [Self::Im, Self::Chat, Self::File, Self::DirectIm];

    /// The name used in the configuration and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Im => "im",
            Self::Chat => "chat",
            Self::File => "file",
            Self::DirectIm => "direct_im",
        }
    }

    /// A bit of its own, for a rule's kind filter.
    pub(crate) fn bit(self) -> u8 {
        match self {
            Self::Im => 1,
            Self::Chat => 2,
            Self::File => 4,
            Self::DirectIm => 8,
        }
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for MessageKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown kind {s:?} (im, chat, file, direct_im)"))
    }
}

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
