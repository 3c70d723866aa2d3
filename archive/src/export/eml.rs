//! EML: one RFC 5322 message per conversation per day, `eml/<YYYY-MM-DD>/<conversation>.eml`,
//! for review tools that take mail.
//!
//! * From: the day's first sender, To: every other participant, each as
//!   `"Name as seen" <normalised-name@protocol.invalid>` (the local part keeps ASCII letters,
//!   digits, `-_+` and inner single dots; any other byte is written `=XX`, so distinct names
//!   stay distinct). A room whose only participant is the sender gets an empty group
//!   `room name: ;` as To.
//! * Subject: `IM conversation <participants or "room NAME"> <day> (<protocol>)`; Date: the
//!   first record's time; Message-ID: a hash of the exporting node, the conversation and the
//!   day, so a re-export names the same message the same way.
//! * `X-IMtegrity-Conversation` (the conversation key) and `X-IMtegrity-Record-Ids`
//!   (`first-last`: the smallest and largest id in the message; other conversations' ids may
//!   lie between).
//! * multipart/alternative: a text/plain transcript, one [`transcript_line`] per record
//!   (`[HH:MM:SS] #ID sender: text`, the same lines `search` prints; a message's own line
//!   breaks continue on indented lines, so no text can pass for another record) and a
//!   text/html one with the same lines, every character of captured text escaped. The raw
//!   HTML a client sent is not rendered; it is in the JSONL and CSV exports.
//! * Days and times are those of the export's [`Zone`] (UTC unless `--tz`), which the
//!   transcript's header states.
//!
//! Memory: records come in time order, so the groups of a day are complete when a record of
//! a later day arrives; only the rendered transcripts of the open day are held. A record
//! older than the open day (out of order) starts a new group that is written as
//! `<conversation>.2.eml` (and so on) rather than rewriting a finished file.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mail_builder::headers::date::Date;
use mail_builder::headers::message_id::MessageId;
use mail_builder::headers::raw::Raw;
use mail_builder::headers::text::Text;
use sha2::{Digest, Sha256};

use super::manifest::{HashedFile, ManifestFile, file_error, sync_dir};
use super::transcript::transcript_line;
use super::transcript_text::single_line;
use super::zone::Zone;
use super::{Sink, unix_seconds};
use crate::error::ArchiveError;
use record::hex;
use record::{Event, Protocol, Record, normalize};

/// The subdirectory of the export that holds the messages.
pub(crate) const DIR: &str = "eml";

/// Longest file-name stem, in bytes (file systems allow 255).
const MAX_STEM: usize = 120;

pub(crate) struct EmlSink {
    dir: PathBuf,
    node: String,
    /// The zone whose calendar days group the records and whose times the lines show.
    zone: Zone,
    /// Open groups by (day in `zone`, conversation).
    open: BTreeMap<(jiff::civil::Date, String), Group>,
    /// The latest day seen; groups of earlier days are complete.
    day: Option<jiff::civil::Date>,
    files: Vec<ManifestFile>,
    /// Directories created, to fsync at the end.
    dirs: BTreeSet<PathBuf>,
}

impl EmlSink {
    pub(crate) fn new(dir: &Path, node: &str, zone: &Zone) -> Self {
        Self {
            dir: dir.to_path_buf(),
            node: node.to_owned(),
            zone: zone.clone(),
            open: BTreeMap::new(),
            day: None,
            files: Vec::new(),
            dirs: BTreeSet::new(),
        }
    }

    /// Writes every open group of a day before `day`.
    fn flush_before(&mut self, day: jiff::civil::Date) -> Result<(), ArchiveError> {
        let later = self.open.split_off(&(day, String::new()));
        let done = std::mem::replace(&mut self.open, later);
        for ((day, conversation), group) in done {
            self.write(day, &conversation, &group)?;
        }
        Ok(())
    }

    fn write(
        &mut self,
        day: jiff::civil::Date,
        conversation: &str,
        group: &Group,
    ) -> Result<(), ArchiveError> {
        let day = Zone::day_string(day);
        let rel = format!("{DIR}/{day}");
        let abs = self.dir.join(&rel);
        if !self.dirs.contains(&abs) {
            super::manifest::create_private_dir(&abs).map_err(|e| file_error(&abs, e))?;
            self.dirs.insert(self.dir.join(DIR));
            self.dirs.insert(abs);
        }
        let stem = file_stem(conversation);
        let mut part = 1u32;
        let mut file = loop {
            let name = if part == 1 {
                format!("{rel}/{stem}.eml")
            } else {
                format!("{rel}/{stem}.{part}.eml")
            };
            match HashedFile::create(&self.dir, &name) {
                Ok(file) => break file,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && part < 100_000 => {
                    part += 1;
                }
                Err(e) => return Err(file_error(&self.dir.join(name), e)),
            }
        };
        let message = group.message(&self.node, &self.zone, conversation, &day, part);
        message
            .write_to(&mut file)
            .map_err(|e| file_error(file.path(), e))?;
        self.files.push(file.finish(group.records)?);
        Ok(())
    }
}

