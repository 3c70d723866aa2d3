//! The record model: one record per captured event, the same for AIM, ICQ and Sametime.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::screen_name::normalize;

/// Which IM network an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// AOL Instant Messenger (OSCAR).
    Aim,
    /// ICQ (OSCAR, numeric UINs).
    Icq,
    /// Lotus/HCL Sametime (through the SPI module).
    Sametime,
}

impl Protocol {
    /// Every protocol, for iteration.
    pub const ALL: [Self; 3] = [Self::Aim, Self::Icq, Self::Sametime];

    /// The lower-case name used in keys, JSON and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aim => "aim",
            Self::Icq => "icq",
            Self::Sametime => "sametime",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown protocol {s:?} (aim, icq, sametime)"))
    }
}

/// What kind of event a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A one-to-one instant message.
    Im,
    /// A message said in a chat room.
    ChatMessage,
    /// Someone joined a chat room.
    ChatJoin,
    /// Someone left a chat room.
    ChatLeave,
    /// A file-transfer offer (rendezvous).
    FileOffer,
    /// A direct-IM offer: later messages would bypass the server.
    DirectImOffer,
    /// A policy action: block, alert, mask, disclaimer sent.
    PolicyAction,
    /// A Sametime session started.
    SessionStart,
    /// A Sametime session ended.
    SessionEnd,
    /// Records that were lost: the capture point could not make them durable (the Sametime
    /// module in relaxed mode, once its memory for them ran out). Says how many and when.
    CaptureGap,
    /// The sensor saw AIM/ICQ traffic that went around the gateway (a client talking OSCAR,
    /// or TLS to an AIM/ICQ name, straight to a server): who (client address, screen name if
    /// seen in the clear), to where (server address and port) and how. Appended last, so
    /// records written before it existed keep their postcard encoding.
    BypassAlert,
    /// Someone read or changed the archive (`search`, `export`, `hold`, `retention`,
    /// `verify`): who, how, what, how many records; the details as JSON in `detail`
    /// (the archive's access records). Shown only when asked for by kind. Appended last, as above.
    Access,
    /// A reviewer's disposition of a flagged record in the reviewer console: who, which
    /// record, what outcome (no issue, false positive, escalate, a comment); the details as
    /// JSON in `detail`. Never an edit: a later disposition is another record. Shown only
    /// when asked for by kind. Appended last, as above.
    Review,
}

impl Kind {
    /// Every kind, for iteration and help texts.
    pub const ALL: [Self; 13] = [
        Self::Im,
        Self::ChatMessage,
        Self::ChatJoin,
        Self::ChatLeave,
        Self::FileOffer,
        Self::DirectImOffer,
        Self::PolicyAction,
        Self::SessionStart,
        Self::SessionEnd,
        Self::CaptureGap,
        Self::BypassAlert,
        Self::Access,
        Self::Review,
    ];

    /// The snake-case name used in JSON and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Im => "im",
            Self::ChatMessage => "chat_message",
            Self::ChatJoin => "chat_join",
            Self::ChatLeave => "chat_leave",
            Self::FileOffer => "file_offer",
            Self::DirectImOffer => "direct_im_offer",
            Self::PolicyAction => "policy_action",
            Self::SessionStart => "session_start",
            Self::SessionEnd => "session_end",
            Self::CaptureGap => "capture_gap",
            Self::BypassAlert => "bypass_alert",
            Self::Access => "access",
            Self::Review => "review",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|k| k.as_str()).collect();
                format!("unknown kind {s:?} ({})", names.join(", "))
            })
    }
}

/// Direction of a message relative to the organisation: what a record says, and what a
/// policy rule's `direction` asks about (the same names in both).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    // The variants' order is their tag in the archive's postcard encoding: never reorder.
    /// From a local user to someone outside.
    Outbound,
    /// From outside to a local user.
    Inbound,
    /// Between two local users.
    Internal,
}

impl Direction {
    /// Every direction, in the order the configuration documentation lists them.
    pub const ALL: [Self; 3] = [Self::Inbound, Self::Outbound, Self::Internal];

    /// The name used in records, the configuration and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inbound => "inbound",
            Self::Outbound => "outbound",
            Self::Internal => "internal",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Direction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| format!("unknown direction {s:?} (inbound, outbound, internal)"))
    }
}

/// What policy decided for the event.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Delivered unchanged (the default).
    Allowed,
    /// Not delivered; the named rule matched.
    Blocked(String),
    /// Delivered with matched text masked.
    Masked(String),
    /// Delivered and an alert raised.
    Alerted(String),
    /// Captured passively; could not be blocked (bypass traffic).
    Passive,
}

