//! Export: the records a [`Query`] matched, written to a new directory as JSON Lines, CSV or
//! one RFC 5322 message per conversation and day, with a `manifest.json` that names the
//! query, the record ids, the SHA-256 of every file, who exported it with what, and the
//! archive's signed state it was taken against; signed by the archive key
//! (`manifest.json.sig`, see [`seal`]). Times are rendered in a [`Zone`]: UTC unless asked.
//!
//! * The directory is created (0700); an existing non-empty one is refused, and no file is ever
//!   replaced.
//! * Records are streamed: JSONL and CSV hold one record at a time; EML holds the rendered
//!   transcripts of the conversations of the day being read (records come in time order, so
//!   a day is complete when the next one starts).
//! * Every file is owner-only (0600) whatever the umask: an export holds the archive's
//!   messages, and handing it on is a deliberate step.
//! * Every file is fsynced; `manifest.json.sig` and then `manifest.json` are written last
//!   (each atomically), so a directory without the manifest is an incomplete export.
//! * Every record carries its id: a JSONL field, the CSV's first column, `#ID` on every EML
//!   transcript line.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::ArchiveError;
use crate::query::Query;
use record::now_ns;
use record::{Record, Verdict};

#[doc(hidden)]
mod counted;
mod csv;
mod eml;
pub mod fuzzing;
mod jsonl;
mod manifest;
pub mod seal;
mod transcript;
pub mod transcript_text;
mod zone;

pub use counted::counted;
pub use csv::neutralise;
pub use jsonl::{json_line, json_line_in};
pub use manifest::{MANIFEST_FILE, Manifest, ManifestFile, QueryTimes, manifest_bytes};
pub use seal::{
    ArchiveAnchor, ArchiveState, Exporter, MANIFEST_TAG, ManifestSigner, SIGNATURE_FILE,
    SignedPoint, Tool,
};
pub use transcript::transcript_line;
pub use zone::Zone;

/// How often [`export`] reports progress, in records.
pub const PROGRESS_EVERY: u64 = 1000;

/// The export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// `records.jsonl`: one JSON object per record, as stored plus an RFC 3339 `time`.
    Jsonl,
    /// `records.csv`: a header row and one row per record.
    Csv,
    /// `eml/<day>/<conversation>.eml`: one message per conversation per day (UTC, or the
    /// `--tz` zone), with a
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
    /// The zone times are rendered in (UTC by default).
    pub zone: Zone,
    /// CSV only: start the file with a UTF-8 byte-order mark, which spreadsheet programs
    /// need to read it as UTF-8 (`--excel`).
    pub byte_order_mark: bool,
    /// Who exports, for the manifest.
    pub exporter: Exporter,
    /// The program's name and version, for the manifest.
    pub tool: Tool,
}

/// One format's writer: takes records in order, then closes its files.
trait Sink {
    fn record(&mut self, record: &Record) -> Result<(), ArchiveError>;
    /// Flushes and fsyncs everything; returns the files written, in order.
    fn finish(self: Box<Self>) -> Result<Vec<ManifestFile>, ArchiveError>;
}

/// Writes `records` (normally `archive.search(query)`) to `options.out_dir` in
/// `options.format` and returns the manifest it wrote there, signed by `signer` (whose
/// state, taken before the first record is written, the manifest names).
///
/// `progress(n)` is called with the number of records written so far after every
/// [`PROGRESS_EVERY`] records, and once at the end if the total is not a multiple of it.
/// The first error (from `records` or from writing) stops the export; the files written so
/// far stay, without a manifest.
pub fn export<I: Iterator<Item = Result<Record, ArchiveError>>>(
    records: I,
    query: &Query,
    options: &ExportOptions,
    signer: &dyn ManifestSigner,
    progress: &mut dyn FnMut(u64),
) -> Result<Manifest, ArchiveError> {
    let created_ns = now_ns();
    let zone = &options.zone;
    let state = signer.state()?;
    let dir = options.out_dir.as_path();
    prepare_dir(dir)?;
    let mut sink: Box<dyn Sink> = match options.format {
        Format::Jsonl => Box::new(jsonl::JsonlSink::create(dir, zone)?),
        Format::Csv => Box::new(csv::CsvSink::create(dir, zone, options.byte_order_mark)?),
        Format::Eml => Box::new(eml::EmlSink::new(dir, &options.node, zone)),
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
        manifest: MANIFEST_TAG.to_owned(),
        format: options.format.to_string(),
        created: zone.rfc3339(created_ns),
        created_ns,
        time_zone: zone.name().to_owned(),
        node: options.node.clone(),
        tool: options.tool.clone(),
        exporter: options.exporter.clone(),
        archive: state.anchor(zone),
        query: query.clone(),
        query_times: QueryTimes::of(query, zone),
        count,
        record_ids: ids.finish(),
        files,
    };
    manifest::write_signed_manifest(dir, &manifest, signer)?;
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
pub fn verdict_label(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Allowed => "allowed".into(),
        Verdict::Blocked(rule) => format!("blocked:{rule}"),
        Verdict::Masked(rule) => format!("masked:{rule}"),
        Verdict::Alerted(rule) => format!("alerted:{rule}"),
        Verdict::Passive => "passive".into(),
    }
}

