//! One relayed frame, decoded once with oscar's types: its SNAC (typed header, raw body)
//! and the typed message where the codec knows it. Everything the session asks of a frame
//! (is it a message, a chat SNAC, a service request) is answered from these values, never
//! from byte offsets into the payload.

use oscar::{Channel, DecodeError, Family, Flap, Message, Snac, SnacHeader, SnacMessage};

use crate::error::Side;

/// A service request (0x0001/0x0004): its request id is noted as asked.
const SERVICE_REQUEST: u16 = 0x0004;

/// The message-carrying SNACs, by family and subtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MessageFrame {
    /// 0x0004/0x0006 (client) or 0x0004/0x0007 (server).
    Icbm,
    /// 0x000E/0x0005 (client) or 0x000E/0x0006 (server).
    Chat,
}

/// A frame decoded as far as the codec understands it.
#[derive(Debug)]
pub(super) struct Decoded {
    /// The SNAC of a channel-2 frame, or why its header does not read; `None` on other
    /// channels.
    snac: Option<Result<Snac, DecodeError>>,
    /// The frame as a typed message; an error where a SNAC header or a known body does
    /// not read (the raw frame may still be relayed).
    message: Result<Message, DecodeError>,
}

impl Decoded {
    /// Decodes `flap` once: the SNAC header, then the body by its family and subtype.
    pub(super) fn of(flap: &Flap) -> Self {
        if flap.channel != Channel::DATA {
            return Self {
                snac: None,
                message: Message::decode(flap),
            };
        }
        match Snac::from_flap(flap) {
            Ok(snac) => {
                let body =
                    SnacMessage::decode(snac.header.family, snac.header.subtype, snac.body.clone());
                let message = body.map(|body| Message::Snac {
                    header: snac.header,
                    prefix: snac.prefix.clone(),
                    body,
                });
                Self {
                    snac: Some(Ok(snac)),
                    message,
                }
            }
            Err(e) => Self {
                snac: Some(Err(e)),
                message: Err(e),
            },
        }
    }

    /// The SNAC, if the frame is one whose header reads.
    pub(super) fn snac(&self) -> Option<&Snac> {
        self.snac.as_ref()?.as_ref().ok()
    }

    /// The SNAC header, if the frame is a SNAC whose header reads.
    pub(super) fn header(&self) -> Option<&SnacHeader> {
        self.snac().map(|s| &s.header)
    }

    /// Whether this is a channel-2 frame whose SNAC header does not read: nobody can say
    /// what it is, so it may be a message.
    pub(super) fn header_unreadable(&self) -> bool {
        matches!(self.snac, Some(Err(_)))
    }

    /// The typed message, or why the frame does not decode.
    pub(super) fn message(&self) -> Result<&Message, DecodeError> {
        self.message.as_ref().map_err(|e| *e)
    }

    /// Takes the typed message out (for rewriting).
    pub(super) fn into_message(self) -> Result<Message, DecodeError> {
        self.message
    }

    /// The typed SNAC body, if the codec knows it and it reads.
    pub(super) fn body(&self) -> Option<&SnacMessage> {
        match &self.message {
            Ok(Message::Snac { body, .. }) => Some(body),
            _ => None,
        }
    }

    /// Which message-carrying SNAC this is, coming `from` that side.
    pub(super) fn message_frame(&self, from: Side) -> Option<MessageFrame> {
        let h = self.header()?;
        match (from, h.family, h.subtype) {
            (Side::Client, Family::ICBM, 0x0006) | (Side::Upstream, Family::ICBM, 0x0007) => {
                Some(MessageFrame::Icbm)
            }
            (Side::Client, Family::CHAT, 0x0005) | (Side::Upstream, Family::CHAT, 0x0006) => {
                Some(MessageFrame::Chat)
            }
            _ => None,
        }
    }

    /// The chat-family subtype, if this is a chat-family SNAC.
    pub(super) fn chat_subtype(&self) -> Option<u16> {
        self.header()
            .filter(|h| h.family == Family::CHAT)
            .map(|h| h.subtype)
    }

