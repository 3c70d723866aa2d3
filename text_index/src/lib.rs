//! The archive's full-text index: tantivy, in `<archive>/text_index`, beside the sled store.
//!
//! It is derived data. The store stays the record: the index holds each record's id, time,
//! participants and text, and every commit carries the last archive id it holds (its
//! payload), so a follower resumes where the last commit ended after a crash, and
//! [`rebuild`] makes it again from the store. It follows the archive from its own thread
//! ([`follow`]) and never touches the append path; a search names ids, which the caller reads
//! from the store and checks against the query ([`words::matches`]) before showing anything,
//! so an index that is stale or was altered can hide a hit but never show a false one.
//! Records a retention purge removed are deleted from the index when the follower next runs.

mod error;
pub mod words;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use archive::{Archive, Record};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, PhraseQuery, Query, RegexQuery, TermQuery};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TEXT, Value as _,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

pub use error::TextIndexError;
use words::Part;

/// The index directory of the archive in `archive_dir`.
pub fn dir_of(archive_dir: &Path) -> PathBuf {
    archive_dir.join("text_index")
}

/// Records read from the store per pass while catching up.
const BATCH: usize = 5_000;
/// The writer's memory budget: tantivy's floor for one indexing thread.
const WRITER_BYTES: usize = 15_000_000;

/// The index's fields.
#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    time: Field,
    users: Field,
    text: Field,
}

/// What the last commit holds: the last archive id, and the last purge applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Every record up to this id is in the index (or was purged).
    pub upto: u64,
    /// The seq of the newest purge checkpoint whose records were deleted from it (0: none).
    pub purge_checkpoint: u64,
}

impl Progress {
    fn payload(self) -> String {
        format!("{} {}", self.upto, self.purge_checkpoint)
    }

    fn parse(payload: Option<&str>) -> Self {
        let mut numbers = payload
            .unwrap_or_default()
            .split(' ')
            .map(str::parse::<u64>);
        match (numbers.next(), numbers.next()) {
            (Some(Ok(upto)), Some(Ok(purge_checkpoint))) => Self {
                upto,
                purge_checkpoint,
            },
            _ => Self::default(),
        }
    }
}

/// An open full-text index, writable by this process.
pub struct TextIndex {
    dir: PathBuf,
    index: Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
    /// The newest checkpoint seq already looked at for purges, so each pass reads only the
    /// checkpoints written since (0 after open: the first pass reads them all once).
    checkpoints_seen: Mutex<u64>,
}

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let fields = Fields {
        id: builder.add_u64_field("id", INDEXED | STORED | FAST),
        time: builder.add_i64_field("time", FAST),
        users: builder.add_text_field("users", STRING),
        text: builder.add_text_field("text", TEXT),
    };
    (builder.build(), fields)
}