impl Sink for EmlSink {
    fn record(&mut self, record: &Record) -> Result<(), ArchiveError> {
        let day = self.zone.day(record.event.time_ns);
        if self.day.is_none_or(|open| day > open) {
            self.flush_before(day)?;
            self.day = Some(day);
        }
        self.open
            .entry((day, record.event.conversation.clone()))
            .or_insert_with(|| Group::new(&record.event))
            .add(record, &self.zone);
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<Vec<ManifestFile>, ArchiveError> {
        for ((day, conversation), group) in std::mem::take(&mut self.open) {
            self.write(day, &conversation, &group)?;
        }
        for dir in &self.dirs {
            sync_dir(dir)?;
        }
        Ok(self.files)
    }
}

/// A participant: the comparison form and the name as first seen.
struct Person {
    key: String,
    shown: String,
}

/// One conversation's records of one day, rendered as they arrive.
struct Group {
    protocol: Protocol,
    room: Option<String>,
    first_ns: i64,
    people: Vec<Person>,
    /// Index in `people` of the first sender.
    from: Option<usize>,
    first_id: u64,
    last_id: u64,
    records: u64,
    text: String,
    html: String,
}

impl Group {
    fn new(first: &Event) -> Self {
        Self {
            protocol: first.protocol,
            room: None,
            first_ns: first.time_ns,
            people: Vec::new(),
            from: None,
            first_id: u64::MAX,
            last_id: 0,
            records: 0,
            text: String::new(),
            html: String::new(),
        }
    }

    fn person(&mut self, name: &str) -> Option<usize> {
        if name.trim().is_empty() {
            return None;
        }
        let key = normalize(self.protocol, name);
        if let Some(i) = self.people.iter().position(|p| p.key == key) {
            return Some(i);
        }
        self.people.push(Person {
            key,
            shown: name.trim().to_owned(),
        });
        Some(self.people.len() - 1)
    }

    fn add(&mut self, record: &Record, zone: &Zone) {
        let e = &record.event;
        self.first_ns = self.first_ns.min(e.time_ns);
        self.first_id = self.first_id.min(record.id);
        self.last_id = self.last_id.max(record.id);
        self.records += 1;
        if self.room.is_none() {
            self.room.clone_from(&e.room);
        }
        let sender = self.person(&e.sender);
        if self.from.is_none() {
            self.from = sender;
        }
        for name in &e.recipients {
            self.person(name);
        }
        self.person(&e.local_user);
        let line = transcript_line(record, zone);
        self.text.push_str(&line);
        self.text.push('\n');
        self.html.push_str("<div class=\"line\">");
        record::escape_markup_into(&mut self.html, &line);
        self.html.push_str("</div>\n");
    }

    fn address(&self, person: &Person) -> Address<'static> {
        Address::new_address(
            Some(person.shown.clone()),
            format!("{}@{}.invalid", local_part(&person.key), self.protocol),
        )
    }

    fn subject(&self, day: &str) -> String {
        let who = match &self.room {
            Some(room) => format!("room {}", one_line(room)),
            None => {
                let names: Vec<&str> = self.people.iter().map(|p| p.shown.as_str()).collect();
                one_line(&names.join(", "))
            }
        };
        format!("IM conversation {who} {day} ({})", self.protocol)
    }

