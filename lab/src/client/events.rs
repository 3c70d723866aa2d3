//! What the server tells the scripted client, as events a test waits for: the SNACs it
//! understands, decoded.

use bytes::Bytes;
use oscar::message::icbm::TypingEvent;
use oscar::message::{
    BuddyArrived, BuddyDeparted, ChatReceive, ChatUsersJoined, ChatUsersLeft, IcbmContent,
    IcbmReceive, Typing,
};
use oscar::{Family, ScreenName, Snac, SnacBody};

/// Something the server told the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// An instant message arrived.
    Im {
        /// Who sent it.
        from: ScreenName,
        /// The text as sent, HTML included.
        html: String,
        /// Plain-text rendering.
        plain: String,
    },
    /// A typing notification arrived.
    Typing {
        /// Who is typing.
        from: ScreenName,
        /// What they are doing.
        event: TypingEvent,
    },
    /// A buddy came online.
    BuddyArrived(ScreenName),
    /// A buddy went offline.
    BuddyDeparted(ScreenName),
    /// The server refused an IM (ICBM error code).
    ImError(u16),
    /// The session moved to another BOS host.
    Migrated(String),
    /// Members joined the chat room.
    ChatJoined(Vec<ScreenName>),
    /// Members left the chat room.
    ChatLeft(Vec<ScreenName>),
    /// A chat message was delivered.
    ChatMessage {
        /// Who said it.
        from: ScreenName,
        /// Plain text.
        plain: String,
    },
    /// The body of an ICBM delivery (0x0004/0x0007) as it arrived, for a test that reads
    /// it with another decoder; only after [`LabClient::report_icbms`].
    ///
    /// [`LabClient::report_icbms`]: super::LabClient::report_icbms
    Icbm(Bytes),
    /// The server closed the session.
    Disconnected,
}

fn names(list: &oscar::message::UserList) -> Vec<ScreenName> {
    list.users.iter().filter_map(|u| u.name().ok()).collect()
}

/// What a server SNAC means to the scripted client.
pub(super) fn events_of(snac: &Snac) -> Vec<ClientEvent> {
    let h = snac.header;
    let decoded: Result<Vec<ClientEvent>, oscar::DecodeError> = (|| {
        Ok(if h.is(IcbmReceive::FAMILY, IcbmReceive::SUBTYPE) {
            let im = IcbmReceive::from_snac(snac)?;
            match im.content()? {
                IcbmContent::Text(text) => vec![ClientEvent::Im {
                    from: im.sender.name()?,
                    html: text.html(),
                    plain: text.plain(),
                }],
                _ => Vec::new(),
            }
        } else if h.is(Typing::FAMILY, Typing::SUBTYPE) {
            let t = Typing::from_snac(snac)?;
            vec![ClientEvent::Typing {
                from: ScreenName::parse(&t.screen_name)?,
                event: t.event,
            }]
        } else if h.is(BuddyArrived::FAMILY, BuddyArrived::SUBTYPE) {
            names(&BuddyArrived::from_snac(snac)?.0)
                .into_iter()
                .map(ClientEvent::BuddyArrived)
                .collect()
        } else if h.is(BuddyDeparted::FAMILY, BuddyDeparted::SUBTYPE) {
            names(&BuddyDeparted::from_snac(snac)?.0)
                .into_iter()
                .map(ClientEvent::BuddyDeparted)
                .collect()
        } else if h.is(Family::ICBM, 0x0001) {
            let code = snac
                .body
                .get(..2)
                .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
            vec![ClientEvent::ImError(code)]
        } else if h.is(ChatUsersJoined::FAMILY, ChatUsersJoined::SUBTYPE) {
            vec![ClientEvent::ChatJoined(names(
                &ChatUsersJoined::from_snac(snac)?.0,
            ))]
        } else if h.is(ChatUsersLeft::FAMILY, ChatUsersLeft::SUBTYPE) {
            vec![ClientEvent::ChatLeft(names(
                &ChatUsersLeft::from_snac(snac)?.0,
            ))]
        } else if h.is(ChatReceive::FAMILY, ChatReceive::SUBTYPE) {
            let msg = ChatReceive::from_snac(snac)?.0;
            let from = match msg.sender() {
                Some(info) => info?.name()?,
                None => return Ok(Vec::new()),
            };
            let plain = match msg.text() {
                Some(text) => text?.plain,
                None => String::new(),
            };
            vec![ClientEvent::ChatMessage { from, plain }]
        } else {
            Vec::new()
        })
    })();
    decoded.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "lab client: undecodable server SNAC");
        Vec::new()
    })
}
