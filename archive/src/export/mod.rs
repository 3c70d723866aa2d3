//! Export: the records a [`Query`] matched, written to a new directory as JSON Lines, CSV or
//! one RFC 5322 message per conversation and UTC day, with a `manifest.json` that names the
//! query, the record ids and the SHA-256 of every file.
//!
//! * The directory is created (0700); an existing non-empty one is refused, and no file is ever
//!   replaced.
//! * Records are streamed: JSONL and CSV hold one record at a time; EML holds the rendered
//!   transcripts of the conversations of the day being read (records come in time order, so
//!   a day is complete when the next one starts).
//! * Every file is owner-only (0600) whatever the umask: an export holds the archive's
//!   messages, and handing it on is a deliberate step.
//! * Every file is fsynced; `manifest.json` is written last (atomically), so a directory
//!   without it is an incomplete export.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::clock::now_ns;
use crate::error::ArchiveError;
use crate::query::Query;
use crate::record::{Record, Verdict};

mod csv;
mod eml;
mod jsonl;
mod manifest;

pub use jsonl::json_line;
pub use manifest::{MANIFEST_FILE, Manifest, ManifestFile};

/// How often [`export`] reports progress, in records.
pub const PROGRESS_EVERY: u64 = 1000;

/// The export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// `records.jsonl`: one JSON object per record, as stored plus an RFC 3339 `time`.
    Jsonl,
    /// `records.csv`: a header row and one row per record.
    Csv,
    /// `eml/<day>/<conversation>.eml`: one message per conversation per UTC day, with a
    /// plain-text and an HTML transcript.
    Eml,
}

impl Format {
    /// Every format, for help texts.
    pub const ALL: [Self; 3] = [Self::Jsonl, Self::Csv, Self::Eml];

    /// The lower-case name used by the CLI and in the manifest.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jsonl => "jsonl",
            Self::Csv => "csv",
            Self::Eml => "eml",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("unknown export format {s:?} (jsonl, csv, eml)"))
    }
}

/// What to export to where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportOptions {
    /// The format.
    pub format: Format,
    /// The directory to create (it may exist if it is empty).
    pub out_dir: PathBuf,
    /// The exporting node's name, recorded in the manifest and used in EML Message-IDs.
    pub node: String,
}

/// One format's writer: takes records in order, then closes its files.
trait Sink {
    fn record(&mut self, record: &Record) -> Result<(), ArchiveError>;
    /// Flushes and fsyncs everything; returns the files written, in order.
    fn finish(self: Box<Self>) -> Result<Vec<ManifestFile>, ArchiveError>;
}

