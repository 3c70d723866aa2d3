//! One plain two-way message record, for the tests that spool and ship records without
//! caring what they say.

use archive::{Direction, Event, Kind, Protocol, Verdict};

/// A Sametime IM from `a` to `b` saying `text`.
pub(crate) fn event(text: &str) -> Event {
    Event {
        time_ns: 1,
        protocol: Protocol::Sametime,
        kind: Kind::Im,
        conversation: "sametime:a|b".into(),
        sender: "a".into(),
        recipients: vec!["b".into()],
        direction: Direction::Internal,
        local_user: "a".into(),
        room: None,
        client_addr: None,
        node: "n".into(),
        text: text.into(),
        raw: text.into(),
        charset: None,
        verdict: Verdict::Allowed,
        detail: Some("{}".into()),
        employee: None,
    }
}
