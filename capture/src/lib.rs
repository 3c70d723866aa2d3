//! Turning relayed messages into archive events. Pure: the relay's session decides
//! *whether* to record (de-duplication, local users); this crate decides *what* the record
//! says. The sensor (passive capture of traffic that went around the gateway) builds its
//! records here too, so a passive IM reads exactly like a relayed one; and it needs only
//! this crate, not the relay with its TLS, HTTP and resolver.

use oscar::message::icbm::{
    CAP_BUDDY_ICON, CAP_DIRECT_IM, CAP_SEND_BUDDY_LIST, CAP_SEND_FILE, IcqMessage, Rendezvous,
    RendezvousKind, TLV_RDV_SERVICE_DATA, TextMessage,
};
use oscar::message::icbm_reading::{Reading, Shown, TextShape};
use oscar::{Charset, MessageText};
use record::{
    Direction, Event, Kind, Protocol, Verdict, conversation_for_pair, conversation_for_room,
    conversation_for_sign_on,
};

/// Who a session captures for.
#[derive(Debug, Clone)]
pub struct Capturer<'a> {
    /// The local user's screen name as seen.
    pub local_user: &'a str,
    /// The client's address.
    pub client_addr: String,
    /// The gateway node.
    pub node: &'a str,
}

fn charset_name(c: Charset) -> String {
    match c {
        Charset::ASCII => "ascii".into(),
        Charset::UCS2BE => "ucs-2be".into(),
        Charset::LATIN1 => "iso-8859-1".into(),
        Charset(other) => format!("{other:#06x}"),
    }
}