/// Writes `records` (normally `archive.search(query)`) to `options.out_dir` in
/// `options.format` and returns the manifest it wrote there.
///
/// `progress(n)` is called with the number of records written so far after every
/// [`PROGRESS_EVERY`] records, and once at the end if the total is not a multiple of it.
/// The first error (from `records` or from writing) stops the export; the files written so
/// far stay, without a manifest.
pub fn export<I: Iterator<Item = Result<Record, ArchiveError>>>(
    records: I,
    query: &Query,
    options: &ExportOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<Manifest, ArchiveError> {
    let created = rfc3339(now_ns());
    let dir = options.out_dir.as_path();
    prepare_dir(dir)?;
    let mut sink: Box<dyn Sink> = match options.format {
        Format::Jsonl => Box::new(jsonl::JsonlSink::create(dir)?),
        Format::Csv => Box::new(csv::CsvSink::create(dir)?),
        Format::Eml => Box::new(eml::EmlSink::new(dir, &options.node)),
    };
    let mut ids = manifest::IdRanges::default();
    let mut count = 0u64;
    for record in records {
        let record = record?;
        sink.record(&record)?;
        ids.push(record.id);
        count += 1;
        if count.is_multiple_of(PROGRESS_EVERY) {
            progress(count);
        }
    }
    if !count.is_multiple_of(PROGRESS_EVERY) {
        progress(count);
    }
    let files = sink.finish()?;
    let manifest = Manifest {
        format: options.format.to_string(),
        created,
        node: options.node.clone(),
        query: query.clone(),
        count,
        record_ids: ids.finish(),
        files,
    };
    manifest::write_manifest(dir, &manifest)?;
    Ok(manifest)
}

/// Creates `dir`, or accepts it if it is an empty directory; refuses anything else.
fn prepare_dir(dir: &Path) -> Result<(), ArchiveError> {
    let refuse = |why: String| ArchiveError::Invalid {
        what: "export directory",
        detail: why,
    };
    match fs::metadata(dir) {
        Ok(meta) if !meta.is_dir() => Err(refuse(format!(
            "{} exists and is not a directory; give a new directory to export into",
            dir.display()
        ))),
        Ok(_) => {
            let mut entries = fs::read_dir(dir).map_err(|e| manifest::file_error(dir, e))?;
            if entries.next().is_some() {
                Err(refuse(format!(
                    "{} already exists and is not empty; an export never overwrites files \
                     (an earlier export and its manifest would no longer match), so give a new \
                     or empty directory",
                    dir.display()
                )))
            } else {
                Ok(())
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            manifest::create_private_dir(dir).map_err(|e| manifest::file_error(dir, e))?;
            // Make the new directory's own entry durable too.
            match dir.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => manifest::sync_dir(parent),
                _ => Ok(()),
            }
        }
        Err(e) => Err(manifest::file_error(dir, e)),
    }
}

/// A verdict as one word, with the rule after a colon: `allowed`, `blocked:RULE`,
/// `masked:RULE`, `alerted:RULE`, `passive`.
pub(crate) fn verdict_label(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Allowed => "allowed".into(),
        Verdict::Blocked(rule) => format!("blocked:{rule}"),
        Verdict::Masked(rule) => format!("masked:{rule}"),
        Verdict::Alerted(rule) => format!("alerted:{rule}"),
        Verdict::Passive => "passive".into(),
    }
}

const NS_PER_SEC: i64 = 1_000_000_000;
const SECS_PER_DAY: i64 = 86_400;

/// The calendar time of `ns` UTC nanoseconds since the epoch (before it too).
fn datetime(ns: i64) -> time::OffsetDateTime {
    // Every i64 nanosecond count (years 1677 to 2262) is inside `time`'s range.
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// RFC 3339 UTC with nanoseconds: `2024-05-01T12:00:00.000000001Z`. Fixed width, so the
/// strings sort as the times do.
pub(crate) fn rfc3339(ns: i64) -> String {
    let t = datetime(ns);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond()
    )
}

/// `HH:MM:SS` of `ns`, UTC.
pub(crate) fn clock_time(ns: i64) -> String {
    let t = datetime(ns);
    format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())
}

/// The UTC day `ns` falls on, as days since 1970-01-01 (negative before).
pub(crate) fn day_of(ns: i64) -> i64 {
    ns.div_euclid(NS_PER_SEC * SECS_PER_DAY)
}