impl TextIndex {
    /// Opens (or creates, owner-only) the index in `dir`.
    pub fn open(dir: &Path) -> Result<Self, TextIndexError> {
        owner_only::prepare_dir(dir)?;
        let fail = |source| TextIndexError::Index {
            dir: dir.to_path_buf(),
            source,
        };
        let (schema, fields) = schema();
        let directory = tantivy::directory::MmapDirectory::open(dir)
            .map_err(|e| fail(tantivy::TantivyError::from(e)))?;
        let index = Index::open_or_create(directory, schema).map_err(fail)?;
        let writer = index
            .writer_with_num_threads(1, WRITER_BYTES)
            .map_err(fail)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(fail)?;
        owner_only::tighten_tree(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            index,
            reader,
            writer: Mutex::new(writer),
            fields,
            checkpoints_seen: Mutex::new(0),
        })
    }

    fn fail(&self) -> impl Fn(tantivy::TantivyError) -> TextIndexError + '_ {
        |source| TextIndexError::Index {
            dir: self.dir.clone(),
            source,
        }
    }

    /// What the last commit holds.
    pub fn progress(&self) -> Result<Progress, TextIndexError> {
        let metas = self.index.load_metas().map_err(self.fail())?;
        Ok(Progress::parse(metas.payload.as_deref()))
    }

    /// Adds what the archive holds past the index and deletes what purges removed, one
    /// commit per batch; returns the records added.
    pub fn catch_up(&self, archive: &Archive) -> Result<u64, TextIndexError> {
        let mut progress = self.progress()?;
        let mut added = 0;
        let mut seen = self
            .checkpoints_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (newest_purge, newest) =
            archive.purge_checkpoints_after((*seen).max(progress.purge_checkpoint))?;
        *seen = newest;
        drop(seen);
        if let Some(newest_purge) = newest_purge.filter(|p| *p > progress.purge_checkpoint) {
            let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
            // Only the purges not applied yet: earlier ones' ids are gone from the index.
            for purge in archive
                .purge_history()?
                .into_iter()
                .filter(|p| p.checkpoint > progress.purge_checkpoint)
            {
                for (from, to) in purge.ranges {
                    for id in from..=to {
                        writer.delete_term(Term::from_field_u64(self.fields.id, id));
                    }
                }
            }
            progress.purge_checkpoint = newest_purge;
            self.commit(&mut writer, progress)?;
        }
        loop {
            let records = archive.records_after(progress.upto, BATCH)?;
            let Some(last) = records.last().map(|r| r.id) else {
                return Ok(added);
            };
            let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
            for record in &records {
                writer
                    .add_document(self.document(record))
                    .map_err(self.fail())?;
            }
            added += records.len() as u64;
            progress.upto = last;
            self.commit(&mut writer, progress)?;
            if records.len() < BATCH {
                return Ok(added);
            }
        }
    }

    fn document(&self, record: &Record) -> TantivyDocument {
        let e = &record.event;
        let mut doc = TantivyDocument::default();
        doc.add_u64(self.fields.id, record.id);
        doc.add_i64(self.fields.time, e.time_ns);
        for user in e.participants() {
            doc.add_text(self.fields.users, user);
        }
        doc.add_text(self.fields.text, &e.text);
        doc
    }

    fn commit(&self, writer: &mut IndexWriter, progress: Progress) -> Result<(), TextIndexError> {
        let mut prepared = writer.prepare_commit().map_err(self.fail())?;
        prepared.set_payload(&progress.payload());
        prepared.commit().map_err(self.fail())?;
        self.reader.reload().map_err(self.fail())
    }

    /// The ids of records whose text matches every part of `parts` (and, with `user`,
    /// that `user` took part in), best first, at most `limit`. Nothing for an empty query.
    pub fn search(
        &self,
        parts: &[Part],
        user: Option<&str>,
        limit: usize,
    ) -> Result<Vec<u64>, TextIndexError> {
        if parts.is_empty() {
            return Ok(Vec::new());
        }
        let text = self.fields.text;
        let mut must: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for part in parts {
            let query: Box<dyn Query> = match part {
                Part::Word(w) => Box::new(TermQuery::new(
                    Term::from_field_text(text, w),
                    IndexRecordOption::Basic,
                )),
                Part::Prefix(p) => Box::new(
                    RegexQuery::from_pattern(&format!("{}.*", regex_literal(p)), text)
                        .map_err(self.fail())?,
                ),
                Part::Phrase(words) => Box::new(PhraseQuery::new(
                    words
                        .iter()
                        .map(|w| Term::from_field_text(text, w))
                        .collect(),
                )),
            };
            must.push((Occur::Must, query));
        }
        if let Some(user) = user {
            must.push((
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_text(self.fields.users, user),
                    IndexRecordOption::Basic,
                )),
            ));
        }
        let searcher = self.reader.searcher();
        let top = searcher
            .search(
                &BooleanQuery::new(must),
                &TopDocs::with_limit(limit).order_by_score(),
            )
            .map_err(self.fail())?;
        let mut ids = Vec::with_capacity(top.len());
        for (_, address) in top {
            let doc: TantivyDocument = searcher.doc(address).map_err(self.fail())?;
            if let Some(id) = doc.get_first(self.fields.id).and_then(|v| v.as_u64()) {
                ids.push(id);
            }
        }
        Ok(ids)
    }
}