/// A captured event as the relay or the SPI module reports it, before the archive gives it
/// an id. Screen names are stored as seen; comparisons use [`normalize`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// When it happened: UTC nanoseconds since the Unix epoch.
    pub time_ns: i64,
    /// Which network.
    pub protocol: Protocol,
    /// What happened.
    pub kind: Kind,
    /// Stable key of the conversation: see [`conversation_for_pair`] and
    /// [`conversation_for_room`].
    pub conversation: String,
    /// Who sent or did it.
    pub sender: String,
    /// Who it was for (one for an IM; the room's members, if known, for chat).
    pub recipients: Vec<String>,
    /// Relative to the organisation.
    pub direction: Direction,
    /// The organisation's user on this connection.
    pub local_user: String,
    /// The room's name, for chat events.
    pub room: Option<String>,
    /// The client's address as the gateway saw it (`ip:port`).
    pub client_addr: Option<String>,
    /// The gateway node that captured it.
    pub node: String,
    /// Plain-text rendering.
    pub text: String,
    /// The text as sent (HTML included).
    pub raw: String,
    /// The charset it was sent in, when the protocol names one.
    pub charset: Option<String>,
    /// What policy decided.
    pub verdict: Verdict,
    /// Anything else worth keeping (file name and size, policy detail, session id).
    pub detail: Option<String>,
    /// The employee the local user is, from the directory, when known (policy step).
    /// Records written before it existed read back with `None`.
    #[serde(default)]
    pub employee: Option<String>,
}

/// An archived event with its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Monotonic, gap-free id (gaps appear only where retention purged, and every purge is
    /// recorded in a signed checkpoint).
    pub id: u64,
    /// The event.
    #[serde(flatten)]
    pub event: Event,
}

impl Event {
    /// Every participant's normalised name (sender, recipients, local user), deduplicated.
    pub fn participants(&self) -> Vec<String> {
        let mut names: Vec<String> = std::iter::once(&self.sender)
            .chain(&self.recipients)
            .chain(std::iter::once(&self.local_user))
            .filter(|n| !n.is_empty())
            .map(|n| normalize(self.protocol, n))
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

/// The conversation key of a one-to-one conversation: the same whichever side speaks.
pub fn conversation_for_pair(protocol: Protocol, a: &str, b: &str) -> String {
    let (a, b) = (normalize(protocol, a), normalize(protocol, b));
    let (first, second) = if a <= b { (a, b) } else { (b, a) };
    format!("{protocol}:{first}|{second}")
}

/// The conversation key of a user's sign-ons and sign-offs (AIM/ICQ `session_start` and
/// `session_end`): one per user, so "was this person on IM that day" is one search.
pub fn conversation_for_sign_on(protocol: Protocol, user: &str) -> String {
    format!("{protocol}:signon:{}", normalize(protocol, user))
}

/// The conversation key of a chat room.
pub fn conversation_for_room(protocol: Protocol, room: &str) -> String {
    format!("{protocol}:room:{}", room.trim().to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_keys_are_symmetric_and_normalised() {
        assert_eq!(
            conversation_for_pair(Protocol::Aim, "Alice Smith", "bob"),
            conversation_for_pair(Protocol::Aim, "BOB", "alicesmith")
        );
        assert_eq!(conversation_for_pair(Protocol::Aim, "b", "a"), "aim:a|b");
        assert_eq!(
            conversation_for_room(Protocol::Aim, "Compliance"),
            "aim:room:compliance"
        );
    }

    #[test]
    fn names_parse_back() {
        for k in Kind::ALL {
            assert_eq!(k.as_str().parse::<Kind>().unwrap(), k);
        }
        assert_eq!("ICQ".parse::<Protocol>().unwrap(), Protocol::Icq);
        assert!("msn".parse::<Protocol>().is_err());
        for d in Direction::ALL {
            assert_eq!(d.as_str().parse::<Direction>().unwrap(), d);
        }
        assert!("sideways".parse::<Direction>().is_err());
    }

    #[test]
    fn directions_keep_their_postcard_tags() {
        // Stored records hold the variant's index: the order of declaration is the format.
        for (tag, d) in [Direction::Outbound, Direction::Inbound, Direction::Internal]
            .into_iter()
            .enumerate()
        {
            assert_eq!(postcard::to_stdvec(&d).unwrap(), vec![tag as u8]);
        }
    }

    #[test]
    fn kinds_keep_their_postcard_tags_when_one_is_appended() {
        // Records are stored postcard-encoded, where a variant is its index: a kind added
        // anywhere but last would make old records read back as another kind.
        for (tag, kind) in Kind::ALL.into_iter().enumerate() {
            assert_eq!(postcard::to_stdvec(&kind).unwrap(), vec![tag as u8]);
        }
        assert_eq!(postcard::to_stdvec(&Kind::CaptureGap).unwrap(), vec![9]);
        assert_eq!(postcard::to_stdvec(&Kind::BypassAlert).unwrap(), vec![10]);
        assert_eq!(postcard::to_stdvec(&Kind::Access).unwrap(), vec![11]);
    }
}
