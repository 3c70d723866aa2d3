//! CSV: `records.csv`, a header row and one row per record (RFC 4180 quoting by the `csv`
//! crate: fields with commas, quotes or line breaks are quoted, so texts come back intact).
//!
//! Absent values are empty fields; `recipients` are joined with `;`; `verdict` is
//! `allowed`, `blocked:RULE`, `masked:RULE`, `alerted:RULE` or `passive`. Texts are written
//! exactly as archived: a text that starts with `=` stays as it is (a spreadsheet may treat
//! it as a formula; open the file as text to be sure).

use std::borrow::Cow;
use std::path::Path;

use super::manifest::{HashedFile, ManifestFile, file_error};
use super::{Sink, rfc3339, verdict_label};
use crate::error::ArchiveError;
use crate::record::{Direction, Record};

/// The exported file's name.
pub(crate) const FILE: &str = "records.csv";

/// The header row.
pub(crate) const COLUMNS: [&str; 18] = [
    "id",
    "time",
    "protocol",
    "kind",
    "conversation",
    "room",
    "sender",
    "recipients",
    "direction",
    "local_user",
    "client_addr",
    "node",
    "text",
    "raw",
    "charset",
    "verdict",
    "detail",
    "employee",
];

fn direction(d: Direction) -> &'static str {
    match d {
        Direction::Outbound => "outbound",
        Direction::Inbound => "inbound",
        Direction::Internal => "internal",
    }
}

fn opt(v: &Option<String>) -> Cow<'_, str> {
    Cow::Borrowed(v.as_deref().unwrap_or_default())
}

/// One record's row, in [`COLUMNS`] order.
fn row(record: &Record) -> [Cow<'_, str>; 18] {
    let e = &record.event;
    [
        Cow::Owned(record.id.to_string()),
        Cow::Owned(rfc3339(e.time_ns)),
        Cow::Borrowed(e.protocol.as_str()),
        Cow::Borrowed(e.kind.as_str()),
        Cow::Borrowed(&e.conversation),
        opt(&e.room),
        Cow::Borrowed(&e.sender),
        Cow::Owned(e.recipients.join(";")),
        Cow::Borrowed(direction(e.direction)),
        Cow::Borrowed(&e.local_user),
        opt(&e.client_addr),
        Cow::Borrowed(&e.node),
        Cow::Borrowed(&e.text),
        Cow::Borrowed(&e.raw),
        opt(&e.charset),
        Cow::Owned(verdict_label(&e.verdict)),
        opt(&e.detail),
        opt(&e.employee),
    ]
}

pub(crate) struct CsvSink {
    writer: csv::Writer<HashedFile>,
    path: std::path::PathBuf,
    records: u64,
}

fn csv_error(path: &Path, e: csv::Error) -> ArchiveError {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => file_error(path, e),
        other => ArchiveError::corrupt("csv row", format!("{other:?}")),
    }
}

impl CsvSink {
    pub(crate) fn create(dir: &Path) -> Result<Self, ArchiveError> {
        let file = HashedFile::create_in(dir, FILE)?;
        let path = file.path().to_path_buf();
        let mut writer = csv::WriterBuilder::new().flexible(false).from_writer(file);
        writer
            .write_record(COLUMNS)
            .map_err(|e| csv_error(&path, e))?;
        Ok(Self {
            writer,
            path,
            records: 0,
        })
    }
}

impl Sink for CsvSink {
    fn record(&mut self, record: &Record) -> Result<(), ArchiveError> {
        self.writer
            .write_record(row(record).iter().map(|f| f.as_bytes()))
            .map_err(|e| csv_error(&self.path, e))?;
        self.records += 1;
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Vec<ManifestFile>, ArchiveError> {
        let Self {
            writer,
            path,
            records,
        } = *self;
        let file = writer
            .into_inner()
            .map_err(|e| file_error(&path, e.into_error()))?;
        Ok(vec![file.finish(records)?])
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::export::tests::record;
    use crate::record::Verdict;

    #[test]
    fn rows_quote_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = record(3, 0, "Alice Smith", "bob", "a, \"quoted\"\nline; é");
        r.event.recipients = vec!["bob".into(), "carol".into()];
        r.event.verdict = Verdict::Masked("ssn".into());
        r.event.room = Some("Desk".into());
        let mut sink = Box::new(CsvSink::create(dir.path()).unwrap());
        sink.record(&r).unwrap();
        let files = sink.finish().unwrap();
        assert_eq!(files[0].records, 1);
        let mut reader = csv::Reader::from_path(dir.path().join(FILE)).unwrap();
        assert_eq!(
            reader.headers().unwrap(),
            &csv::StringRecord::from(&COLUMNS[..])
        );
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        assert_eq!(&row[0], "3");
        assert_eq!(&row[1], "1970-01-01T00:00:00.000000000Z");
        assert_eq!(&row[5], "Desk");
        assert_eq!(&row[7], "bob;carol");
        assert_eq!(&row[8], "outbound");
        assert_eq!(&row[12], "a, \"quoted\"\nline; é");
        assert_eq!(&row[14], "");
        assert_eq!(&row[15], "masked:ssn");
    }
}