impl Capturer<'_> {
    /// AIM, or ICQ when the local user is a numeric UIN.
    pub fn protocol(&self) -> Protocol {
        if !self.local_user.is_empty() && self.local_user.bytes().all(|b| b.is_ascii_digit()) {
            Protocol::Icq
        } else {
            Protocol::Aim
        }
    }

    fn base(
        &self,
        kind: Kind,
        conversation: String,
        sender: &str,
        recipients: Vec<String>,
        direction: Direction,
        time_ns: i64,
    ) -> Event {
        Event {
            time_ns,
            protocol: self.protocol(),
            kind,
            conversation,
            sender: sender.to_owned(),
            recipients,
            direction,
            local_user: self.local_user.to_owned(),
            room: None,
            client_addr: Some(self.client_addr.clone()),
            node: self.node.to_owned(),
            text: String::new(),
            raw: String::new(),
            charset: None,
            verdict: Verdict::Allowed,
            detail: None,
            employee: None,
        }
    }

    /// A sign-on the policy refused: who, and why (no text, no other party).
    pub fn refusal(&self, reason: &str, time_ns: i64) -> Event {
        let mut e = self.base(
            Kind::PolicyAction,
            format!("policy:{}", self.local_user.to_lowercase()),
            self.local_user,
            Vec::new(),
            Direction::Internal,
            time_ns,
        );
        e.verdict = Verdict::Blocked("unknown_screen_names".into());
        e.detail = Some(format!("sign-on refused: {reason}"));
        e
    }

    /// An AIM/ICQ session of the local user: `SessionStart` once the server took a BOS
    /// cookie routed through this gateway, `SessionEnd` when that session ends. `detail`
    /// says how. One conversation per user, as Sametime's sessions have one per session.
    pub fn session(&self, kind: Kind, detail: String, time_ns: i64) -> Event {
        let mut e = self.base(
            kind,
            conversation_for_sign_on(self.protocol(), self.local_user),
            self.local_user,
            Vec::new(),
            Direction::Internal,
            time_ns,
        );
        e.detail = Some(detail);
        e
    }

    /// A one-to-one text IM.
    pub fn im(
        &self,
        sender: &str,
        recipient: &str,
        text: &TextMessage,
        direction: Direction,
        time_ns: i64,
    ) -> Event {
        let mut e = self.base(
            Kind::Im,
            conversation_for_pair(self.protocol(), sender, recipient),
            sender,
            vec![recipient.to_owned()],
            direction,
            time_ns,
        );
        e.text = text.plain();
        e.raw = text.html();
        e.charset = text.parts.first().map(|p| charset_name(p.charset));
        if text.auto_response {
            e.detail = Some("auto-response".into());
        }
        e
    }

    /// An old-style ICQ (channel 4) message.
    pub fn icq(
        &self,
        sender: &str,
        recipient: &str,
        msg: &IcqMessage,
        direction: Direction,
        time_ns: i64,
    ) -> Event {
        let text = msg.decoded_text();
        let mut e = self.base(
            Kind::Im,
            conversation_for_pair(Protocol::Icq, sender, recipient),
            sender,
            vec![recipient.to_owned()],
            direction,
            time_ns,
        );
        e.protocol = Protocol::Icq;
        e.text = text.plain;
        e.raw = text.html;
        e.detail = Some(format!("ICQ channel 4, type {:#04x}", msg.message_type));
        e
    }

    /// A rendezvous proposal worth a record: a file offer or a direct-IM request (which
    /// would carry later messages around the gateway).
    pub fn rendezvous(
        &self,
        sender: &str,
        recipient: &str,
        rdv: &Rendezvous,
        direction: Direction,
        time_ns: i64,
    ) -> Option<Event> {
        if rdv.kind != RendezvousKind::PROPOSE {
            return None;
        }
        let conversation = conversation_for_pair(self.protocol(), sender, recipient);
        let recipients = vec![recipient.to_owned()];
        if rdv.capability == CAP_SEND_FILE {
            let mut e = self.base(
                Kind::FileOffer,
                conversation,
                sender,
                recipients,
                direction,
                time_ns,
            );
            e.detail = Some(match rdv.file_offer() {
                Some((name, size)) => format!("file {name}, {size} bytes"),
                None => "file transfer".into(),
            });
            Some(e)
        } else if rdv.capability == CAP_DIRECT_IM {
            let mut e = self.base(
                Kind::DirectImOffer,
                conversation,
                sender,
                recipients,
                direction,
                time_ns,
            );
            e.detail = Some("direct IM requested: messages in it would bypass the gateway".into());
            Some(e)
        } else if let Some(what) = [
            (CAP_BUDDY_ICON, "buddy icon"),
            (CAP_SEND_BUDDY_LIST, "buddy list"),
        ]
        .iter()
        .find_map(|(cap, what)| (rdv.capability == *cap).then_some(*what))
        {
            // No words, but delivered: a record that says what passed and how much of it.
            let mut e = self.base(
                Kind::Im,
                conversation,
                sender,
                recipients,
                direction,
                time_ns,
            );
            let size = rdv
                .tlvs
                .value(TLV_RDV_SERVICE_DATA)
                .map_or(0, bytes::Bytes::len);
            e.detail = Some(format!(
                "{what} sent (rendezvous, channel 2), no text; {size} bytes of service data"
            ));
            Some(e)
        } else {
            None
        }
    }

    /// A chat room event: message, join or leave.
    pub fn chat(
        &self,
        kind: Kind,
        room: &str,
        sender: &str,
        text: Option<&MessageText>,
        direction: Direction,
        time_ns: i64,
    ) -> Event {
        let mut e = self.base(
            kind,
            conversation_for_room(self.protocol(), room),
            sender,
            Vec::new(),
            direction,
            time_ns,
        );
        e.room = Some(room.to_owned());
        if let Some(t) = text {
            e.text = t.plain.clone();
            e.raw = t.html.clone();
            e.charset = Some(charset_name(t.charset));
        }
        e
    }

    /// The record of an ICBM as its recipient's client reads it (`reading`), or `None`
    /// for one without words (a rendezvous cancel or accept) or one the reading cannot
    /// stand behind (`Shown::Unreadable`: the session refuses it or records it raw). When
    /// clients may differ, the record keeps every text variant and the whole payload.
    pub fn reading(
        &self,
        sender: &str,
        recipient: &str,
        reading: &Reading,
        payload: &[u8],
        direction: Direction,
        time_ns: i64,
    ) -> Option<Event> {
        let mut event = match &reading.shown {
            Shown::Text { text, shape } => {
                let mut e = self.base(
                    Kind::Im,
                    conversation_for_pair(self.protocol(), sender, recipient),
                    sender,
                    vec![recipient.to_owned()],
                    direction,
                    time_ns,
                );
                e.text.clone_from(&text.plain);
                e.raw.clone_from(&text.html);
                e.charset = Some(charset_name(text.charset));
                if *shape != TextShape::ChannelOne {
                    e.detail = Some(shape.describe().to_owned());
                }
                e
            }
            Shown::Icq(msg) => self.icq(sender, recipient, msg, direction, time_ns),
            Shown::Rendezvous(rdv) => {
                self.rendezvous(sender, recipient, rdv, direction, time_ns)?
            }
            Shown::Unreadable(_) => return None,
        };
        if reading.auto_response {
            append_detail(&mut event, "auto-response");
        }
        if !reading.is_certain() {
            append_detail(&mut event, &uncertain(reading, payload));
        }
        Some(event)
    }

    /// The record of a message the relay could not read (`why`), with whatever text could
    /// be read and the whole payload; `verdict` says whether it was relayed.
    #[allow(clippy::too_many_arguments)]
    pub fn unreadable(
        &self,
        kind: Kind,
        sender: &str,
        recipient: &str,
        why: &str,
        texts: &[MessageText],
        payload: &[u8],
        direction: Direction,
        verdict: Verdict,
    ) -> Event {
        let conversation = if kind == Kind::ChatMessage {
            conversation_for_room(self.protocol(), recipient)
        } else {
            conversation_for_pair(self.protocol(), sender, recipient)
        };
        let recipients = if kind == Kind::ChatMessage {
            Vec::new()
        } else {
            vec![recipient.to_owned()]
        };
        let mut e = self.base(
            kind,
            conversation,
            sender,
            recipients,
            direction,
            record::now_ns(),
        );
        if kind == Kind::ChatMessage {
            e.room = Some(recipient.to_owned());
        }
        e.text = texts
            .iter()
            .map(|t| t.plain.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        let what = if verdict == Verdict::Allowed {
            "relayed"
        } else {
            "not relayed"
        };
        e.verdict = verdict;
        e.detail = Some(format!(
            "unreadable message ({why}), {what}; {} bytes, payload hex: {}",
            payload.len(),
            hex(payload)
        ));
        e
    }
}