/// A day from [`day_of`] as `YYYY-MM-DD`.
pub(crate) fn day_string(day: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(day * SECS_PER_DAY)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

/// Whole seconds since the epoch, rounded down (for the EML Date header).
pub(crate) fn unix_seconds(ns: i64) -> i64 {
    ns.div_euclid(NS_PER_SEC)
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::record::{Direction, Event, Kind, Protocol, Verdict, conversation_for_pair};

    pub(crate) fn record(id: u64, time_ns: i64, from: &str, to: &str, text: &str) -> Record {
        Record {
            id,
            event: Event {
                time_ns,
                protocol: Protocol::Aim,
                kind: Kind::Im,
                conversation: conversation_for_pair(Protocol::Aim, from, to),
                sender: from.into(),
                recipients: vec![to.into()],
                direction: Direction::Outbound,
                local_user: from.into(),
                room: None,
                client_addr: Some("127.0.0.1:40000".into()),
                node: "gw1".into(),
                text: text.into(),
                raw: format!("<HTML><BODY>{text}</BODY></HTML>"),
                charset: None,
                verdict: Verdict::Allowed,
                detail: None,
                employee: None,
            },
        }
    }

    #[test]
    fn formats_parse_and_display() {
        for f in Format::ALL {
            assert_eq!(f.to_string().parse::<Format>().unwrap(), f);
        }
        assert_eq!("JSONL".parse::<Format>().unwrap(), Format::Jsonl);
        assert!(
            "pdf"
                .parse::<Format>()
                .unwrap_err()
                .contains("jsonl, csv, eml")
        );
    }

    #[test]
    fn times_format_before_at_and_after_the_epoch() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999999999Z");
        assert_eq!(rfc3339(1), "1970-01-01T00:00:00.000000001Z");
        assert_eq!(
            rfc3339(1_714_564_800_123_456_789),
            "2024-05-01T12:00:00.123456789Z"
        );
        assert_eq!(rfc3339(i64::MIN), "1677-09-21T00:12:43.145224192Z");
        assert_eq!(rfc3339(i64::MAX), "2262-04-11T23:47:16.854775807Z");
        assert_eq!(clock_time(-1), "23:59:59");
        assert_eq!(day_of(0), 0);
        assert_eq!(day_of(-1), -1);
        assert_eq!(day_string(-1), "1969-12-31");
        assert_eq!(day_string(day_of(1_714_564_800_123_456_789)), "2024-05-01");
        assert_eq!(day_string(day_of(i64::MIN)), "1677-09-21");
        assert_eq!(unix_seconds(-1), -1);
    }

    fn options(dir: &Path, format: Format) -> ExportOptions {
        ExportOptions {
            format,
            out_dir: dir.to_path_buf(),
            node: "gw1".into(),
        }
    }

    #[test]
    fn refuses_a_non_empty_directory_or_a_file() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("old.txt"), "x").unwrap();
        let err = export(
            std::iter::empty(),
            &Query::default(),
            &options(tmp.path(), Format::Jsonl),
            &mut |_| {},
        )
        .unwrap_err();
        assert!(matches!(err, ArchiveError::Invalid { .. }), "{err}");
        assert!(err.to_string().contains("not empty"), "{err}");
        assert_eq!(fs::read_to_string(tmp.path().join("old.txt")).unwrap(), "x");
        let err = export(
            std::iter::empty(),
            &Query::default(),
            &options(&tmp.path().join("old.txt"), Format::Csv),
            &mut |_| {},
        )
        .unwrap_err();
        assert!(err.to_string().contains("not a directory"), "{err}");
    }

    #[test]
    fn an_empty_existing_directory_is_used_and_nested_ones_are_created() {
        let tmp = tempfile::tempdir().unwrap();
        let m = export(
            std::iter::empty(),
            &Query::default(),
            &options(tmp.path(), Format::Jsonl),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!((m.count, m.files.len()), (0, 1));
        let nested = tmp.path().join("a/b/c");
        let m = export(
            std::iter::empty(),
            &Query::default(),
            &options(&nested, Format::Eml),
            &mut |_| {},
        )
        .unwrap();
        assert!(m.files.is_empty());
        assert!(nested.join(MANIFEST_FILE).is_file());
    }

    #[test]
    fn progress_every_thousand_and_at_the_end() {
        let tmp = tempfile::tempdir().unwrap();
        let records = (1..=2500).map(|i| Ok(record(i, i as i64, "a", "b", "hi")));
        let mut seen = Vec::new();
        let m = export(
            records,
            &Query::default(),
            &options(&tmp.path().join("x"), Format::Csv),
            &mut |n| seen.push(n),
        )
        .unwrap();
        assert_eq!(seen, vec![1000, 2000, 2500]);
        assert_eq!(m.count, 2500);
        assert_eq!(m.record_ids, vec![(1, 2500)]);
    }

    #[test]
    fn the_first_error_stops_the_export_without_a_manifest() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("x");
        let records = vec![
            Ok(record(1, 1, "a", "b", "hi")),
            Err(ArchiveError::corrupt("record", "test")),
            Ok(record(3, 3, "a", "b", "hi")),
        ];
        let err = export(
            records.into_iter(),
            &Query::default(),
            &options(&out, Format::Jsonl),
            &mut |_| {},
        )
        .unwrap_err();
        assert!(matches!(err, ArchiveError::Corrupt { .. }));
        assert!(!out.join(MANIFEST_FILE).exists());
    }
}
