//! The service requests (0x0001/0x0004) a client has outstanding on one connection, and
//! what the server's answer (0x0001/0x0005) is taken to be for.
//!
//! The answer carries the client's request id back, and the id is the client's to choose:
//! a client that sends two requests under one id (a chat room, and anything else) could
//! have the answer to one taken for the other. So an id still outstanding may not be used
//! again (the session ends), the answer's own family (TLV 0x000D) outranks the request's,
//! and a room is only ever the client's claim: the chat connection's room is what the
//! server says on it (`chat_room.rs`).

use oscar::Family;
use oscar::message::RoomInfo;

/// Most service requests a connection may have outstanding. Real clients ask for a handful
/// of services at sign-on and a chat room now and then; a client past this is not one.
pub(crate) const MAX_OUTSTANDING: usize = 64;

/// Why a service request ends the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The request id is still waiting for its answer.
    Reused(u32),
    /// [`MAX_OUTSTANDING`] requests are waiting already.
    TooMany,
}

/// One request waiting for its answer.
#[derive(Debug, Clone)]
struct Asked {
    request_id: u32,
    /// The family asked for, if the request's body could be read.
    family: Option<Family>,
    /// The room asked for (chat requests).
    room: Option<RoomInfo>,
}

/// What a service response is taken to be for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Answered {
    /// The family the new connection serves: the response's own, else the request's.
    pub(crate) family: Option<Family>,
    /// The room the client asked for, when the response does not contradict the request.
    /// A claim: compared with, never preferred to, the room the server names.
    pub(crate) claimed_room: Option<RoomInfo>,
}

/// The outstanding service requests of one connection.
#[derive(Debug, Default)]
pub(crate) struct ServiceRequests {
    outstanding: Vec<Asked>,
}

impl ServiceRequests {
    /// Notes a request the client sent; refused if its id is outstanding or too many are.
    pub(crate) fn ask(
        &mut self,
        request_id: u32,
        family: Option<Family>,
        room: Option<RoomInfo>,
    ) -> Result<(), Refusal> {
        if self.outstanding.iter().any(|a| a.request_id == request_id) {
            return Err(Refusal::Reused(request_id));
        }
        if self.outstanding.len() >= MAX_OUTSTANDING {
            return Err(Refusal::TooMany);
        }
        self.outstanding.push(Asked {
            request_id,
            family,
            room,
        });
        Ok(())
    }

    /// The server answered `request_id` with a response naming `family` (TLV 0x000D, if
    /// present): what the redirect is for. The request is settled.
    pub(crate) fn answer(&mut self, request_id: u32, family: Option<Family>) -> Answered {
        let asked = self.settle(request_id);
        match (asked, family) {
            (Some(asked), Some(said)) if asked.family.is_some_and(|f| f != said) => {
                tracing::warn!(request_id, asked = ?asked.family, answered = ?said,
                    "a service response names another family than its request; \
                     routed as the server says, without the requested room");
                Answered {
                    family: Some(said),
                    claimed_room: None,
                }
            }
            (Some(asked), said) => Answered {
                family: said.or(asked.family),
                claimed_room: asked.room,
            },
            (None, said) => Answered {
                family: said,
                claimed_room: None,
            },
        }
    }

    /// The server refused `request_id` (an OSERVICE error): the id is free again.
    pub(crate) fn refused(&mut self, request_id: u32) {
        self.settle(request_id);
    }

    fn settle(&mut self, request_id: u32) -> Option<Asked> {
        let at = self
            .outstanding
            .iter()
            .position(|a| a.request_id == request_id)?;
        Some(self.outstanding.swap_remove(at))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn room(name: &str) -> RoomInfo {
        RoomInfo {
            exchange: 4,
            cookie: bytes::Bytes::from(format!("4-0-{name}")),
            instance: 0,
        }
    }

    #[test]
    fn an_outstanding_id_cannot_be_asked_again() {
        let mut s = ServiceRequests::default();
        s.ask(7, Some(Family::CHAT), Some(room("secretroom")))
            .unwrap();
        assert_eq!(
            s.ask(7, Some(Family(0x0010)), None),
            Err(Refusal::Reused(7))
        );
        assert_eq!(
            s.ask(7, Some(Family::CHAT), Some(room("decoy"))),
            Err(Refusal::Reused(7))
        );
        // The first request is still the one the answer is for.
        let answered = s.answer(7, Some(Family::CHAT));
        assert_eq!(answered.claimed_room, Some(room("secretroom")));
        // Answered: the id may be used again.
        s.ask(7, Some(Family(0x0010)), None).unwrap();
    }

    #[test]
    fn the_responses_family_outranks_the_requests() {
        let mut s = ServiceRequests::default();
        s.ask(1, Some(Family::CHAT), Some(room("a"))).unwrap();
        assert_eq!(
            s.answer(1, Some(Family(0x0010))),
            Answered {
                family: Some(Family(0x0010)),
                claimed_room: None
            },
            "a mismatch keeps no room"
        );
        s.ask(2, Some(Family::CHAT), Some(room("b"))).unwrap();
        assert_eq!(
            s.answer(2, None),
            Answered {
                family: Some(Family::CHAT),
                claimed_room: Some(room("b"))
            },
            "no family TLV: the request's"
        );
        assert_eq!(
            s.answer(3, Some(Family::CHAT)),
            Answered {
                family: Some(Family::CHAT),
                claimed_room: None
            },
            "an answer nobody asked for claims no room"
        );
        // A request whose body could not be read takes the response's family.
        s.ask(4, None, None).unwrap();
        assert_eq!(s.answer(4, Some(Family::CHAT)).family, Some(Family::CHAT));
    }

    #[test]
    fn outstanding_requests_are_bounded_and_freed_by_answers_and_errors() {
        let mut s = ServiceRequests::default();
        for id in 0..MAX_OUTSTANDING as u32 {
            s.ask(id, Some(Family(0x0010)), None).unwrap();
        }
        assert_eq!(s.ask(1000, None, None), Err(Refusal::TooMany));
        s.refused(0);
        s.answer(1, None);
        s.ask(1000, None, None).unwrap();
        s.ask(0, None, None).unwrap();
        assert_eq!(s.ask(2000, None, None), Err(Refusal::TooMany));
    }
}