fn append_detail(event: &mut Event, what: &str) {
    event.detail = Some(match event.detail.take() {
        Some(before) => format!("{before}; {what}"),
        None => what.to_owned(),
    });
}

/// What a record says about a reading other clients may not share: why, every text
/// variant in wire order, and the whole payload (bounded by the FLAP frame cap).
fn uncertain(reading: &Reading, payload: &[u8]) -> String {
    let variants: Vec<String> = reading
        .variants
        .iter()
        .enumerate()
        .map(|(i, t)| format!("[{}] {:?}", i + 1, t.plain))
        .collect();
    format!(
        "uncertain reading ({}); shown as libpurple shows it; every text: {}; payload hex: {}",
        reading.doubts.join(", "),
        variants.join(" "),
        hex(payload)
    )
}

/// Lower-case hex of all of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use oscar::message::icbm::text_message_data;
    use oscar::message::icbm_reading::IcbmFrame;

    fn capturer() -> Capturer<'static> {
        Capturer {
            local_user: "alice",
            client_addr: "127.0.0.1:5190".into(),
            node: "test",
        }
    }

    fn tlv(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut out = kind.to_be_bytes().to_vec();
        out.extend_from_slice(&u16::try_from(value.len()).unwrap().to_be_bytes());
        out.extend_from_slice(value);
        out
    }

    fn frame(channel: u16, area: Vec<u8>) -> IcbmFrame {
        IcbmFrame {
            cookie: [0; 8],
            channel,
            peer: bytes::Bytes::from_static(b"bob"),
            tlv_area: area.into(),
        }
    }

    #[test]
    fn an_uncertain_reading_keeps_every_variant_and_the_whole_payload() {
        let mut area = tlv(0x0002, &text_message_data("first").unwrap());
        area.extend(tlv(0x0002, &text_message_data("second").unwrap()));
        // Padding TLVs push the payload well past the 512 bytes the relay once kept.
        for _ in 0..300 {
            area.extend(tlv(0x0099, &[]));
        }
        let reading = frame(1, area.clone()).reading();
        let e = capturer()
            .reading("alice", "bob", &reading, &area, Direction::Outbound, 1)
            .unwrap();
        assert_eq!((e.kind, e.text.as_str()), (Kind::Im, "second"));
        assert_eq!(
            e.detail.unwrap(),
            format!(
                "uncertain reading (several message-data TLVs (0x0002), several text \
                 fragments); shown as libpurple shows it; every text: [1] \"first\" \
                 [2] \"second\"; payload hex: {}",
                hex(&area)
            )
        );
    }

    #[test]
    fn a_certain_reading_has_no_detail() {
        let area = tlv(0x0002, &text_message_data("hello").unwrap());
        let reading = frame(1, area.clone()).reading();
        let e = capturer()
            .reading("alice", "bob", &reading, &area, Direction::Outbound, 1)
            .unwrap();
        assert_eq!((e.text.as_str(), e.detail), ("hello", None));
    }

    #[test]
    fn an_unreadable_one_is_not_a_reading_and_its_record_keeps_the_bytes() {
        let area = tlv(0x0005, &text_message_data("hidden").unwrap());
        let reading = frame(1, area.clone()).reading();
        assert!(
            capturer()
                .reading("alice", "bob", &reading, &area, Direction::Outbound, 1)
                .is_none()
        );
        let e = capturer().unreadable(
            Kind::Im,
            "alice",
            "bob",
            "why",
            &[],
            &area,
            Direction::Outbound,
            Verdict::Blocked("unreadable".into()),
        );
        assert_eq!(e.verdict, Verdict::Blocked("unreadable".into()));
        assert_eq!(
            e.detail.unwrap(),
            format!(
                "unreadable message (why), not relayed; {} bytes, payload hex: {}",
                area.len(),
                hex(&area)
            )
        );
    }
}