    fn message(
        &self,
        node: &str,
        zone: &Zone,
        conversation: &str,
        day: &str,
        part: u32,
    ) -> MessageBuilder<'_> {
        let subject = self.subject(day);
        let from = self.from.or(if self.people.is_empty() {
            None
        } else {
            Some(0)
        });
        let others: Vec<Address<'static>> = self
            .people
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != from)
            .map(|(_, p)| self.address(p))
            .collect();
        let to = if others.is_empty() {
            let name = self
                .room
                .as_deref()
                .map_or_else(|| "undisclosed-recipients".to_owned(), one_line);
            Address::new_group(Some(name), Vec::new())
        } else {
            Address::new_list(others)
        };
        let ids = format!("{}-{}", self.first_id, self.last_id);
        let count = super::counted(self.records, "record");
        let times = zone.statement();
        let header = format!(
            "{subject}\nConversation: {conversation}\nRecords: {ids} ({count})\n\
             Exported by {node} from the IMtegrity archive. {times}\n\n"
        );
        let mut html = String::with_capacity(self.html.len() + 512);
        html.push_str("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>");
        record::escape_markup_into(&mut html, &subject);
        html.push_str(
            "</title>\n<style>.line{white-space:pre-wrap;font-family:monospace}</style>\
             </head>\n<body>\n<h1>",
        );
        record::escape_markup_into(&mut html, &subject);
        html.push_str("</h1>\n<p>Conversation ");
        record::escape_markup_into(&mut html, conversation);
        let _ = write!(html, ", records {ids} ({count}). Exported by ");
        record::escape_markup_into(&mut html, node);
        html.push_str(" from the IMtegrity archive. ");
        record::escape_markup_into(&mut html, &times);
        html.push_str("</p>\n");
        html.push_str(&self.html);
        html.push_str("</body></html>\n");

        let mut builder = MessageBuilder::new();
        if let Some(from) = from.and_then(|i| self.people.get(i)) {
            builder = builder.from(self.address(from));
        }
        builder
            .to(to)
            .subject(Text::new(subject))
            .date(Date::new(unix_seconds(self.first_ns)))
            .message_id(MessageId::new(message_id(node, conversation, day, part)))
            .header(
                "X-IMtegrity-Conversation",
                Text::new(conversation.to_owned()),
            )
            .header("X-IMtegrity-Record-Ids", Raw::new(ids))
            .text_body(format!("{header}{}", self.text))
            .html_body(html)
    }
}

/// A value for a header that must stay on one line and read as it is: line breaks, other
/// controls and bidirectional overrides shown as `<U+XXXX>`, as in the transcript.
fn one_line(s: &str) -> String {
    single_line(s)
}

/// A normalised screen name as an address's local part: ASCII letters, digits, `-_+` and
/// single inner dots stay; every other byte becomes `=XX`, so the mapping is one-to-one.
pub(crate) fn local_part(key: &str) -> String {
    let bytes = key.as_bytes();
    let mut out = String::with_capacity(bytes.len());
    for (i, &b) in bytes.iter().enumerate() {
        let inner_dot = b == b'.' && i > 0 && i + 1 < bytes.len() && !out.ends_with('.');
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'+') || inner_dot {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "={b:02X}");
        }
    }
    if out.is_empty() {
        "unknown".to_owned()
    } else {
        out
    }
}

/// A conversation key as a file-name stem: letters, digits, `-_.` kept, anything else `_`,
/// at most [`MAX_STEM`] bytes, never starting with a dot.
pub(crate) fn file_stem(conversation: &str) -> String {
    let mut out = String::new();
    for c in conversation.chars() {
        let c = if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') {
            c
        } else {
            '_'
        };
        if out.len() + c.len_utf8() > MAX_STEM {
            break;
        }
        out.push(c);
    }
    let out = out.trim_start_matches('.');
    if out.is_empty() {
        "conversation".to_owned()
    } else {
        out.to_owned()
    }
}