/// `word` with every character a regular expression would read specially escaped (words are
/// alphanumeric after the analyzer, but a query is the user's).
fn regex_literal(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    for c in word.chars() {
        if !c.is_alphanumeric() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// What the index in `dir` holds, read without opening it for writing (for `status`);
/// `None` if there is none.
pub fn progress_in(dir: &Path) -> Option<Progress> {
    let index = Index::open_in_dir(dir).ok()?;
    let metas = index.load_metas().ok()?;
    Some(Progress::parse(metas.payload.as_deref()))
}

/// Throws the index in `dir` away and makes it again from `archive`; the records indexed.
pub fn rebuild(archive: &Archive, dir: &Path) -> Result<(TextIndex, u64), TextIndexError> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(TextIndexError::File {
                dir: dir.to_path_buf(),
                source,
            });
        }
    }
    let index = TextIndex::open(dir)?;
    let added = index.catch_up(archive)?;
    Ok((index, added))
}

/// Keeps `index` up with `archive` from a thread of its own until `stop` is set: a pass,
/// then a pause of `every`. An error is logged and tried again next pass.
pub fn follow(
    index: Arc<TextIndex>,
    archive: Archive,
    every: Duration,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("text-index".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Err(e) = index.catch_up(&archive) {
                    tracing::error!(error = %e, "the text index could not catch up with the archive");
                }
                let mut slept = Duration::ZERO;
                while slept < every && !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                    slept += Duration::from_millis(50);
                }
            }
        })
}

#[cfg(test)]
mod tests {
    use archive::{ArchiveOptions, RetentionPolicy};

    use super::*;

    fn archive(dir: &Path, n: u64) -> Archive {
        let a = Archive::open(dir, ArchiveOptions::default()).unwrap();
        let mut synthetic = archive::synthetic::Synthetic::new(7, 4, 2, archive::now_ns());
        for i in 0..n {
            a.append_blocking(synthetic.event(i, n)).unwrap();
        }
        a
    }

    #[test]
    fn the_index_follows_the_archive_resumes_from_its_commit_and_finds_words_and_phrases() {
        let tmp = tempfile::tempdir().unwrap();
        let a = archive(&tmp.path().join("a"), 50);
        let dir = tmp.path().join("idx");
        let index = TextIndex::open(&dir).unwrap();
        assert_eq!(index.catch_up(&a).unwrap(), 50);
        assert_eq!(index.progress().unwrap().upto, 50);
        let mut event = a
            .search(&archive::Query::default())
            .next()
            .unwrap()
            .unwrap()
            .event;
        event.text = "Sell the zebra bonds at par today".into();
        let id = a.append_blocking(event).unwrap().id;
        drop(index);
        // Reopened: it resumes past its last commit.
        let index = TextIndex::open(&dir).unwrap();
        assert_eq!(index.catch_up(&a).unwrap(), 1);
        assert_eq!(progress_in(&dir).unwrap().upto, id);
        for query in ["zebra", "ZEBRA bond*", "\"bonds at par\"", "zeb*"] {
            assert_eq!(
                index.search(&words::parse(query), None, 10).unwrap(),
                [id],
                "{query}"
            );
        }
        assert!(
            index
                .search(&words::parse("\"par at\""), None, 10)
                .unwrap()
                .is_empty()
        );
        assert!(
            index
                .search(&words::parse("zebra"), Some("nobody"), 10)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn purged_records_leave_the_index() {
        let tmp = tempfile::tempdir().unwrap();
        let a = archive(&tmp.path().join("a"), 5);
        let mut event = a
            .search(&archive::Query::default())
            .next()
            .unwrap()
            .unwrap()
            .event;
        event.text = "zebra crossing".into();
        event.time_ns -= 400 * 86_400_000_000_000;
        a.append_blocking(event).unwrap();
        let (index, added) = rebuild(&a, &tmp.path().join("idx")).unwrap();
        assert_eq!(added, 6);
        assert_eq!(
            index
                .search(&words::parse("zebra"), None, 10)
                .unwrap()
                .len(),
            1
        );
        let policy = RetentionPolicy {
            default_days: Some(365),
            ..RetentionPolicy::default()
        };
        assert_eq!(
            a.apply_retention(&policy, archive::now_ns(), false)
                .unwrap()
                .purged,
            1
        );
        index.catch_up(&a).unwrap();
        assert!(
            index
                .search(&words::parse("zebra"), None, 10)
                .unwrap()
                .is_empty()
        );
    }
}
