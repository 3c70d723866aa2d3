//! JSON Lines: `records.jsonl`, one object per record, the record as it is stored (its
//! archive `id` first) plus a `time` field (RFC 3339 with nanoseconds, in the export's zone
//! with its offset, `Z` in UTC) next to `time_ns`. JSON escapes every control character in a
//! string, so no text can break a line.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::Sink;
use super::manifest::{HashedFile, ManifestFile, file_error};
use super::zone::Zone;
use crate::error::ArchiveError;
use record::{Direction, Event, Kind, Protocol, Record, Verdict};

/// The exported file's name.
pub(crate) const FILE: &str = "records.jsonl";

/// A [`Record`] as exported: its fields in the same order and form, with `time` added after
/// `time_ns`. Built by destructuring every field, so a field added to [`Event`] fails to
/// compile here instead of going missing from exports.
#[derive(Serialize)]
struct Line<'a> {
    id: u64,
    time_ns: i64,
    time: String,
    protocol: Protocol,
    kind: Kind,
    conversation: &'a str,
    sender: &'a str,
    recipients: &'a [String],
    direction: Direction,
    local_user: &'a str,
    room: &'a Option<String>,
    client_addr: &'a Option<String>,
    node: &'a str,
    text: &'a str,
    raw: &'a str,
    charset: &'a Option<String>,
    verdict: &'a Verdict,
    detail: &'a Option<String>,
    employee: &'a Option<String>,
    /// For an `access` record, its `detail` as an object (who, uid, via, command, query,
    /// count), so a JSON reader need not parse a string inside the line.
    #[serde(skip_serializing_if = "Option::is_none")]
    access: Option<serde_json::Value>,
}

impl<'a> Line<'a> {
    fn of(record: &'a Record, zone: &Zone) -> Self {
        let Record { id, event } = record;
        let Event {
            time_ns,
            protocol,
            kind,
            conversation,
            sender,
            recipients,
            direction,
            local_user,
            room,
            client_addr,
            node,
            text,
            raw,
            charset,
            verdict,
            detail,
            employee,
        } = event;
        let access = detail
            .as_deref()
            .filter(|_| *kind == Kind::Access)
            .and_then(|d| serde_json::from_str(d).ok());
        Self {
            id: *id,
            time_ns: *time_ns,
            time: zone.rfc3339(*time_ns),
            protocol: *protocol,
            kind: *kind,
            conversation,
            sender,
            recipients,
            direction: *direction,
            local_user,
            room,
            client_addr,
            node,
            text,
            raw,
            charset,
            verdict,
            detail,
            employee,
            access,
        }
    }
}

/// One record as a JSON line (no newline), `time` in UTC.
pub fn json_line(record: &Record) -> Result<String, ArchiveError> {
    json_line_in(record, &Zone::utc())
}

/// One record as a JSON line (no newline), `time` in `zone`: the form `search --json`
/// prints and the jsonl export writes, so the two never drift apart.
pub fn json_line_in(record: &Record, zone: &Zone) -> Result<String, ArchiveError> {
    serde_json::to_string(&Line::of(record, zone)).map_err(|e| ArchiveError::corrupt("record", e))
}

pub(crate) struct JsonlSink {
    file: HashedFile,
    zone: Zone,
    records: u64,
    /// One line, reused.
    line: Vec<u8>,
}

impl JsonlSink {
    pub(crate) fn create(dir: &Path, zone: &Zone) -> Result<Self, ArchiveError> {
        Ok(Self {
            file: HashedFile::create_in(dir, FILE)?,
            zone: zone.clone(),
            records: 0,
            line: Vec::with_capacity(1024),
        })
    }
}

impl Sink for JsonlSink {
    fn record(&mut self, record: &Record) -> Result<(), ArchiveError> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, &Line::of(record, &self.zone))
            .map_err(|e| ArchiveError::corrupt("record", e))?;
        self.line.push(b'\n');
        self.file
            .write_all(&self.line)
            .map_err(|e| file_error(self.file.path(), e))?;
        self.records += 1;
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Vec<ManifestFile>, ArchiveError> {
        Ok(vec![self.file.finish(self.records)?])
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::export::tests::record;

    #[test]
    fn a_line_is_the_record_plus_time_right_after_time_ns() {
        let mut r = record(7, -1, "Alice Smith", "bob", "héllo <b>\"x\"</b>\n");
        r.event.verdict = Verdict::Blocked("no-links".into());
        r.event.room = Some("Room".into());
        let line = serde_json::to_value(Line::of(&r, &Zone::utc())).unwrap();
        let plain = serde_json::to_value(&r).unwrap();
        let (line, plain) = (line.as_object().unwrap(), plain.as_object().unwrap());
        assert_eq!(line.len(), plain.len() + 1);
        for (k, v) in plain {
            assert_eq!(line.get(k), Some(v), "{k}");
        }
        assert_eq!(line["time"], "1969-12-31T23:59:59.999999999Z");
        // Field order as written: id, time_ns, time, then the rest.
        let text = serde_json::to_string(&Line::of(&r, &Zone::utc())).unwrap();
        let (a, b, c) = (
            text.find("\"time_ns\"").unwrap(),
            text.find("\"time\"").unwrap(),
            text.find("\"protocol\"").unwrap(),
        );
        assert!(a < b && b < c, "{text}");
        // And it reads back as the record (the extra field is ignored).
        let back: Record = serde_json::from_str(&text).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn one_line_per_record() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = Box::new(JsonlSink::create(dir.path(), &Zone::utc()).unwrap());
        sink.record(&record(1, 0, "a", "b", "line\nbreak")).unwrap();
        sink.record(&record(2, 1, "b", "a", "two")).unwrap();
        let files = sink.finish().unwrap();
        let body = std::fs::read_to_string(dir.path().join(FILE)).unwrap();
        assert_eq!(body.lines().count(), 2);
        assert_eq!(files[0].records, 2);
        assert_eq!(files[0].bytes, body.len() as u64);
    }
}
