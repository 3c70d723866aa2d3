//! `kinds` of a `[[policy.profiles.NAME.rules]]` entry: what kind of traffic a message is.
//! A configured value, so it lives with the configuration; the engine in `policy` and the
//! capture points that ask it name messages with it.

use std::fmt;

use serde::{Deserialize, Serialize};

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