/// `<hash>.<day>@<node>.imtegrity.invalid`, the same for the same node, conversation and day.
fn message_id(node: &str, conversation: &str, day: &str, part: u32) -> String {
    let mut h = Sha256::new();
    for piece in [node, conversation, day] {
        h.update(piece.as_bytes());
        h.update([0]);
    }
    h.update(part.to_be_bytes());
    let digest = hex(&h.finalize());
    let host: String = node
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let host = host.trim_matches('-');
    let host = if host.is_empty() { "node" } else { host };
    format!(
        "{}.{day}@{host}.imtegrity.invalid",
        digest.get(..32).unwrap_or(&digest)
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::export::tests::record;
    use record::{Kind, conversation_for_room};

    const DAY: i64 = 86_400_000_000_000;

    fn parse(bytes: &[u8]) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default().parse(bytes).unwrap()
    }

    #[test]
    fn local_parts_are_valid_and_one_to_one() {
        assert_eq!(local_part("alice"), "alice");
        assert_eq!(local_part("12345"), "12345");
        assert_eq!(local_part("john.doe"), "john.doe");
        assert_eq!(local_part(".x..y."), "=2Ex.=2Ey=2E");
        assert_eq!(local_part("cn=a b/o=c"), "cn=3Da=20b=2Fo=3Dc");
        assert_eq!(local_part("müller"), "m=C3=BCller");
        assert_eq!(local_part(""), "unknown");
        assert_ne!(local_part("a_b"), local_part("a b"));
    }

    #[test]
    fn header_values_stay_on_one_line_and_show_overrides() {
        assert_eq!(
            one_line("Desk\r\nBcc: x\u{202E}"),
            "Desk<U+000D><U+000A>Bcc: x<U+202E>"
        );
        assert_eq!(one_line("Trading Desk"), "Trading Desk");
    }

    #[test]
    fn file_stems_are_safe() {
        assert_eq!(file_stem("aim:alice|bob"), "aim_alice_bob");
        assert_eq!(
            file_stem("sametime:room:../../etc"),
            "sametime_room_.._.._etc"
        );
        assert_eq!(file_stem("..."), "conversation");
        assert_eq!(file_stem("st:jürgen|zoë"), "st_jürgen_zoë");
        assert!(file_stem(&"é".repeat(500)).len() <= MAX_STEM);
    }

    #[test]
    fn message_parses_with_headers_and_escaped_html() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = Box::new(EmlSink::new(dir.path(), "gw 1", &Zone::utc()));
        let r1 = record(
            5,
            1_000_000_000,
            "Alice Smith",
            "bob",
            "<script>alert(1)</script> & café",
        );
        let r2 = record(6, 2_000_000_000, "bob", "AliceSmith", "ok");
        sink.record(&r1).unwrap();
        sink.record(&r2).unwrap();
        let files = sink.finish().unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].name, "eml/1970-01-01/aim_alicesmith_bob.eml");
        assert_eq!(files[0].records, 2);
        let bytes = std::fs::read(dir.path().join(&files[0].name)).unwrap();
        let m = parse(&bytes);
        let from = m.from().unwrap().first().unwrap();
        assert_eq!(from.name(), Some("Alice Smith"));
        assert_eq!(from.address(), Some("alicesmith@aim.invalid"));
        let to = m.to().unwrap().first().unwrap();
        assert_eq!(
            (to.name(), to.address()),
            (Some("bob"), Some("bob@aim.invalid"))
        );
        assert_eq!(
            m.subject(),
            Some("IM conversation Alice Smith, bob 1970-01-01 (aim)")
        );
        assert_eq!(m.date().unwrap().to_timestamp(), 1);
        assert_eq!(
            m.message_id().unwrap(),
            message_id("gw 1", "aim:alicesmith|bob", "1970-01-01", 1)
        );
        assert!(m.message_id().unwrap().ends_with("@gw-1.imtegrity.invalid"));
        assert_eq!(
            m.header_raw("X-IMtegrity-Record-Ids").map(str::trim),
            Some("5-6")
        );
        let text = m.body_text(0).unwrap();
        assert!(text.contains("[00:00:01] #5 Alice Smith: <script>alert(1)</script> & café"));
        assert!(text.contains("[00:00:02] #6 bob: ok"));
        let html = m.body_html(0).unwrap();
        assert!(!html.contains("<script>"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; café"),
            "{html}"
        );
    }

    #[test]
    fn groups_by_conversation_and_day_and_never_rewrites_a_finished_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = Box::new(EmlSink::new(dir.path(), "gw1", &Zone::utc()));
        let mut room = record(3, DAY + 5, "carol", "", "morning all");
        room.event.kind = Kind::ChatMessage;
        room.event.recipients = vec![];
        room.event.room = Some("Desk".into());
        room.event.conversation = conversation_for_room(Protocol::Aim, "Desk");
        for r in [
            record(1, 10, "a", "b", "day one"),
            record(2, 20, "c", "d", "day one too"),
            room,
            record(4, DAY + 6, "a", "b", "day two"),
            // Out of order: day one again, after day one was written.
            record(5, 30, "a", "b", "late"),
            // Before the epoch.
            record(6, -1, "a", "b", "1969"),
        ] {
            sink.record(&r).unwrap();
        }
        let files = sink.finish().unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "eml/1970-01-01/aim_a_b.eml",
                "eml/1970-01-01/aim_c_d.eml",
                "eml/1969-12-31/aim_a_b.eml",
                "eml/1970-01-01/aim_a_b.2.eml",
                "eml/1970-01-02/aim_a_b.eml",
                "eml/1970-01-02/aim_room_desk.eml",
            ]
        );
        let bytes = std::fs::read(dir.path().join("eml/1970-01-02/aim_room_desk.eml")).unwrap();
        let m = parse(&bytes);
        assert_eq!(
            m.subject(),
            Some("IM conversation room Desk 1970-01-02 (aim)")
        );
        assert!(m.body_text(0).unwrap().contains("carol: morning all"));
        let late = std::fs::read(dir.path().join("eml/1970-01-01/aim_a_b.2.eml")).unwrap();
        let first = std::fs::read(dir.path().join("eml/1970-01-01/aim_a_b.eml")).unwrap();
        assert_ne!(parse(&late).message_id(), parse(&first).message_id());
        assert!(parse(&late).body_text(0).unwrap().contains("a: late"));
    }
}