    /// The request id, if this is a service request (0x0001/0x0004), read from the SNAC
    /// header alone: an id counts as asked whether or not the body parses.
    pub(super) fn service_request_id(&self) -> Option<u32> {
        self.header()
            .filter(|h| h.is(Family::OSERVICE, SERVICE_REQUEST))
            .map(|h| h.request_id)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use bytes::Bytes;
    use oscar::message::{ServiceRequest, SnacBody};

    use super::*;

    fn snac(family: Family, subtype: u16, id: u32, body: &'static [u8]) -> Flap {
        Snac::new(
            SnacHeader::new(family, subtype, id),
            Bytes::from_static(body),
        )
        .to_flap()
        .unwrap()
    }

    #[test]
    fn message_snacs_by_side() {
        let send = Decoded::of(&snac(Family::ICBM, 6, 1, b""));
        assert_eq!(send.message_frame(Side::Client), Some(MessageFrame::Icbm));
        assert_eq!(send.message_frame(Side::Upstream), None);
        let receive = Decoded::of(&snac(Family::ICBM, 7, 1, b""));
        assert_eq!(
            receive.message_frame(Side::Upstream),
            Some(MessageFrame::Icbm)
        );
        let chat = Decoded::of(&snac(Family::CHAT, 5, 1, b""));
        assert_eq!(chat.message_frame(Side::Client), Some(MessageFrame::Chat));
        assert_eq!(chat.chat_subtype(), Some(5));
        let typing = Decoded::of(&snac(Family::ICBM, 0x14, 1, b""));
        assert_eq!(typing.message_frame(Side::Client), None);
        assert_eq!(typing.chat_subtype(), None);
    }

    #[test]
    fn a_malformed_known_body_keeps_its_header() {
        // An ICBM send too short for its cookie: the header still says what it is.
        let d = Decoded::of(&snac(Family::ICBM, 6, 9, b"\x01"));
        assert!(d.message().is_err());
        assert!(d.body().is_none());
        assert_eq!(d.header().map(|h| h.request_id), Some(9));
        assert_eq!(d.message_frame(Side::Client), Some(MessageFrame::Icbm));
        assert!(!d.header_unreadable());
    }

    #[test]
    fn a_cut_short_header_is_unreadable_and_nothing_else() {
        let cut = Flap::new(Channel::DATA, Bytes::from_static(&[0, 4, 0, 6, 0]));
        let d = Decoded::of(&cut);
        assert!(d.header_unreadable());
        assert_eq!(d.header(), None);
        assert_eq!(d.message_frame(Side::Client), None);
        // A prefix block whose length lies: the same.
        let lying = Flap::new(
            Channel::DATA,
            Bytes::from_static(&[0, 4, 0, 6, 0x80, 0, 0, 0, 0, 1, 0, 9]),
        );
        assert!(Decoded::of(&lying).header_unreadable());
        // Not a SNAC at all.
        let hello = Flap::new(Channel::SIGNON, Bytes::from_static(&[0, 0, 0, 1]));
        let d = Decoded::of(&hello);
        assert!(!d.header_unreadable());
        assert!(d.message().is_ok());
    }

    #[test]
    fn a_service_request_id_counts_whether_or_not_the_body_reads() {
        let unreadable = Decoded::of(&snac(Family::OSERVICE, 4, 77, b"\x00"));
        assert_eq!(unreadable.service_request_id(), Some(77));
        let flap = ServiceRequest::chat(&oscar::message::RoomInfo {
            exchange: 4,
            cookie: Bytes::from_static(b"4-0-r"),
            instance: 0,
        })
        .unwrap()
        .to_snac(5)
        .unwrap()
        .to_flap()
        .unwrap();
        let d = Decoded::of(&flap);
        assert_eq!(d.service_request_id(), Some(5));
        assert!(matches!(d.body(), Some(SnacMessage::ServiceRequest(_))));
        // Decoded once, it reads as the codec's own decoding does.
        assert_eq!(d.message().ok(), Message::decode(&flap).ok().as_ref());
    }
}
