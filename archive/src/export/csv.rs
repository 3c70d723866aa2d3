//! CSV: `records.csv`, a header row and one row per record (RFC 4180 quoting by the `csv`
//! crate: fields with commas, quotes or line breaks are quoted, so texts come back intact).
//!
//! Absent values are empty fields; `recipients` are joined with `;`; `verdict` is
//! `allowed`, `blocked:RULE`, `masked:RULE`, `alerted:RULE` or `passive`; `id` is the
//! record's id in the archive; `time` is RFC 3339 in the export's zone.
//!
//! Formula injection (OWASP "CSV Injection"): a spreadsheet runs a cell that starts with
//! `=`, `+`, `-` or `@` (and some a tab or CR before one) as a formula, so a message such as
//! `=HYPERLINK("http://x","y")` would become a live link, or worse, in a reviewer's
//! spreadsheet. Every cell that starts with one of those, or with `'`, is written with a
//! `'` in front: spreadsheets show it as text and hide the `'`. The original is the cell
//! with exactly one leading `'` removed (that `'` is also added before a leading `'`, so
//! the mapping is one-to-one); the JSONL export has every text unchanged.
//!
//! With `--excel` the file starts with a UTF-8 byte-order mark, without which Excel reads
//! it in the system's legacy code page.

use std::borrow::Cow;
use std::path::Path;

use std::io::Write as _;

use super::manifest::{HashedFile, ManifestFile, file_error};
use super::zone::Zone;
use super::{Sink, verdict_label};
use crate::error::ArchiveError;
use record::Record;

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

fn opt(v: &Option<String>) -> Cow<'_, str> {
    Cow::Borrowed(v.as_deref().unwrap_or_default())
}

/// The UTF-8 byte-order mark `--excel` starts the file with.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// `cell`, with a `'` in front if a spreadsheet could take it for a formula (or it starts
/// with `'` itself, to keep the mapping one-to-one).
pub fn neutralise(cell: Cow<'_, str>) -> Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r' | '\'') => Cow::Owned(format!("'{cell}")),
        _ => cell,
    }
}

/// One record's row, in [`COLUMNS`] order, every cell neutralised.
fn row<'a>(record: &'a Record, zone: &Zone) -> [Cow<'a, str>; 18] {
    raw_row(record, zone).map(neutralise)
}

/// One record's row as archived.
fn raw_row<'a>(record: &'a Record, zone: &Zone) -> [Cow<'a, str>; 18] {
    let e = &record.event;
    [
        Cow::Owned(record.id.to_string()),
        Cow::Owned(zone.rfc3339(e.time_ns)),
        Cow::Borrowed(e.protocol.as_str()),
        Cow::Borrowed(e.kind.as_str()),
        Cow::Borrowed(&e.conversation),
        opt(&e.room),
        Cow::Borrowed(&e.sender),
        Cow::Owned(e.recipients.join(";")),
        Cow::Borrowed(e.direction.as_str()),
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
    zone: Zone,
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
    pub(crate) fn create(dir: &Path, zone: &Zone, bom: bool) -> Result<Self, ArchiveError> {
        let mut file = HashedFile::create_in(dir, FILE)?;
        let path = file.path().to_path_buf();
        if bom {
            file.write_all(BOM).map_err(|e| file_error(&path, e))?;
        }
        let mut writer = csv::WriterBuilder::new().flexible(false).from_writer(file);
        writer
            .write_record(COLUMNS)
            .map_err(|e| csv_error(&path, e))?;
        Ok(Self {
            writer,
            zone: zone.clone(),
            path,
            records: 0,
        })
    }
}

impl Sink for CsvSink {
    fn record(&mut self, record: &Record) -> Result<(), ArchiveError> {
        self.writer
            .write_record(row(record, &self.zone).iter().map(|f| f.as_bytes()))
            .map_err(|e| csv_error(&self.path, e))?;
        self.records += 1;
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Vec<ManifestFile>, ArchiveError> {
        let Self {
            writer,
            path,
            records,
            ..
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
    use record::Verdict;

    #[test]
    fn rows_quote_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = record(3, 0, "Alice Smith", "bob", "a, \"quoted\"\nline; é");
        r.event.recipients = vec!["bob".into(), "carol".into()];
        r.event.verdict = Verdict::Masked("ssn".into());
        r.event.room = Some("Desk".into());
        let mut sink = Box::new(CsvSink::create(dir.path(), &Zone::utc(), false).unwrap());
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

    #[test]
    fn formula_cells_are_neutralised_one_to_one() {
        for (cell, written) in [
            (
                "=HYPERLINK(\"http://x\",\"y\")",
                "'=HYPERLINK(\"http://x\",\"y\")",
            ),
            ("+1", "'+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("\r=1", "'\r=1"),
            ("'=1", "''=1"),
            ("ok =1", "ok =1"),
            ("", ""),
            ("é=", "é="),
        ] {
            let shown = neutralise(Cow::Borrowed(cell));
            assert_eq!(shown, written, "{cell:?}");
            // The original is the cell less one leading quote, if it has one.
            let back = if cell.is_empty() || !shown.starts_with('\'') || shown == cell {
                &*shown
            } else {
                &shown[1..]
            };
            assert_eq!(back, cell);
        }
    }

    #[test]
    fn every_network_cell_is_neutralised_and_excel_gets_a_bom() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = record(4, 0, "@alice", "=bob", "=HYPERLINK(\"http://x\",\"y\")");
        r.event.room = Some("+desk".into());
        r.event.detail = Some("-detail".into());
        let mut sink = Box::new(CsvSink::create(dir.path(), &Zone::utc(), true).unwrap());
        sink.record(&r).unwrap();
        sink.finish().unwrap();
        let bytes = std::fs::read(dir.path().join(FILE)).unwrap();
        assert!(bytes.starts_with(BOM));
        let mut reader = csv::Reader::from_reader(&bytes[BOM.len()..]);
        let row = reader.records().next().unwrap().unwrap();
        assert_eq!(&row[0], "4");
        assert_eq!(&row[5], "'+desk");
        assert_eq!(&row[6], "'@alice");
        assert_eq!(&row[7], "'=bob");
        assert_eq!(&row[12], "'=HYPERLINK(\"http://x\",\"y\")");
        assert_eq!(&row[16], "'-detail");
        for cell in row.iter() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "{cell:?}"
            );
        }
    }
}