const NS_PER_SEC: i64 = 1_000_000_000;

/// Whole seconds since the epoch, rounded down (for the EML Date header).
pub(crate) fn unix_seconds(ns: i64) -> i64 {
    ns.div_euclid(NS_PER_SEC)
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use record::{Direction, Event, Kind, Protocol, Verdict, conversation_for_pair};

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
    fn unix_seconds_round_down() {
        assert_eq!(unix_seconds(-1), -1);
        assert_eq!(unix_seconds(1_999_999_999), 1);
    }

    /// Signs with a fixed test key and reports no checkpoints.
    pub(crate) struct TestSigner(ed25519_dalek::SigningKey);

    impl TestSigner {
        pub(crate) fn new() -> Self {
            Self(ed25519_dalek::SigningKey::from_bytes(&[7; 32]))
        }
    }

    impl ManifestSigner for TestSigner {
        fn state(&self) -> Result<ArchiveState, ArchiveError> {
            Ok(ArchiveState {
                public_key: record::hex(self.0.verifying_key().as_bytes()),
                head: None,
                checkpoint: None,
            })
        }
        fn sign(&self, manifest: &[u8]) -> Result<[u8; 64], ArchiveError> {
            seal::check_tag(manifest)?;
            Ok(ed25519_dalek::Signer::sign(&self.0, manifest).to_bytes())
        }
    }

    pub(crate) fn options(dir: &Path, format: Format) -> ExportOptions {
        ExportOptions {
            format,
            out_dir: dir.to_path_buf(),
            node: "gw1".into(),
            zone: Zone::utc(),
            byte_order_mark: false,
            exporter: Exporter {
                uid: 1000,
                user: "officer".into(),
                host: "review-1".into(),
            },
            tool: Tool {
                name: "imtegrity".into(),
                version: "0.0.0-test".into(),
            },
        }
    }

    #[test]
    fn the_manifest_is_signed_over_its_exact_bytes_and_names_its_provenance() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("x");
        let query = Query {
            since_ns: Some(1_714_564_800_000_000_000),
            ..Query::default()
        };
        let mut opts = options(&out, Format::Jsonl);
        opts.zone = Zone::named("Europe/London").unwrap();
        let signer = TestSigner::new();
        let m = export(
            [Ok(record(9, 1, "a", "b", "hi"))].into_iter(),
            &query,
            &opts,
            &signer,
            &mut |_| {},
        )
        .unwrap();
        let bytes = fs::read(out.join(MANIFEST_FILE)).unwrap();
        let sig = fs::read(out.join(SIGNATURE_FILE)).unwrap();
        let sig = ed25519_dalek::Signature::from_slice(&sig).unwrap();
        ed25519_dalek::Verifier::verify(&signer.0.verifying_key(), &bytes, &sig).unwrap();
        let mut altered = bytes.clone();
        altered[20] ^= 1;
        assert!(
            ed25519_dalek::Verifier::verify(&signer.0.verifying_key(), &altered, &sig).is_err()
        );
        assert!(bytes.starts_with(format!("{{\n  \"manifest\": \"{MANIFEST_TAG}\"").as_bytes()));
        assert_eq!(m.time_zone, "Europe/London");
        assert_eq!(
            m.query_times.since.as_deref(),
            Some("2024-05-01T13:00:00.000000000+01:00")
        );
        assert_eq!(m.query_times.until, None);
        assert!(
            m.created.ends_with(":00") && m.created.contains('+'),
            "{}",
            m.created
        );
        assert_eq!(m.exporter.user, "officer");
        assert_eq!(m.tool.version, "0.0.0-test");
        assert_eq!(m.archive.public_key.len(), 64);
        let back: Manifest = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn refuses_a_non_empty_directory_or_a_file() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("old.txt"), "x").unwrap();
        let err = export(
            std::iter::empty(),
            &Query::default(),
            &options(tmp.path(), Format::Jsonl),
            &TestSigner::new(),
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
            &TestSigner::new(),
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
            &TestSigner::new(),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!((m.count, m.files.len()), (0, 1));
        let nested = tmp.path().join("a/b/c");
        let m = export(
            std::iter::empty(),
            &Query::default(),
            &options(&nested, Format::Eml),
            &TestSigner::new(),
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
            &TestSigner::new(),
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
            &TestSigner::new(),
            &mut |_| {},
        )
        .unwrap_err();
        assert!(matches!(err, ArchiveError::Corrupt { .. }));
        assert!(!out.join(MANIFEST_FILE).exists());
    }
}
